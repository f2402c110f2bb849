/**
 * The zoo's rows with their counts: the one place the zoo page (and, once it reads a committed
 * table, `tessera models`) gets parameters and multiply-accumulates from. For now they are
 * computed by building and tracing every model (listModels + countMacs); swapping in a
 * precomputed table changes only `zooRows`.
 */
import { countMacs } from '../models/complexity.js';
import { ModelInfo, createModel, listModels } from '../models/index.js';

/** One registered model with its counts (null, with the error, where it could not be built). */
export interface ZooRow {
  readonly info: ModelInfo;
  readonly params: number | null;
  readonly macs: number | null;
  readonly error: string | null;
}

/**
 * Every registered model that `keep` accepts, with its parameter count and multiply-accumulates
 * of one image at its input size.
 *
 * @example
 * zooRows((m) => m.name === 'squeezenet1_1')[0].params; // → 1235496
 */
export function zooRows(keep: (info: ModelInfo) => boolean = () => true): ZooRow[] {
  return listModels()
    .filter(keep)
    .map((info) => {
      try {
        const model = createModel(info.name);
        return { info, params: model.parameterCount(), macs: countMacs(model, info.inputSize), error: null };
      } catch (e) {
        return { info, params: null, macs: null, error: e instanceof Error ? e.message : String(e) };
      }
    });
}
