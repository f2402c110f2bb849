/**
 * Mixup and CutMix with timm's semantics (timm/data/mixup.py `Mixup`), as a built-in TrainPlugin:
 *
 * - image i of a batch is mixed with image n−1−i (the batch flipped); `mode` draws one λ for the
 *   batch (`batch`), one per image (`elem`), or one per pair i ↔ n−1−i (`pair`);
 * - with probability `prob` a batch/image/pair is mixed at all; when both Mixup and CutMix are on,
 *   CutMix is chosen with probability `switchProb`; λ ~ Beta(α, α) of the chosen one;
 * - Mixup blends the normalized images λ·x_i + (1−λ)·x_j; CutMix pastes a box of x_j into x_i,
 *   sized √(1−λ) of each side around a uniform centre and clipped at the borders, or (with
 *   `cutmixMinmax`) a box whose sides are uniform in [lo, hi) of the image's; λ is then corrected
 *   to 1 − box area / image area (timm's `correct_lam`);
 * - targets are timm's `mixup_target`: λ·onehot(y_i) + (1−λ)·onehot(y_j), the one-hots smoothed
 *   (off ε/C, on 1−ε+ε/C), so label smoothing lives in the targets and the loss gets none.
 *
 * Every draw comes from an Rng seeded by (seed, global step): a resumed run mixes exactly as an
 * uninterrupted one. The training accuracy keeps counting against the loader's labels.
 */
import { UserError } from '../errors.js';
import { seedFrom } from '../data/worker.js';
import { Rng } from '../nn/init.js';
import { sampleBeta } from '../util/distributions.js';
import type { StepBatch, StepView, TrainPlugin } from './hooks.js';

export type MixupMode = 'batch' | 'pair' | 'elem';

/** What mixes a batch (timm's Mixup arguments). */
export interface MixupOptions {
  /** Mixup's Beta α; 0: off */
  readonly mixupAlpha: number;
  /** CutMix's Beta α; 0: off (1 when `cutmixMinmax` is given, as timm forces) */
  readonly cutmixAlpha: number;
  /** CutMix box sides as fractions [lo, hi) of the image's sides, instead of λ */
  readonly cutmixMinmax?: readonly [number, number];
  /** probability that a batch (an image, a pair) is mixed */
  readonly prob: number;
  /** probability of CutMix rather than Mixup when both are on */
  readonly switchProb: number;
  readonly mode: MixupMode;
  /** ε folded into the targets */
  readonly labelSmoothing: number;
}

/** The `mixupTarget`/`mixBatch` view of a batch: n images of c×h×w. */
export interface BatchShape {
  readonly n: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A CutMix box: rows [y0, y1), columns [x0, x1). */
export interface Box {
  readonly y0: number;
  readonly y1: number;
  readonly x0: number;
  readonly x1: number;
}

/** How one image was mixed: its λ (after the box correction) and the CutMix box, if any. */
export interface MixParams {
  readonly lam: number;
  readonly box: Box | null;
}

/**
 * timm's `rand_bbox` (λ given) or `rand_bbox_minmax` (`minmax` given), with the corrected λ =
 * 1 − box area / image area.
 *
 * @example
 * const { box, lam } = cutmixBox(new Rng(3), 32, 32, 0.75);
 * lam === 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (32 * 32); // → true
 */
export function cutmixBox(rng: Rng, height: number, width: number, lam: number, minmax?: readonly [number, number]): { box: Box; lam: number } {
  let box: Box;
  if (minmax) {
    const cutH = randint(rng, Math.floor(height * minmax[0]), Math.floor(height * minmax[1]));
    const cutW = randint(rng, Math.floor(width * minmax[0]), Math.floor(width * minmax[1]));
    const y0 = randint(rng, 0, height - cutH);
    const x0 = randint(rng, 0, width - cutW);
    box = { y0, y1: y0 + cutH, x0, x1: x0 + cutW };
  } else {
    const ratio = Math.sqrt(1 - lam);
    const halfH = Math.floor(Math.floor(height * ratio) / 2);
    const halfW = Math.floor(Math.floor(width * ratio) / 2);
    const cy = rng.int(height);
    const cx = rng.int(width);
    const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
    box = { y0: clamp(cy - halfH, height), y1: clamp(cy + halfH, height), x0: clamp(cx - halfW, width), x1: clamp(cx + halfW, width) };
  }
  return { box, lam: 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (height * width) };
}

/** numpy's randint(lo, hi): an integer in [lo, hi) (lo when the range is empty, as a 1-pixel image needs) */
function randint(rng: Rng, lo: number, hi: number): number {
  return hi > lo ? lo + rng.int(hi - lo) : lo;
}

/** One draw of timm's `_params_per_batch` / `_params_per_elem` for one unit (batch, image or pair). */
function drawParams(rng: Rng, o: MixupOptions, height: number, width: number): MixParams {
  if (!(rng.next() < o.prob)) return { lam: 1, box: null };
  const both = o.mixupAlpha > 0 && cutmixAlpha(o) > 0;
  const useCutmix = both ? rng.next() < o.switchProb : !(o.mixupAlpha > 0);
  const lam = sampleBeta(rng, useCutmix ? cutmixAlpha(o) : o.mixupAlpha, useCutmix ? cutmixAlpha(o) : o.mixupAlpha);
  return useCutmix ? cutmixBox(rng, height, width, lam, o.cutmixMinmax) : { lam, box: null };
}

const cutmixAlpha = (o: MixupOptions): number => (o.cutmixMinmax ? 1 : o.cutmixAlpha);

/**
 * The mixing of each image of a batch of `shape.n` (n even), drawn from `rng` as `o.mode` says:
 * image i is mixed with image n−1−i.
 *
 * @example
 * const params = drawMixParams(new Rng(0), { mixupAlpha: 0.2, cutmixAlpha: 0, prob: 1, switchProb: 0.5, mode: 'pair', labelSmoothing: 0 }, { n: 4, channels: 3, height: 8, width: 8 });
 * params[0].lam === params[3].lam; // → true
 */
export function drawMixParams(rng: Rng, o: MixupOptions, shape: BatchShape): MixParams[] {
  const { n, height, width } = shape;
  if (o.mode === 'batch') return new Array<MixParams>(n).fill(drawParams(rng, o, height, width));
  if (o.mode === 'elem') return Array.from({ length: n }, () => drawParams(rng, o, height, width));
  const half = Array.from({ length: n / 2 }, () => drawParams(rng, o, height, width));
  return [...half, ...half.slice().reverse()];
}

/**
 * Mixes the images (normalized NCHW floats) as `params` says; the input is not modified.
 *
 * @example
 * const x = Float32Array.of(1, 1, 3, 3); // two 1×1×2 images
 * mixImages(x, { n: 2, channels: 1, height: 1, width: 2 }, [{ lam: 0.25, box: null }, { lam: 0.25, box: null }]); // → Float32Array.of(2.5, 2.5, 1.5, 1.5)
 */
export function mixImages(input: Float32Array, shape: BatchShape, params: readonly MixParams[]): Float32Array {
  const { n, channels, height, width } = shape;
  const per = channels * height * width;
  const out = input.slice();
  params.forEach(({ lam, box }, i) => {
    if (lam === 1) return;
    const j = n - 1 - i;
    if (!box) {
      for (let k = 0; k < per; k++) out[i * per + k] = lam * input[i * per + k] + (1 - lam) * input[j * per + k];
      return;
    }
    for (let ch = 0; ch < channels; ch++) {
      for (let y = box.y0; y < box.y1; y++) {
        const row = ch * height * width + y * width;
        out.set(input.subarray(j * per + row + box.x0, j * per + row + box.x1), i * per + row + box.x0);
      }
    }
  });
  return out;
}

/**
 * timm's `mixup_target`: row i = λ_i·onehot(y_i) + (1−λ_i)·onehot(y_{n−1−i}), the one-hots
 * smoothed to off ε/C, on 1−ε+ε/C.
 *
 * @example
 * mixupTarget(BigInt64Array.of(0n, 1n), 2, [0.75, 0.75], 0); // → Float32Array.of(0.75, 0.25, 0.25, 0.75)
 */
export function mixupTarget(labels: BigInt64Array, numClasses: number, lams: readonly number[], smoothing: number): Float32Array {
  const n = labels.length;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * numClasses, (i + 1) * numClasses);
    row.fill(off);
    row[Number(labels[i])] += lams[i] * (on - off);
    row[Number(labels[n - 1 - i])] += (1 - lams[i]) * (on - off);
  }
  return out;
}

/** Tags the Rng stream of the mixing draws (the loader's streams are small integers). */
const MIXUP_STREAM = 0x6d697875;

/**
 * The Rng of global step `step` (1-based) of a run seeded `seed`.
 *
 * @example
 * mixupRng(0, 5).next() === mixupRng(0, 5).next(); // → true
 */
export function mixupRng(seed: number, step: number): Rng {
  return new Rng(seedFrom(MIXUP_STREAM, seed, step));
}

/**
 * Checks mixup options against the batch and image size; every mistake is a UserError.
 *
 * @example
 * let message = '';
 * try {
 *   checkMixupOptions({ mixupAlpha: 0.2, cutmixAlpha: 0, prob: 1, switchProb: 0.5, mode: 'elem', labelSmoothing: 0 }, 7, 32);
 * } catch (e) {
 *   message = e instanceof Error ? e.message : '';
 * }
 * message.includes('--batch-size must be even'); // → true
 */
export function checkMixupOptions(o: MixupOptions, batchSize: number, size: number): void {
  if (batchSize % 2 !== 0) throw new UserError(`--mixup/--cutmix pair image i with image n−1−i of a batch (as timm): --batch-size must be even, got ${batchSize}`);
  const mm = o.cutmixMinmax;
  if (mm && !(mm[0] > 0 && mm[0] < mm[1] && mm[1] <= 1 && Math.floor(size * mm[0]) < Math.floor(size * mm[1]))) {
    throw new UserError(`--cutmix-minmax ${mm.join(',')}: needs 0 < lo < hi ≤ 1 with lo·${size} and hi·${size} a whole pixel apart (images are ${size}×${size})`);
  }
}

/**
 * What a run mixes, for its log.
 *
 * @example
 * describeMixup({ mixupAlpha: 0.2, cutmixAlpha: 1, prob: 1, switchProb: 0.5, mode: 'batch', labelSmoothing: 0.1 });
 * // → 'Mixup α 0.2, CutMix α 1 (CutMix with probability 0.5), per batch with probability 1; label smoothing 0.1 in the targets'
 */
export function describeMixup(o: MixupOptions): string {
  const cutmix = o.cutmixMinmax ? `CutMix boxes ${o.cutmixMinmax.join('–')} of the sides` : `CutMix α ${o.cutmixAlpha}`;
  const kinds = [o.mixupAlpha > 0 ? `Mixup α ${o.mixupAlpha}` : '', cutmixAlpha(o) > 0 ? cutmix : ''].filter(Boolean).join(', ');
  const both = o.mixupAlpha > 0 && cutmixAlpha(o) > 0 ? ` (CutMix with probability ${o.switchProb})` : '';
  const unit = o.mode === 'batch' ? 'batch' : o.mode === 'pair' ? 'pair of images' : 'image';
  return `${kinds}${both}, per ${unit} with probability ${o.prob}; label smoothing ${o.labelSmoothing} in the targets`;
}

/**
 * The built-in plugin that mixes every training batch: slot 1 switches the step graph to soft
 * targets with no smoothing in the loss; slot 2 mixes the images and builds the targets.
 *
 * `train` adds it by itself when the options ask for mixing (`mixup`, `cutmix`, `cutmixMinmax`).
 *
 * @example
 * const plugin = mixupPlugin({ mixupAlpha: 0.2, cutmixAlpha: 1, prob: 1, switchProb: 0.5, mode: 'batch', labelSmoothing: 0.1 }, 0);
 * plugin.name; // → 'mixup'
 */
export function mixupPlugin(o: MixupOptions, seed: number): TrainPlugin {
  return {
    name: 'mixup',
    sessionOptions: (options, run) => {
      checkMixupOptions(o, run.options.batchSize, run.transforms.train.size);
      run.log(`mixing: ${describeMixup(o)}`);
      return { ...options, target: 'soft', loss: { ...(options.loss ?? { kind: 'ce' }), labelSmoothing: 0 } };
    },
    transformBatch: (batch: StepBatch, step: StepView): StepBatch => {
      const size = step.transforms.train.size;
      const shape: BatchShape = { n: step.labels.length, channels: 3, height: size, width: size };
      const params = drawMixParams(mixupRng(seed, step.step), o, shape);
      return {
        input: mixImages(batch.input, shape, params),
        target: mixupTarget(step.labels, step.classes.length, params.map((p) => p.lam), o.labelSmoothing),
      };
    },
  };
}
