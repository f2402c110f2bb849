import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value, withGraph } from '../src/graph/ir.js';
import { gradients } from '../src/autodiff/grad.js';
import {
  Emitter,
  ShapeError,
  avgPool2d,
  cast,
  clip,
  conv2d,
  crossEntropy,
  dropout,
  getOp,
  globalAvgPool,
  listOps,
  maxPool2d,
  oneHot,
  reduceSum,
  relu,
  softmax,
} from '../src/ops/index.js';
import { GradCase, gradCheck } from '../test-support/gradcheck.js';
import { Dt } from '../test-support/cases/common.js';
import { elementwiseCases } from '../test-support/cases/elementwise.js';
import { convCases, convTransposeCases, convWeightGradCase, convWeightGradCases, convWeightGradSpecs } from '../test-support/cases/conv.js';
import { batchNormCases, linalgCases, maxUnpoolCases, poolCases, scatterGatherCases } from '../test-support/cases/pool-norm-linalg.js';
import { layerNormCases } from '../test-support/cases/layernorm.js';
import { compositeCases } from '../test-support/cases/composites.js';
import { tokenCases } from '../test-support/cases/tokens.js';

/**
 * The gradient-check table, keyed by `op` (the registered op type a case covers, or a composite's
 * name). The coverage test requires a case for every op in `listOps()`. Float64 unless ORT's CPU
 * provider only has the op in float32. The cases live in test-support/cases/, one module per op family.
 */
export const gradCases: GradCase[] = [
  // elementwise.ts, shape.ts, activations.ts, softmax.ts, loss.ts, dropout.ts
  ...elementwiseCases,
  // conv.ts
  ...convCases,
  ...convTransposeCases,
  ...convWeightGradCases,
  // pool.ts, batchnorm.ts, linalg.ts
  ...poolCases,
  ...batchNormCases,
  ...linalgCases,
  ...scatterGatherCases,
  ...maxUnpoolCases,
  // tokens.ts
  ...tokenCases,
  // layernorm.ts
  ...layerNormCases,
  // composites of the ImageNet zoo: adaptive pooling, channel shuffle, Swin, MaxViT, attention, SE, layer scale
  ...compositeCases,
];

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
    getOp(node.op).emit(e, node.inputs.map(nameOf), node.outputs.map(nameOf), node, node.outputs.map(() => true));
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
    // MaxPool's gradient: a MaxUnpool for disjoint float32 windows, else a scatter-add
    const maxGrad = (dtype: Dt, k: number, stride: number) => [...pool(dtype, (x) => maxPool2d(x, k, { stride })).keys()].filter((op) => op === 'MaxUnpool' || op === 'ScatterAdd');
    assert.deepEqual(maxGrad('float32', 2, 2), ['MaxUnpool']);
    assert.deepEqual(maxGrad('float64', 2, 2), ['ScatterAdd']);
    assert.deepEqual(maxGrad('float32', 3, 2), ['ScatterAdd']);
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
