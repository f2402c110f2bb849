/**
 * Accuracy of a model over a dataset: the validation pass of every training epoch and
 * `tessera eval`.
 */
import type { DataLoader } from '../data/loader.js';
import type { Module } from '../nn/module.js';
import { InferenceModel } from '../runtime/inference.js';

/**
 * Top-1 hits of a batch of logits [n, classes] against int64 labels.
 *
 * @example
 * countCorrect(Float32Array.of(0, 1, 2, 0), BigInt64Array.of(1n, 1n), 2, 2); // 1
 */
export function countCorrect(logits: Float32Array, target: BigInt64Array, numClasses: number, n: number): number {
  let hits = 0;
  for (let r = 0; r < n; r++) {
    const row = r * numClasses;
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (logits[row + c] > logits[row + best]) best = c;
    if (best === Number(target[r])) hits++;
  }
  return hits;
}

/** Accuracy figures of one pass over a dataset. */
export interface EvalResult {
  readonly images: number;
  /** mean cross-entropy */
  readonly loss: number;
  readonly top1: number;
  /** top-min(5, classes) accuracy */
  readonly top5: number;
  /** per class: images and top-1 accuracy (NaN-free: null for a class with no images) */
  readonly perClass: readonly { readonly images: number; readonly accuracy: number | null }[];
  /** confusion[true][predicted] */
  readonly confusion: readonly (readonly number[])[];
  readonly skipped: readonly { readonly index: number; readonly reason: string }[];
  /**
   * per image, by dataset index: the predicted class and its softmax probability (-1 and 0 for
   * an image not counted); the run report's misclassified thumbnails come from it
   */
  readonly predictions?: ImagePredictions;
}

/** Every image's top-1 class and its probability, by dataset index. */
export interface ImagePredictions {
  readonly predicted: Int32Array;
  readonly confidence: Float32Array;
}

/**
 * Runs `model` (eval mode, current weights) over everything `loader` yields (epoch 0) through a
 * fresh InferenceModel with a dynamic batch, so the last partial batch counts too. Images the
 * loader could not read are listed in `skipped` and left out of every figure (each sample counts
 * once, never the copy that stands in for an unreadable one).
 *
 * @example
 * // six grey 32×32 images labelled 0..5, held in memory (openDataset opens real ones)
 * const testSet: ImageDataset = {
 *   name: 'grey', classes: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'], length: 6,
 *   sample: (i) => ({ label: i, source: { kind: 'pixels', data: new Uint8Array(3 * 32 * 32).fill(128), width: 32, height: 32 } }),
 * };
 * const model = createModel('cifar_lenet');
 * const transform = { size: 32, mean: CIFAR10_MEAN, std: CIFAR10_STD };
 * const r = await evaluate(model, new DataLoader(testSet, { batchSize: 4, shuffle: false, seed: 0, dropLast: false, transform }), { inputShape: [4, 3, 32, 32], numClasses: 10 });
 * // the last, partial batch counts too:
 * r.confusion.flat().reduce((a, b) => a + b); // → 6
 * console.log(r.top1, r.top5);
 */
export async function evaluate(model: Module, loader: DataLoader, opts: { inputShape: readonly number[]; threads?: number; numClasses: number }): Promise<EvalResult> {
  const net = await InferenceModel.create(model, { inputShape: opts.inputShape, dynamicBatch: true, threads: opts.threads });
  const k = Math.min(5, opts.numClasses);
  const C = opts.numClasses;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const perImage = opts.inputShape.slice(1).reduce((a, b) => a * b, 1);
  let images = 0;
  let top1 = 0;
  let topk = 0;
  let lossSum = 0;
  const skipped: { index: number; reason: string }[] = [];
  // the loader fills an unreadable image's slot with a copy of another sample: count each sample once
  const counted = new Uint8Array(loader.dataset.length);
  const predictions = { predicted: new Int32Array(loader.dataset.length).fill(-1), confidence: new Float32Array(loader.dataset.length) };
  try {
    for await (const batch of loader.epoch(0)) {
      const n = batch.size;
      const data = batch.input.length === n * perImage ? batch.input : batch.input.subarray(0, n * perImage);
      const out = await net.run({ dtype: 'float32', shape: [n, ...opts.inputShape.slice(1)], data });
      const logits = out.data as Float32Array;
      for (let r = 0; r < n; r++) {
        if (counted[batch.indices[r]]) continue;
        counted[batch.indices[r]] = 1;
        images++;
        const row = r * C;
        const t = Number(batch.target[r]);
        let best = 0;
        let max = -Infinity;
        for (let c = 0; c < C; c++) if (logits[row + c] > max) (max = logits[row + c]), (best = c);
        let sum = 0;
        let above = 0;
        for (let c = 0; c < C; c++) {
          sum += Math.exp(logits[row + c] - max);
          if (logits[row + c] > logits[row + t]) above++;
        }
        lossSum += Math.log(sum) + max - logits[row + t];
        if (best === t) top1++;
        if (above < k) topk++;
        confusion[t][best]++;
        predictions.predicted[batch.indices[r]] = best;
        predictions.confidence[batch.indices[r]] = 1 / sum;
      }
      skipped.push(...batch.skipped);
    }
  } finally {
    await net.release();
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { images: total, accuracy: total ? row[c] / total : null };
  });
  return { images, loss: images ? lossSum / images : NaN, top1: images ? top1 / images : 0, top5: images ? topk / images : 0, perClass, confusion, skipped, predictions };
}
