/**
 * torchvision 0.14's augmentation-policy definitions as data: each policy's op list in
 * torchvision's order (a random op index means the same op), the magnitude bins of every op
 * (float32 values, computed the way torch.linspace computes them on the CPU), whether the
 * magnitude takes a random sign, and AutoAugment's three learned policies. The policies that use
 * them are in policies.ts; test/policies.test.ts compares every table with torchvision's own
 * `_augmentation_space` output (test/data/policy-tables.json, tools/policy_tables.py).
 */
import { roundHalfEven } from './pixels.js';

/** The ops of torchvision's `_apply_op` (autoaugment.py). */
export type PolicyOp =
  | 'Identity'
  | 'ShearX'
  | 'ShearY'
  | 'TranslateX'
  | 'TranslateY'
  | 'Rotate'
  | 'Brightness'
  | 'Color'
  | 'Contrast'
  | 'Sharpness'
  | 'Posterize'
  | 'Solarize'
  | 'AutoContrast'
  | 'Equalize'
  | 'Invert';

/** One op of a policy's augmentation space: its magnitude bins (null: the op takes none, magnitude 0) and sign. */
export interface OpSpace {
  readonly op: PolicyOp;
  readonly bins: readonly number[] | null;
  /** the magnitude is negated with probability 1/2 */
  readonly signed: boolean;
}

/** The policy classes of torchvision.transforms.autoaugment. */
export type PolicyFamily = 'AutoAugment' | 'RandAugment' | 'TrivialAugmentWide' | 'AugMix';

const f32 = Math.fround;

/** fl32(a·b + c) with one rounding, as a fused multiply-add computes it (a, b, c float32 values). */
function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in 53 bits
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // s + err = p + c exactly (TwoSum)
  const r = f32(s);
  if (err === 0 || r === s) return r;
  // s may sit exactly on a float32 midpoint that the exact sum is not on: round by the error's sign
  const other = r + 2 * (s - r);
  if (f32(other) !== other) return r;
  return err > 0 === other > r ? other : r;
}

/**
 * `torch.linspace(start, end, steps)` in float32 as PyTorch 1.13's CPU kernel computes it (the
 * bins of torchvision's policies): the first half counts up from `start`, the second half down
 * from `end`, blocks of 16 through the AVX2 path (a fused multiply-add for each block's base,
 * then base + lane·step), the rest one by one with a fused multiply-add.
 *
 * @example
 *   float32Linspace(0, 0.3, 4); // → [0, 0.10000000149011612, 0.20000001788139343, 0.30000001192092896]
 */
export function float32Linspace(start: number, end: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`linspace needs a positive whole number of steps, got ${steps}`);
  const a = f32(start);
  const b = f32(end);
  if (steps === 1) return [a];
  const step = f32((b - a) / f32(steps - 1));
  const half = Math.floor(steps / 2);
  const at = (i: number) => (i < half ? fma32(step, i, a) : fma32(-step, steps - i - 1, b));
  const out = new Array<number>(steps);
  const lanes = 8;
  let i = 0;
  for (; i + 2 * lanes <= steps; i += 2 * lanes) {
    for (const first of [i, i + lanes]) {
      const base = at(first);
      for (let l = 0; l < lanes; l++) out[first + l] = f32(base + f32(l * step));
    }
  }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}

/** `bitsFrom - round(arange(n) / ((n - 1) / spread))` in float32, as torchvision's Posterize bins. */
function posterizeBins(bitsFrom: number, spread: number, n: number): number[] {
  const divisor = f32((n - 1) / spread);
  return Array.from({ length: n }, (_, i) => bitsFrom - roundHalfEven(f32(i / divisor)));
}


const signed = (op: PolicyOp, bins: readonly number[]): OpSpace => ({ op, bins, signed: true });
const unsigned = (op: PolicyOp, bins: readonly number[] | null): OpSpace => ({ op, bins, signed: false });

/**
 * A policy's augmentation space for `numBins` bins on a `height`×`width` image, in torchvision's
 * dictionary order: `_augmentation_space` of AutoAugment, RandAugment, TrivialAugmentWide (whose
 * space ignores the image size) or AugMix (`allOps` adds Brightness, Color, Contrast, Sharpness).
 *
 * @example
 *   augmentationSpace('TrivialAugmentWide', 31, [32, 32]).map((s) => s.op).slice(0, 3); // → ['Identity', 'ShearX', 'ShearY']
 */
export function augmentationSpace(family: PolicyFamily, numBins: number, [height, width]: readonly [number, number], allOps = true): OpSpace[] {
  const lin = (end: number, start = 0) => float32Linspace(start, end, numBins);
  if (family === 'TrivialAugmentWide') {
    return [
      unsigned('Identity', null),
      ...(['ShearX', 'ShearY'] as const).map((op) => signed(op, lin(0.99))),
      ...(['TranslateX', 'TranslateY'] as const).map((op) => signed(op, lin(32))),
      signed('Rotate', lin(135)),
      ...(['Brightness', 'Color', 'Contrast', 'Sharpness'] as const).map((op) => signed(op, lin(0.99))),
      unsigned('Posterize', posterizeBins(8, 6, numBins)),
      unsigned('Solarize', lin(0, 255)),
      unsigned('AutoContrast', null),
      unsigned('Equalize', null),
    ];
  }
  if (family === 'AugMix') {
    const enhance = allOps ? (['Brightness', 'Color', 'Contrast', 'Sharpness'] as const).map((op) => signed(op, lin(0.9))) : [];
    return [
      ...(['ShearX', 'ShearY'] as const).map((op) => signed(op, lin(0.3))),
      signed('TranslateX', lin(width / 3)),
      signed('TranslateY', lin(height / 3)),
      signed('Rotate', lin(30)),
      unsigned('Posterize', posterizeBins(4, 4, numBins)),
      unsigned('Solarize', lin(0, 255)),
      unsigned('AutoContrast', null),
      unsigned('Equalize', null),
      ...enhance,
    ];
  }
  const common = [
    ...(['ShearX', 'ShearY'] as const).map((op) => signed(op, lin(0.3))),
    signed('TranslateX', lin((150 / 331) * width)),
    signed('TranslateY', lin((150 / 331) * height)),
    signed('Rotate', lin(30)),
    ...(['Brightness', 'Color', 'Contrast', 'Sharpness'] as const).map((op) => signed(op, lin(0.9))),
    unsigned('Posterize', posterizeBins(8, 4, numBins)),
    unsigned('Solarize', lin(0, 255)),
    unsigned('AutoContrast', null),
    unsigned('Equalize', null),
  ];
  return family === 'RandAugment' ? [unsigned('Identity', null), ...common] : [...common, unsigned('Invert', null)];
}

/** One step of an AutoAugment sub-policy: the op, its probability and its magnitude bin (of 10). */
export type PolicyStep = readonly [op: PolicyOp, probability: number, bin: number | null];

/** AutoAugment's learned policies (torchvision's `AutoAugmentPolicy`). */
export type AutoAugmentPolicy = 'imagenet' | 'cifar10' | 'svhn';

type SubPolicy = readonly [PolicyStep, PolicyStep];

/** The 25 two-step sub-policies of each AutoAugment policy, in torchvision's order. */
export const AUTOAUGMENT_POLICIES: Readonly<Record<AutoAugmentPolicy, readonly SubPolicy[]>> = {
  imagenet: [
    [['Posterize', 0.4, 8], ['Rotate', 0.6, 9]],
    [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
    [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
    [['Posterize', 0.6, 7], ['Posterize', 0.6, 6]],
    [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
    [['Equalize', 0.4, null], ['Rotate', 0.8, 8]],
    [['Solarize', 0.6, 3], ['Equalize', 0.6, null]],
    [['Posterize', 0.8, 5], ['Equalize', 1.0, null]],
    [['Rotate', 0.2, 3], ['Solarize', 0.6, 8]],
    [['Equalize', 0.6, null], ['Posterize', 0.4, 6]],
    [['Rotate', 0.8, 8], ['Color', 0.4, 0]],
    [['Rotate', 0.4, 9], ['Equalize', 0.6, null]],
    [['Equalize', 0.0, null], ['Equalize', 0.8, null]],
    [['Invert', 0.6, null], ['Equalize', 1.0, null]],
    [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
    [['Rotate', 0.8, 8], ['Color', 1.0, 2]],
    [['Color', 0.8, 8], ['Solarize', 0.8, 7]],
    [['Sharpness', 0.4, 7], ['Invert', 0.6, null]],
    [['ShearX', 0.6, 5], ['Equalize', 1.0, null]],
    [['Color', 0.4, 0], ['Equalize', 0.6, null]],
    [['Equalize', 0.4, null], ['Solarize', 0.2, 4]],
    [['Solarize', 0.6, 5], ['AutoContrast', 0.6, null]],
    [['Invert', 0.6, null], ['Equalize', 1.0, null]],
    [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
    [['Equalize', 0.8, null], ['Equalize', 0.6, null]],
  ],
  cifar10: [
    [['Invert', 0.1, null], ['Contrast', 0.2, 6]],
    [['Rotate', 0.7, 2], ['TranslateX', 0.3, 9]],
    [['Sharpness', 0.8, 1], ['Sharpness', 0.9, 3]],
    [['ShearY', 0.5, 8], ['TranslateY', 0.7, 9]],
    [['AutoContrast', 0.5, null], ['Equalize', 0.9, null]],
    [['ShearY', 0.2, 7], ['Posterize', 0.3, 7]],
    [['Color', 0.4, 3], ['Brightness', 0.6, 7]],
    [['Sharpness', 0.3, 9], ['Brightness', 0.7, 9]],
    [['Equalize', 0.6, null], ['Equalize', 0.5, null]],
    [['Contrast', 0.6, 7], ['Sharpness', 0.6, 5]],
    [['Color', 0.7, 7], ['TranslateX', 0.5, 8]],
    [['Equalize', 0.3, null], ['AutoContrast', 0.4, null]],
    [['TranslateY', 0.4, 3], ['Sharpness', 0.2, 6]],
    [['Brightness', 0.9, 6], ['Color', 0.2, 8]],
    [['Solarize', 0.5, 2], ['Invert', 0.0, null]],
    [['Equalize', 0.2, null], ['AutoContrast', 0.6, null]],
    [['Equalize', 0.2, null], ['Equalize', 0.6, null]],
    [['Color', 0.9, 9], ['Equalize', 0.6, null]],
    [['AutoContrast', 0.8, null], ['Solarize', 0.2, 8]],
    [['Brightness', 0.1, 3], ['Color', 0.7, 0]],
    [['Solarize', 0.4, 5], ['AutoContrast', 0.9, null]],
    [['TranslateY', 0.9, 9], ['TranslateY', 0.7, 9]],
    [['AutoContrast', 0.9, null], ['Solarize', 0.8, 3]],
    [['Equalize', 0.8, null], ['Invert', 0.1, null]],
    [['TranslateY', 0.7, 9], ['AutoContrast', 0.9, null]],
  ],
  svhn: [
    [['ShearX', 0.9, 4], ['Invert', 0.2, null]],
    [['ShearY', 0.9, 8], ['Invert', 0.7, null]],
    [['Equalize', 0.6, null], ['Solarize', 0.6, 6]],
    [['Invert', 0.9, null], ['Equalize', 0.6, null]],
    [['Equalize', 0.6, null], ['Rotate', 0.9, 3]],
    [['ShearX', 0.9, 4], ['AutoContrast', 0.8, null]],
    [['ShearY', 0.9, 8], ['Invert', 0.4, null]],
    [['ShearY', 0.9, 5], ['Solarize', 0.2, 6]],
    [['Invert', 0.9, null], ['AutoContrast', 0.8, null]],
    [['Equalize', 0.6, null], ['Rotate', 0.9, 3]],
    [['ShearX', 0.9, 4], ['Solarize', 0.3, 3]],
    [['ShearY', 0.8, 8], ['Invert', 0.7, null]],
    [['Equalize', 0.9, null], ['TranslateY', 0.6, 6]],
    [['Invert', 0.9, null], ['Equalize', 0.6, null]],
    [['Contrast', 0.3, 3], ['Rotate', 0.8, 4]],
    [['Invert', 0.8, null], ['TranslateY', 0.0, 2]],
    [['ShearY', 0.7, 6], ['Solarize', 0.4, 8]],
    [['Invert', 0.6, null], ['Rotate', 0.8, 4]],
    [['ShearY', 0.3, 7], ['TranslateX', 0.9, 3]],
    [['ShearX', 0.1, 6], ['Invert', 0.6, null]],
    [['Solarize', 0.7, 2], ['TranslateY', 0.6, 7]],
    [['ShearY', 0.8, 4], ['Invert', 0.8, null]],
    [['ShearX', 0.7, 9], ['TranslateY', 0.8, 3]],
    [['ShearY', 0.8, 5], ['AutoContrast', 0.7, null]],
    [['ShearX', 0.7, 2], ['Invert', 0.1, null]],
  ],
};
