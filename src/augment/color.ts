/**
 * torchvision.transforms.functional's colour ops (0.14) on uint8 CHW images, computed the way its
 * tensor code path computes them: in float32, truncated back to uint8 where torch's `.to(uint8)`
 * truncates, rounded half to even where it calls `torch.round`. Every op is pure.
 */
import type { RgbImage } from '../data/transforms.js';
import { checkImage, f32, mapBytes, roundHalfEven, truncToByte } from './pixels.js';

/**
 * `invert`: 255 − value.
 *
 * @example
 * augment.invert({ width: 1, height: 1, data: Uint8Array.of(0, 100, 255) }).data; // → Uint8Array.of(255, 155, 0)
 */
export function invert(img: RgbImage): RgbImage {
  return mapBytes(img, (v) => 255 - v);
}

/**
 * `posterize(img, bits)`: keeps the `bits` (0..8) most significant bits of every value.
 *
 * @example
 * augment.posterize({ width: 1, height: 1, data: Uint8Array.of(255, 130, 7) }, 2).data; // → Uint8Array.of(192, 128, 0)
 */
export function posterize(img: RgbImage, bits: number): RgbImage {
  if (!Number.isInteger(bits) || bits < 0 || bits > 8) throw new RangeError(`posterize bits must be an integer from 0 to 8, got ${bits}`);
  const mask = (256 - 2 ** (8 - bits)) & 0xff;
  return mapBytes(img, (v) => v & mask);
}

/**
 * `solarize(img, threshold)`: inverts every value ≥ `threshold` (at most 255).
 *
 * @example
 * augment.solarize({ width: 1, height: 1, data: Uint8Array.of(10, 128, 200) }, 128).data; // → Uint8Array.of(10, 127, 55)
 */
export function solarize(img: RgbImage, threshold: number): RgbImage {
  if (Number.isNaN(threshold) || threshold > 255) throw new RangeError(`solarize threshold must be at most 255, got ${threshold}`);
  return mapBytes(img, (v) => (v >= threshold ? 255 - v : v));
}

/**
 * torchvision's `_blend(img1, img2, ratio)` on uint8: `ratio·img1 + (1 − ratio)·img2` in float32,
 * clamped and truncated; `other(channel, pixel)` is img2's value.
 */
function blend(img: RgbImage, ratio: number, other: (channel: number, pixel: number) => number): RgbImage {
  const r1 = f32(ratio);
  const r2 = f32(1 - ratio);
  return mapBytes(img, (v, c, p) => truncToByte(f32(f32(r1 * v) + f32(r2 * other(c, p)))));
}

function checkFactor(name: string, factor: number): void {
  if (!Number.isFinite(factor) || factor < 0) throw new RangeError(`${name} must be a non-negative number, got ${factor}`);
}

/** `rgb_to_grayscale` on uint8: 0.2989·R + 0.587·G + 0.114·B in float32, truncated. */
function grayscale(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const d = img.data;
  const [wr, wg, wb] = [f32(0.2989), f32(0.587), f32(0.114)];
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++) out[p] = truncToByte(f32(f32(f32(wr * d[p]) + f32(wg * d[n + p])) + f32(wb * d[2 * n + p])));
  return out;
}

/**
 * `adjust_brightness(img, factor)`: every value times `factor` (≥ 0), clamped.
 *
 * @example
 * augment.adjustBrightness({ width: 1, height: 1, data: Uint8Array.of(10, 100, 200) }, 1.5).data; // → Uint8Array.of(15, 150, 255)
 */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  checkFactor('brightness_factor', factor);
  return blend(img, factor, () => 0);
}

/**
 * `adjust_contrast(img, factor)`: blends with the mean of the grayscale image (a uint8 grayscale,
 * averaged in float32; the sum is exact below 65,793 pixels, beyond that torch's float32 sum may
 * differ from ours in its last bit).
 *
 * @example
 * augment.adjustContrast({ width: 2, height: 1, data: Uint8Array.of(0, 100, 0, 100, 0, 100) }, 0).data; // → Uint8Array.of(49, 49, 49, 49, 49, 49)
 */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  checkFactor('contrast_factor', factor);
  checkImage(img);
  const gray = grayscale(img);
  let sum = 0;
  for (const g of gray) sum += g;
  const mean = f32(f32(sum) / gray.length);
  return blend(img, factor, () => mean);
}

/**
 * `adjust_saturation(img, factor)`: blends with the uint8 grayscale image (0 gives gray, 1 the image).
 *
 * @example
 * augment.adjustSaturation({ width: 1, height: 1, data: Uint8Array.of(200, 100, 0) }, 0).data; // → Uint8Array.of(118, 118, 118)
 */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  checkFactor('saturation_factor', factor);
  checkImage(img);
  const gray = grayscale(img);
  return blend(img, factor, (_c, p) => gray[p]);
}

/**
 * `adjust_sharpness(img, factor)`: blends with torchvision's "degenerate" image (the interior
 * smoothed by the 3×3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13 and rounded, the border kept); images
 * with a side ≤ 2 come back unchanged.
 *
 * @example
 * augment.adjustSharpness({ width: 2, height: 2, data: new Uint8Array(12).fill(9) }, 2).data.length; // → 12
 */
export function adjustSharpness(img: RgbImage, factor: number): RgbImage {
  checkFactor('sharpness_factor', factor);
  checkImage(img);
  const { width: W, height: H, data } = img;
  if (W <= 2 || H <= 2) return { width: W, height: H, data: data.slice() };
  const edge = f32(f32(1) / f32(13));
  const centre = f32(f32(5) / f32(13));
  const blurred = data.slice();
  for (let c = 0; c < 3; c++) {
    for (let y = 1; y < H - 1; y++) {
      for (let x = 1; x < W - 1; x++) {
        const at = (c * H + y) * W + x;
        let ring = 0;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dy !== 0 || dx !== 0) ring += data[at + dy * W + dx];
        // n/13 is never within 0.038 of a rounding tie, so float32 noise cannot change the rounding
        blurred[at] = roundHalfEven(ring * edge + data[at] * centre);
      }
    }
  }
  const n = W * H;
  return blend(img, factor, (c, p) => blurred[c * n + p]);
}

/**
 * `autocontrast(img)`: stretches each channel so its minimum becomes 0 and its maximum 255
 * (a constant channel is kept).
 *
 * @example
 * augment.autocontrast({ width: 2, height: 1, data: Uint8Array.of(50, 100, 7, 7, 0, 255) }).data; // → Uint8Array.of(0, 255, 7, 7, 0, 255)
 */
export function autocontrast(img: RgbImage): RgbImage {
  checkImage(img);
  const n = img.width * img.height;
  const lo: number[] = [];
  const scale: number[] = [];
  for (let c = 0; c < 3; c++) {
    let min = 255;
    let max = 0;
    for (let p = c * n; p < (c + 1) * n; p++) {
      min = Math.min(min, img.data[p]);
      max = Math.max(max, img.data[p]);
    }
    // torch evaluates `255.0 / t` as `t.reciprocal() * 255.0`
    lo.push(max === min ? 0 : min);
    scale.push(max === min ? 1 : f32(f32(1 / (max - min)) * 255));
  }
  return mapBytes(img, (v, c) => truncToByte(f32((v - lo[c]) * scale[c])));
}

/** One channel's equalization table (torchvision's `_scale_channel`), or null when it keeps the channel. */
function equalizeTable(plane: Uint8Array): Uint8Array | null {
  const hist = new Array<number>(256).fill(0);
  for (const v of plane) hist[v]++;
  const nonzero = hist.filter((h) => h !== 0);
  const step = Math.floor(nonzero.slice(0, -1).reduce((a, b) => a + b, 0) / 255);
  if (step === 0) return null;
  const lut = new Uint8Array(256);
  let cumulative = 0;
  for (let v = 0; v < 256; v++) {
    // the table is shifted by one: entry v uses the histogram below v
    lut[v] = Math.min(255, Math.floor((cumulative + Math.floor(step / 2)) / step));
    cumulative += hist[v];
  }
  return lut;
}

/**
 * `equalize(img)`: histogram equalization of each channel (PIL's algorithm, as torchvision's).
 *
 * @example
 * augment.equalize({ width: 2, height: 1, data: Uint8Array.of(10, 20, 10, 20, 10, 20) }).data; // → Uint8Array.of(10, 20, 10, 20, 10, 20)
 */
export function equalize(img: RgbImage): RgbImage {
  checkImage(img);
  const n = img.width * img.height;
  const tables = [0, 1, 2].map((c) => equalizeTable(img.data.subarray(c * n, (c + 1) * n)));
  return mapBytes(img, (v, c) => tables[c]?.[v] ?? v);
}

/** rgb → hsv of one pixel in float32, as torchvision's `_rgb2hsv` (values in [0, 1]). */
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  const eqc = maxc === minc;
  const cr = f32(maxc - minc);
  const s = f32(cr / (eqc ? 1 : maxc));
  const divisor = eqc ? 1 : cr;
  const rc = f32(f32(maxc - r) / divisor);
  const gc = f32(f32(maxc - g) / divisor);
  const bc = f32(f32(maxc - b) / divisor);
  const hr = maxc === r ? f32(bc - gc) : 0;
  const hg = maxc === g && maxc !== r ? f32(f32(2 + rc) - bc) : 0;
  const hb = maxc !== g && maxc !== r ? f32(f32(4 + gc) - rc) : 0;
  const h = f32(f32(hr + hg) + hb);
  return [f32(f32(f32(h / 6) + 1) % 1), s, maxc];
}

/** hsv → rgb of one pixel in float32, as torchvision's `_hsv2rgb`. */
function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const h6 = f32(h * 6);
  const i = Math.floor(h6);
  const f = f32(h6 - i);
  const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
  const p = clamp01(f32(v * f32(1 - s)));
  const q = clamp01(f32(v * f32(1 - f32(s * f))));
  const t = clamp01(f32(v * f32(1 - f32(s * f32(1 - f)))));
  switch (((i % 6) + 6) % 6) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/**
 * `adjust_hue(img, hueFactor)`: shifts the hue by `hueFactor` (in [−0.5, 0.5]) turns, through
 * torchvision's float32 HSV round trip (values /255, back ×255 and truncated).
 *
 * @example
 * augment.adjustHue({ width: 1, height: 1, data: Uint8Array.of(255, 0, 0) }, 1 / 3).data; // → Uint8Array.of(0, 255, 0)
 */
export function adjustHue(img: RgbImage, hueFactor: number): RgbImage {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new RangeError(`hue_factor must be in [-0.5, 0.5], got ${hueFactor}`);
  checkImage(img);
  const n = img.width * img.height;
  const d = img.data;
  const shift = f32(hueFactor);
  const out = new Uint8Array(d.length);
  for (let p = 0; p < n; p++) {
    const [h, s, v] = rgbToHsv(f32(d[p] / 255), f32(d[n + p] / 255), f32(d[2 * n + p] / 255));
    const rgb = hsvToRgb(pyMod1(f32(h + shift)), s, v);
    for (let c = 0; c < 3; c++) out[c * n + p] = truncToByte(f32(rgb[c] * 255));
  }
  return { width: img.width, height: img.height, data: out };
}

/** torch.remainder(x, 1.0) in float32: the result has the sign of the divisor. */
function pyMod1(x: number): number {
  const m = x % 1;
  return m !== 0 && m < 0 ? f32(m + 1) : m;
}
