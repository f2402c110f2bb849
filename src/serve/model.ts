/**
 * The served model: a training checkpoint (its EMA weights with `ema`) compiled once for ONNX
 * Runtime with a dynamic batch dimension, run as `tessera predict` and `tessera eval` run it. With
 * a TTA mode each image's probabilities are the mean softmax of its views (as `tessera eval
 * --tta`), and the logits it answers are their logarithms (softmax of them gives those means).
 */
import type { TransformSpec } from '../data/types.js';
import { checkpointModel } from '../train/run-model.js';
import { InferenceModel } from '../runtime/inference.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { checkpointWeights } from '../train/ema.js';
import { TtaMode, ttaViews, viewProbabilities } from '../train/test-time.js';
import { blackPixel, cropPadding } from '../cli/eval.js';

/** What the server needs of a model: its description and a batch run. */
export interface ServedModel {
  /** the checkpoint file */
  readonly checkpoint: string;
  /** the architecture (e.g. cifar_resnet18) */
  readonly architecture: string;
  readonly classes: readonly string[];
  /** the evaluation transform; its size is the input's height and width */
  readonly transform: TransformSpec;
  /** n images (n × 3 × size × size floats, normalized) → n × classes logits */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface LoadOptions {
  readonly ema: boolean;
  readonly tta: TtaMode;
  /** ONNX Runtime intra-op threads */
  readonly threads: number;
}

/**
 * Loads a run folder's best checkpoint (else its last) or a checkpoint file.
 *
 * @example
 * const model = await loadServedModel('runs/quickstart', { ema: false, tta: 'none', threads: 2 });
 * const logits = await model.run(new Float32Array(3 * 32 * 32), 1); // one row of logits
 */
export async function loadServedModel(checkpointArg: string, opts: LoadOptions): Promise<ServedModel> {
  const ckpt = loadCheckpoint(resolveCheckpoint(checkpointArg, 'best'));
  const { meta } = ckpt;
  const module = checkpointModel(meta);
  module.loadStateDict(checkpointWeights(ckpt, opts.ema));
  const S = meta.transform.size;
  const net = await InferenceModel.create(module, { inputShape: [1, 3, S, S], dynamicBatch: true, threads: opts.threads });
  const views = ttaViews(opts.tta, cropPadding(ckpt));
  const logitsOf = async (input: Float32Array, n: number): Promise<Float32Array> => {
    if (opts.tta === 'none') {
      const { data } = await net.run({ dtype: 'float32', shape: [n, 3, S, S], data: input });
      if (!(data instanceof Float32Array)) throw new Error(`the model answered ${data.constructor.name} logits, expected Float32Array`);
      return data;
    }
    const probs = await viewProbabilities(net, input, n, { size: S, numClasses: meta.numClasses, threads: opts.threads, views, fill: blackPixel(meta.transform) });
    return Float32Array.from(probs, Math.log);
  };
  return { checkpoint: ckpt.path, architecture: meta.model, classes: meta.classes, transform: meta.transform, run: logitsOf, release: () => net.release() };
}
