/**
 * A run's train and eval TransformSpecs from its options: pytorch-cifar's crop + flip at the
 * model's input size when no augmentation option is given (exactly `cifarTransforms`), otherwise
 * torchvision's reference presets: RandomResizedCrop at --train-crop-size (or the input size)
 * with --scale/--ratio, the --aa policy, timm's random erasing, and Resize(--val-resize-size) +
 * CenterCrop(--val-crop-size) for evaluation.
 */
import { parsePolicy } from '../augment/policy-parse.js';
import type { TransformSpec } from '../data/types.js';
import { TrainOptions, TrainSetupError } from './options.js';
import { RunTransforms, cifarTransforms } from './setup.js';
import { AIRBENCH_MEAN, AIRBENCH_STD } from './airbench.js';

/** torchvision's RandomResizedCrop defaults (timm's too). */
const DEFAULT_SCALE: readonly [number, number] = [0.08, 1];
const DEFAULT_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** `LO,HI` with 0 < LO ≤ HI; a TrainSetupError naming the flag otherwise. */
function parseRange(text: string | undefined, flag: string, fallback: readonly [number, number]): readonly [number, number] {
  if (text === undefined) return fallback;
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === '') || !values.every(Number.isFinite) || !(values[0] > 0) || values[0] > values[1]) {
    throw new TrainSetupError(`${flag}: expected LO,HI with 0 < LO ≤ HI (e.g. ${fallback.map((v) => +v.toFixed(4)).join(',')}), got "${text}"`);
  }
  return [values[0], values[1]];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The training spec: pytorch-cifar's, or RandomResizedCrop, then the policy and random erasing. */
function trainSpec(opts: TrainOptions, inputSize: number): TransformSpec {
  const rrc = opts.trainCropSize !== undefined || opts.scale !== undefined || opts.ratio !== undefined;
  const size = opts.trainCropSize ?? inputSize;
  const { randomCrop: cifarCrop, ...rest } = cifarTransforms(size).train;
  const randomCrop = { padding: opts.cropPadding ?? cifarCrop?.padding ?? 0, ...(opts.paddingMode === 'reflect' ? { mode: 'reflect' as const } : {}) };
  const flipped = { ...rest, hflip: opts.flip === 'random' ? true : opts.flip === 'alternating' ? ('alternating' as const) : false };
  const spec: Mutable<TransformSpec> = rrc
    ? { ...flipped, randomResizedCrop: { scale: parseRange(opts.scale, '--scale', DEFAULT_SCALE), ratio: parseRange(opts.ratio, '--ratio', DEFAULT_RATIO) } }
    : { ...flipped, randomCrop };
  if (rrc && opts.interpolation === 'bicubic') spec.interpolation = 'bicubic';
  if (opts.aa !== undefined) {
    parsePolicy(opts.aa, '--aa');
    spec.policy = opts.aa;
  }
  if ((opts.reprob ?? 0) > 0) spec.randomErasing = { prob: opts.reprob ?? 0, mode: opts.remode ?? 'pixel', count: opts.recount ?? 1 };
  if ((opts.cutout ?? 0) > 0) {
    if ((opts.cutout ?? 0) > size) throw new TrainSetupError(`--cutout ${opts.cutout} is larger than the ${size}×${size} training image; give at most ${size}`);
    spec.cutout = opts.cutout;
  }
  return spec;
}

/** The evaluation spec: Resize(--val-resize-size) + CenterCrop(--val-crop-size, default the input size). */
function evalSpec(opts: TrainOptions, inputSize: number): TransformSpec {
  const size = opts.valCropSize ?? inputSize;
  const spec: Mutable<TransformSpec> = { ...cifarTransforms(size).eval };
  if (opts.valResizeSize !== undefined && opts.valResizeSize !== size) {
    if (opts.valResizeSize < size) throw new TrainSetupError(`--val-resize-size ${opts.valResizeSize} is smaller than the center crop (${size}); give at least ${size}`);
    spec.resize = opts.valResizeSize;
  }
  if (opts.interpolation === 'bicubic') spec.interpolation = 'bicubic';
  return spec;
}

/**
 * The train and eval transforms `opts` ask for, at the model's `inputSize` unless the crop-size
 * options say otherwise, normalized with airbench's mean and std with `--airbench`; a bad --aa, --scale, --ratio or --val-resize-size is a UserError line.
 *
 * @example
 * import { TRAIN_DEFAULTS, cifarTransforms } from 'tessera/dist/src/train/trainer.js';
 * const base = { ...TRAIN_DEFAULTS, model: 'resnet50', data: 'imgs/', threads: 1, out: 'runs/b' };
 * runTransforms(base, 32).train; // → cifarTransforms(32).train
 * const v2 = runTransforms({ ...base, aa: 'ta_wide', reprob: 0.1, trainCropSize: 176, valResizeSize: 232 }, 224);
 * [v2.train.size, v2.train.policy, v2.eval.resize, v2.eval.size]; // → [176, 'ta_wide', 232, 224]
 */
export function runTransforms(opts: TrainOptions, inputSize: number): RunTransforms {
  const norm = opts.airbench ? { mean: [...AIRBENCH_MEAN], std: [...AIRBENCH_STD] } : {};
  return { train: { ...trainSpec(opts, inputSize), ...norm }, eval: { ...evalSpec(opts, inputSize), ...norm } };
}

/**
 * Checks what of the transform options can be checked without the model (--aa, --scale,
 * --ratio, the evaluation sizes against each other): one UserError line per mistake.
 *
 * @example
 * import { TRAIN_DEFAULTS } from 'tessera/dist/src/train/trainer.js';
 * const opts = { ...TRAIN_DEFAULTS, model: 'cifar_resnet18', data: 'cifar10', threads: 1, out: 'runs/a' };
 * checkTransformOptions({ ...opts, aa: 'rand-m9-mstd0.5-inc1' }); // fine
 * let message = '';
 * try {
 *   checkTransformOptions({ ...opts, aa: 'rand-m9-x1' });
 * } catch (e) {
 *   message = e instanceof UserError ? e.message : '';
 * }
 * message; // → '--aa "rand-m9-x1": x is not a field of rand; its fields are m, n, p, mstd, mmax, inc (rand[-mN-nN-pN-mstdN-mmaxN-incN])'
 */
export function checkTransformOptions(opts: TrainOptions): void {
  // the cutout's fit needs the model's input size: runTransforms checks it at setup
  runTransforms({ ...opts, cutout: undefined }, opts.valCropSize ?? opts.valResizeSize ?? opts.trainCropSize ?? 1);
}
