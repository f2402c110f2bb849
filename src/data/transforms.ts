/**
 * Image transforms on uint8 RGB images stored channel-planar (CHW), with torchvision semantics:
 * resize (bilinear, with or without antialias), crop / center crop / zero padding, horizontal
 * flip, and normalization straight into a Float32Array slot of a batch.
 *
 * Every function is pure (inputs are never modified); the only randomness is drawn from an `Rng`
 * passed in, in torchvision's order: RandomCrop's top then left, then RandomHorizontalFlip.
 */
import { parsePolicy } from '../augment/policy-parse.js';
import type { Rng } from '../nn/init.js';
import type { TransformSpec } from './types.js';
import { checkImage, roundHalfEven } from '../augment/pixels.js';
import { resize, resizedSize } from '../augment/resize.js';

export { roundHalfEven } from '../augment/pixels.js';
export { pad } from '../augment/geometry.js';

/** A uint8 RGB image, channel-planar: `data[(c * height + y) * width + x]`, length 3·height·width. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/**
 * Mirrors an image left-right (torchvision `hflip`).
 *
 * @example
 *   augment.hflip({ width: 2, height: 1, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }).data; // → Uint8Array.of(2, 1, 4, 3, 6, 5)
 */
export function hflip(img: RgbImage): RgbImage {
  checkImage(img);
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let row = 0; row < 3 * height; row++) {
    const base = row * width;
    for (let x = 0; x < width; x++) out[base + x] = data[base + width - 1 - x];
  }
  return { width, height, data: out };
}

/**
 * Cuts out `height`×`width` pixels whose top-left corner is at (`top`, `left`). Like torchvision's
 * `crop`, the window may reach outside the image (negative offsets included); those pixels are 0.
 *
 * @example
 *   const img = { width: 2, height: 2, data: Uint8Array.from({ length: 12 }, (_, i) => i + 1) };
 *   // channel 0: a zero row, then row 0
 *   augment.crop(img, -1, 0, 2, 2).data.subarray(0, 4); // → Uint8Array.of(0, 0, 1, 2)
 */
export function crop(img: RgbImage, top: number, left: number, height: number, width: number): RgbImage {
  checkImage(img);
  for (const [name, v] of [['top', top], ['left', left], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v)) throw new RangeError(`crop ${name} must be an integer, got ${v}`);
  }
  if (height < 1 || width < 1) throw new RangeError(`crop size must be positive, got ${width}x${height}`);
  const out = new Uint8Array(3 * height * width);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, img.width - left);
  if (x1 > x0) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < height; y++) {
        const sy = y + top;
        if (sy < 0 || sy >= img.height) continue;
        const src = (c * img.height + sy) * img.width + left;
        out.set(img.data.subarray(src + x0, src + x1), (c * height + y) * width + x0);
      }
    }
  }
  return { width, height, data: out };
}

/**
 * torchvision's `center_crop`: the window's offsets are round((H - size) / 2) (ties to even);
 * a dimension smaller than `size` is zero-padded first, (d - H) // 2 before and the rest after.
 *
 * @example
 *   centerCrop({ width: 4, height: 2, data: new Uint8Array(24) }, 2).width; // 2, columns 1 and 2
 */
export function centerCrop(img: RgbImage, size: number): RgbImage {
  const off = (have: number) => (have >= size ? roundHalfEven((have - size) / 2) : -Math.floor((size - have) / 2));
  return crop(img, off(img.height), off(img.width), size, size);
}

/**
 * torchvision's `Resize(size)` output shape for an int size: the shorter side becomes `size`, the
 * longer one `int(size * long / short)`.
 *
 * @example
 *   resizedShape(480, 640, 224); // { height: 224, width: 298 }
 */
export function resizedShape(height: number, width: number, size: number): { height: number; width: number } {
  return resizedSize(height, width, [size]);
}

/**
 * Bilinear resize to `height`×`width` with torchvision semantics on a uint8 tensor (computed in
 * floating point, rounded half to even). `antialias: true` (the default) is torchvision's
 * `antialias=True` (PIL-like: the triangle filter widens when downsampling); `false` is the plain
 * bilinear interpolation, computed in float32 the way torch's CPU kernel does. Against torchvision's
 * own outputs (shared/fixtures/augment_ops) values agree exactly except where the unrounded value is
 * a tie (x.5, up to float noise), which may round either way: |difference| ≤ 1 there.
 *
 * @example
 *   const img = { width: 4, height: 4, data: new Uint8Array(48).fill(7) };
 *   resizeBilinear(img, 2, 3).data; // 18 sevens
 */
export function resizeBilinear(img: RgbImage, height: number, width: number, opts: { antialias?: boolean } = {}): RgbImage {
  return resize(img, height, width, { interpolation: 'bilinear', antialias: opts.antialias !== false });
}

/**
 * torchvision's `Resize(size)` (bilinear, antialias) followed by `CenterCrop(size)`; returns the
 * image itself, uncopied, when it is already size×size.
 *
 * @example
 *   resizeCenterCrop({ width: 8, height: 4, data: new Uint8Array(96) }, 2); // 2x2: resized to 4x2, columns 1..2
 */
export function resizeCenterCrop(img: RgbImage, size: number): RgbImage {
  checkImage(img);
  if (img.width === size && img.height === size) return img;
  const shape = resizedShape(img.height, img.width, size);
  return centerCrop(resizeBilinear(img, shape.height, shape.width), size);
}

const lutCache = new Map<string, Float32Array>();

/**
 * The 3×256 table of `(v/255 − mean[c]) / std[c]`, computed as torchvision does it in float32
 * (ToTensor's division, then Normalize's subtraction and division), so lookups are bit-exact.
 */
export function normalizeTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const key = `${mean.join(',')}/${std.join(',')}`;
  let lut = lutCache.get(key);
  if (!lut) {
    const f = Math.fround;
    lut = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      const m = f(mean[c]);
      const s = f(std[c]);
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - m) / s);
    }
    if (lutCache.size > 64) lutCache.clear();
    lutCache.set(key, lut);
  }
  return lut;
}

/**
 * Writes `(img/255 − mean) / std` per channel into `out` from `offset` (3·H·W floats, CHW) and
 * returns `out`; allocates `out` when omitted.
 *
 * @example
 *   const x = normalizeInto({ width: 1, height: 1, data: Uint8Array.of(0, 255, 51) }, [0.5, 0.5, 0], [0.5, 0.5, 1]);
 *   // Float32Array [-1, 1, 0.2]
 */
export function normalizeInto(
  img: RgbImage,
  mean: readonly number[],
  std: readonly number[],
  out?: Float32Array,
  offset = 0,
): Float32Array {
  checkImage(img);
  const n = img.width * img.height;
  const dst = out ?? new Float32Array(3 * n);
  if (offset < 0 || offset + 3 * n > dst.length) throw new RangeError(`output slot [${offset}, ${offset + 3 * n}) outside ${dst.length} floats`);
  const lut = normalizeTable(mean, std);
  for (let c = 0; c < 3; c++) {
    const base = c * n;
    for (let i = 0; i < n; i++) dst[offset + base + i] = lut[c * 256 + img.data[base + i]];
  }
  return dst;
}

/**
 * Throws a RangeError naming the problem when `spec` is not a usable TransformSpec.
 *
 * @example
 *   validateTransformSpec({ size: 32, mean: [0, 0, 0], std: [1, 1, 1] }); // ok
 */
export function validateTransformSpec(spec: TransformSpec): void {
  const bad = (what: string): never => {
    throw new RangeError(`invalid TransformSpec: ${what}`);
  };
  if (!Number.isInteger(spec.size) || spec.size < 1) bad(`size must be a positive integer, got ${spec.size}`);
  for (const [name, v] of [['mean', spec.mean], ['std', spec.std]] as const) {
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      bad(`${name} must be 3 finite numbers, got ${JSON.stringify(v)}`);
    }
  }
  if (spec.std.some((s) => s === 0)) bad(`std must be non-zero, got ${JSON.stringify(spec.std)}`);
  if (spec.randomCrop !== undefined) {
    const p = spec.randomCrop?.padding;
    if (!Number.isInteger(p) || p < 0) bad(`randomCrop.padding must be a non-negative integer, got ${p}`);
    const mode = spec.randomCrop.mode;
    if (mode !== undefined && mode !== 'constant' && mode !== 'reflect') bad(`randomCrop.mode must be constant or reflect, got ${mode}`);
    if (mode === 'reflect' && p >= spec.size) bad(`randomCrop: reflect padding ${p} needs images wider than ${p} pixels (size ${spec.size})`);
  }
  if (spec.hflip !== undefined && typeof spec.hflip !== 'boolean' && spec.hflip !== 'alternating') bad(`hflip must be a boolean or "alternating", got ${spec.hflip}`);
  validateAugmentation(spec, bad);
}

/** The checks of the resize, RandomResizedCrop, interpolation, policy and random-erasing fields. */
function validateAugmentation(spec: TransformSpec, bad: (what: string) => never): void {
  if (spec.resize !== undefined && (!Number.isInteger(spec.resize) || spec.resize < spec.size)) bad(`resize must be a whole number ≥ size (${spec.size}), got ${spec.resize}`);
  const rrc = spec.randomResizedCrop;
  if (rrc !== undefined) {
    if (spec.randomCrop !== undefined) bad('randomCrop and randomResizedCrop exclude each other');
    if (spec.resize !== undefined) bad('resize applies to the center crop, not to randomResizedCrop');
    const range = (name: string, r: unknown, lowest: number) => {
      if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && Number.isFinite(v)) || !(r[0] > lowest) || r[0] > r[1]) {
        bad(`randomResizedCrop.${name} must be [lo, hi] with ${lowest} < lo ≤ hi, got ${JSON.stringify(r)}`);
      }
    };
    range('scale', rrc.scale, 0);
    range('ratio', rrc.ratio, 0);
  }
  if (spec.interpolation !== undefined && spec.interpolation !== 'bilinear' && spec.interpolation !== 'bicubic') bad(`interpolation must be bilinear or bicubic, got ${spec.interpolation}`);
  if (spec.policy !== undefined) {
    try {
      parsePolicy(spec.policy, 'policy');
    } catch (e) {
      bad(e instanceof Error ? e.message : String(e));
    }
  }
  const re = spec.randomErasing;
  if (re !== undefined) {
    if (!(re.prob >= 0 && re.prob <= 1)) bad(`randomErasing.prob must be in [0, 1], got ${re.prob}`);
    if (re.mode !== 'const' && re.mode !== 'rand' && re.mode !== 'pixel') bad(`randomErasing.mode must be const, rand or pixel, got ${re.mode}`);
    if (!Number.isInteger(re.count) || re.count < 1) bad(`randomErasing.count must be a whole number ≥ 1, got ${re.count}`);
  }
}

/** The random choices of one sample's augmentation. */
export interface Augmentation {
  /** top-left of the crop window in the zero-padded image (0..2·padding) */
  readonly top: number;
  readonly left: number;
  readonly flip: boolean;
}

/**
 * Draws one sample's augmentation from `rng` in torchvision's order: RandomCrop's top, then left
 * (no draw when the padding is 0, as torchvision skips it for an exact fit), then the flip coin
 * (`rng.next() < 0.5`, only when `spec.hflip` is true; the alternating flip draws nothing here).
 *
 * @example
 *   drawAugmentation({ size: 32, randomCrop: { padding: 4 }, hflip: true, mean, std }, new Rng(1));
 *   // { top: 0..8, left: 0..8, flip: true|false }
 */
export function drawAugmentation(spec: TransformSpec, rng: Rng): Augmentation {
  const p = spec.randomCrop?.padding ?? 0;
  let top = p;
  let left = p;
  if (spec.randomCrop && p > 0) {
    top = rng.int(2 * p + 1);
    left = rng.int(2 * p + 1);
  }
  const flip = spec.hflip === true ? rng.next() < 0.5 : false;
  return { top, left, flip };
}

/** the index of pixel i on a padded side of n pixels: clamped to a zero pad (−1), or mirrored without the edge (torch's reflect) */
const padIndex = (i: number, n: number, reflect: boolean): number => (i >= 0 && i < n ? i : !reflect ? -1 : i < 0 ? -i : 2 * (n - 1) - i);

/**
 * The whole per-sample pipeline: resize + center crop to `spec.size` (only when the image is not
 * already size×size), pad + random crop, horizontal flip, normalization. Crop, flip and
 * normalization are fused into one pass that writes the 3·size·size floats of `out` from `offset`
 * (allocated when omitted) and returns `out`. Same image, spec and Rng state give the same output.
 * The alternating flip is not computed here (src/augment/pipeline.ts transformSample).
 *
 * @example
 *   const spec = { size: 32, randomCrop: { padding: 4 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD };
 *   const batch = new Float32Array(8 * 3 * 32 * 32);
 *   applyTransform(img, spec, new Rng(42), batch, 5 * 3 * 32 * 32); // fills slot 5
 */
export function applyTransform(img: RgbImage, spec: TransformSpec, rng: Rng, out?: Float32Array, offset = 0): Float32Array {
  const S = spec.size;
  const src = resizeCenterCrop(img, S);
  const n = S * S;
  const dst = out ?? new Float32Array(3 * n);
  if (offset < 0 || offset + 3 * n > dst.length) throw new RangeError(`output slot [${offset}, ${offset + 3 * n}) outside ${dst.length} floats`);
  if (spec.hflip === 'alternating') throw new Error('applyTransform: the alternating flip needs the sample\'s epoch and start flip (transformSample)');
  const { top, left, flip } = drawAugmentation(spec, rng);
  const p = spec.randomCrop?.padding ?? 0;
  const reflect = spec.randomCrop?.mode === 'reflect';
  const dy = top - p;
  const dx = left - p;
  const lut = normalizeTable(spec.mean, spec.std);
  const data = src.data;
  for (let c = 0; c < 3; c++) {
    const zero = lut[c * 256];
    const plane = c * n;
    for (let y = 0; y < S; y++) {
      const sy = padIndex(y + dy, S, reflect);
      const o = offset + plane + y * S;
      if (sy < 0) {
        dst.fill(zero, o, o + S);
        continue;
      }
      const row = plane + sy * S;
      for (let x = 0; x < S; x++) {
        const sx = padIndex((flip ? S - 1 - x : x) + dx, S, reflect);
        dst[o + x] = sx >= 0 ? lut[c * 256 + data[row + sx]] : zero;
      }
    }
  }
  return dst;
}

/**
 * Converts interleaved (HWC) pixels into a channel-planar RgbImage: sharp's RGB, or with
 * `channels` 4 a canvas's RGBA (alpha dropped).
 *
 * @example
 *   fromInterleaved(Uint8Array.of(1, 2, 3, 4, 5, 6), 2, 1).data; // [1, 4, 2, 5, 3, 6]
 */
export function fromInterleaved(hwc: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: 3 | 4 = 3): RgbImage {
  const n = width * height;
  if (hwc.length !== channels * n) throw new RangeError(`${width}x${height} ${channels === 3 ? 'RGB' : 'RGBA'} needs ${channels * n} bytes, got ${hwc.length}`);
  const out = new Uint8Array(3 * n);
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    out[i] = hwc[j];
    out[n + i] = hwc[j + 1];
    out[2 * n + i] = hwc[j + 2];
  }
  return { width, height, data: out };
}
