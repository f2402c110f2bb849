import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value, withGraph } from '../src/graph/ir.js';
import { gradients } from '../src/autodiff/grad.js';
import {
  Emitter,
  ShapeError,
  abs,
  add,
  avgPool2d,
  batchNormEval,
  batchNormTrain,
  cast,
  clip,
  concat,
  conv2d,
  convTranspose,
  convWeightGrad,
  crossEntropy,
  div,
  dropout,
  equal,
  erf,
  exp,
  expand,
  gatherElements,
  gelu,
  gemm,
  getOp,
  globalAvgPool,
  greater,
  hardsigmoid,
  hardswish,
  leakyRelu,
  less,
  listOps,
  log,
  logSoftmax,
  matmul,
  maxPool2d,
  mul,
  neg,
  oneHot,
  pad,
  reciprocal,
  reduceMean,
  reduceSum,
  relu,
  relu6,
  reshape,
  scatterAdd,
  sigmoid,
  sign,
  silu,
  slice,
  softmax,
  split,
  sqrt,
  sub,
  tanh,
  transpose,
  where,
} from '../src/ops/index.js';
import { GradCase, RunResult, assertClose, gradCheck, seededRng, uniform, valuesOf } from './helpers/gradcheck.js';

// ---- input generators -------------------------------------------------------------------------

/** away from zero: for kinks at 0 and for divisors */
const nonZero = uniform(-2, 2, [0], 0.2);
const positive = uniform(0.2, 3);
const labels = (classes: number) => (rand: () => number) => Math.floor(rand() * classes);
const bits = (rand: () => number) => (rand() < 0.5 ? 1 : 0);

/** plain-JS torch.nn.functional.cross_entropy (mean), written after torch's own formula */
function torchCrossEntropy(
  logits: readonly number[],
  c: number,
  target: { hard: readonly number[] } | { soft: readonly number[] },
  eps = 0,
  weight?: readonly number[],
): number {
  const n = logits.length / c;
  const w = weight ?? new Array<number>(c).fill(1);
  const logp: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = logits.slice(i * c, (i + 1) * c);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    logp.push(row.map((v) => v - lse));
  }
  if ('hard' in target) {
    const y = target.hard;
    const wy = y.reduce((s, k) => s + w[k], 0);
    const nll = y.reduce((s, k, i) => s - w[k] * logp[i][k], 0) / wy;
    const smooth = logp.reduce((s, row) => s - row.reduce((t, v, k) => t + w[k] * v, 0), 0) / (weight ? wy : n);
    return (1 - eps) * nll + (eps / c) * smooth;
  }
  let total = 0;
  logp.forEach((row, i) => row.forEach((v, k) => (total -= v * (target.soft[i * c + k] * (1 - eps) + eps / c) * w[k])));
  return total / n;
}

/** elementwise forward check of output 0 against a plain-JS function of the inputs */
const forward =
  (f: (...xs: number[]) => number, rtol = 1e-6, atol = 1e-9) =>
  (r: RunResult) => {
    const ins = r.inputs.map(valuesOf);
    const out = valuesOf(r.outputs[0]);
    assertClose(
      out,
      out.map((_, i) => f(...ins.map((x) => x[i % x.length]))),
      'forward',
      rtol,
      atol,
    );
  };

const ceCheck =
  (c: number, kind: 'hard' | 'soft', eps = 0, weighted = false) =>
  (r: RunResult) => {
    const [logits, target, weight] = r.inputs.map(valuesOf);
    const expected = torchCrossEntropy(logits, c, kind === 'hard' ? { hard: target } : { soft: target }, eps, weighted ? weight : undefined);
    assertClose(valuesOf(r.outputs[0]), [expected], 'cross-entropy');
  };

// ---- conv.ts, pool.ts, batchnorm.ts, linalg.ts: plain-JS references and case builders ----------

type Dt = 'float32' | 'float64';
const DTYPES: readonly Dt[] = ['float32', 'float64'];

/** a type alias, not an interface, so it is assignable to Conv2dAttrs' index signature */
type ConvGeom = {
  readonly strides: number[];
  /** [top, left, bottom, right] */
  readonly pads: number[];
  readonly dilations: number[];
  readonly group: number;
};

interface Ref {
  readonly shape: number[];
  readonly data: number[];
}

const outSize = (size: number, k: number, s: number, p0: number, p1: number, d = 1) => Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;

/** torch.nn.functional.conv2d by direct loops: x [N,C,H,W], w [O,C/G,KH,KW] */
function conv2dRef(x: number[], xs: readonly number[], w: number[], ws: readonly number[], b: number[] | null, a: ConvGeom): Ref {
  const [N, C, H, W] = xs;
  const [O, Cg, KH, KW] = ws;
  const Og = O / a.group;
  const HO = outSize(H, KH, a.strides[0], a.pads[0], a.pads[2], a.dilations[0]);
  const WO = outSize(W, KW, a.strides[1], a.pads[1], a.pads[3], a.dilations[1]);
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          const g = Math.floor(o / Og);
          let s = b ? b[o] : 0;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const ih = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const iw = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((o * Cg + c) * KH + i) * KW + j];
              }
          data.push(s);
        }
  return { shape: [N, O, HO, WO], data };
}

/** torch.nn.functional.conv_transpose2d by scattering each input element: w [Cin, Cout/G, KH, KW] */
function convTranspose2dRef(x: number[], xs: readonly number[], w: number[], ws: readonly number[], b: number[] | null, a: ConvGeom & { outputPadding: number[] }): Ref {
  const [N, Cin, H, W] = xs;
  const [, Cog, KH, KW] = ws;
  const Cig = Cin / a.group;
  const Cout = Cog * a.group;
  const HO = a.strides[0] * (H - 1) + a.outputPadding[0] + a.dilations[0] * (KH - 1) + 1 - a.pads[0] - a.pads[2];
  const WO = a.strides[1] * (W - 1) + a.outputPadding[1] + a.dilations[1] * (KW - 1) + 1 - a.pads[1] - a.pads[3];
  const data = new Array<number>(N * Cout * HO * WO).fill(0);
  if (b) for (let n = 0; n < N; n++) for (let o = 0; o < Cout; o++) for (let k = 0; k < HO * WO; k++) data[(n * Cout + o) * HO * WO + k] = b[o];
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++)
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const g = Math.floor(ci / Cig);
          const v = x[((n * Cin + ci) * H + ih) * W + iw];
          for (let oc = 0; oc < Cog; oc++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const oh = ih * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const ow = iw * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (oh < 0 || oh >= HO || ow < 0 || ow >= WO) continue;
                data[((n * Cout + g * Cog + oc) * HO + oh) * WO + ow] += v * w[((ci * Cog + oc) * KH + i) * KW + j];
              }
        }
  return { shape: [N, Cout, HO, WO], data };
}

/** dW[o,c,i,j] = Σ_{n,oh,ow} dY[n,o,oh,ow] · x[n, g·C/G + c, oh·s − p + i·d, ow·s − p + j·d] */
function convWeightGradRef(x: number[], xs: readonly number[], dy: number[], dys: readonly number[], kernel: readonly number[], a: ConvGeom): Ref {
  const [N, C, H, W] = xs;
  const [, O, HO, WO] = dys;
  const [KH, KW] = kernel;
  const Cg = C / a.group;
  const Og = O / a.group;
  const data: number[] = [];
  for (let o = 0; o < O; o++)
    for (let c = 0; c < Cg; c++)
      for (let i = 0; i < KH; i++)
        for (let j = 0; j < KW; j++) {
          const g = Math.floor(o / Og);
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let oh = 0; oh < HO; oh++)
              for (let ow = 0; ow < WO; ow++) {
                const ih = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const iw = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += dy[((n * O + o) * HO + oh) * WO + ow] * x[((n * C + g * Cg + c) * H + ih) * W + iw];
              }
          data.push(s);
        }
  return { shape: [O, Cg, KH, KW], data };
}

/** max or average pool (PyTorch divisors) with symmetric padding and optional ceil mode */
function poolRef(kind: 'max' | 'avg', x: number[], xs: readonly number[], k: number[], s: number[], p: number[], includePad = true, ceil = false): Ref {
  const [N, C, H, W] = xs;
  const size = (len: number, i: number) => {
    const span = len + 2 * p[i] - k[i];
    let o = (ceil ? Math.ceil(span / s[i]) : Math.floor(span / s[i])) + 1;
    if (ceil && (o - 1) * s[i] >= len + p[i]) o -= 1;
    return o;
  };
  const [HO, WO] = [size(H, 0), size(W, 1)];
  const data: number[] = [];
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < HO; oh++)
      for (let ow = 0; ow < WO; ow++) {
        const h0 = oh * s[0] - p[0];
        const w0 = ow * s[1] - p[1];
        const h1 = Math.min(h0 + k[0], H + p[0]);
        const w1 = Math.min(w0 + k[1], W + p[1]);
        let acc = kind === 'max' ? -Infinity : 0;
        let count = 0;
        for (let ih = Math.max(h0, 0); ih < Math.min(h1, H); ih++)
          for (let iw = Math.max(w0, 0); iw < Math.min(w1, W); iw++) {
            const v = x[(nc * H + ih) * W + iw];
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            count++;
          }
        data.push(kind === 'max' ? acc : acc / (includePad ? (h1 - h0) * (w1 - w0) : count));
      }
  return { shape: [N, C, HO, WO], data };
}

/** batch norm over all axes but 1, with given statistics or (null) the batch's biased ones */
function batchNormRef(x: number[], xs: readonly number[], gamma: number[], beta: number[], eps: number, stats: { mean: number[]; variance: number[] } | null): Ref {
  const C = xs[1];
  const inner = xs.slice(2).reduce((p, d) => p * d, 1);
  const chan = (i: number) => Math.floor(i / inner) % C;
  let mean = stats?.mean;
  let variance = stats?.variance;
  if (!mean || !variance) {
    const m = x.length / C;
    const mu = new Array<number>(C).fill(0);
    x.forEach((v, i) => (mu[chan(i)] += v / m));
    const va = new Array<number>(C).fill(0);
    x.forEach((v, i) => (va[chan(i)] += (v - mu[chan(i)]) ** 2 / m));
    [mean, variance] = [mu, va];
  }
  const [mu, va] = [mean, variance];
  return { shape: [...xs], data: x.map((v, i) => ((v - mu[chan(i)]) / Math.sqrt(va[chan(i)] + eps)) * gamma[chan(i)] + beta[chan(i)]) };
}

/** numpy matmul with batch broadcasting */
function matmulRef(a: number[], as: readonly number[], b: number[], bs: readonly number[]): Ref {
  const [M, K] = as.slice(-2);
  const N = bs[bs.length - 1];
  const rank = Math.max(as.length, bs.length) - 2;
  const pad = (s: readonly number[]) => [...new Array<number>(rank - (s.length - 2)).fill(1), ...s.slice(0, -2)];
  const [ab, bb] = [pad(as), pad(bs)];
  const batch = ab.map((d, i) => Math.max(d, bb[i]));
  const nb = batch.reduce((p, d) => p * d, 1);
  const offset = (dims: number[], idx: number[]) => idx.reduce((o, v, i) => o * dims[i] + (dims[i] === 1 ? 0 : v), 0);
  const data: number[] = [];
  for (let t = 0; t < nb; t++) {
    const idx: number[] = [];
    for (let i = rank - 1, r = t; i >= 0; i--) {
      idx[i] = r % batch[i];
      r = Math.floor(r / batch[i]);
    }
    const [ao, bo] = [offset(ab, idx) * M * K, offset(bb, idx) * K * N];
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + i * K + k] * b[bo + k * N + j];
        data.push(s);
      }
  }
  return { shape: [...batch, M, N], data };
}

/** op(A)·op(B) + C with C broadcast from [N], [M,1] or [M,N] */
function gemmRef(a: number[], as: readonly number[], b: number[], bs: readonly number[], c: { data: number[]; shape: readonly number[] } | null, transA: number, transB: number): Ref {
  const [M, K] = transA ? [as[1], as[0]] : as;
  const N = transB ? bs[0] : bs[1];
  const A = (i: number, k: number) => (transA ? a[k * M + i] : a[i * K + k]);
  const B = (k: number, j: number) => (transB ? b[j * K + k] : b[k * N + j]);
  const C = (i: number, j: number) => {
    if (!c) return 0;
    const [r, q] = c.shape.length === 1 ? [1, c.shape[0]] : c.shape;
    return c.data[(r === 1 ? 0 : i) * q + (q === 1 ? 0 : j)];
  };
  const data: number[] = [];
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = C(i, j);
      for (let k = 0; k < K; k++) s += A(i, k) * B(k, j);
      data.push(s);
    }
  return { shape: [M, N], data };
}

/** forward check of output 0 against a reference computed from the inputs' values */
const refCheck =
  (dtype: Dt, ref: (ins: number[][]) => Ref) =>
  (r: RunResult) => {
    const want = ref(r.inputs.map(valuesOf));
    assert.deepEqual(r.outputs[0].shape, want.shape, 'forward shape');
    if (dtype === 'float64') assertClose(valuesOf(r.outputs[0]), want.data, 'forward', 1e-9, 1e-12);
    else assertClose(valuesOf(r.outputs[0]), want.data, 'forward', 1e-4, 1e-4);
  };

/** pairwise-distinct values 0.05 apart in a seeded random order (no ties in a max pool, even at ±eps) */
function distinct(n: number, seed: number): (rand: () => number, i: number) => number {
  const rand = seededRng(seed);
  const perm = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return (_r, i) => (perm[i] - n / 2) * 0.05;
}

const size4 = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

interface ConvSpec {
  readonly name: string;
  readonly x: number[];
  readonly w: number[];
  readonly bias?: boolean;
  readonly stride?: number[];
  readonly pads?: number[];
  readonly dilation?: number[];
  readonly group?: number;
}

const geomOf = (s: ConvSpec): ConvGeom => ({ strides: s.stride ?? [1, 1], pads: s.pads ?? [0, 0, 0, 0], dilations: s.dilation ?? [1, 1], group: s.group ?? 1 });

/** conv output shape of a spec (to size dY of a weight gradient) */
function convOutShape(s: ConvSpec): number[] {
  const a = geomOf(s);
  return [s.x[0], s.w[0], outSize(s.x[2], s.w[2], a.strides[0], a.pads[0], a.pads[2], a.dilations[0]), outSize(s.x[3], s.w[3], a.strides[1], a.pads[1], a.pads[3], a.dilations[1])];
}

const convSpecs: ConvSpec[] = [
  { name: '3x3 pad 1 + bias', x: [2, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 stride 2 pad 1, even input 6x6', x: [2, 3, 6, 6], w: [4, 3, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 stride 2 pad 1, odd input 7x7', x: [1, 3, 7, 7], w: [4, 3, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: '3x3 dilation 2 pad 1', x: [1, 2, 7, 7], w: [3, 2, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: '3x3 dilation 2 stride 2 pad 1, input 8x8', x: [1, 2, 8, 8], w: [3, 2, 3, 3], dilation: [2, 2], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'groups 2 + bias', x: [2, 4, 5, 5], w: [6, 2, 3, 3], group: 2, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise, channel multiplier 2', x: [2, 3, 5, 5], w: [6, 1, 3, 3], group: 3, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise stride 2 pad 1, input 6x6', x: [1, 4, 6, 6], w: [4, 1, 3, 3], group: 4, stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: '1x1 stride 2', x: [2, 4, 6, 6], w: [3, 4, 1, 1], stride: [2, 2] },
  { name: 'asymmetric kernel 1x3 pad [0,1]', x: [2, 3, 4, 5], w: [2, 3, 1, 3], pads: [0, 1, 0, 1] },
  { name: 'asymmetric pads [top 0, left 1, bottom 1, right 0]', x: [1, 2, 5, 5], w: [3, 2, 3, 3], pads: [0, 1, 1, 0] },
];

const convCases = DTYPES.flatMap((dtype) =>
  convSpecs.map(
    (s): GradCase => ({
      op: 'Conv',
      name: `Conv ${s.name} (${dtype})`,
      inputs: [{ shape: s.x, dtype }, { shape: s.w, dtype }, ...(s.bias ? [{ shape: [s.w[0]], dtype }] : [])],
      build: ([x, w, b]) => conv2d(x, w, b ?? null, geomOf(s)),
      check: refCheck(dtype, ([x, w, b]) => conv2dRef(x, s.x, w, s.w, b ?? null, geomOf(s))),
    }),
  ),
);

interface ConvTransposeSpec extends ConvSpec {
  readonly outputPadding?: number[];
}

// w is [Cin, Cout/G, kh, kw]; float32 stride-1 ungrouped ones are emitted as a Conv with a flipped kernel
const convTransposeSpecs: ConvTransposeSpec[] = [
  { name: 'stride 1 pad 1 + bias (float32: Conv rewrite)', x: [2, 3, 4, 4], w: [3, 2, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: 'stride 1 dilation 2 pad 1 (float32: Conv rewrite)', x: [1, 2, 4, 4], w: [2, 3, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'stride 2 pad 1 outputPadding 1 + bias', x: [1, 3, 3, 3], w: [3, 2, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], bias: true },
  { name: 'stride 2 kernel 2 (no padding)', x: [2, 2, 3, 3], w: [2, 3, 2, 2], stride: [2, 2] },
  { name: 'groups 2 stride 1 pad 1', x: [1, 4, 4, 4], w: [4, 3, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  { name: 'groups 2 stride 2 pad 1 outputPadding 1', x: [2, 4, 3, 3], w: [4, 1, 3, 3], group: 2, stride: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] },
];

const convTransposeCases = DTYPES.flatMap((dtype) =>
  convTransposeSpecs.map((s): GradCase => {
    const attrs = { ...geomOf(s), outputPadding: s.outputPadding ?? [0, 0] };
    return {
      op: 'ConvTranspose',
      name: `ConvTranspose ${s.name} (${dtype})`,
      inputs: [{ shape: s.x, dtype }, { shape: s.w, dtype }, ...(s.bias ? [{ shape: [s.w[1] * attrs.group], dtype }] : [])],
      build: ([x, w, b]) => convTranspose(x, w, b ?? null, attrs),
      check: refCheck(dtype, ([x, w, b]) => convTranspose2dRef(x, s.x, w, s.w, b ?? null, attrs)),
    };
  }),
);

// the weight gradient of the conv `s` as an op of its own: inputs x and dY (bilinear)
const convWeightGradSpecs: ConvSpec[] = [
  { name: 'group 1, 3x3 pad 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1] },
  { name: 'group 1, 3x3 stride 2 pad 1, even input 6x6', x: [2, 2, 6, 6], w: [3, 2, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'group 1, 3x3 dilation 2 pad 1', x: [1, 2, 7, 7], w: [2, 2, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'group 2, 3x3 pad 1', x: [1, 4, 5, 5], w: [4, 2, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  { name: 'group 2, 3x3 stride 2 pad 1, even input 6x6', x: [2, 4, 6, 6], w: [6, 2, 3, 3], group: 2, stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'depthwise, 3x3 stride 2 pad 1, odd input 5x5', x: [2, 3, 5, 5], w: [3, 1, 3, 3], group: 3, stride: [2, 2], pads: [1, 1, 1, 1] },
];

function convWeightGradCase(s: ConvSpec, dtype: Dt, suffix = ''): GradCase {
  const dy = convOutShape(s);
  return {
    op: 'ConvWeightGrad',
    name: `ConvWeightGrad ${s.name} (${dtype})${suffix}`,
    inputs: [
      { shape: s.x, dtype },
      { shape: dy, dtype },
    ],
    build: ([x, g]) => convWeightGrad(x, g, s.w, geomOf(s)),
    check: refCheck(dtype, ([x, g]) => convWeightGradRef(x, s.x, g, dy, s.w.slice(2), geomOf(s))),
  };
}

const convWeightGradCases = DTYPES.flatMap((dtype) => convWeightGradSpecs.map((s) => convWeightGradCase(s, dtype)));

interface PoolSpec {
  readonly name: string;
  readonly x: number[];
  readonly k: number;
  readonly stride?: number;
  readonly pad?: number;
  readonly countIncludePad?: boolean;
  readonly ceil?: boolean;
  readonly dtypes: readonly Dt[];
}

const maxPoolSpecs: PoolSpec[] = [
  { name: '2x2', x: [2, 3, 4, 4], k: 2, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1, odd input 7x7', x: [2, 2, 7, 7], k: 3, stride: 2, pad: 1, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1, even input 6x6', x: [1, 3, 6, 6], k: 3, stride: 2, pad: 1, dtypes: DTYPES },
  { name: '3x3 stride 2 ceil mode, input 6x6', x: [1, 2, 6, 6], k: 3, stride: 2, ceil: true, dtypes: DTYPES },
];

// ORT's AveragePool is float32-only; float64 is emitted as a depthwise conv (plus a Div where the
// divisors are not the kernel area: count_include_pad=false with padding, ceil mode)
const avgPoolSpecs: PoolSpec[] = [
  { name: '2x2', x: [2, 3, 4, 4], k: 2, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1 count_include_pad, odd input 7x7', x: [2, 2, 7, 7], k: 3, stride: 2, pad: 1, countIncludePad: true, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1 count_include_pad=false, odd input 7x7', x: [2, 2, 7, 7], k: 3, stride: 2, pad: 1, countIncludePad: false, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1 count_include_pad=false, even input 6x6', x: [1, 3, 6, 6], k: 3, stride: 2, pad: 1, countIncludePad: false, dtypes: ['float32'] },
  { name: '3x3 stride 2 (no padding)', x: [1, 3, 7, 7], k: 3, stride: 2, dtypes: DTYPES },
  { name: '2x2 ceil mode count_include_pad=false, odd input 5x5', x: [1, 2, 5, 5], k: 2, ceil: true, countIncludePad: false, dtypes: DTYPES },
  { name: '2x2 ceil mode count_include_pad, odd input 5x5', x: [1, 2, 5, 5], k: 2, ceil: true, countIncludePad: true, dtypes: DTYPES },
  { name: '3x3 stride 2 pad 1 ceil mode count_include_pad, even input 6x6', x: [1, 2, 6, 6], k: 3, stride: 2, pad: 1, ceil: true, countIncludePad: true, dtypes: DTYPES },
];

const poolCases = [
  ...maxPoolSpecs.flatMap((s) =>
    s.dtypes.map(
      (dtype): GradCase => ({
        op: 'MaxPool',
        name: `MaxPool ${s.name} (${dtype})`,
        inputs: [{ shape: s.x, dtype, gen: distinct(size4(s.x), s.x.length * 1000 + s.k + size4(s.x)) }],
        build: ([x]) => maxPool2d(x, s.k, { stride: s.stride, padding: s.pad, ceilMode: s.ceil }),
        check: refCheck(dtype, ([x]) => poolRef('max', x, s.x, [s.k, s.k], [s.stride ?? s.k, s.stride ?? s.k], [s.pad ?? 0, s.pad ?? 0], true, s.ceil)),
      }),
    ),
  ),
  ...avgPoolSpecs.flatMap((s) =>
    s.dtypes.map(
      (dtype): GradCase => ({
        op: 'AveragePool',
        name: `AveragePool ${s.name} (${dtype})`,
        inputs: [{ shape: s.x, dtype }],
        build: ([x]) => avgPool2d(x, s.k, { stride: s.stride, padding: s.pad, ceilMode: s.ceil, countIncludePad: s.countIncludePad }),
        check: refCheck(dtype, ([x]) => poolRef('avg', x, s.x, [s.k, s.k], [s.stride ?? s.k, s.stride ?? s.k], [s.pad ?? 0, s.pad ?? 0], s.countIncludePad ?? true, s.ceil)),
      }),
    ),
  ),
  ...DTYPES.map(
    (dtype): GradCase => ({
      op: 'GlobalAveragePool',
      name: `GlobalAveragePool [2,3,4,5] (${dtype})`,
      inputs: [{ shape: [2, 3, 4, 5], dtype }],
      build: ([x]) => globalAvgPool(x),
      check: refCheck(dtype, ([x]) => poolRef('avg', x, [2, 3, 4, 5], [4, 5], [1, 1], [0, 0])),
    }),
  ),
];

const BN_EPS = 1e-5;

const batchNormCases = DTYPES.flatMap((dtype): GradCase[] => [
  ...[
    [3, 2, 3, 3],
    [6, 3],
  ].map(
    (xs): GradCase => ({
      op: 'BatchNormTrain',
      name: `BatchNormTrain [${xs}] (${dtype})`,
      inputs: [{ shape: xs, dtype }, { shape: [xs[1]], dtype, gen: uniform(0.5, 2) }, { shape: [xs[1]], dtype }],
      build: ([x, g, b]) => batchNormTrain(x, g, b, BN_EPS)[0],
      check: refCheck(dtype, ([x, g, b]) => batchNormRef(x, xs, g, b, BN_EPS, null)),
    }),
  ),
  {
    op: 'BatchNormalization',
    name: `BatchNormalization eval [2,3,3,3] (${dtype})`,
    inputs: [
      { shape: [2, 3, 3, 3], dtype },
      { shape: [3], dtype, gen: uniform(0.5, 2) },
      { shape: [3], dtype },
      { shape: [3], dtype },
      { shape: [3], dtype, gen: uniform(0.3, 2) },
    ],
    wrt: [0, 1, 2],
    build: ([x, g, b, m, v]) => batchNormEval(x, g, b, m, v, BN_EPS),
    check: refCheck(dtype, ([x, g, b, mean, variance]) => batchNormRef(x, [2, 3, 3, 3], g, b, BN_EPS, { mean, variance })),
  },
]);

const matmulShapes: [number[], number[]][] = [
  [
    [3, 4],
    [4, 5],
  ],
  [
    [2, 3, 4, 5],
    [5, 6],
  ],
  [
    [3, 1, 4, 5],
    [2, 5, 6],
  ],
  [
    [4, 5],
    [2, 5, 3],
  ],
];

const linalgCases: GradCase[] = [
  ...matmulShapes.map(
    ([as, bs]): GradCase => ({
      op: 'MatMul',
      name: `MatMul [${as}] x [${bs}]`,
      inputs: [{ shape: as }, { shape: bs }],
      build: ([a, b]) => matmul(a, b),
      check: refCheck('float64', ([a, b]) => matmulRef(a, as, b, bs)),
    }),
  ),
  {
    op: 'MatMul',
    name: 'MatMul [2,3,4] x [4,5] (float32)',
    inputs: [
      { shape: [2, 3, 4], dtype: 'float32' },
      { shape: [4, 5], dtype: 'float32' },
    ],
    build: ([a, b]) => matmul(a, b),
    check: refCheck('float32', ([a, b]) => matmulRef(a, [2, 3, 4], b, [4, 5])),
  },
  // M = 3, K = 4, N = 5
  ...[0, 1].flatMap((transA) =>
    [0, 1].flatMap((transB) =>
      [[5], [3, 5], [3, 1], null].map((cs): GradCase => {
        const as = transA ? [4, 3] : [3, 4];
        const bs = transB ? [5, 4] : [4, 5];
        return {
          op: 'Gemm',
          name: `Gemm transA=${transA} transB=${transB} bias ${cs ? `[${cs}]` : 'none'}`,
          inputs: [{ shape: as }, { shape: bs }, ...(cs ? [{ shape: cs }] : [])],
          build: ([a, b, c]) => gemm(a, b, c ?? null, transA, transB),
          check: refCheck('float64', ([a, b, c]) => gemmRef(a, as, b, bs, cs ? { data: c, shape: cs } : null, transA, transB)),
        };
      }),
    ),
  ),
  {
    op: 'Gemm',
    name: 'Gemm transA=1 transB=1 bias [N] (float32)',
    inputs: [
      { shape: [4, 3], dtype: 'float32' },
      { shape: [5, 4], dtype: 'float32' },
      { shape: [5], dtype: 'float32' },
    ],
    build: ([a, b, c]) => gemm(a, b, c, 1, 1),
    check: refCheck('float32', ([a, b, c]) => gemmRef(a, [4, 3], b, [5, 4], { data: c, shape: [5] }, 1, 1)),
  },
];

const scatterGatherCases: GradCase[] = DTYPES.flatMap((dtype): GradCase[] => [
  {
    op: 'ScatterAdd',
    name: `ScatterAdd size 5, 8 updates with repeated indices (${dtype})`,
    inputs: [{ shape: [8], dtype: 'int64', gen: labels(5) }, { shape: [8], dtype }],
    build: ([idx, upd]) => scatterAdd(5, idx, upd),
    check: refCheck(dtype, ([idx, upd]) => {
      const data = new Array<number>(5).fill(0);
      idx.forEach((k, i) => (data[k] += upd[i]));
      return { shape: [5], data };
    }),
  },
  {
    op: 'GatherElements',
    name: `GatherElements 8 of 5 with repeated indices (${dtype})`,
    inputs: [{ shape: [5], dtype }, { shape: [8], dtype: 'int64', gen: labels(5) }],
    build: ([x, idx]) => gatherElements(x, idx),
    check: refCheck(dtype, ([x, idx]) => ({ shape: [8], data: idx.map((k) => x[k]) })),
  },
]);

/**
 * The gradient-check table, keyed by `op` (the registered op type a case covers, or a composite's
 * name). The coverage test requires a case for every op in `listOps()`. Float64 unless ORT's CPU
 * provider only has the op in float32.
 *
 * Dropout is random: its case skips finite differences and instead checks, within one run, that
 * y = x·mask/(1−p) and dX = dL/dy·mask/(1−p) using the fetched mask output.
 */
export const gradCases: GradCase[] = [
  // ---- elementwise.ts ----
  { op: 'Add', name: 'Add [2,3,4] + [3,1]', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: ([a, b]) => add(a, b) },
  { op: 'Add', name: 'Add [4] + scalar constant', inputs: [{ shape: [4] }], build: ([a]) => add(a, 2.5) },
  { op: 'Sub', name: 'Sub [3,1] - [1,4]', inputs: [{ shape: [3, 1] }, { shape: [1, 4] }], build: ([a, b]) => sub(a, b) },
  { op: 'Mul', name: 'Mul [2,1,3] * [4,1]', inputs: [{ shape: [2, 1, 3] }, { shape: [4, 1] }], build: ([a, b]) => mul(a, b) },
  { op: 'Mul', name: 'Mul x * x (fan-out)', inputs: [{ shape: [5] }], build: ([a]) => mul(a, a) },
  { op: 'Div', name: 'Div [2,3] / [3]', inputs: [{ shape: [2, 3] }, { shape: [3], gen: nonZero }], build: ([a, b]) => div(a, b) },
  { op: 'Div', name: 'Div [3] / [2,3]', inputs: [{ shape: [3] }, { shape: [2, 3], gen: nonZero }], build: ([a, b]) => div(a, b) },
  { op: 'Neg', name: 'Neg', inputs: [{ shape: [2, 3] }], build: ([x]) => neg(x), check: forward((x) => -x) },
  { op: 'Exp', name: 'Exp', inputs: [{ shape: [2, 3] }], build: ([x]) => exp(x), check: forward(Math.exp) },
  { op: 'Log', name: 'Log', inputs: [{ shape: [2, 3], gen: positive }], build: ([x]) => log(x), check: forward(Math.log) },
  { op: 'Sqrt', name: 'Sqrt', inputs: [{ shape: [2, 3], gen: positive }], build: ([x]) => sqrt(x), check: forward(Math.sqrt) },
  { op: 'Reciprocal', name: 'Reciprocal', inputs: [{ shape: [2, 3], gen: nonZero }], build: ([x]) => reciprocal(x) },
  { op: 'Tanh', name: 'Tanh', inputs: [{ shape: [2, 3] }], build: ([x]) => tanh(x), check: forward(Math.tanh) },
  { op: 'Sigmoid', name: 'Sigmoid', inputs: [{ shape: [2, 3] }], build: ([x]) => sigmoid(x), check: forward((x) => 1 / (1 + Math.exp(-x))) },
  // ORT's CPU Erf is float32-only
  { op: 'Erf', name: 'Erf (float32)', inputs: [{ shape: [2, 3], dtype: 'float32' }], build: ([x]) => erf(x) },
  { op: 'Abs', name: 'Abs', inputs: [{ shape: [2, 3], gen: nonZero }], build: ([x]) => abs(x) },
  { op: 'Sign', name: 'Sign (no gradient)', noGrad: true, inputs: [{ shape: [2, 3], gen: nonZero }], build: ([x]) => sign(x), check: forward(Math.sign) },
  {
    op: 'Greater',
    name: 'Greater (no gradient)',
    noGrad: true,
    inputs: [{ shape: [2, 3] }, { shape: [3] }],
    build: ([a, b]) => greater(a, b),
    check: forward((a, b) => Number(a > b)),
  },
  { op: 'Less', name: 'Less (no gradient)', noGrad: true, inputs: [{ shape: [2, 3] }, { shape: [3] }], build: ([a, b]) => less(a, b), check: forward((a, b) => Number(a < b)) },
  {
    op: 'Equal',
    name: 'Equal (no gradient)',
    noGrad: true,
    inputs: [
      { shape: [6], gen: (r) => Math.floor(r() * 3) },
      { shape: [6], gen: (r) => Math.floor(r() * 3) },
    ],
    build: ([a, b]) => equal(a, b),
    check: forward((a, b) => Number(a === b)),
  },
  {
    op: 'Where',
    name: 'Where(bool [2,3], [2,3], [3])',
    inputs: [{ shape: [2, 3], dtype: 'bool', gen: bits }, { shape: [2, 3] }, { shape: [3] }],
    build: ([c, a, b]) => where(c, a, b),
    check: forward((c, a, b) => (c ? a : b)),
  },
  { op: 'Cast', name: 'Cast float32 -> float64', inputs: [{ shape: [2, 3], dtype: 'float32' }], build: ([x]) => mul(cast(x, 'float64'), cast(x, 'float64')) },
  { op: 'Cast', name: 'Cast int64 -> float64 (no gradient)', noGrad: true, inputs: [{ shape: [4], dtype: 'int64', gen: labels(5) }], build: ([x]) => cast(x, 'float64') },

  // ---- shape.ts ----
  { op: 'Reshape', name: 'Reshape [2,3,4] -> [-1,4]', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => reshape(x, [-1, 4]) },
  { op: 'Transpose', name: 'Transpose [2,3,4] perm [2,0,1]', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => transpose(x, [2, 0, 1]) },
  { op: 'Expand', name: 'Expand [3,1] -> [2,3,4]', inputs: [{ shape: [3, 1] }], build: ([x]) => expand(x, [2, 3, 4]) },
  {
    op: 'Concat',
    name: 'Concat axis 1 of [2,1],[2,3],[2,2]',
    inputs: [{ shape: [2, 1] }, { shape: [2, 3] }, { shape: [2, 2] }],
    build: (xs) => concat(xs, 1),
  },
  { op: 'Concat', name: 'Concat axis -1, same input twice', inputs: [{ shape: [3, 2] }], build: ([x]) => concat([x, mul(x, x)], -1) },
  { op: 'Split', name: 'Split [2,7] axis 1 into [2,4,1]', inputs: [{ shape: [2, 7] }], build: ([x]) => split(x, 1, [2, 4, 1]) },
  { op: 'Split', name: 'Split, middle part unused', inputs: [{ shape: [6, 2] }], build: ([x]) => split(x, 0, [1, 3, 2]).filter((_, i) => i !== 1) },
  // Pad emits its fill value as a float32 initializer, so ORT rejects float64 Pad; Slice's gradient is a Pad
  {
    op: 'Slice',
    name: 'Slice [4,5] rows 1:3 cols 0:4 (float32)',
    inputs: [{ shape: [4, 5], dtype: 'float32' }],
    build: ([x]) => slice(x, [0, 1], [1, 0], [3, 4]),
  },
  { op: 'Slice', name: 'Slice axis -1 of [2,3,6] (float32)', inputs: [{ shape: [2, 3, 6], dtype: 'float32' }], build: ([x]) => slice(x, [-1], [2], [5]) },
  { op: 'Pad', name: 'Pad [2,3] (float32)', inputs: [{ shape: [2, 3], dtype: 'float32' }], build: ([x]) => pad(x, [1, 0, 0, 2], 0) },
  { op: 'ReduceSum', name: 'ReduceSum [2,3,4] axis 1', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => reduceSum(x, [1]) },
  { op: 'ReduceSum', name: 'ReduceSum [2,3,4] axes 0,2 keepdims', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => reduceSum(x, [0, 2], true) },
  { op: 'ReduceMean', name: 'ReduceMean [2,3,4] axis -1', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => reduceMean(x, [-1]) },
  { op: 'ReduceMean', name: 'ReduceMean [2,3,4] axes 0,1 keepdims', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => reduceMean(x, [0, 1], true) },

  // ---- activations.ts ----
  { op: 'Relu', name: 'Relu', inputs: [{ shape: [3, 4], gen: nonZero }], build: ([x]) => relu(x), check: forward((x) => Math.max(x, 0)) },
  {
    op: 'Relu',
    name: 'Relu gradient at 0 is 0',
    fd: false,
    inputs: [{ shape: [3], gen: (_r, i) => [-1, 0, 1][i] }],
    build: ([x]) => relu(x),
    check: (r) => assertClose(valuesOf(r.grads[0]!), valuesOf(r.weights[0]!).map((w, i) => [0, 0, w][i]), 'dx'),
  },
  {
    op: 'Clip',
    name: 'ReLU6',
    inputs: [{ shape: [3, 4], gen: uniform(-2, 8, [0, 6]) }],
    build: ([x]) => relu6(x),
    check: forward((x) => Math.min(Math.max(x, 0), 6)),
  },
  { op: 'Clip', name: 'Clip [-1, 1]', inputs: [{ shape: [3, 4], gen: uniform(-2, 2, [-1, 1]) }], build: ([x]) => clip(x, -1, 1) },
  { op: 'Clip', name: 'Clip [-inf, 0.5]', inputs: [{ shape: [3, 4], gen: uniform(-2, 2, [0.5]) }], build: ([x]) => clip(x, -Infinity, 0.5) },
  {
    op: 'LeakyRelu',
    name: 'LeakyReLU slope 0.1',
    inputs: [{ shape: [3, 4], gen: nonZero }],
    build: ([x]) => leakyRelu(x, 0.1),
    check: forward((x) => (x > 0 ? x : 0.1 * x), 1e-6),
  },
  // Gelu, HardSigmoid and HardSwish lower to Erf / HardSigmoid, which ORT's CPU provider has in float32 only
  {
    op: 'Gelu',
    name: 'GELU (float32)',
    inputs: [{ shape: [4, 5], dtype: 'float32', gen: uniform(-4, 4) }],
    build: ([x]) => gelu(x),
    check: forward((x) => x * 0.5 * (1 + erfRef(x / Math.SQRT2)), 1e-5, 1e-6),
  },
  {
    op: 'HardSigmoid',
    name: 'HardSigmoid (float32)',
    inputs: [{ shape: [4, 5], dtype: 'float32', gen: uniform(-5, 5, [-3, 3]) }],
    build: ([x]) => hardsigmoid(x),
    check: forward((x) => Math.min(Math.max(x + 3, 0), 6) / 6, 1e-6),
  },
  {
    op: 'HardSigmoid',
    name: 'HardSigmoid gradient at the boundaries',
    fd: false,
    inputs: [{ shape: [5], dtype: 'float32', gen: (_r, i) => [-4, -3, 0, 3, 4][i] }],
    build: ([x]) => hardsigmoid(x),
    check: (r) => assertClose(valuesOf(r.grads[0]!), valuesOf(r.weights[0]!).map((w, i) => w * [0, 0, 1 / 6, 0, 0][i]), 'dx', 1e-6),
  },
  {
    op: 'HardSwish',
    name: 'HardSwish (float32)',
    inputs: [{ shape: [4, 5], dtype: 'float32', gen: uniform(-5, 5, [-3, 3]) }],
    build: ([x]) => hardswish(x),
    check: forward((x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6, 1e-6),
  },
  {
    op: 'HardSwish',
    name: 'HardSwish gradient at the boundaries (PyTorch: x < -3 -> 0, x <= 3 -> (2x+3)/6, else 1)',
    fd: false,
    inputs: [{ shape: [5], dtype: 'float32', gen: (_r, i) => [-4, -3, 0, 3, 4][i] }],
    build: ([x]) => hardswish(x),
    check: (r) => assertClose(valuesOf(r.grads[0]!), valuesOf(r.weights[0]!).map((w, i) => w * [0, -0.5, 0.5, 1.5, 1][i]), 'dx', 1e-6),
  },
  // float32: ORT fuses x·Sigmoid(x) into com.microsoft.QuickGelu, which its CPU provider has in float32 only
  {
    op: 'silu',
    name: 'SiLU (Sigmoid·Mul composite, float32)',
    inputs: [{ shape: [3, 4], dtype: 'float32' }],
    build: ([x]) => silu(x),
    check: forward((x) => x / (1 + Math.exp(-x)), 1e-5, 1e-6),
  },

  // ---- softmax.ts ----
  { op: 'Softmax', name: 'Softmax [3,5] last axis', inputs: [{ shape: [3, 5] }], build: ([x]) => softmax(x) },
  { op: 'Softmax', name: 'Softmax [2,3,4] axis 1', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => softmax(x, 1) },
  { op: 'LogSoftmax', name: 'LogSoftmax [3,5] last axis', inputs: [{ shape: [3, 5] }], build: ([x]) => logSoftmax(x) },
  { op: 'LogSoftmax', name: 'LogSoftmax [2,3,4] axis 0', inputs: [{ shape: [2, 3, 4] }], build: ([x]) => logSoftmax(x, 0) },

  // ---- loss.ts ----
  {
    op: 'OneHot',
    name: 'OneHot int64 [2,3] depth 4 (no gradient)',
    noGrad: true,
    inputs: [{ shape: [2, 3], dtype: 'int64', gen: labels(4) }],
    build: ([y]) => oneHot(y, 4, 'float64'),
    check: (r) => {
      const y = valuesOf(r.inputs[0]);
      assert.deepEqual(r.outputs[0].shape, [2, 3, 4]);
      assert.deepEqual(valuesOf(r.outputs[0]), y.flatMap((k) => [0, 1, 2, 3].map((c) => Number(c === k))));
    },
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy hard targets',
    inputs: [{ shape: [4, 5] }, { shape: [4], dtype: 'int64', gen: labels(5) }],
    build: ([x, y]) => crossEntropy(x, y),
    check: ceCheck(5, 'hard'),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy hard targets, label smoothing 0.1',
    inputs: [{ shape: [4, 5] }, { shape: [4], dtype: 'int64', gen: labels(5) }],
    build: ([x, y]) => crossEntropy(x, y, { labelSmoothing: 0.1 }),
    check: ceCheck(5, 'hard', 0.1),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy soft targets',
    inputs: [{ shape: [3, 4] }, { shape: [3, 4], gen: uniform(0, 1) }],
    build: ([x, t]) => crossEntropy(x, t),
    check: ceCheck(4, 'soft'),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy soft targets, label smoothing 0.2',
    inputs: [{ shape: [3, 4] }, { shape: [3, 4], gen: uniform(0, 1) }],
    build: ([x, t]) => crossEntropy(x, t, { labelSmoothing: 0.2 }),
    check: ceCheck(4, 'soft', 0.2),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy hard targets, class weights',
    inputs: [{ shape: [5, 3] }, { shape: [5], dtype: 'int64', gen: labels(3) }, { shape: [3], gen: uniform(0.5, 2) }],
    build: ([x, y, w]) => crossEntropy(x, y, { weight: w }),
    check: ceCheck(3, 'hard', 0, true),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy hard targets, class weights and label smoothing 0.1',
    inputs: [{ shape: [5, 3] }, { shape: [5], dtype: 'int64', gen: labels(3) }, { shape: [3], gen: uniform(0.5, 2) }],
    build: ([x, y, w]) => crossEntropy(x, y, { weight: w, labelSmoothing: 0.1 }),
    check: ceCheck(3, 'hard', 0.1, true),
  },
  {
    op: 'crossEntropy',
    name: 'crossEntropy soft targets, class weights and label smoothing 0.1',
    inputs: [{ shape: [3, 4] }, { shape: [3, 4], gen: uniform(0, 1) }, { shape: [4], gen: uniform(0.5, 2) }],
    build: ([x, t, w]) => crossEntropy(x, t, { weight: w, labelSmoothing: 0.1 }),
    check: ceCheck(4, 'soft', 0.1, true),
  },

  // ---- dropout.ts ----
  ...(['float32', 'float64'] as const).map(
    (dtype): GradCase => ({
      op: 'Dropout',
      name: `Dropout p=0.5 (${dtype}): y and dX from the mask of the same run`,
      fd: false,
      inputs: [{ shape: [20, 50], dtype, gen: nonZero }],
      build: ([x]) => {
        const y = dropout(x, 0.5, true, 7);
        return [y, y.node!.outputs[1]];
      },
      check: (r) => {
        const x = valuesOf(r.inputs[0]);
        const mask = valuesOf(r.outputs[1]);
        const rw = valuesOf(r.weights[0]!);
        assert.equal(r.outputs[1].dtype, 'bool');
        const kept = mask.reduce((s, m) => s + m, 0) / mask.length;
        assert.ok(kept > 0.4 && kept < 0.6, `kept fraction ${kept}`);
        assertClose(valuesOf(r.outputs[0]), x.map((v, i) => v * mask[i] * 2), 'y', 1e-6);
        assertClose(valuesOf(r.grads[0]!), rw.map((w, i) => w * mask[i] * 2), 'dx', 1e-6);
      },
    }),
  ),

  // ---- conv.ts, pool.ts, batchnorm.ts, linalg.ts: append their cases below, keyed by op type ----
  ...convCases,
  ...convTransposeCases,
  ...convWeightGradCases,
  ...poolCases,
  ...batchNormCases,
  ...linalgCases,
  ...scatterGatherCases,
];

/** erf for forward checks: Maclaurin series below 3, asymptotic expansion above */
function erfRef(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 60; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t)));
}

test('every registered op has a gradient-check case', () => {
  const covered = new Set(gradCases.map((c) => c.op));
  const missing = listOps().filter((op) => !covered.has(op));
  assert.deepEqual(missing, [], `ops without a gradient-check case: ${missing.join(', ')}`);
});

for (const c of gradCases) {
  test(`grad ${c.op}: ${c.name}`, async () => {
    await gradCheck(c);
  });
}

test('dropout adds no node when p = 0 or not training', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.addInput('x', [3], 'float32');
    assert.equal(dropout(x, 0, true), x);
    assert.equal(dropout(x, 0.5, false), x);
  });
  assert.equal(g.nodes.length, 0);
});

test('shape errors name the op and the rule', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.addInput('x', [2, 3], 'float32');
    const y = g.addInput('y', [2], 'int64');
    assert.throws(() => clip(x, 1, 1), (e: Error) => e instanceof ShapeError && /^Clip: min 1 must be below max 1/.test(e.message));
    assert.throws(() => softmax(x, 2), (e: Error) => e instanceof ShapeError && /axis 2 out of range/.test(e.message));
    assert.throws(() => relu(y), (e: Error) => e instanceof ShapeError && /needs a float input, got int64/.test(e.message));
    assert.throws(() => oneHot(cast(y, 'int32'), 3), /labels must be int64, got int32/);
    assert.throws(() => crossEntropy(x, g.addInput('t', [3], 'int64')), /target must be int64 \[2\] or float32 \[2, 3\]/);
    assert.throws(() => crossEntropy(x, y, { weight: g.addInput('w', [2], 'float32') }), /weight must be float32 \[3\]/);
    assert.throws(() => dropout(x, 1, true), /p must be in \[0, 1\)/);
  });
});

/** the ONNX op types each IR op type emits, in a graph of `build` and its gradients w.r.t. every input */
function emittedOps(inputs: readonly { shape: number[]; dtype: Dt }[], build: (xs: Value[]) => Value): Map<string, Set<string>> {
  const g = new Graph();
  withGraph(g, () => {
    const xs = inputs.map((s, i) => g.addInput(`x${i}`, s.shape, s.dtype));
    const y = build(xs);
    gradients(reduceSum(y, y.shape.map((_, i) => i)), xs);
  });
  const names = new Map<Value, string>();
  const nameOf = (v: Value) => names.get(v) ?? (names.set(v, `v${names.size}`), `v${names.size - 1}`);
  const types = new Map<string, Set<string>>();
  let k = 0;
  for (const node of g.nodes) {
    const set = types.get(node.op) ?? new Set<string>();
    types.set(node.op, set);
    const e: Emitter = { node: (op) => void set.add(op), tmp: (h = 't') => `${h}_${k++}`, ints: () => `i_${k++}`, scalar: () => `s_${k++}` };
    getOp(node.op).emit(e, node.inputs.map(nameOf), node.outputs.map(nameOf), node.attrs, node, node.outputs.map(() => true));
  }
  return types;
}

/** runs `fn` with TESSERA_WGRAD set to `value` (or unset), restoring it afterwards */
async function withWgrad<T>(value: string | undefined, fn: () => T | Promise<T>): Promise<T> {
  const saved = process.env.TESSERA_WGRAD;
  if (value === undefined) delete process.env.TESSERA_WGRAD;
  else process.env.TESSERA_WGRAD = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TESSERA_WGRAD;
    else process.env.TESSERA_WGRAD = saved;
  }
}

// the gradient cases above claim to cover each emission path: check which path each configuration takes
test('conv and pool emission paths (what the gradient cases exercise)', async () => {
  await withWgrad(undefined, () => {
    const conv = (dtype: Dt, x: number[], w: number[], opts: Parameters<typeof conv2d>[3]) =>
      emittedOps(
        [
          { shape: x, dtype },
          { shape: w, dtype },
        ],
        ([a, b]) => conv2d(a, b, null, opts),
      );
    const has = (m: Map<string, Set<string>>, op: string, onnx: string) => m.get(op)?.has(onnx) ?? false;

    // float32, stride 1, group 1: dX's ConvTranspose is emitted as a Conv, dW as im2col + Gemm
    const plain = conv('float32', [1, 2, 5, 5], [3, 2, 3, 3], { padding: 1 });
    assert.ok(has(plain, 'Conv', 'Conv'));
    assert.ok(has(plain, 'ConvTranspose', 'Conv') && !has(plain, 'ConvTranspose', 'ConvTranspose'), 'stride-1 ConvTranspose -> Conv');
    assert.ok(has(plain, 'ConvWeightGrad', 'Gemm') && !has(plain, 'ConvWeightGrad', 'Conv'), 'group-1 dW -> Gemm');
    // float32, stride 2: a real ConvTranspose
    const strided = conv('float32', [1, 2, 6, 6], [3, 2, 3, 3], { stride: 2, padding: 1 });
    assert.ok(has(strided, 'ConvTranspose', 'ConvTranspose'), 'stride-2 ConvTranspose');
    // float32, groups 2: a real ConvTranspose, dW as one grouped Conv
    const grouped = conv('float32', [1, 4, 5, 5], [4, 2, 3, 3], { groups: 2, padding: 1 });
    assert.ok(has(grouped, 'ConvTranspose', 'ConvTranspose'), 'grouped ConvTranspose');
    assert.ok(has(grouped, 'ConvWeightGrad', 'Conv') && !has(grouped, 'ConvWeightGrad', 'Gemm'), 'grouped dW -> Conv');
    // float64: everything as im2col + MatMul
    for (const opts of [{ padding: 1 }, { stride: 2, padding: 1 }, { groups: 2, padding: 1 }]) {
      const m = conv('float64', [1, 4, 6, 6], [4, opts.groups ? 2 : 4, 3, 3], opts);
      for (const op of ['Conv', 'ConvTranspose', 'ConvWeightGrad']) {
        assert.ok(has(m, op, 'MatMul') && !['Conv', 'ConvTranspose', 'Gemm'].some((t) => has(m, op, t)), `float64 ${op} ${JSON.stringify(opts)}`);
      }
    }

    const pool = (dtype: Dt, f: (x: Value) => Value) => emittedOps([{ shape: [1, 2, 7, 7], dtype }], ([x]) => f(x));
    assert.ok(has(pool('float32', (x) => avgPool2d(x, 3, { stride: 2, padding: 1 })), 'AveragePool', 'AveragePool'));
    const avg64 = pool('float64', (x) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }));
    assert.ok(has(avg64, 'AveragePool', 'MatMul') && has(avg64, 'AveragePool', 'Div') && !has(avg64, 'AveragePool', 'AveragePool'));
    assert.ok(has(pool('float32', globalAvgPool), 'GlobalAveragePool', 'GlobalAveragePool'));
    assert.ok(has(pool('float64', globalAvgPool), 'GlobalAveragePool', 'ReduceMean'));
    assert.ok(has(pool('float64', (x) => maxPool2d(x, 3, { stride: 2, padding: 1 })), 'MaxPool', 'MaxPool'));
  });
});

// TESSERA_WGRAD=conv forces the float32 group-1 weight gradient through the Conv emission
for (const s of convWeightGradSpecs.filter((s) => (s.group ?? 1) === 1)) {
  const c = convWeightGradCase(s, 'float32', ' via the Conv emission (TESSERA_WGRAD=conv)');
  test(`grad ${c.op}: ${c.name}`, async () => {
    const paths = await withWgrad('conv', () => emittedOps(c.inputs as { shape: number[]; dtype: Dt }[], (xs) => c.build(xs) as Value));
    assert.ok(paths.get('ConvWeightGrad')?.has('Conv') && !paths.get('ConvWeightGrad')?.has('Gemm'));
    await withWgrad('conv', () => gradCheck(c));
  });
}
