/**
 * Test-time augmentation and ensembles for `tessera eval`: every image is classified through
 * several views and/or several checkpoints, and their softmax probabilities are averaged.
 *
 * Views work on the normalized evaluation batch (the checkpoint's evaluation transform): a view
 * flips the image horizontally (optionally), then shifts it by (dx, dy) pixels, filling what comes
 * in with black pixels (pixel 0 normalized, -mean/std per channel: what the training crop's zero
 * padding shows). out(y, x) = flipped(y − dy, x − dx).
 *
 * - `flip`: identity, horizontal flip (2 views).
 * - `flip-translate`: identity, flip, and the unflipped image shifted 2 pixels right, left, down,
 *   up (6 views).
 * - `5crop`: torchvision's FiveCrop(size) of the image zero-padded by p pixels on every side (p =
 *   the checkpoint's training crop padding, 4 at 32×32; size/8 without one), in FiveCrop's order:
 *   top-left, top-right, bottom-left, bottom-right, center, i.e. shifts (p, p), (−p, p), (p, −p),
 *   (−p, −p) and the identity (5 views). Padding rather than an upscaled resize keeps CIFAR-size
 *   images unblurred and every view one the training crops produce.
 */
import type { DataLoader } from '../data/loader.js';
import { UserError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { InferenceModel } from '../runtime/inference.js';
import type { EvalResult } from './evaluate.js';

/** One view of a test image: flipped horizontally when `flip`, then shifted by (dx, dy) pixels with black fill. */
export interface TtaView {
  readonly flip: boolean;
  readonly dx: number;
  readonly dy: number;
}

export const TTA_MODES = ['none', 'flip', 'flip-translate', '5crop'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

const IDENTITY: TtaView = { flip: false, dx: 0, dy: 0 };
const shift = (dx: number, dy: number): TtaView => ({ flip: false, dx, dy });

/**
 * The views of a TTA mode; `padding` is 5crop's (see the module comment).
 *
 * @example
 * ttaViews('flip', 4).length; // → 2
 * ttaViews('5crop', 4)[1]; // → { flip: false, dx: -4, dy: 4 }
 */
export function ttaViews(mode: TtaMode, padding: number): TtaView[] {
  switch (mode) {
    case 'none':
      return [IDENTITY];
    case 'flip':
      return [IDENTITY, { flip: true, dx: 0, dy: 0 }];
    case 'flip-translate':
      return [IDENTITY, { flip: true, dx: 0, dy: 0 }, shift(2, 0), shift(-2, 0), shift(0, 2), shift(0, -2)];
    case '5crop':
      return [shift(padding, padding), shift(-padding, padding), shift(padding, -padding), shift(-padding, -padding), IDENTITY];
  }
}

/**
 * Writes `view` of `n` normalized CHW images (3 × size × size each) into `out`; `fill` is the
 * per-channel value of what shifts in.
 *
 * @example
 * const out = new Float32Array(3 * 2 * 2);
 * applyView(Float32Array.of(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4), 1, 2, { flip: true, dx: 0, dy: 1 }, [0, 0, 0], out);
 * [...out.subarray(0, 4)]; // → [0, 0, 2, 1]
 */
export function applyView(src: Float32Array, n: number, size: number, view: TtaView, fill: readonly number[], out: Float32Array): void {
  const plane = size * size;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const base = (i * 3 + c) * plane;
      for (let y = 0; y < size; y++) {
        const sy = y - view.dy;
        for (let x = 0; x < size; x++) {
          const fx = x - view.dx;
          const sx = view.flip ? size - 1 - fx : fx;
          out[base + y * size + x] = sy >= 0 && sy < size && fx >= 0 && fx < size ? src[base + sy * size + sx] : fill[c];
        }
      }
    }
  }
}

/**
 * Softmax of one row of logits, in float64.
 *
 * @example
 * softmax([0, Math.log(3)]); // Float64Array [0.25, 0.75]
 */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Ensemble weights: `text` ("w1,w2,...", each > 0) normalized to sum 1, or equal weights when
 * absent; throws (one line) when the count differs from `members` or a weight is not > 0.
 *
 * @example
 * ensembleWeights('1,3', 2); // → [0.25, 0.75]
 * ensembleWeights(undefined, 4); // → [0.25, 0.25, 0.25, 0.25]
 */
export function ensembleWeights(text: string | undefined, members: number): number[] {
  if (text === undefined) return new Array<number>(members).fill(1 / members);
  const parts = text.split(',').map((s) => s.trim());
  const w = parts.map(Number);
  if (parts.some((p, i) => !p || !Number.isFinite(w[i]) || w[i] <= 0)) throw new UserError(`--ensemble-weights ${text}: expected numbers > 0 separated by commas`);
  if (w.length !== members) throw new UserError(`--ensemble-weights ${text}: ${w.length} weight(s) for ${members} checkpoint(s); give one per --checkpoint`);
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** Accuracy figures from probability rows, as `evaluate` reports them from logits. */
export class ProbabilityTally {
  private images = 0;
  private top1 = 0;
  private topk = 0;
  private lossSum = 0;
  private readonly confusion: number[][];

  constructor(private readonly numClasses: number) {
    this.confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  /** one image: its class probabilities and true class */
  add(p: ArrayLike<number>, target: number): void {
    const C = this.numClasses;
    let best = 0;
    let above = 0;
    for (let c = 0; c < C; c++) {
      if (p[c] > p[best]) best = c;
      if (p[c] > p[target]) above++;
    }
    this.images++;
    this.lossSum -= Math.log(Math.max(p[target], Number.MIN_VALUE));
    if (best === target) this.top1++;
    if (above < Math.min(5, C)) this.topk++;
    this.confusion[target][best]++;
  }

  result(skipped: EvalResult['skipped']): EvalResult {
    const n = this.images;
    const perClass = this.confusion.map((row, c) => {
      const total = row.reduce((a, b) => a + b, 0);
      return { images: total, accuracy: total ? row[c] / total : null };
    });
    return { images: n, loss: n ? this.lossSum / n : NaN, top1: n ? this.top1 / n : 0, top5: n ? this.topk / n : 0, perClass, confusion: this.confusion, skipped };
  }
}

/** One model of an ensemble. */
export interface EnsembleMember {
  readonly model: Module;
  /** its share of the averaged probabilities (the weights sum to 1) */
  readonly weight: number;
}

export interface EnsembleOptions {
  /** input height and width */
  readonly size: number;
  readonly numClasses: number;
  readonly threads?: number;
  readonly views: readonly TtaView[];
  /** per-channel value of a black pixel after normalization */
  readonly fill: readonly number[];
}

/** The ensemble's figures and each member's own (through the same views). */
export interface EnsembleResult {
  readonly ensemble: EvalResult;
  readonly members: readonly EvalResult[];
}

/**
 * Classifies everything `loader` yields (epoch 0) with every member through every view: a
 * member's probabilities are the mean of its views' softmax, the ensemble's the weighted mean of
 * its members'. Unreadable images are left out of every figure, as in `evaluate`.
 *
 * @example
 * // three grey 32×32 images held in memory (openDataset opens real ones)
 * const testSet: ImageDataset = {
 *   name: 'grey', classes: ['a', 'b'], length: 3,
 *   sample: (i) => ({ label: i % 2, source: { kind: 'pixels', data: new Uint8Array(3 * 32 * 32).fill(100 + i), width: 32, height: 32 } }),
 * };
 * const loader = new DataLoader(testSet, { batchSize: 2, shuffle: false, seed: 0, dropLast: false, transform: { size: 32, mean: CIFAR10_MEAN, std: CIFAR10_STD } });
 * const members = [1, 2].map((seed) => {
 *   manualSeed(seed);
 *   return { model: createModel('cifar_lenet', { numClasses: 2 }), weight: 0.5 };
 * });
 * const r = await evaluateEnsemble(members, loader, { size: 32, numClasses: 2, views: ttaViews('flip', 4), fill: [0, 0, 0] });
 * r.ensemble.images; // → 3
 * r.members.length; // → 2
 * await loader.close();
 * console.log(r.ensemble.top1, r.members.map((m) => m.top1));
 */
export async function evaluateEnsemble(members: readonly EnsembleMember[], loader: DataLoader, opts: EnsembleOptions): Promise<EnsembleResult> {
  const { size, numClasses: C } = opts;
  const nets: InferenceModel[] = [];
  try {
    for (const m of members) nets.push(await InferenceModel.create(m.model, { inputShape: [1, 3, size, size], dynamicBatch: true, threads: opts.threads }));
    const tallies = members.map(() => new ProbabilityTally(C));
    const ensemble = new ProbabilityTally(C);
    const skipped: { index: number; reason: string }[] = [];
    const counted = new Uint8Array(loader.dataset.length);
    for await (const batch of loader.epoch(0)) {
      const n = batch.size;
      const probs = await Promise.all(nets.map((net) => viewProbabilities(net, batch.input, n, opts)));
      for (let r = 0; r < n; r++) {
        if (counted[batch.indices[r]]) continue;
        counted[batch.indices[r]] = 1;
        const t = Number(batch.target[r]);
        const mixed = new Float64Array(C);
        probs.forEach((p, m) => {
          const row = p.subarray(r * C, (r + 1) * C);
          tallies[m].add(row, t);
          for (let c = 0; c < C; c++) mixed[c] += members[m].weight * row[c];
        });
        ensemble.add(mixed, t);
      }
      skipped.push(...batch.skipped);
    }
    return { ensemble: ensemble.result(skipped), members: tallies.map((t) => t.result(skipped)) };
  } finally {
    for (const net of nets) await net.release();
  }
}

/** [n × classes] probabilities of one model: the mean over the views of each view's softmax */
export async function viewProbabilities(net: InferenceModel, input: Float32Array, n: number, opts: EnsembleOptions): Promise<Float64Array> {
  const C = opts.numClasses;
  const S = opts.size;
  const out = new Float64Array(n * C);
  const view = new Float32Array(n * 3 * S * S);
  for (const v of opts.views) {
    applyView(input, n, S, v, opts.fill, view);
    const logits = (await net.run({ dtype: 'float32', shape: [n, 3, S, S], data: view })).data;
    for (let r = 0; r < n; r++) {
      const p = softmax(Array.from(logits.subarray(r * C, (r + 1) * C), Number));
      for (let c = 0; c < C; c++) out[r * C + c] += p[c] / opts.views.length;
    }
  }
  return out;
}
