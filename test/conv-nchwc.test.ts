/**
 * Convolutions on ONNX Runtime's NCHWc kernels (src/ops/conv-nchwc.ts) against the standard ONNX
 * Conv: per convolution geometry, the forward value, the loss and every gradient of a graph
 * written both ways; a whole step graph's loss and gradients; which convolutions take the NCHWc
 * form; the CPU's block size as ONNX Runtime itself reports it; exported files stay standard.
 *
 * Tolerance: both graphs compute in float32 and differ only in the order of the sums (the
 * NCHWc kernels accumulate per block of 16 or 8 channels and per kernel tap; the standard path
 * goes through im2col and a Gemm). Each output element is a sum of K products (K = C/G·kh·kw
 * for the forward conv, O·kh·kw for the input gradient, N·Ho·Wo for the weight gradient); two
 * orders of such a sum differ by at most about 2·K·u·Σ|terms| (u = 2⁻²⁴), and by about
 * √K·u·Σ|terms| for terms of random sign. With K ≤ 1,024 here and Σ|terms| within a small factor
 * of the largest output, 2e-5 of the tensor's largest magnitude bounds the difference. The loss
 * Σ y·R of a conv case sums thousands of such outputs of both signs, so its scale is Σ|y·R|.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, HostTensor, Value, withGraph } from '../src/graph/ir.js';
import { constant } from '../src/graph/constants.js';
import { gradients } from '../src/autodiff/grad.js';
import { GraphOutput, writeOnnx } from '../src/onnx/write.js';
import { decodeOnnx } from '../src/onnx/read.js';
import { Conv2dOptions, conv2d } from '../src/ops/conv.js';
import { NCHWC_DOMAIN } from '../src/ops/conv-nchwc.js';
import { add, mul } from '../src/ops/elementwise.js';
import { reduceSum, flatten } from '../src/ops/shape.js';
import { relu } from '../src/ops/activations.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { manualSeed } from '../src/nn/init.js';
import { createModel } from '../src/models/index.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { exportInferenceOnnx } from '../src/runtime/inference.js';
import { CONV_LAYOUT_ENV, cpuNchwcBlock, nchwcBlockFromCpuinfo } from '../src/runtime/conv-layout.js';
import { createSession, fromOrt, ort, toOrt } from '../src/runtime/ort.js';
import { mulberry32 } from '../src/util/random.js';

const TOLERANCE = 2e-5;
const BLOCK = cpuNchwcBlock();

interface ConvCase {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly bias: boolean;
  readonly opts: Conv2dOptions;
  /** NCHWc Conv nodes expected: the forward conv, plus the input gradient where it is a stride-1 ungrouped conv into blocked channels */
  readonly nchwcConvs: number;
  /**
   * whether the weight gradient's Conv form (TESSERA_WGRAD=conv: batch as channels, dY as the
   * kernel) takes the NCHWc form; each case is run with the weight gradient as one Gemm over
   * im2col patches (TESSERA_WGRAD=gemm), as that Conv, and as the default picks, against the
   * standard graph
   */
  readonly nchwcWgrad: boolean;
}

const cases: readonly ConvCase[] = [
  { name: '64→64 3×3, padding 1, bias', x: [4, 64, 16, 16], w: [64, 64, 3, 3], bias: true, opts: { padding: 1 }, nchwcConvs: 2, nchwcWgrad: true },
  { name: '64→64 3×3, padding 1, no bias', x: [4, 64, 16, 16], w: [64, 64, 3, 3], bias: false, opts: { padding: 1 }, nchwcConvs: 2, nchwcWgrad: true },
  { name: 'first conv 3→16 3×3 (unblocked input)', x: [4, 3, 16, 16], w: [16, 3, 3, 3], bias: true, opts: { padding: 1 }, nchwcConvs: 1, nchwcWgrad: true },
  { name: '32→64 3×3, stride 2, padding 1', x: [4, 32, 16, 16], w: [64, 32, 3, 3], bias: false, opts: { stride: 2, padding: 1 }, nchwcConvs: 1, nchwcWgrad: true },
  { name: '32→64 1×1 shortcut, stride 2', x: [4, 32, 16, 16], w: [64, 32, 1, 1], bias: false, opts: { stride: 2 }, nchwcConvs: 1, nchwcWgrad: true },
  { name: '32→32 5×5, dilation 2, padding [2, 1, 3, 2]', x: [2, 32, 12, 12], w: [32, 32, 5, 5], bias: true, opts: { dilation: 2, padding: [2, 1, 3, 2] }, nchwcConvs: 2, nchwcWgrad: true },
  { name: '16→32 3×3, batch 16 (a blocked batch in the weight gradient\'s Conv form)', x: [16, 16, 8, 8], w: [32, 16, 3, 3], bias: false, opts: { padding: 1 }, nchwcConvs: 2, nchwcWgrad: true },
  { name: '64→64 3×3 on a 4×4 map, batch 16', x: [16, 64, 4, 4], w: [64, 64, 3, 3], bias: false, opts: { padding: 1 }, nchwcConvs: 2, nchwcWgrad: true },
  { name: '16→144 3×3, padding 1 (over 128 output channels: dY as the weight gradient Gemm\'s left operand)', x: [2, 16, 6, 6], w: [144, 16, 3, 3], bias: false, opts: { padding: 1 }, nchwcConvs: 2, nchwcWgrad: true },
  { name: 'depthwise 32 3×3, padding 1, bias', x: [4, 32, 16, 16], w: [32, 1, 3, 3], bias: true, opts: { padding: 1, groups: 32 }, nchwcConvs: 1, nchwcWgrad: false },
  { name: '24→24 (channels not blocked: standard Conv)', x: [2, 24, 8, 8], w: [24, 24, 3, 3], bias: true, opts: { padding: 1 }, nchwcConvs: 0, nchwcWgrad: false },
];

function randomTensor(shape: readonly number[], seed: number): HostTensor {
  const rand = mulberry32(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  return { dtype: 'float32', shape: [...shape], data: Float32Array.from({ length: n }, () => 2 * rand() - 1) };
}

/** the graph of one case: y = conv(x, w, b), loss = Σ y·R, and dL/dx, dL/dw, dL/db */
function convGraph(c: ConvCase): { graph: Graph; outputs: GraphOutput[]; feeds: HostTensor[]; weights: HostTensor } {
  const graph = new Graph();
  const feeds = [randomTensor(c.x, 1), randomTensor(c.w, 2), ...(c.bias ? [randomTensor([c.w[0]], 3)] : [])];
  let weights = randomTensor([], 4);
  const outputs = withGraph(graph, () => {
    const [x, w, b] = feeds.map((t, i) => graph.addInput(`in${i}`, t.shape, 'float32'));
    const y = conv2d(x, w, b ?? null, c.opts);
    weights = randomTensor(y.shape, 4);
    const loss = reduceSum(mul(y, constant(weights)), [0, 1, 2, 3]);
    const grads = gradients(loss, b ? [x, w, b] : [x, w]);
    return [{ name: 'y', value: y }, { name: 'loss', value: loss }, ...grads.map((g, i) => ({ name: `grad${i}`, value: g! }))];
  });
  return { graph, outputs, feeds, weights };
}

async function run(onnx: Uint8Array, feeds: Record<string, HostTensor>): Promise<Record<string, Float32Array>> {
  const session = await createSession(onnx, { threads: 1 });
  const r = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, [...t.shape])])));
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromOrt(v as ort.Tensor).data as Float32Array]));
}

function nchwcNodes(onnx: Uint8Array, opType: string): number {
  return decodeOnnx(onnx).graph.nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === opType).length;
}

/** |a − b| <= TOLERANCE · scale for every element of every output; the scale is max|b| unless `scales` names it */
function assertSameOutputs(actual: Record<string, Float32Array>, expected: Record<string, Float32Array>, what: string, scales: Record<string, number> = {}): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [name, ref] of Object.entries(expected)) {
    const got = actual[name];
    const scale = scales[name] ?? ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let worst = 0;
    ref.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i] - v))));
    assert.ok(worst <= TOLERANCE * scale, `${what}: ${name} differs by ${worst.toExponential(2)} (largest magnitude ${scale.toExponential(2)}, tolerance ${TOLERANCE} of it)`);
  }
}

const cpuinfoCases: readonly { name: string; cpuinfo: string; block: number | null }[] = [
  { name: 'AVX-512 (AMD EPYC)', cpuinfo: 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512vl\n', block: 16 },
  { name: 'AVX2 only', cpuinfo: 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n', block: 8 },
  { name: 'SSE only', cpuinfo: 'flags\t\t: fpu sse sse2 ssse3\n', block: null },
  { name: 'arm64 (no flags line)', cpuinfo: 'processor\t: 0\nFeatures\t: fp asimd evtstrm\n', block: null },
  { name: 'not Linux (empty)', cpuinfo: '', block: null },
];

for (const c of cpuinfoCases) {
  test(`NCHWc block size from /proc/cpuinfo: ${c.name}`, () => {
    assert.equal(nchwcBlockFromCpuinfo(c.cpuinfo), c.block);
  });
}

// A block size other than ONNX Runtime's would fail the comparisons below (ReorderInput pads
// channels to its own block, and the reordered weights would be read in another order).
/** runs `fn` with the environment variable `name` set to `value`, restoring it afterwards */
function withEnv<T>(name: string, value: string, fn: () => T): T {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

for (const c of cases) {
  for (const wgrad of ['gemm', 'conv', 'auto'] as const) {
    test(`NCHWc conv matches the standard Conv: ${c.name}, weight gradient as ${wgrad}`, async () => {
      const { graph, outputs, feeds, weights } = convGraph(c);
      const named = Object.fromEntries(feeds.map((t, i) => [`in${i}`, t]));
      const plain = writeOnnx(graph, outputs);
      assert.equal(nchwcNodes(plain, 'Conv'), 0);
      if (BLOCK === null) return;
      const blocked = withEnv('TESSERA_WGRAD', wgrad, () => writeOnnx(graph, outputs, { nchwcBlock: BLOCK }));
      const wgradConv = wgrad === 'conv' && c.nchwcWgrad;
      assert.equal(nchwcNodes(blocked, 'Conv'), c.nchwcConvs + (wgradConv ? 1 : 0));
      const expected = await run(plain, named);
      const r = weights.data as Float32Array;
      const lossScale = expected.y.reduce((sum, v, i) => sum + Math.abs(v * r[i]), 0);
      assertSameOutputs(await run(blocked, named), expected, c.name, { loss: lossScale });
    });
  }
}

/** a small conv net with every NCHWc form: unblocked first conv, blocked 3×3, strided, depthwise, BatchNorm and ReLU between */
class SmallConvNet extends Module {
  stem = new Conv2d(3, 16, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(16);
  conv = new Conv2d(16, 16, 3, { padding: 1 });
  down = new Conv2d(16, 32, 3, { stride: 2, padding: 1, bias: false });
  bn2 = new BatchNorm2d(32);
  depthwise = new Conv2d(32, 32, 3, { padding: 1, groups: 32 });
  fc = new Linear(32 * 4 * 4, 10);

  forward(x: Value): Value {
    const a = relu(this.bn1.call(this.stem.call(x)));
    const b = relu(add(a, this.conv.call(a)));
    const c = relu(this.bn2.call(this.down.call(b)));
    return this.fc.call(flatten(this.depthwise.call(c)));
  }
}

test('a step graph with convLayout nchwc has the loss and gradients of the standard one', async () => {
  manualSeed(3);
  const model = new SmallConvNet();
  const inputShape = [4, 3, 8, 8];
  const feeds = { input: randomTensor(inputShape, 5) };
  const target = new ort.Tensor('int64', BigInt64Array.of(1n, 4n, 7n, 9n), [4]);
  const results = [];
  for (const convLayout of ['nchw', 'nchwc'] as const) {
    const g = buildStepGraph(model, { inputShape, convLayout });
    const session = await createSession(g.onnx, { threads: 1 });
    const fed: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', feeds.input.data as Float32Array, inputShape), target };
    for (const [key, t] of [...g.params, ...g.fixed, ...g.buffers]) fed[key] = toOrt(t);
    const r = await session.run(fed);
    const floats = Object.entries(r).filter(([, v]) => v.type === 'float32');
    results.push({ onnx: g.onnx, values: Object.fromEntries(floats.map(([k, v]) => [k, fromOrt(v as ort.Tensor).data as Float32Array])) });
  }
  const [plain, blocked] = results;
  assert.equal(nchwcNodes(plain.onnx, 'Conv'), 0);
  // forward: stem, conv, down, depthwise; input gradients: conv (stride 1, blocked); stem's input
  // needs none; no weight gradient as a Conv (TESSERA_WGRAD unset: im2col + Gemm)
  assert.equal(nchwcNodes(blocked.onnx, 'Conv'), BLOCK === null ? 0 : 5);
  assert.ok('grad.stem.weight' in plain.values);
  assertSameOutputs(blocked.values, plain.values, 'step graph');
});

test('exported inference files stay standard ONNX whatever the conv layout', () => {
  const bytes = withEnv(CONV_LAYOUT_ENV, 'nchwc', () => exportInferenceOnnx(createModel('cifar_resnet18'), { inputShape: [1, 3, 32, 32] }));
  const model = decodeOnnx(bytes);
  assert.ok(model.graph.nodes.some((n) => n.opType === 'Conv'));
  assert.ok(model.graph.nodes.every((n) => n.domain === ''));
});
