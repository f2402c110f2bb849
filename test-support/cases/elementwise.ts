/**
 * Gradient-check cases for elementwise.ts, shape.ts, activations.ts, softmax.ts, loss.ts and
 * dropout.ts, with their plain-JS forward references.
 *
 * Dropout is random: its case skips finite differences and instead checks, within one run, that
 * y = x·mask/(1−p) and dX = dL/dy·mask/(1−p) using the fetched mask output.
 */
import assert from 'node:assert/strict';
import {
  abs,
  add,
  cast,
  clip,
  concat,
  crossEntropy,
  div,
  dropout,
  equal,
  erf,
  exp,
  expand,
  gelu,
  greater,
  hardsigmoid,
  hardswish,
  leakyRelu,
  less,
  log,
  logSoftmax,
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
} from '../../src/ops/index.js';
import { bernoulliMask, stochasticDepth } from '../../src/ops/random.js';
import { GradCase, RunResult, assertClose, uniform, valuesOf } from '../gradcheck.js';
import { bits, labels, nonZero, positive } from './common.js';

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

export const elementwiseCases: GradCase[] = [
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
  // ---- random.ts ----
  // random: no finite differences; the mask is 0/1 at about the right rate and its rule gives no gradient
  ...(['float32', 'float64'] as const).map(
    (dtype): GradCase => ({
      op: 'BernoulliMask',
      name: `BernoulliMask p=0.3 [40, 50] (${dtype}): 0/1 values, kept fraction about 0.7, no gradient`,
      noGrad: true,
      inputs: [],
      build: () => bernoulliMask([40, 50], 0.3, dtype),
      check: (r) => {
        assert.equal(r.outputs[0].dtype, dtype);
        assert.deepEqual(r.outputs[0].shape, [40, 50]);
        const mask = valuesOf(r.outputs[0]);
        assert.ok(mask.every((m) => m === 0 || m === 1), 'mask values are 0 or 1');
        const kept = mask.filter((m) => m === 1).length / mask.length;
        assert.ok(kept > 0.65 && kept < 0.75, `kept fraction ${kept}`);
      },
    }),
  ),
  ...(['row', 'batch'] as const).map(
    (mode): GradCase => ({
      op: 'stochasticDepth',
      name: `stochasticDepth p=0.5 mode=${mode} (float64): y and dX from the noise of the same run`,
      fd: false,
      inputs: [{ shape: [64, 2, 3], dtype: 'float64', gen: nonZero }],
      wrt: [0],
      build: ([x]) => {
        const y = stochasticDepth(x, 0.5, mode, true);
        return [y, y.node!.inputs[1]];
      },
      check: (r) => {
        const x = valuesOf(r.inputs[0]);
        const noise = valuesOf(r.outputs[1]);
        assert.deepEqual(r.outputs[1].shape, mode === 'row' ? [64, 1, 1] : [1, 1, 1]);
        assert.ok(noise.every((v) => v === 0 || v === 2), 'noise is 0 or 1/(1-p)');
        if (mode === 'row') {
          const kept = noise.filter((v) => v > 0).length / noise.length;
          assert.ok(kept > 0.25 && kept < 0.75, `kept fraction ${kept}`);
        }
        const at = (i: number) => noise[mode === 'row' ? Math.floor(i / 6) : 0];
        const rw = valuesOf(r.weights[0]!);
        assertClose(valuesOf(r.outputs[0]), x.map((v, i) => v * at(i)), 'y', 1e-12);
        assertClose(valuesOf(r.grads[0]!), rw.map((w, i) => w * at(i)), 'dx', 1e-12);
      },
    }),
  ),
];
