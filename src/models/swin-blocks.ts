/**
 * The building blocks of torchvision's Swin Transformer (V1 and V2), with torchvision 0.14's
 * attribute names (hence `state_dict()` keys) and behaviour:
 *
 * - `ShiftedWindowAttention` (V1): scaled dot-product attention inside non-overlapping windows
 *   plus a learned relative position bias (`relative_position_bias_table` parameter,
 *   `relative_position_index` int64 buffer).
 * - `ShiftedWindowAttentionV2`: cosine attention (L2-normalised q and k) scaled by
 *   `exp(min(logit_scale, log 100))`, a continuous position bias `16·sigmoid(cpb_mlp(table))` from
 *   the log-spaced `relative_coords_table` buffer, and a qkv bias whose key third is zeroed in
 *   forward (so it gets no gradient).
 * - Both pad the feature map to a multiple of the window, cyclically shift it by `shiftSize`
 *   (torch.roll as Slice + Concat) with the −100 mask between regions that were not neighbours,
 *   and force a shift to 0 along an axis where the window covers the whole (padded) map.
 * - `PatchMerging` (norm before the reduction) and `PatchMergingV2` (norm after it).
 * - `SwinTransformerBlock` (pre-norm residuals) and `SwinTransformerBlockV2` (post-norm), with
 *   stochastic depth in 'row' mode.
 *
 * One difference from torchvision 0.14: its attention and projection dropout run even in eval
 * mode (`F.dropout` without `training=`); here they follow the module's mode, as later
 * torchvision versions do. With the default rates (0) the two agree.
 *
 * @example
 * const attn = new ShiftedWindowAttentionV2(16, [4, 4], [2, 2], 2);
 * const block = new SwinTransformerBlock(96, 3, [7, 7], [3, 3], { stochasticDepthProb: 0.1 });
 * const merge = new PatchMergingV2(96); // [B, H, W, 96] → [B, ⌈H/2⌉, ⌈W/2⌉, 192]
 */
import { UserError } from '../errors.js';
import { Value } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { add, div, exp, mul, sigmoid, sqrt } from '../ops/elementwise.js';
import { clip } from '../ops/activations.js';
import { matmul } from '../ops/linalg.js';
import { softmax } from '../ops/softmax.js';
import { concat, pad, reduceSum, reshape, slice, split, transpose } from '../ops/shape.js';
import { normal } from '../nn/init.js';
import { Dropout, Linear, ReLU } from '../nn/layers.js';
import { Buffer, Module, Parameter, Sequential, tensorValue } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { mlpBlock } from './vit.js';
import { relativePositionBias, relativePositionIndex } from './relative-position.js';

/** a norm layer over the last (channel) axis, as torchvision's `norm_layer(dim)` */
export type NormLayer = (dim: number) => Module;

/** torchvision Swin's default norm layer: nn.LayerNorm (eps 1e-5) */
export const defaultSwinNorm: NormLayer = (dim) => new LayerNorm(dim, { eps: 1e-5 });

// ---- window helpers --------------------------------------------------------------------------

/** torch.roll along one axis: out[i] = x[(i − shift) mod n] (Slice + Concat) */
export function roll(x: Value, shift: number, axis: number): Value {
  const n = x.shape[axis];
  const s = ((shift % n) + n) % n;
  if (s === 0) return x;
  return concat([slice(x, [axis], [n - s], [n]), slice(x, [axis], [0], [n - s])], axis);
}

/** a Python slice bound (negative counts from the end, -0 is 0) resolved against length n */
const pyBound = (i: number, n: number): number => (i < 0 ? Math.max(i + n, 0) : Math.min(i, n));

/**
 * The additive attention mask of shifted windows, [numWindows, N, N] row-major (N = window
 * tokens): −100 between tokens of regions that the cyclic shift brought together, 0 elsewhere.
 * The regions are labelled exactly as torchvision does, with Python slices (0, −w), (−w, −s),
 * (−s, None) per axis, so a zero shift on one axis (slice (−0, None) covers the whole axis)
 * behaves as there.
 */
export function shiftedWindowMask(paddedH: number, paddedW: number, window: readonly number[], shift: readonly number[]): number[] {
  const [wh, ww] = window;
  const labels = new Array<number>(paddedH * paddedW).fill(0);
  const regions = (n: number, w: number, s: number): [number, number][] => [
    [pyBound(0, n), pyBound(-w, n)],
    [pyBound(-w, n), pyBound(-s, n)],
    [pyBound(-s, n), n],
  ];
  let count = 0;
  for (const [h0, h1] of regions(paddedH, wh, shift[0])) {
    for (const [w0, w1] of regions(paddedW, ww, shift[1])) {
      for (let r = h0; r < h1; r++) for (let c = w0; c < w1; c++) labels[r * paddedW + c] = count;
      count++;
    }
  }
  const [nh, nw, n] = [paddedH / wh, paddedW / ww, wh * ww];
  const mask: number[] = [];
  for (let wi = 0; wi < nh; wi++) {
    for (let wj = 0; wj < nw; wj++) {
      const tokenLabel = (t: number) => labels[(wi * wh + Math.floor(t / ww)) * paddedW + wj * ww + (t % ww)];
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mask.push(tokenLabel(j) - tokenLabel(i) !== 0 ? -100 : 0);
    }
  }
  return mask;
}

// ---- attention -------------------------------------------------------------------------------

const checkPair = (what: string, v: readonly number[]) => {
  if (v.length !== 2) throw new UserError(`ShiftedWindowAttention: ${what} must be of length 2, got [${v.join(', ')}]`);
};

/**
 * What torchvision's `shifted_window_attention` does for both versions: pad, shift, partition
 * into windows, multi-head attention with a position bias (and the shift mask), merge the
 * windows, shift back, crop. Subclasses give the position bias, the attention logits and the qkv
 * bias as the graph sees it.
 */
export abstract class WindowAttention extends Module {
  qkv: Linear;
  proj: Linear;
  /** dropout on the attention weights (torchvision's `attention_dropout`) */
  attentionDropout: Dropout;
  /** dropout after the output projection (torchvision's `dropout`) */
  dropout: Dropout;
  readonly windowSize: readonly number[];
  readonly shiftSize: readonly number[];
  readonly headDim: number;

  constructor(
    readonly dim: number,
    windowSize: readonly number[],
    shiftSize: readonly number[],
    readonly numHeads: number,
    opts: { attentionDropout?: number; dropout?: number } = {},
  ) {
    super();
    checkPair('window_size', windowSize);
    checkPair('shift_size', shiftSize);
    if (dim % numHeads !== 0) throw new UserError(`ShiftedWindowAttention: dim ${dim} is not divisible by num_heads ${numHeads}; pick a head count that divides it`);
    this.windowSize = [...windowSize];
    this.shiftSize = [...shiftSize];
    this.headDim = dim / numHeads;
    this.qkv = new Linear(dim, dim * 3);
    this.proj = new Linear(dim, dim);
    this.attentionDropout = new Dropout(opts.attentionDropout ?? 0);
    this.dropout = new Dropout(opts.dropout ?? 0);
  }

  /** the bias added to every window's logits, [1, heads, N, N] */
  protected abstract positionBias(): Value;

  /** attention logits of q, k [windows·B, heads, N, headDim] → [windows·B, heads, N, N] */
  protected abstract logits(q: Value, k: Value): Value;

  /** the qkv bias as forward uses it */
  protected qkvBias(): Value {
    return tensorValue(this.qkv.bias!);
  }

  /** x [B, H, W, C] → [B, H, W, C] */
  forward(x: Value): Value {
    if (x.rank !== 4 || x.shape[3] !== this.dim) throw new UserError(`ShiftedWindowAttention: expected [batch, height, width, ${this.dim}], got [${x.shape}]`);
    const [b, h, w, c] = x.shape;
    const [wh, ww] = this.windowSize;
    const [padB, padR] = [(wh - (h % wh)) % wh, (ww - (w % ww)) % ww];
    let t = padB || padR ? pad(x, [0, 0, 0, 0, 0, padB, padR, 0]) : x;
    const [ph, pw] = [h + padB, w + padR];
    // a window covering the whole (padded) axis needs no shift
    const shift = [wh >= ph ? 0 : this.shiftSize[0], ww >= pw ? 0 : this.shiftSize[1]];
    const shifted = shift[0] + shift[1] > 0;
    if (shifted) t = roll(roll(t, -shift[0], 1), -shift[1], 2);

    // partition: [B, ph/wh, wh, pw/ww, ww, C] → [B·nW, N, C]
    const [nh, nw, n, heads] = [ph / wh, pw / ww, wh * ww, this.numHeads];
    const windows = nh * nw;
    t = reshape(transpose(reshape(t, [b, nh, wh, nw, ww, c]), [0, 1, 3, 2, 4, 5]), [b * windows, n, c]);

    const qkv = add(matmul(t, transpose(tensorValue(this.qkv.weight), [1, 0])), this.qkvBias());
    const [q, k, v] = split(qkv, 2, [c, c, c]).map((p) => transpose(reshape(p, [b * windows, n, heads, this.headDim]), [0, 2, 1, 3]));
    let attn = add(this.logits(q, k), this.positionBias());
    if (shifted) {
      const mask = constant(hostTensor(attn.dtype, [1, windows, 1, n, n], shiftedWindowMask(ph, pw, this.windowSize, shift)));
      attn = reshape(add(reshape(attn, [b, windows, heads, n, n]), mask), [b * windows, heads, n, n]);
    }
    attn = this.attentionDropout.call(softmax(attn, -1));
    let y = reshape(transpose(matmul(attn, v), [0, 2, 1, 3]), [b * windows, n, c]);
    y = this.dropout.call(this.proj.call(y));

    // merge windows: [B, nh, nw, wh, ww, C] → [B, ph, pw, C]
    y = reshape(transpose(reshape(y, [b, nh, nw, wh, ww, c]), [0, 1, 3, 2, 4, 5]), [b, ph, pw, c]);
    if (shifted) y = roll(roll(y, shift[0], 1), shift[1], 2);
    return padB || padR ? slice(y, [1, 2], [0, 0], [h, w]) : y;
  }
}

/**
 * torchvision's ShiftedWindowAttention (Swin V1): q scaled by 1/√headDim, learned relative
 * position bias. State: `relative_position_bias_table` [(2wh−1)(2ww−1), heads],
 * `relative_position_index` (int64 [N·N]), `qkv.*`, `proj.*`.
 */
export class ShiftedWindowAttention extends WindowAttention {
  relative_position_bias_table: Parameter;
  relative_position_index: Buffer;

  constructor(dim: number, windowSize: readonly number[], shiftSize: readonly number[], numHeads: number, opts: { attentionDropout?: number; dropout?: number } = {}) {
    super(dim, windowSize, shiftSize, numHeads, opts);
    const rows = (2 * this.windowSize[0] - 1) * (2 * this.windowSize[1] - 1);
    // trunc_normal_(std=0.02) with torch's default absolute bounds ±2: no draw is cut
    this.relative_position_bias_table = new Parameter(normal([rows, numHeads], 0.02), [rows, numHeads]);
    const index = relativePositionIndex(this.windowSize[0], this.windowSize[1]);
    this.relative_position_index = new Buffer(index, [index.length], 'int64');
  }

  protected positionBias(): Value {
    return relativePositionBias(tensorValue(this.relative_position_bias_table), this.relative_position_index.data, this.windowSize[0] * this.windowSize[1]);
  }

  protected logits(q: Value, k: Value): Value {
    return matmul(mul(q, 1 / Math.sqrt(this.headDim)), transpose(k, [0, 1, 3, 2]));
  }
}

/** torchvision's log-spaced relative coordinates of a window, [1, 2wh−1, 2ww−1, 2], in float32 steps */
export function relativeCoordsTable(wh: number, ww: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array((2 * wh - 1) * (2 * ww - 1) * 2);
  let i = 0;
  for (let dh = -(wh - 1); dh < wh; dh++) {
    for (let dw = -(ww - 1); dw < ww; dw++) {
      for (const [d, size] of [
        [dh, wh],
        [dw, ww],
      ]) {
        const scaled = f(f(d / (size - 1)) * 8);
        out[i++] = f((Math.sign(scaled) * f(Math.log2(f(Math.abs(scaled) + 1)))) / 3);
      }
    }
  }
  return out;
}

/**
 * torchvision's ShiftedWindowAttentionV2: cosine attention with a learned per-head
 * `logit_scale` (clamped at log 100, then exp), continuous position bias
 * `16·sigmoid(cpb_mlp(relative_coords_table))`, key bias zeroed. State: `logit_scale` [heads, 1, 1],
 * `relative_coords_table`, `relative_position_index`, `qkv.*`, `proj.*`, `cpb_mlp.0.*`, `cpb_mlp.2.weight`.
 */
export class ShiftedWindowAttentionV2 extends WindowAttention {
  relative_coords_table: Buffer;
  relative_position_index: Buffer;
  logit_scale: Parameter;
  cpb_mlp: Sequential;

  constructor(dim: number, windowSize: readonly number[], shiftSize: readonly number[], numHeads: number, opts: { attentionDropout?: number; dropout?: number } = {}) {
    super(dim, windowSize, shiftSize, numHeads, opts);
    const [wh, ww] = this.windowSize;
    this.relative_coords_table = new Buffer(relativeCoordsTable(wh, ww), [1, 2 * wh - 1, 2 * ww - 1, 2], 'float32');
    const index = relativePositionIndex(wh, ww);
    this.relative_position_index = new Buffer(index, [index.length], 'int64');
    this.logit_scale = new Parameter(new Float32Array(numHeads).fill(Math.log(10)), [numHeads, 1, 1]);
    this.cpb_mlp = new Sequential(new Linear(2, 512), new ReLU(), new Linear(512, numHeads, { bias: false }));
    this.qkv.bias!.data.fill(0, dim, 2 * dim);
  }

  protected positionBias(): Value {
    const [wh, ww] = this.windowSize;
    const table = reshape(this.cpb_mlp.call(tensorValue(this.relative_coords_table)), [(2 * wh - 1) * (2 * ww - 1), this.numHeads]);
    return mul(sigmoid(relativePositionBias(table, this.relative_position_index.data, wh * ww)), 16);
  }

  protected logits(q: Value, k: Value): Value {
    // F.normalize(t, dim=-1): t / max(|t|, 1e-12), written as t / sqrt(max(|t|², 1e-24)) (the same
    // forward) so that a zero vector (a padded token's key: V2 zeroes the key bias) gets PyTorch's
    // zero gradient instead of sqrt'(0) · 0 = NaN
    const unit = (t: Value) => div(t, sqrt(clip(reduceSum(mul(t, t), [-1], true), 1e-24, Infinity)));
    const scale = exp(clip(tensorValue(this.logit_scale), -Infinity, Math.log(100)));
    return mul(matmul(unit(q), transpose(unit(k), [0, 1, 3, 2])), scale);
  }

  /** the key third of the bias is zeroed in forward, so it never gets a gradient */
  protected override qkvBias(): Value {
    const bias = tensorValue(this.qkv.bias!);
    const c = this.dim;
    const keep = Array.from({ length: 3 * c }, (_, i) => (i >= c && i < 2 * c ? 0 : 1));
    return mul(bias, constant(hostTensor(bias.dtype, [3 * c], keep)));
  }
}

// ---- patch merging ---------------------------------------------------------------------------

/**
 * torchvision's `_patch_merging_pad`: pads H and W to even sizes, then concatenates the four
 * 2×2 phases x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2] along channels —
 * [..., H, W, C] → [..., ⌈H/2⌉, ⌈W/2⌉, 4C] — as one Reshape / Transpose / Reshape.
 */
export function patchMergingPad(x: Value): Value {
  if (x.rank < 3) throw new UserError(`PatchMerging: expected [..., height, width, channels], got [${x.shape}]`);
  const lead = x.shape.slice(0, -3);
  const [h, w, c] = x.shape.slice(-3);
  const r = lead.length;
  const pads = new Array<number>(2 * x.rank).fill(0);
  pads[x.rank + r] = h % 2;
  pads[x.rank + r + 1] = w % 2;
  const padded = h % 2 || w % 2 ? pad(x, pads) : x;
  const [h2, w2] = [(h + (h % 2)) / 2, (w + (w % 2)) / 2];
  // [..., h2, row phase, w2, column phase, C] → [..., h2, w2, column phase, row phase, C]
  const phases = reshape(padded, [...lead, h2, 2, w2, 2, c]);
  const perm = [...lead.map((_, i) => i), r, r + 2, r + 3, r + 1, r + 4];
  return reshape(transpose(phases, perm), [...lead, h2, w2, 4 * c]);
}

/** torchvision's PatchMerging (Swin V1): norm over 4C, then Linear 4C → 2C without bias */
export class PatchMerging extends Module {
  reduction: Linear;
  norm: Module;

  constructor(
    readonly dim: number,
    normLayer: NormLayer = defaultSwinNorm,
  ) {
    super();
    this.reduction = new Linear(4 * dim, 2 * dim, { bias: false });
    this.norm = normLayer(4 * dim);
  }

  forward(x: Value): Value {
    return this.reduction.call(this.norm.call(patchMergingPad(x)));
  }
}

/** torchvision's PatchMergingV2: Linear 4C → 2C without bias, then norm over 2C */
export class PatchMergingV2 extends Module {
  reduction: Linear;
  norm: Module;

  constructor(
    readonly dim: number,
    normLayer: NormLayer = defaultSwinNorm,
  ) {
    super();
    this.reduction = new Linear(4 * dim, 2 * dim, { bias: false });
    this.norm = normLayer(2 * dim);
  }

  forward(x: Value): Value {
    return this.norm.call(this.reduction.call(patchMergingPad(x)));
  }
}

// ---- blocks ----------------------------------------------------------------------------------

export interface SwinBlockOptions {
  /** default 4 */
  mlpRatio?: number;
  /** default 0 */
  dropout?: number;
  /** default 0 */
  attentionDropout?: number;
  /** default 0 */
  stochasticDepthProb?: number;
  /** default LayerNorm (eps 1e-5) */
  normLayer?: NormLayer;
}

type AttentionClass = new (dim: number, windowSize: readonly number[], shiftSize: readonly number[], numHeads: number, opts?: { attentionDropout?: number; dropout?: number }) => WindowAttention;

/** torchvision's SwinTransformerBlock: x + sd(attn(norm1(x))), then x + sd(mlp(norm2(x))) */
export class SwinTransformerBlock extends Module {
  norm1: Module;
  attn: WindowAttention;
  stochastic_depth: StochasticDepth;
  norm2: Module;
  mlp: Sequential;

  constructor(dim: number, numHeads: number, windowSize: readonly number[], shiftSize: readonly number[], opts: SwinBlockOptions = {}, attnLayer: AttentionClass = ShiftedWindowAttention) {
    super();
    const normLayer = opts.normLayer ?? defaultSwinNorm;
    const dropout = opts.dropout ?? 0;
    this.norm1 = normLayer(dim);
    this.attn = new attnLayer(dim, windowSize, shiftSize, numHeads, { attentionDropout: opts.attentionDropout ?? 0, dropout });
    this.stochastic_depth = new StochasticDepth(opts.stochasticDepthProb ?? 0, 'row');
    this.norm2 = normLayer(dim);
    // torchvision.ops.MLP(dim, [int(dim·mlp_ratio), dim], GELU, dropout): keys mlp.0.*, mlp.3.*
    this.mlp = mlpBlock(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dropout);
  }

  forward(x: Value): Value {
    const y = add(x, this.stochastic_depth.call(this.attn.call(this.norm1.call(x))));
    return add(y, this.stochastic_depth.call(this.mlp.call(this.norm2.call(y))));
  }
}

/** torchvision's SwinTransformerBlockV2: V2 attention, post-norm residuals x + sd(norm1(attn(x))) */
export class SwinTransformerBlockV2 extends SwinTransformerBlock {
  constructor(dim: number, numHeads: number, windowSize: readonly number[], shiftSize: readonly number[], opts: SwinBlockOptions = {}, attnLayer: AttentionClass = ShiftedWindowAttentionV2) {
    super(dim, numHeads, windowSize, shiftSize, opts, attnLayer);
  }

  override forward(x: Value): Value {
    const y = add(x, this.stochastic_depth.call(this.norm1.call(this.attn.call(x))));
    return add(y, this.stochastic_depth.call(this.norm2.call(this.mlp.call(y))));
  }
}
