/**
 * torchvision 0.14's augmentation policies on uint8 CHW images: AutoAugment, RandAugment,
 * TrivialAugmentWide and AugMix, with torchvision's op lists and magnitude bins (policy-tables.ts),
 * its `_apply_op` (the op calls, `int()` of translations and posterize bits, shear through
 * atan, enhance factors 1 + magnitude) and its draw order, each draw taken from the `Rng` passed
 * in instead of torch's generator:
 *
 * - AutoAugment: the sub-policy index, two probabilities, two signs (a step runs when its
 *   probability draw is ≤ its p; a signed magnitude is negated when its sign draw is 0).
 * - RandAugment: per op, the op index, then (signed ops only) the sign.
 * - TrivialAugmentWide: the op index, then (ops with bins) the bin, then (signed ops) the sign.
 * - AugMix: Dirichlet(α, α) for the original/augmented split, Dirichlet(α × width) for the chains,
 *   then per chain its depth (when random) and per op the index, the bin (of the first `severity`)
 *   and the sign; the mix is computed in float32 and truncated to uint8, as torchvision does.
 *
 * Geometric ops use `interpolation` (torchvision's class default is nearest, AugMix's bilinear;
 * torchvision's reference training passes its --interpolation, bilinear) and `fill` (default 0,
 * torchvision's `fill=None`).
 */
import type { RgbImage } from '../data/transforms.js';
import type { Rng } from '../nn/init.js';
import * as F from './functional.js';
import { AUTOAUGMENT_POLICIES, AutoAugmentPolicy, OpSpace, PolicyOp, augmentationSpace } from './policy-tables.js';
import { sampleDirichlet } from '../util/distributions.js';

/** How a policy's geometric ops resample and fill. */
export interface PolicyOptions {
  readonly interpolation: 'nearest' | 'bilinear';
  /** per-channel value outside the transformed image (default 0) */
  readonly fill?: readonly number[];
}

const DEGREES_PER_RADIAN = 180 / Math.PI;

/**
 * torchvision's `_apply_op`: one policy op at a signed magnitude.
 *
 * @example
 *   const img = { width: 8, height: 8, data: new Uint8Array(192).fill(100) };
 *   applyPolicyOp(img, 'Brightness', 0.5, { interpolation: 'nearest' }).data[0]; // → 150
 */
export function applyPolicyOp(img: RgbImage, op: PolicyOp, magnitude: number, opts: PolicyOptions): RgbImage {
  const { interpolation, fill } = opts;
  const geometry = { angle: 0, scale: 1, interpolation, fill };
  switch (op) {
    case 'ShearX':
      return F.affine(img, { ...geometry, translate: [0, 0], shear: [Math.atan(magnitude) * DEGREES_PER_RADIAN, 0], center: [0, 0] });
    case 'ShearY':
      return F.affine(img, { ...geometry, translate: [0, 0], shear: [0, Math.atan(magnitude) * DEGREES_PER_RADIAN], center: [0, 0] });
    case 'TranslateX':
      return F.affine(img, { ...geometry, translate: [Math.trunc(magnitude), 0], shear: [0, 0] });
    case 'TranslateY':
      return F.affine(img, { ...geometry, translate: [0, Math.trunc(magnitude)], shear: [0, 0] });
    case 'Rotate':
      return F.rotate(img, magnitude, { interpolation, fill });
    case 'Brightness':
      return F.adjustBrightness(img, 1 + magnitude);
    case 'Color':
      return F.adjustSaturation(img, 1 + magnitude);
    case 'Contrast':
      return F.adjustContrast(img, 1 + magnitude);
    case 'Sharpness':
      return F.adjustSharpness(img, 1 + magnitude);
    case 'Posterize':
      return F.posterize(img, Math.trunc(magnitude));
    case 'Solarize':
      return F.solarize(img, magnitude);
    case 'AutoContrast':
      return F.autocontrast(img);
    case 'Equalize':
      return F.equalize(img);
    case 'Invert':
      return F.invert(img);
    case 'Identity':
      return img;
  }
}

/** The magnitude of `space` at `bin` (0 for ops without bins), negated when `negate`. */
function signedMagnitude(space: OpSpace, bin: number, negate: boolean): number {
  const m = space.bins === null ? 0 : space.bins[bin];
  return space.signed && negate ? -m : m;
}

/**
 * torchvision's `AutoAugment(policy)` on one image.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   autoAugment(img, 'cifar10', new Rng(5), { interpolation: 'nearest' }).width; // → 32
 */
export function autoAugment(img: RgbImage, policy: AutoAugmentPolicy, rng: Rng, opts: PolicyOptions): RgbImage {
  const subPolicies = AUTOAUGMENT_POLICIES[policy];
  const chosen = subPolicies[rng.int(subPolicies.length)];
  const probs = [rng.next(), rng.next()];
  const signs = [rng.int(2), rng.int(2)];
  const space = new Map(augmentationSpace('AutoAugment', 10, [img.height, img.width]).map((s) => [s.op, s]));
  let out = img;
  chosen.forEach(([op, p, bin], i) => {
    if (probs[i] > p) return;
    const s = space.get(op);
    if (!s) throw new Error(`AutoAugment op ${op} has no augmentation space`);
    out = applyPolicyOp(out, op, bin === null ? 0 : signedMagnitude(s, bin, signs[i] === 0), opts);
  });
  return out;
}

/**
 * torchvision's `RandAugment(num_ops, magnitude, num_magnitude_bins)` on one image.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   randAugment(img, { numOps: 2, magnitude: 9, numBins: 31 }, new Rng(5), { interpolation: 'nearest' }).height; // → 32
 */
export function randAugment(img: RgbImage, cfg: { numOps: number; magnitude: number; numBins: number }, rng: Rng, opts: PolicyOptions): RgbImage {
  const space = augmentationSpace('RandAugment', cfg.numBins, [img.height, img.width]);
  let out = img;
  for (let i = 0; i < cfg.numOps; i++) {
    const s = space[rng.int(space.length)];
    out = applyPolicyOp(out, s.op, signedMagnitude(s, cfg.magnitude, s.signed && rng.int(2) === 1), opts);
  }
  return out;
}

/**
 * torchvision's `TrivialAugmentWide(num_magnitude_bins)` on one image.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   trivialAugmentWide(img, { numBins: 31 }, new Rng(5), { interpolation: 'nearest' }).width; // → 32
 */
export function trivialAugmentWide(img: RgbImage, cfg: { numBins: number }, rng: Rng, opts: PolicyOptions): RgbImage {
  const space = augmentationSpace('TrivialAugmentWide', cfg.numBins, [img.height, img.width]);
  const s = space[rng.int(space.length)];
  const bin = s.bins === null ? 0 : rng.int(s.bins.length);
  return applyPolicyOp(img, s.op, signedMagnitude(s, bin, s.signed && rng.int(2) === 1), opts);
}

/** torchvision's AugMix parameters. */
export interface AugMixConfig {
  readonly severity: number;
  readonly mixtureWidth: number;
  /** > 0: ops per chain; otherwise 1 to 3 at random */
  readonly chainDepth: number;
  readonly alpha: number;
  readonly allOps: boolean;
}

/**
 * torchvision's `AugMix(severity, mixture_width, chain_depth, alpha, all_ops)` on one image.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   const cfg = { severity: 3, mixtureWidth: 3, chainDepth: -1, alpha: 1, allOps: true };
 *   augMix(img, cfg, new Rng(5), { interpolation: 'bilinear' }).data.length; // → 3072
 */
export function augMix(img: RgbImage, cfg: AugMixConfig, rng: Rng, opts: PolicyOptions): RgbImage {
  const f32 = Math.fround;
  const space = augmentationSpace('AugMix', 10, [img.height, img.width], cfg.allOps);
  const [keep, mixed] = sampleDirichlet(rng, [cfg.alpha, cfg.alpha]).map(f32);
  const weights = sampleDirichlet(rng, new Array<number>(cfg.mixtureWidth).fill(cfg.alpha)).map((w) => f32(f32(w) * mixed));
  const mix = new Float32Array(img.data.length);
  for (let i = 0; i < mix.length; i++) mix[i] = keep * img.data[i];
  for (const weight of weights) {
    const depth = cfg.chainDepth > 0 ? cfg.chainDepth : 1 + rng.int(3);
    let aug = img;
    for (let d = 0; d < depth; d++) {
      const s = space[rng.int(space.length)];
      const bin = s.bins === null ? 0 : rng.int(cfg.severity);
      aug = applyPolicyOp(aug, s.op, signedMagnitude(s, bin, s.signed && rng.int(2) === 1), opts);
    }
    for (let i = 0; i < mix.length; i++) mix[i] += f32(weight * aug.data[i]);
  }
  const data = new Uint8Array(mix.length);
  for (let i = 0; i < mix.length; i++) data[i] = Math.min(255, Math.trunc(mix[i]));
  return { width: img.width, height: img.height, data };
}
