/**
 * The loader's per-sample pipeline with every TransformSpec field, in the order of torchvision's
 * reference `ClassificationPresetTrain`: (RandomResizedCrop | pad + RandomCrop) →
 * horizontal flip → policy → to float and normalize → random erasing. The pad is zeros or, with
 * `randomCrop.mode: 'reflect'`, airbench's reflect translation; airbench's alternating flip
 * (`hflip: 'alternating'`, src/augment/airbench.ts) mirrors before the crop when the image starts
 * flipped and after it on odd epochs. Every draw comes from the
 * one `Rng` passed in (the DataLoader's `sampleRng(seed, epoch, index)`), in that order, so a
 * sample's augmentation depends only on (seed, epoch, index).
 *
 * A spec with none of the new fields (resize, randomResizedCrop, bicubic, policy,
 * randomErasing, the alternating flip) takes `applyTransform`'s fused crop + flip + normalize path unchanged.
 */
import { applyTransform, centerCrop, crop, drawAugmentation, hflip, normalizeInto, resizeCenterCrop, resizedShape, type RgbImage } from '../data/transforms.js';
import type { TransformSpec } from '../data/types.js';
import type { Rng } from '../nn/init.js';
import { randomErase } from './erasing.js';
import { cutOut, reflectTranslate } from './airbench.js';
import * as F from './functional.js';
import { applyPolicy } from './policy.js';

/** Whether `spec` is one `applyTransform` computes alone (crop, flip, normalize at size×size). */
function isPlain(spec: TransformSpec): boolean {
  return (
    spec.hflip !== 'alternating' &&
    spec.randomResizedCrop === undefined &&
    spec.policy === undefined &&
    spec.randomErasing === undefined &&
    spec.cutout === undefined &&
    (spec.resize === undefined || spec.resize === spec.size) &&
    (spec.interpolation === undefined || spec.interpolation === 'bilinear')
  );
}

/**
 * The deterministic first step of `spec` on a decoded image: Resize(resize, shorter side) +
 * CenterCrop(size), or the image itself under RandomResizedCrop (which crops the full image).
 * Image files are decoded straight to this (worker.ts `decodeForSpec`).
 *
 * @example
 *   baseImage({ width: 64, height: 48, data: new Uint8Array(3 * 64 * 48) }, { size: 32, resize: 36, mean: [0, 0, 0], std: [1, 1, 1] }).width; // → 32
 */
export function baseImage(img: RgbImage, spec: TransformSpec): RgbImage {
  if (spec.randomResizedCrop) return img;
  const S = spec.size;
  const R = spec.resize ?? S;
  const interpolation = spec.interpolation ?? 'bilinear';
  if (R === S && interpolation === 'bilinear') return resizeCenterCrop(img, S);
  const shape = resizedShape(img.height, img.width, R);
  const resized = shape.height === img.height && shape.width === img.width ? img : F.resize(img, shape.height, shape.width, { interpolation, antialias: true });
  return centerCrop(resized, S);
}

/** The alternating flip's state of one sample (src/augment/airbench.ts): its start flip and the 0-based epoch. */
export interface AlternatingFlip {
  readonly startFlipped: boolean;
  readonly epoch: number;
}

/**
 * Augments and normalizes one sample whose `baseImage` is `base`, writing its 3·size·size
 * floats to `out` from `offset` (allocated when omitted); see the module comment for the order.
 *
 * @example
 *   const spec = { size: 32, hflip: true, randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }, policy: 'ta_wide',
 *     randomErasing: { prob: 0.25, mode: 'pixel', count: 1 }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } as const;
 *   const img = { width: 40, height: 40, data: new Uint8Array(3 * 40 * 40).fill(128) };
 *   transformSample(img, spec, new Rng(7)).length; // → 3072
 */
export function transformSample(base: RgbImage, spec: TransformSpec, rng: Rng, out?: Float32Array, offset = 0, alternating?: AlternatingFlip): Float32Array {
  if (isPlain(spec)) return applyTransform(base, spec, rng, out, offset);
  if (spec.hflip === 'alternating' && !alternating) throw new Error('transformSample: hflip "alternating" needs the sample\'s start flip and epoch');
  const S = spec.size;
  let img = base;
  if (spec.randomResizedCrop) {
    const { scale, ratio } = spec.randomResizedCrop;
    const box = F.randomResizedCropParams(img.height, img.width, [scale[0], scale[1]], [ratio[0], ratio[1]], rng);
    img = F.resize(crop(img, box.top, box.left, box.height, box.width), S, S, { interpolation: spec.interpolation ?? 'bilinear', antialias: true });
  }
  const { top, left, flip } = drawAugmentation(spec, rng);
  if (alternating?.startFlipped) img = hflip(img);
  const p = spec.randomCrop?.padding ?? 0;
  if (spec.randomCrop?.mode === 'reflect') img = reflectTranslate(img, top - p, left - p, p);
  else if (spec.randomCrop) img = crop(img, top - p, left - p, S, S);
  if (flip || (alternating && alternating.epoch % 2 === 1)) img = hflip(img);
  if (spec.policy !== undefined) img = applyPolicy(img, spec.policy, rng, { mean: spec.mean });
  const dst = normalizeInto(img, spec.mean, spec.std, out, offset);
  if (spec.randomErasing) randomErase(dst, offset, S, S, spec.randomErasing, rng);
  if (spec.cutout !== undefined) cutOut(dst, offset, S, S, spec.cutout, rng);
  return dst;
}
