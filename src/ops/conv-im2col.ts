/**
 * Convolutions as im2col (one Gather) plus MatMul/Gemm:
 * - the float32 weight gradient, where one large Gemm beats ORT's Conv with a batch-sized kernel;
 * - float64 Conv and ConvTranspose, which ORT's CPU Conv kernels do not support (reference-
 *   precision graphs for parity checks against float64 PyTorch references).
 */
import type { Emitter } from './registry.js';

export interface ConvGeometry {
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly strides: readonly number[];
  /** [top, left, bottom, right]; negative entries crop */
  readonly pads: readonly number[];
  readonly dilations: readonly number[];
  readonly group: number;
  /** element type (default float64) */
  readonly dtype?: 'float32' | 'float64';
}

/** the two spatial axes of a 4-D layout */
type SpatialAxes = readonly [number, number];

/** The output size of a convolution's map with geometry `g`. */
function outputMap(g: ConvGeometry): { ho: number; wo: number } {
  const [, , h, wd] = g.x;
  const [, , kh, kw] = g.w;
  const hp = h + g.pads[0] + g.pads[2];
  const wp = wd + g.pads[1] + g.pads[3];
  return {
    ho: Math.floor((hp - g.dilations[0] * (kh - 1) - 1) / g.strides[0]) + 1,
    wo: Math.floor((wp - g.dilations[1] * (kw - 1) - 1) / g.strides[1]) + 1,
  };
}

/** Visits the source pixel (row, column of x's unpadded map; outside it in the padding) of every (tap, output position), taps outer. */
function forEachWindowPixel(g: ConvGeometry, visit: (row: number, col: number) => void): void {
  const [, , kh, kw] = g.w;
  const { ho, wo } = outputMap(g);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let y = 0; y < ho; y++) {
        for (let x0 = 0; x0 < wo; x0++) visit(y * g.strides[0] + i * g.dilations[0] - g.pads[0], x0 * g.strides[1] + j * g.dilations[1] - g.pads[1]);
      }
    }
  }
}

/**
 * Every tap's window of x [N, C, H, W] in one Gather, x padded: its map viewed as one axis of
 * Hp·Wp positions and gathered at each (tap, output position), taps outer: [N·C, kh·kw·Ho·Wo].
 */
function gatherWindowsNCHW(e: Emitter, x: string, g: ConvGeometry): string {
  const [n, c, h, wd] = g.x;
  const hp = h + g.pads[0] + g.pads[2];
  const wp = wd + g.pads[1] + g.pads[3];
  const positions: number[] = [];
  forEachWindowPixel(g, (row, col) => positions.push((row + g.pads[0]) * wp + col + g.pads[1]));
  const [flat, windows] = [e.tmp('map'), e.tmp('windows')];
  e.node('Reshape', [padOrCrop(e, x, g.pads, g.dtype ?? 'float64', [2, 3]), e.ints([n * c, hp * wp])], [flat]);
  e.node('Gather', [flat, e.ints(positions)], [windows], { axis: 1 });
  return windows;
}

/**
 * The patches of float32 xT [C, H, W, N] (x batch innermost) in one Gather: the rows [C·H·W, N]
 * and one zero row after them, gathered at (channel, tap, output position), padding taps reading
 * the zero row: [C·kh·kw, Ho·Wo·N]. ORT's Gather copies the N-float rows on all its threads; the
 * zero row costs one contiguous copy where a Pad of the map wrote every padded row on one thread.
 */
function gatherPatchesCHWN(e: Emitter, xT: string, g: ConvGeometry): string {
  const [n, c, h, wd] = g.x;
  const [, , kh, kw] = g.w;
  const { ho, wo } = outputMap(g);
  const zeroRow = c * h * wd;
  const perChannel: number[] = [];
  forEachWindowPixel(g, (row, col) => perChannel.push(row >= 0 && row < h && col >= 0 && col < wd ? row * wd + col : -1));
  const rows = new Array<number>(c * perChannel.length);
  for (let ch = 0; ch < c; ch++) perChannel.forEach((src, k) => (rows[ch * perChannel.length + k] = src < 0 ? zeroRow : ch * h * wd + src));
  const [flat, zeros, padded, windows, cols] = [e.tmp('map'), e.tmp('zero'), e.tmp('map'), e.tmp('windows'), e.tmp('cols')];
  e.node('Reshape', [xT, e.ints([zeroRow, n])], [flat]);
  e.node('ConstantOfShape', [e.ints([1, n])], [zeros]);
  e.node('Concat', [flat, zeros], [padded], { axis: 0 });
  e.node('Gather', [padded, e.ints(rows)], [windows], { axis: 0 });
  e.node('Reshape', [windows, e.ints([c * kh * kw, ho * wo * n])], [cols]);
  return cols;
}

/** the im2col matrix [N, G, C/G·kh·kw, Ho·Wo] of x for a convolution with weight shape `g.w` */
function emitIm2col(e: Emitter, x: string, g: ConvGeometry): { cols: string; ho: number; wo: number } {
  const [n] = g.x;
  const [, cg, kh, kw] = g.w;
  const { ho, wo } = outputMap(g);
  const windows = gatherWindowsNCHW(e, x, g);
  const cols = e.tmp('colmat');
  e.node('Reshape', [windows, e.ints([n, g.group, cg * kh * kw, ho * wo])], [cols]);
  return { cols, ho, wo };
}

/**
 * The most output channels for which the weight gradient's Gemm takes the patches as its left
 * operand (dWᵀ = cols · dYᵀ, then a small Transpose): MLAS packs the right operand and streams the
 * left one once per panel of the right one's rows, so a narrow dY goes right. Measured on Zen 5
 * (2 threads), patches × dY against dY × patches: alone, 64 channels 301–335 against 212–259
 * GFLOP/s, 128: 314–349 against 269–304; 256: level (329–344 against 326–344), so it keeps the
 * plain form and saves the Transpose; 512: slower (288 against 339).
 */
const WGRAD_PATCHES_LEFT_MAX_CHANNELS = 128;

/**
 * float32 dW of an ungrouped conv as one Gemm: dW[O, C·K] = dY[O, L·N] · cols[C·K, L·N]ᵀ, with x
 * and dY transposed batch-innermost ([C, H, W, N], [O, Ho, Wo, N]) so the patches gather as
 * N-float blocks and no large matrix needs transposing.
 */
export function emitConvWeightGradGemm(e: Emitter, x: string, dy: string, dw: string, g: ConvGeometry, dyShape: readonly number[]): void {
  const [n, c] = g.x;
  const [, o, ho, wo] = dyShape;
  const [, , kh, kw] = g.w;
  const [xT, dyT, dyMat, prod] = [e.tmp('xT'), e.tmp('dyT'), e.tmp('dymat'), e.tmp('dw')];
  e.node('Transpose', [x], [xT], { perm: [1, 2, 3, 0] });
  const cols = gatherPatchesCHWN(e, xT, g);
  e.node('Transpose', [dy], [dyT], { perm: [1, 2, 3, 0] });
  e.node('Reshape', [dyT, e.ints([o, ho * wo * n])], [dyMat]);
  if (o <= WGRAD_PATCHES_LEFT_MAX_CHANNELS) {
    // transposed as [C, K, O] -> [O, C, K]: ORT folds a plain 2-D Transpose back into the Gemm
    const [prodT, prod3] = [e.tmp('dwT'), e.tmp('dwT')];
    e.node('Gemm', [cols, dyMat], [prodT], { transB: 1 });
    e.node('Reshape', [prodT, e.ints([c, kh * kw, o])], [prod3]);
    e.node('Transpose', [prod3], [prod], { perm: [2, 0, 1] });
  } else {
    e.node('Gemm', [dyMat, cols], [prod], { transB: 1 });
  }
  e.node('Reshape', [prod, e.ints([o, c, kh, kw])], [dw]);
}

/** y = Conv(x, w) + b in double, as im2col + MatMul */
export function emitConvF64(e: Emitter, x: string, w: string, b: string | undefined, y: string, g: ConvGeometry): void {
  const n = g.x[0];
  const [o, cg, kh, kw] = g.w;
  const { cols, ho, wo } = emitIm2col(e, x, g);
  const wMat = e.tmp('wmat');
  e.node('Reshape', [w, e.ints([g.group, o / g.group, cg * kh * kw])], [wMat]);
  const prod = e.tmp('prod');
  e.node('MatMul', [wMat, cols], [prod]);
  const out = b ? e.tmp('nobias') : y;
  e.node('Reshape', [prod, e.ints([n, o, ho, wo])], [out]);
  if (b) {
    const b4 = e.tmp('bias');
    e.node('Reshape', [b, e.ints([1, o, 1, 1])], [b4]);
    e.node('Add', [out, b4], [y]);
  }
}

/** dW = Σ_n dY · im2col(x)ᵀ in double (`g.w` is the weight's shape) */
export function emitConvWeightGradF64(e: Emitter, x: string, dy: string, dw: string, g: ConvGeometry, dyShape: readonly number[]): void {
  const [n, o, ho, wo] = dyShape;
  const { cols } = emitIm2col(e, x, g);
  const [dyMat, colsT, prod, summed] = [e.tmp('dymat'), e.tmp('colsT'), e.tmp('prod'), e.tmp('sum')];
  e.node('Reshape', [dy, e.ints([n, g.group, o / g.group, ho * wo])], [dyMat]);
  e.node('Transpose', [cols], [colsT], { perm: [0, 1, 3, 2] });
  e.node('MatMul', [dyMat, colsT], [prod]);
  e.node('ReduceSum', [prod, e.ints([0])], [summed], { keepdims: 0 });
  e.node('Reshape', [summed, e.ints([...g.w])], [dw]);
}

/**
 * y = ConvTranspose(x, w) + b in double: zero-upsample x by the stride, pad by
 * dilation·(k−1) − pad, and convolve with the spatially flipped, in/out-swapped kernel.
 */
export function emitConvTransposeF64(e: Emitter, x: string, w: string, b: string | undefined, y: string, g: ConvGeometry & { outputPadding: readonly number[] }): void {
  const [n, cin, h, wd] = g.x;
  const [, cog, kh, kw] = g.w;
  const [sh, sw] = g.strides;
  let up = x;
  if (sh > 1 || sw > 1) {
    const r = e.tmp('up');
    e.node('Reshape', [x, e.ints([n, cin, h, 1, wd, 1])], [r]);
    const p = e.tmp('up');
    e.node('Pad', [r, e.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1]), e.scalar(0, 'float64')], [p], { mode: 'constant' });
    const flat = e.tmp('up');
    e.node('Reshape', [p, e.ints([n, cin, h * sh, wd * sw])], [flat]);
    up = e.tmp('up');
    e.node('Slice', [flat, e.ints([0, 0]), e.ints([(h - 1) * sh + 1, (wd - 1) * sw + 1]), e.ints([2, 3])], [up]);
  }
  const [dh, dw] = g.dilations;
  const pads = [dh * (kh - 1) - g.pads[0], dw * (kw - 1) - g.pads[1], dh * (kh - 1) - g.pads[2] + g.outputPadding[0], dw * (kw - 1) - g.pads[3] + g.outputPadding[1]];
  // weight [Cin, Cout/G, kh, kw] -> [Cout, Cin/G, kh, kw], flipped in space
  const G = g.group;
  const w5 = e.tmp('wt');
  e.node('Reshape', [w, e.ints([G, cin / G, cog, kh, kw])], [w5]);
  const wT = e.tmp('wt');
  e.node('Transpose', [w5], [wT], { perm: [0, 2, 1, 3, 4] });
  const w4 = e.tmp('wt');
  e.node('Reshape', [wT, e.ints([G * cog, cin / G, kh, kw])], [w4]);
  const flipped = e.tmp('wt');
  e.node('Slice', [w4, e.ints([-1, -1]), e.ints([-kh - 1, -kw - 1]), e.ints([2, 3]), e.ints([-1, -1])], [flipped]);
  const hu = (h - 1) * sh + 1;
  const wu = (wd - 1) * sw + 1;
  emitConvF64(e, up, flipped, b, y, { x: [n, cin, hu, wu], w: [G * cog, cin / G, kh, kw], strides: [1, 1], pads, dilations: g.dilations, group: G });
}

/** zero-pads (positive entries) and crops (negative entries) the two spatial axes of a 4-D x */
function padOrCrop(e: Emitter, x: string, pads: readonly number[], dtype: 'float32' | 'float64', spatial: SpatialAxes): string {
  let cur = x;
  if (pads.some((p) => p > 0)) {
    const p = pads.map((v) => Math.max(v, 0));
    const begins = [0, 0, 0, 0];
    const ends = [0, 0, 0, 0];
    [begins[spatial[0]], begins[spatial[1]], ends[spatial[0]], ends[spatial[1]]] = p;
    const out = e.tmp('pad');
    e.node('Pad', [cur, e.ints([...begins, ...ends]), e.scalar(0, dtype)], [out], { mode: 'constant' });
    cur = out;
  }
  if (pads.some((p) => p < 0)) {
    const c = pads.map((v) => Math.max(-v, 0));
    const out = e.tmp('crop');
    e.node('Slice', [cur, e.ints([c[0], c[1]]), e.ints([-c[2] || Number.MAX_SAFE_INTEGER, -c[3] || Number.MAX_SAFE_INTEGER]), e.ints([...spatial])], [out]);
    cur = out;
  }
  return cur;
}
