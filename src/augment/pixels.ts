/**
 * What every image op of src/augment shares: the image check, Python's rounding, fill colours and
 * the float32 arithmetic torchvision's uint8 tensor code path runs in.
 */
import type { RgbImage } from '../data/transforms.js';

/** torchvision's interpolation modes for uint8 tensors (`InterpolationMode.X.value`). */
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic';
/** A fill colour: one value for every channel or one per channel (0..255), as torchvision takes it. */
export type Fill = number | readonly number[];

/** IEEE single-precision rounding: torch computes uint8 image ops in float32. */
export const f32 = Math.fround;

/** Throws a RangeError unless `img` is a well-formed RgbImage. */
export function checkImage(img: RgbImage): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== 3 * width * height) {
    throw new RangeError(`a ${width}x${height} RGB image needs ${3 * width * height} bytes, got ${data.length}`);
  }
}

/**
 * Python's round(): to nearest, ties to even (what torchvision's center crop and torch.round use).
 *
 * @example
 *   [roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(2.6)]; // [2, 2, 3]
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torch's float → uint8 after `torch.round` and a clamp to [0, 255]. */
export function roundToByte(x: number): number {
  return x <= 0 ? 0 : x >= 255 ? 255 : roundHalfEven(x);
}

/** torch's `.clamp(0, 255).to(torch.uint8)` of a float: truncation toward zero. */
export function truncToByte(x: number): number {
  return x <= 0 ? 0 : x >= 255 ? 255 : Math.trunc(x);
}

/** The fill of each of the three channels; a one-element list counts for all (torchvision broadcasts it). */
export function fillPerChannel(fill: Fill, what = 'fill'): [number, number, number] {
  const values = typeof fill === 'number' ? [fill] : fill;
  if (values.length !== 1 && values.length !== 3) throw new RangeError(`${what} needs 1 or 3 values for an RGB image, got ${values.length}`);
  for (const v of values) if (!Number.isFinite(v) || v < 0 || v > 255) throw new RangeError(`${what} values must be in [0, 255], got ${v}`);
  return values.length === 1 ? [values[0], values[0], values[0]] : [values[0], values[1], values[2]];
}

/** An image of the same size whose every byte is `fn(value, channel, pixel)` (`pixel` = y·width + x). */
export function mapBytes(img: RgbImage, fn: (value: number, channel: number, pixel: number) => number): RgbImage {
  checkImage(img);
  const n = img.width * img.height;
  const out = new Uint8Array(img.data.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < n; p++) out[c * n + p] = fn(img.data[c * n + p], c, p);
  return { width: img.width, height: img.height, data: out };
}
