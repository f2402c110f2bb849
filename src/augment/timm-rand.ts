/**
 * timm's RandAugment (`rand-m9-mstd0.5-inc1`) on torchvision's ops. timm's op lists, its level
 * scale (magnitude / 10 of each op's range), its magnitude noise and clipping, its per-op
 * probability and its draw order are kept; each op then runs as the torchvision op of the same
 * meaning instead of timm's PIL call:
 *
 * - Rotate ±30°·m/10, ShearX/Y ±0.3·m/10 (torchvision's ShearX(s) is PIL's (1, s, 0, 0, 1, 0)
 *   affine) and TranslateX/YRel ±0.45·m/10 of the width/height (PIL's offset is where the
 *   output samples the input, so timm's +t is torchvision's −t) through torchvision's
 *   `_apply_op`: bilinear (timm picks bilinear or bicubic at random; torchvision's tensor affine
 *   has no bicubic), fill = the normalisation mean ×255 (timm's img_mean), and translations
 *   truncated to whole pixels as torchvision's `int()` does (PIL shifts by fractions).
 * - Color/Contrast/Brightness/Sharpness with timm's factors (0.1 + 1.8·m/10, or for the
 *   "Increasing" ops 1 ± 0.9·m/10, at least 0.1) through torchvision's adjust_* (PIL's
 *   ImageEnhance rounds differently and takes the contrast mean from its histogram).
 * - Posterize bits int(4·m/10) (increasing: 4 − that), Solarize threshold int(256·m/10)
 *   (increasing: 256 − that; 256 leaves the image as it is, as PIL does), through torchvision.
 * - SolarizeAdd (+int(110·m/10) below 128) has no torchvision op: solarize-add.ts.
 *
 * Draws, in order: the `n` op indices (with replacement), then per op its probability coin
 * (when p < 1), its magnitude noise (when mstd > 0) and its sign (signed ops).
 */
import type { RgbImage } from '../data/transforms.js';
import type { Rng } from '../nn/init.js';
import * as F from './functional.js';
import { PolicyOptions, applyPolicyOp } from './policies.js';
import { solarizeAdd } from './solarize-add.js';

/** The ops of timm's RandAugment lists. */
export type TimmRandOp =
  | 'AutoContrast'
  | 'Equalize'
  | 'Invert'
  | 'Rotate'
  | 'Posterize'
  | 'PosterizeIncreasing'
  | 'Solarize'
  | 'SolarizeIncreasing'
  | 'SolarizeAdd'
  | 'Color'
  | 'ColorIncreasing'
  | 'Contrast'
  | 'ContrastIncreasing'
  | 'Brightness'
  | 'BrightnessIncreasing'
  | 'Sharpness'
  | 'SharpnessIncreasing'
  | 'ShearX'
  | 'ShearY'
  | 'TranslateXRel'
  | 'TranslateYRel';

/** timm's `_RAND_TRANSFORMS` (`inc0`). */
export const TIMM_RAND_OPS: readonly TimmRandOp[] = [
  'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color', 'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
];

/** timm's `_RAND_INCREASING_TRANSFORMS` (`inc1`). */
export const TIMM_RAND_INCREASING_OPS: readonly TimmRandOp[] = [
  'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel',
];

/** timm's `_LEVEL_DENOM`: magnitude 10 is each op's full range. */
const LEVEL_DENOM = 10;

/** timm's `_randomly_negate`: −v when the draw is above 1/2. */
const randomlyNegate = (rng: Rng, v: number) => (rng.next() > 0.5 ? -v : v);

const ENHANCE: Readonly<Record<string, (img: RgbImage, factor: number) => RgbImage>> = {
  Color: F.adjustSaturation,
  Contrast: F.adjustContrast,
  Brightness: F.adjustBrightness,
  Sharpness: F.adjustSharpness,
};

function solarizeAt(img: RgbImage, threshold: number, opts: PolicyOptions): RgbImage {
  return threshold > 255 ? img : applyPolicyOp(img, 'Solarize', threshold, opts);
}

/**
 * One timm RandAugment op at magnitude `level` (0..mmax), drawing its sign from `rng`.
 *
 * @example
 *   const img = { width: 4, height: 4, data: new Uint8Array(48).fill(200) };
 *   applyTimmRandOp(img, 'SolarizeIncreasing', 10, new Rng(1), { interpolation: 'bilinear' }).data[0]; // → 55
 */
export function applyTimmRandOp(img: RgbImage, op: TimmRandOp, level: number, rng: Rng, opts: PolicyOptions): RgbImage {
  const fraction = level / LEVEL_DENOM;
  switch (op) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return applyPolicyOp(img, op, 0, opts);
    case 'Rotate':
      return applyPolicyOp(img, 'Rotate', randomlyNegate(rng, fraction * 30), opts);
    case 'Posterize':
      return applyPolicyOp(img, 'Posterize', Math.trunc(fraction * 4), opts);
    case 'PosterizeIncreasing':
      return applyPolicyOp(img, 'Posterize', 4 - Math.trunc(fraction * 4), opts);
    case 'Solarize':
      return solarizeAt(img, Math.trunc(fraction * 256), opts);
    case 'SolarizeIncreasing':
      return solarizeAt(img, 256 - Math.trunc(fraction * 256), opts);
    case 'SolarizeAdd':
      return solarizeAdd(img, Math.trunc(fraction * 110));
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return ENHANCE[op](img, fraction * 1.8 + 0.1);
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return ENHANCE[op.slice(0, -'Increasing'.length)](img, Math.max(0.1, 1 + randomlyNegate(rng, fraction * 0.9)));
    case 'ShearX':
    case 'ShearY':
      return applyPolicyOp(img, op, randomlyNegate(rng, fraction * 0.3), opts);
    case 'TranslateXRel':
      return applyPolicyOp(img, 'TranslateX', -randomlyNegate(rng, fraction * 0.45) * img.width, opts);
    case 'TranslateYRel':
      return applyPolicyOp(img, 'TranslateY', -randomlyNegate(rng, fraction * 0.45) * img.height, opts);
  }
}

/** timm's RandAugment fields (`parsePolicy`'s 'timm-rand'). */
export interface TimmRandConfig {
  readonly magnitude: number;
  readonly numOps: number;
  readonly prob: number;
  /** 0: fixed magnitude; Infinity: uniform in [0, magnitude]; otherwise a normal's std */
  readonly magnitudeStd: number;
  readonly magnitudeMax: number;
  readonly increasing: boolean;
}

/**
 * timm's `RandAugment` (see the module comment) on one image.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   const cfg = { magnitude: 9, numOps: 2, prob: 0.5, magnitudeStd: 0.5, magnitudeMax: 10, increasing: true };
 *   timmRandAugment(img, cfg, new Rng(5), { interpolation: 'bilinear' }).width; // → 32
 */
export function timmRandAugment(img: RgbImage, cfg: TimmRandConfig, rng: Rng, opts: PolicyOptions): RgbImage {
  const ops = cfg.increasing ? TIMM_RAND_INCREASING_OPS : TIMM_RAND_OPS;
  const chosen = Array.from({ length: cfg.numOps }, () => ops[rng.int(ops.length)]);
  let out = img;
  for (const op of chosen) {
    if (cfg.prob < 1 && rng.next() >= cfg.prob) continue;
    let level = cfg.magnitude;
    if (cfg.magnitudeStd === Infinity) level = rng.uniform(0, level);
    else if (cfg.magnitudeStd > 0) level += cfg.magnitudeStd * rng.normal();
    out = applyTimmRandOp(out, op, Math.max(0, Math.min(level, cfg.magnitudeMax)), rng, opts);
  }
  return out;
}
