/**
 * torchvision's `rotate` and `affine` on uint8 tensors (0.14): the inverse affine matrix of
 * `_get_inverse_affine_matrix`, torchvision's affine grid and `grid_sample` (align_corners=False,
 * zero padding; `fill` through its mask channel), in float32, rounded half to even at the end.
 * `warpUnrounded` runs the same kernels in float64 for telling rounding ties apart.
 */
import type { RgbImage } from '../data/transforms.js';
import { checkImage, f32, fillPerChannel, roundToByte, type Fill } from './pixels.js';
import type { Arithmetic } from './resize.js';

/** The interpolations `rotate` and `affine` take for tensors. */
export type WarpInterpolation = 'nearest' | 'bilinear';

/** A warp: the inverse matrix (output pixel → input pixel, about the image centre) and the output size. */
interface Warp {
  readonly matrix: readonly number[];
  readonly width: number;
  readonly height: number;
  readonly interpolation: WarpInterpolation;
  readonly fill?: Fill;
}

/**
 * torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)` (angles in
 * degrees, clockwise for `angle` as in `affine`): the 2×3 matrix that maps output to input points.
 *
 * @example
 * // (+ 0 turns -0 into 0)
 * augment.inverseAffineMatrix([0, 0], 0, [3, -2], 1, [0, 0]).map((v) => v + 0); // → [1, 0, -3, 0, 1, 2]
 */
export function inverseAffineMatrix(center: readonly [number, number], angle: number, translate: readonly [number, number], scale: number, shear: readonly [number, number]): number[] {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const rot = rad(angle);
  const sx = rad(shear[0]);
  const sy = rad(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((x) => x / scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/** `_compute_affine_output_size`: the corners mapped in float32, bounds truncated to 1e-4 before ceil/floor. */
function expandedSize(matrix: readonly number[], w: number, h: number): { width: number; height: number } {
  const t = matrix.map(f32);
  const corners = [
    [-0.5 * w, -0.5 * h],
    [-0.5 * w, 0.5 * h],
    [0.5 * w, 0.5 * h],
    [0.5 * w, -0.5 * h],
  ];
  const size = (row: number, half: number) => {
    const v = corners.map(([x, y]) => f32(f32(f32(x * t[3 * row]) + f32(y * t[3 * row + 1])) + t[3 * row + 2]));
    const tol = f32(1e-4);
    const cmax = Math.ceil(f32(Math.trunc(f32(f32(Math.max(...v) + half) / tol)) * tol));
    const cmin = Math.floor(f32(Math.trunc(f32(f32(Math.min(...v) + half) / tol)) * tol));
    return cmax - cmin;
  };
  return { width: size(0, w * 0.5), height: size(1, h * 0.5) };
}

/**
 * The output values before rounding, in arithmetic `r`, and each output pixel's source coordinates
 * (x, y in input pixels: where `nearest` rounds).
 */
function sample(img: RgbImage, warp: Warp, r: Arithmetic): { values: Float64Array; sourceX: Float64Array; sourceY: Float64Array } {
  const { width: w, height: h, data } = img;
  const { width: ow, height: oh, matrix } = warp;
  const t = matrix.map(r);
  const [hw, hh] = [r(0.5 * w), r(0.5 * h)];
  const gx = [r(t[0] / hw), r(t[1] / hw), r(t[2] / hw)];
  const gy = [r(t[3] / hh), r(t[4] / hh), r(t[5] / hh)];
  const fill = warp.fill === undefined ? undefined : fillPerChannel(warp.fill).map(r);
  const n = ow * oh;
  const values = new Float64Array(3 * n);
  const sourceX = new Float64Array(n);
  const sourceY = new Float64Array(n);
  const pixel = (c: number, y: number, x: number) => (x >= 0 && x < w && y >= 0 && y < h ? data[(c * h + y) * w + x] : 0);
  const inside = (y: number, x: number) => (x >= 0 && x < w && y >= 0 && y < h ? 1 : 0);
  for (let oy = 0; oy < oh; oy++) {
    const by = -oh * 0.5 + 0.5 + oy;
    for (let ox = 0; ox < ow; ox++) {
      const bx = -ow * 0.5 + 0.5 + ox;
      const p = oy * ow + ox;
      const u = r(r(r(bx * gx[0]) + r(by * gx[1])) + gx[2]);
      const v = r(r(r(bx * gy[0]) + r(by * gy[1])) + gy[2]);
      // grid_sample's unnormalize for align_corners=False: (g + 1)·size/2 − ½
      const x = r(r(r(u + 1) * hw) - 0.5);
      const y = r(r(r(v + 1) * hh) - 0.5);
      sourceX[p] = x;
      sourceY[p] = y;
      if (warp.interpolation === 'nearest') {
        const xi = roundEven(x);
        const yi = roundEven(y);
        const hit = inside(yi, xi);
        for (let c = 0; c < 3; c++) values[c * n + p] = fill && !hit ? fill[c] : pixel(c, yi, xi);
        continue;
      }
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const we = r(x - x0);
      const ww = r(1 - we);
      const ws = r(y - y0);
      const wn = r(1 - ws);
      const weights = [r(wn * ww), r(wn * we), r(ws * ww), r(ws * we)];
      const corners = [
        [y0, x0],
        [y0, x0 + 1],
        [y0 + 1, x0],
        [y0 + 1, x0 + 1],
      ];
      const mix = (at: (yy: number, xx: number) => number) => corners.reduce((acc, [yy, xx], k) => (k === 0 ? r(at(yy, xx) * weights[0]) : r(acc + r(at(yy, xx) * weights[k]))), 0);
      const mask = fill ? mix(inside) : 1;
      for (let c = 0; c < 3; c++) {
        const value = mix((yy, xx) => pixel(c, yy, xx));
        values[c * n + p] = fill ? r(r(value * mask) + r(r(1 - mask) * fill[c])) : value;
      }
    }
  }
  return { values, sourceX, sourceY };
}

/** Rounding to nearest, ties to even, of any number (torch's `round` / `nearbyint`). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function warped(img: RgbImage, warp: Warp): RgbImage {
  const { values } = sample(img, warp, f32);
  return { width: warp.width, height: warp.height, data: Uint8Array.from(values, roundToByte) };
}

/** Options of `rotate`: torchvision's defaults are nearest, no expand, the image centre, no fill (zeros). */
export interface RotateOptions {
  readonly interpolation?: WarpInterpolation;
  readonly expand?: boolean;
  /** the centre of rotation in pixels from the top-left corner */
  readonly center?: readonly [number, number];
  readonly fill?: Fill;
}

function rotateWarp(img: RgbImage, angle: number, opts: RotateOptions): Warp {
  checkImage(img);
  if (!Number.isFinite(angle)) throw new RangeError(`rotate angle must be a finite number, got ${angle}`);
  const { width: w, height: h } = img;
  const center: [number, number] = opts.center ? [opts.center[0] - w * 0.5, opts.center[1] - h * 0.5] : [0, 0];
  const matrix = inverseAffineMatrix(center, -angle, [0, 0], 1, [0, 0]);
  const size = opts.expand ? expandedSize(matrix, w, h) : { width: w, height: h };
  return { matrix, ...size, interpolation: opts.interpolation ?? 'nearest', fill: opts.fill };
}

/**
 * torchvision's `rotate(img, angle, interpolation, expand, center, fill)`: `angle` degrees
 * counter-clockwise. Exact against torchvision except at rounding ties (bilinear: an unrounded value
 * at x.5; nearest: a source coordinate at x.5), which torch's float32 kernels may round either way.
 *
 * @example
 * const img = { width: 2, height: 2, data: Uint8Array.of(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4) };
 * augment.rotate(img, 90).data.subarray(0, 4); // → Uint8Array.of(2, 4, 1, 3)
 */
export function rotate(img: RgbImage, angle: number, opts: RotateOptions = {}): RgbImage {
  return warped(img, rotateWarp(img, angle, opts));
}

/** Options of `affine` (torchvision's argument names; `shear` one number means [shear, 0]). */
export interface AffineOptions {
  /** degrees, clockwise */
  readonly angle: number;
  /** pixels, after the rotation */
  readonly translate: readonly [number, number];
  readonly scale: number;
  /** degrees: parallel to x, then to y */
  readonly shear: number | readonly [number, number] | readonly [number];
  readonly interpolation?: WarpInterpolation;
  readonly fill?: Fill;
  /** pixels from the top-left corner; default the image centre (AutoAugment passes [0, 0]) */
  readonly center?: readonly [number, number];
}

function affineWarp(img: RgbImage, opts: AffineOptions): Warp {
  checkImage(img);
  const { angle, translate, scale } = opts;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`affine scale must be a positive number, got ${scale}`);
  if (![angle, ...translate].every(Number.isFinite)) throw new RangeError(`affine angle and translate must be finite numbers, got ${angle}, ${JSON.stringify(translate)}`);
  const shear: [number, number] = typeof opts.shear === 'number' ? [opts.shear, 0] : opts.shear.length === 1 ? [opts.shear[0], opts.shear[0]] : [opts.shear[0], opts.shear[1]];
  const { width: w, height: h } = img;
  const center: [number, number] = opts.center ? [opts.center[0] - w * 0.5, opts.center[1] - h * 0.5] : [0, 0];
  const matrix = inverseAffineMatrix(center, angle, [translate[0], translate[1]], scale, shear);
  return { matrix, width: w, height: h, interpolation: opts.interpolation ?? 'nearest', fill: opts.fill };
}

/**
 * torchvision's `affine(img, angle, translate, scale, shear, interpolation, fill, center)`.
 * Exact against torchvision except at rounding ties, as `rotate`.
 *
 * @example
 * const img = { width: 3, height: 1, data: Uint8Array.of(1, 2, 3, 1, 2, 3, 1, 2, 3) };
 * augment.affine(img, { angle: 0, translate: [1, 0], scale: 1, shear: 0 }).data.subarray(0, 3); // → Uint8Array.of(0, 1, 2)
 */
export function affine(img: RgbImage, opts: AffineOptions): RgbImage {
  return warped(img, affineWarp(img, opts));
}

/** What `warpUnrounded` returns: float64 values before rounding and each output pixel's source coordinates. */
export interface UnroundedWarp {
  readonly values: Float64Array;
  readonly sourceX: Float64Array;
  readonly sourceY: Float64Array;
  /** whether the warp interpolates `nearest` (it rounds the source coordinates, not the values) */
  readonly nearest: boolean;
}

/**
 * `rotate` or `affine` in float64, before rounding, with the source coordinates `nearest` rounds.
 *
 * @example
 * warpUnrounded({ width: 2, height: 1, data: new Uint8Array(6) }, { affine: { angle: 0, translate: [0, 0], scale: 1, shear: 0 } }).sourceX; // → Float64Array.of(0, 1)
 */
export function warpUnrounded(img: RgbImage, op: { rotate: { angle: number } & RotateOptions } | { affine: AffineOptions }): UnroundedWarp {
  const warp = 'rotate' in op ? rotateWarp(img, op.rotate.angle, op.rotate) : affineWarp(img, op.affine);
  return { ...sample(img, warp, (x) => x), nearest: warp.interpolation === 'nearest' };
}
