/**
 * torchvision's pixel-moving ops that do not interpolate, on uint8 CHW images: `vflip`, `pad` in
 * its four modes, `erase`. (`hflip` and `crop` live in src/data/transforms.ts.) Every op is pure.
 */
import type { RgbImage } from '../data/transforms.js';
import { checkImage, fillPerChannel, type Fill } from './pixels.js';

/** torchvision's padding modes. */
export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';
/** All sides, [left/right, top/bottom] or [left, top, right, bottom], as torchvision's `padding`. */
export type Padding = number | readonly number[];

/**
 * Mirrors an image top-bottom (torchvision `vflip`).
 *
 * @example
 * augment.vflip({ width: 1, height: 2, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }).data; // → Uint8Array.of(2, 1, 4, 3, 6, 5)
 */
export function vflip(img: RgbImage): RgbImage {
  checkImage(img);
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) out.set(data.subarray((c * height + y) * width, (c * height + y + 1) * width), (c * height + height - 1 - y) * width);
  }
  return { width, height, data: out };
}

/**
 * torchvision's `padding` as [left, top, right, bottom] (one number: all sides; two: left/right
 * then top/bottom).
 *
 * @example
 * augment.paddingSides([4, 2]); // → [4, 2, 4, 2]
 */
export function paddingSides(padding: Padding): [number, number, number, number] {
  const p = typeof padding === 'number' ? [padding] : padding;
  if (p.length !== 1 && p.length !== 2 && p.length !== 4) throw new RangeError(`padding must be 1, 2 or 4 numbers, got ${p.length}`);
  if (!p.every((v) => Number.isInteger(v) && v >= 0)) throw new RangeError(`padding must be non-negative integers, got ${JSON.stringify(padding)}`);
  return p.length === 1 ? [p[0], p[0], p[0], p[0]] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[0], p[1], p[2], p[3]];
}

/** The source index of padded position `i` (−1: the fill), for a side of `size` pixels padded by `before`. */
function sourceIndex(i: number, before: number, size: number, mode: PaddingMode): number {
  const s = i - before;
  if (s >= 0 && s < size) return s;
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return s < 0 ? 0 : size - 1;
    case 'reflect':
      return s < 0 ? -s : 2 * (size - 1) - s;
    case 'symmetric':
      return s < 0 ? -s - 1 : 2 * size - 1 - s;
  }
}

/**
 * torchvision's `pad(img, padding, fill, padding_mode)`: `constant` fills with `fill` (truncated to
 * an integer, as torch casts it; one value or one per channel), `edge` repeats the border pixel,
 * `reflect` mirrors without repeating it (padding < side), `symmetric` mirrors repeating it
 * (padding ≤ side).
 *
 * @example
 * const row = { width: 3, height: 1, data: Uint8Array.of(1, 2, 3, 1, 2, 3, 1, 2, 3) };
 * augment.pad(row, [2, 0], { mode: 'reflect' }).data.subarray(0, 7); // → Uint8Array.of(3, 2, 1, 2, 3, 2, 1)
 */
export function pad(img: RgbImage, padding: Padding, opts: { fill?: Fill; mode?: PaddingMode } = {}): RgbImage {
  checkImage(img);
  const [l, t, r, b] = paddingSides(padding);
  const mode = opts.mode ?? 'constant';
  const { width: w, height: h, data } = img;
  const limit = mode === 'reflect' ? 1 : 0;
  if ((mode === 'reflect' || mode === 'symmetric') && (Math.max(l, r) > w - limit || Math.max(t, b) > h - limit)) {
    throw new RangeError(`${mode} padding must be ${mode === 'reflect' ? 'smaller than' : 'at most'} the image side (${w}x${h}), got ${JSON.stringify(padding)}`);
  }
  const fill = fillPerChannel(opts.fill ?? 0).map(Math.trunc);
  const W = w + l + r;
  const H = h + t + b;
  const xs = Int32Array.from({ length: W }, (_, x) => sourceIndex(x, l, w, mode));
  const ys = Int32Array.from({ length: H }, (_, y) => sourceIndex(y, t, h, mode));
  const out = new Uint8Array(3 * W * H);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      const row = (c * H + y) * W;
      for (let x = 0; x < W; x++) out[row + x] = ys[y] < 0 || xs[x] < 0 ? fill[c] : data[(c * h + ys[y]) * w + xs[x]];
    }
  }
  return { width: W, height: H, data: out };
}

/**
 * torchvision's `erase(img, i, j, h, w, v)`: rows i..i+h−1 and columns j..j+w−1 (clipped to the
 * image, as a slice is) set to `value` (one value or one per channel, truncated as torch casts it).
 *
 * @example
 * augment.erase({ width: 2, height: 1, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }, 0, 1, 1, 1, [7, 8, 9]).data; // → Uint8Array.of(1, 7, 3, 8, 5, 9)
 */
export function erase(img: RgbImage, i: number, j: number, h: number, w: number, value: Fill): RgbImage {
  checkImage(img);
  if (![i, j, h, w].every((v) => Number.isInteger(v) && v >= 0)) throw new RangeError(`erase i, j, h, w must be non-negative integers, got ${i}, ${j}, ${h}, ${w}`);
  const v = fillPerChannel(value, 'erase value').map(Math.trunc);
  const { width: W, height: H } = img;
  const data = img.data.slice();
  const x1 = Math.min(W, j + w);
  for (let c = 0; c < 3; c++) {
    for (let y = i; y < Math.min(H, i + h); y++) if (x1 > j) data.fill(v[c], (c * H + y) * W + j, (c * H + y) * W + x1);
  }
  return { width: W, height: H, data };
}
