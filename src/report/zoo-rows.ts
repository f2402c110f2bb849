/**
 * The zoo's rows with their counts: the one place the zoo page and `tessera models` get
 * parameters and multiply-accumulates from: the committed table src/models/zoo-counts.ts,
 * computed once (`npm run zoo-counts`), or for a model it lacks, its built and traced graph.
 */
import { countMacs } from '../models/complexity.js';
import { ModelInfo, createModel, listModels } from '../models/index.js';
import { ZOO_COUNTS } from '../models/zoo-counts.js';

/**
 * Parameters and multiply-accumulates (one image at the input size) of a registered model: from
 * src/models/zoo-counts.ts, else built and traced (slow for big ones).
 *
 * @example
 * modelComplexity(modelInfo('cifar_airbench94')).params; // → 1972792
 */
export function modelComplexity(info: ModelInfo): { params: number; macs: number } {
  const known = Object.hasOwn(ZOO_COUNTS, info.name) ? ZOO_COUNTS[info.name] : undefined;
  if (known) return known;
  const model = createModel(info.name);
  return { params: model.parameterCount(), macs: countMacs(model, info.inputSize) };
}

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
        return { info, ...modelComplexity(info), error: null };
      } catch (e) {
        return { info, params: null, macs: null, error: e instanceof Error ? e.message : String(e) };
      }
    });
}
