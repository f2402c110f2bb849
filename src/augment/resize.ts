/**
 * torchvision's `resize` on uint8 tensors (0.14): nearest, bilinear and bicubic through
 * `torch.nn.functional.interpolate` (align_corners=False), with or without antialias, computed in
 * float32 as torch's CPU kernels compute them and rounded half to even at the end (bicubic clamped
 * to [0, 255] first). The same kernels run in float64 for `resizeUnrounded`, which tests use to tell
 * rounding ties apart.
 */
import type { RgbImage } from '../data/transforms.js';
import { checkImage, f32, roundToByte, type Interpolation } from './pixels.js';

/** The float arithmetic a kernel runs in: `Math.fround` (torch's float32) or none (float64). */
export type Arithmetic = (x: number) => number;
const float64: Arithmetic = (x) => x;

/** Every output position's source taps along one axis: `taps` indices and weights each. */
interface AxisTaps {
  readonly taps: number;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

function axisTaps(outSize: number, taps: number, fill: (i: number, index: Int32Array, weight: Float64Array, at: number) => void): AxisTaps {
  const index = new Int32Array(outSize * taps);
  const weight = new Float64Array(outSize * taps);
  for (let i = 0; i < outSize; i++) fill(i, index, weight, i * taps);
  return { taps, index, weight };
}

/** upsample_nearest: floor(i · (in/out)) in float32, at most in − 1. */
function nearestTaps(inSize: number, outSize: number): AxisTaps {
  const scale = f32(inSize / outSize);
  return axisTaps(outSize, 1, (i, index, weight, at) => {
    index[at] = Math.min(Math.floor(f32(i * scale)), inSize - 1);
    weight[at] = 1;
  });
}

/** upsample_bilinear2d (no antialias): source max(scale·(i + ½) − ½, 0), two taps. */
function linearTaps(inSize: number, outSize: number, r: Arithmetic): AxisTaps {
  const scale = r(inSize / outSize);
  return axisTaps(outSize, 2, (i, index, weight, at) => {
    const real = Math.max(r(r(scale * (i + 0.5)) - 0.5), 0);
    const i0 = Math.min(Math.floor(real), inSize - 1);
    const lambda = r(Math.min(Math.max(real - i0, 0), 1));
    index[at] = i0;
    index[at + 1] = i0 + (i0 < inSize - 1 ? 1 : 0);
    weight[at] = r(1 - lambda);
    weight[at + 1] = lambda;
  });
}

/** upsample_bicubic2d (no antialias, A = −0.75): four taps around floor(scale·(i + ½) − ½), clamped to the image. */
function cubicTaps(inSize: number, outSize: number, r: Arithmetic): AxisTaps {
  const A = -0.75;
  const near = (x: number) => r(r(r(r(r((A + 2) * x) - (A + 3)) * x) * x) + 1);
  const far = (x: number) => r(r(r(r(r(r(A * x) - 5 * A) * x) + 8 * A) * x) - 4 * A);
  const scale = r(inSize / outSize);
  return axisTaps(outSize, 4, (i, index, weight, at) => {
    const real = r(r(scale * (i + 0.5)) - 0.5);
    const i0 = Math.floor(real);
    const t = r(real - i0);
    const coeffs = [far(r(t + 1)), near(t), near(r(1 - t)), far(r(r(1 - t) + 1))];
    for (let k = 0; k < 4; k++) {
      index[at + k] = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      weight[at + k] = coeffs[k];
    }
  });
}

/** The antialiasing filters: PIL's triangle and its cubic with a = −0.5. */
const AA_FILTERS = {
  bilinear: { support: 1, kernel: (x: number) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    support: 2,
    kernel: (x: number, r: Arithmetic) => {
      const a = -0.5;
      const ax = Math.abs(x);
      if (ax < 1) return r(r(r(r(r((a + 2) * ax) - (a + 3)) * ax) * ax) + 1);
      if (ax < 2) return r(r(r(r(r(r(ax - 5) * ax) + 8) * ax) - 4) * a);
      return 0;
    },
  },
} as const;

/**
 * `_upsample_{bilinear,bicubic}2d_aa` weights: the filter stretched by the scale when downsampling,
 * over the source pixels whose centres it reaches, normalized to sum to 1 (unused taps weigh 0).
 */
function antialiasTaps(inSize: number, outSize: number, mode: 'bilinear' | 'bicubic', r: Arithmetic): AxisTaps {
  const { support: base, kernel } = AA_FILTERS[mode];
  const scale = r(inSize / outSize);
  const support = scale >= 1 ? r(base * scale) : base;
  const invscale = scale >= 1 ? r(1 / scale) : 1;
  const taps = Math.ceil(support) * 2 + 1;
  return axisTaps(outSize, taps, (i, index, weight, at) => {
    const center = r(scale * (i + 0.5));
    const xmin = Math.max(Math.trunc(r(r(center - support) + 0.5)), 0);
    const xsize = Math.min(Math.trunc(r(r(center + support) + 0.5)), inSize) - xmin;
    let total = 0;
    for (let j = 0; j < taps; j++) {
      index[at + j] = Math.min(xmin + j, inSize - 1);
      if (j >= xsize) continue;
      const w = kernel(r(r(r(j + xmin - center) + 0.5) * invscale), r);
      weight[at + j] = w;
      total = r(total + w);
    }
    if (total !== 0) for (let j = 0; j < xsize; j++) weight[at + j] = r(weight[at + j] / total);
  });
}

/** Separable interpolation: rows first (each output x), then columns, each sum in `r`'s arithmetic. */
function interpolate(img: RgbImage, ty: AxisTaps, tx: AxisTaps, r: Arithmetic): Float64Array {
  const { width: inW, height: inH, data } = img;
  const outW = tx.index.length / tx.taps;
  const outH = ty.index.length / ty.taps;
  const rows = new Float64Array(3 * inH * outW);
  for (let row = 0; row < 3 * inH; row++) {
    for (let x = 0; x < outW; x++) {
      let acc = 0;
      for (let k = 0; k < tx.taps; k++) {
        const t = x * tx.taps + k;
        const term = r(data[row * inW + tx.index[t]] * tx.weight[t]);
        acc = k === 0 ? term : r(acc + term);
      }
      rows[row * outW + x] = acc;
    }
  }
  const out = new Float64Array(3 * outH * outW);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        let acc = 0;
        for (let k = 0; k < ty.taps; k++) {
          const t = y * ty.taps + k;
          const term = r(rows[(c * inH + ty.index[t]) * outW + x] * ty.weight[t]);
          acc = k === 0 ? term : r(acc + term);
        }
        out[(c * outH + y) * outW + x] = acc;
      }
    }
  }
  return out;
}

/** Options of `resize`; torchvision's defaults: bilinear, antialias false (the tensor path's `None`). */
export interface ResizeOptions {
  readonly interpolation?: Interpolation;
  readonly antialias?: boolean;
}

function taps(inSize: number, outSize: number, opts: ResizeOptions, r: Arithmetic): AxisTaps {
  const mode = opts.interpolation ?? 'bilinear';
  if (mode === 'nearest') return nearestTaps(inSize, outSize);
  if (opts.antialias) return antialiasTaps(inSize, outSize, mode, r);
  return mode === 'bilinear' ? linearTaps(inSize, outSize, r) : cubicTaps(inSize, outSize, r);
}

function checkResize(img: RgbImage, height: number, width: number, opts: ResizeOptions): void {
  checkImage(img);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new RangeError(`resize target must be positive integers, got ${width}x${height}`);
  }
  if (opts.antialias && opts.interpolation === 'nearest') throw new RangeError('antialias works with bilinear and bicubic interpolation only, not nearest');
}

/**
 * The values `resize` rounds, before rounding, computed in float64 (for telling rounding ties apart).
 *
 * @example
 * resizeUnrounded({ width: 2, height: 1, data: Uint8Array.of(0, 3, 0, 3, 0, 3) }, 1, 1)[0]; // → 1.5
 */
export function resizeUnrounded(img: RgbImage, height: number, width: number, opts: ResizeOptions = {}): Float64Array {
  checkResize(img, height, width, opts);
  return interpolate(img, taps(img.height, height, opts, float64), taps(img.width, width, opts, float64), float64);
}

/**
 * torchvision's `resize(img, [height, width], interpolation, antialias=antialias)` on a uint8
 * tensor. Against torchvision's outputs values agree exactly except where the unrounded value is
 * a rounding tie (x.5 up to float32 noise), which torch's vectorized kernels may round either way.
 * Returns a copy when the size is unchanged (torchvision returns the image itself).
 *
 * @example
 * const img = { width: 4, height: 2, data: Uint8Array.of(0, 10, 20, 30, 40, 50, 60, 70, ...new Array(16).fill(0)) };
 * augment.resize(img, 1, 2, { interpolation: 'nearest' }).data; // → Uint8Array.of(0, 20, 0, 0, 0, 0)
 */
export function resize(img: RgbImage, height: number, width: number, opts: ResizeOptions = {}): RgbImage {
  checkResize(img, height, width, opts);
  if (height === img.height && width === img.width) return { width, height, data: img.data.slice() };
  const values = interpolate(img, taps(img.height, height, opts, f32), taps(img.width, width, opts, f32), f32);
  return { width, height, data: Uint8Array.from(values, roundToByte) };
}

/**
 * torchvision's output size for `resize(img, size, max_size)`: `[h, w]` as given, or one number
 * for the shorter side (the longer one `int(size · long / short)`, then capped at `maxSize`).
 *
 * @example
 * augment.resizedSize(480, 640, [224]); // → { height: 224, width: 298 }
 */
export function resizedSize(height: number, width: number, size: readonly number[], maxSize?: number): { height: number; width: number } {
  if (size.length === 2) return { height: size[0], width: size[1] };
  if (size.length !== 1) throw new RangeError(`size must be one or two numbers, got ${size.length}`);
  if (maxSize !== undefined && size.length === 1 && maxSize <= size[0]) throw new RangeError(`max_size (${maxSize}) must be greater than size (${size[0]})`);
  const [short, long] = width <= height ? [width, height] : [height, width];
  let newShort = size[0];
  let newLong = Math.trunc((newShort * long) / short);
  if (maxSize !== undefined && newLong > maxSize) {
    newShort = Math.trunc((maxSize * newShort) / newLong);
    newLong = maxSize;
  }
  return width <= height ? { height: newLong, width: newShort } : { height: newShort, width: newLong };
}
