/**
 * Gradient-check cases for pool.ts, batchnorm.ts, linalg.ts (MatMul, Gemm) and the scatter/gather
 * ops, with plain-JS references.
 */
import {
  avgPool2d,
  batchNormEval,
  batchNormTrain,
  gatherElements,
  gemm,
  globalAvgPool,
  matmul,
  maxPool2d,
  maxUnpool,
  scatterAdd,
} from '../../src/ops/index.js';
import { GradCase, uniform } from '../gradcheck.js';
import { DTYPES, Dt, Ref, labels, refCheck } from './common.js';
import { mulberry32 } from '../../src/util/random.js';

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

/** pairwise-distinct values 0.05 apart in a seeded random order (no ties in a max pool, even at ±eps) */
function distinct(n: number, seed: number): (rand: () => number, i: number) => number {
  const rand = mulberry32(seed);
  const perm = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return (_r, i) => (perm[i] - n / 2) * 0.05;
}

const size4 = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

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
  { name: '2x2, odd input 5x7 (last row and column in no window)', x: [2, 2, 5, 7], k: 2, dtypes: DTYPES },
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

export const poolCases = [
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

export const batchNormCases = DTYPES.flatMap((dtype): GradCase[] => [
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

export const linalgCases: GradCase[] = [
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

// MaxUnpool is float32 only (ORT's kernel): values [1, 2, 2, 3] into [1, 2, 5, 7] by 2×2 windows,
// each index one position of its own window (as MaxPool's argmax), so none repeats
const unpoolIndex = (rand: () => number, i: number) => {
  const [plane, row, col] = [Math.floor(i / 6), Math.floor((i % 6) / 3), i % 3];
  return plane * 35 + (2 * row + Math.floor(rand() * 2)) * 7 + 2 * col + Math.floor(rand() * 2);
};
export const maxUnpoolCases: GradCase[] = [
  {
    op: 'MaxUnpool',
    name: 'MaxUnpool 2x2 windows into 5x7 (float32)',
    inputs: [{ shape: [1, 2, 2, 3], dtype: 'float32' }, { shape: [1, 2, 2, 3], dtype: 'int64', gen: unpoolIndex }],
    build: ([v, idx]) => maxUnpool(v, idx, [1, 2, 5, 7], [2, 2]),
    check: refCheck('float32', ([v, idx]) => {
      const data = new Array<number>(70).fill(0);
      idx.forEach((k, i) => (data[k] = v[i]));
      return { shape: [1, 2, 5, 7], data };
    }),
  },
];

export const scatterGatherCases: GradCase[] = DTYPES.flatMap((dtype): GradCase[] => [
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
