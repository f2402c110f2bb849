/**
 * Parameter groups, frozen parameters, gradient clipping and layer-wise lr decay in the step
 * graph (src/optim/param-groups.ts, src/optim/clip.ts, the families' layer-id rules), each
 * against a hand-computed step on a tiny model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '../src/graph/ir.js';
import { createFromConstructor, modelInfo } from '../src/models/index.js';
import { LeNet } from '../src/models/cifar/lenet.js';
import { manualSeed, normal } from '../src/nn/init.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { LayerNorm } from '../src/nn/norm.js';
import { globalAvgPool } from '../src/ops/pool.js';
import { flatten } from '../src/ops/shape.js';
import { adamw } from '../src/optim/adamw.js';
import { GradClip } from '../src/optim/clip.js';
import { OptimizerEmitter } from '../src/optim/optimizer.js';
import { ParamGroupRules, freezeParameters, paramGroups } from '../src/optim/param-groups.js';
import { sgd } from '../src/optim/sgd.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { mulberry32 } from '../src/util/random.js';
import { SMALL_CONVNEXT, SMALL_SWIN, SMALL_VIT } from '../test-support/fixture-cases.js';

/** conv → BatchNorm → global pool → LayerNorm → linear: every kind of parameter the rules tell apart */
class Tiny extends Module {
  conv = new Conv2d(3, 4, 3);
  bn = new BatchNorm2d(4);
  ln = new LayerNorm(4);
  fc = new Linear(4, 3);
  constructor() {
    super();
    // non-trivial norm affine parameters, so a decay would show
    for (const p of [this.bn.weight, this.bn.bias, this.ln.weight, this.ln.bias]) if (p) p.data = normal(p.shape, 1);
  }
  forward(x: Value): Value {
    return this.fc.call(this.ln.call(flatten(globalAvgPool(this.bn.call(this.conv.call(x))), 1)));
  }
}

const SHAPE = [4, 3, 8, 8];

function batch(seed: number): { input: Float32Array; target: BigInt64Array } {
  const rand = mulberry32(seed);
  return { input: Float32Array.from({ length: 4 * 3 * 8 * 8 }, () => 2 * rand() - 1), target: BigInt64Array.from([0n, 1n, 2n, 1n]) };
}

function snapshot(model: Module): Map<string, Float64Array> {
  return new Map([...model.namedParameters()].map(([k, p]) => [k, Float64Array.from(p.data)]));
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

/** the gradients of the model's loss at its current weights, from the step graph without optimizer */
async function gradientsOf(model: Module, b: { input: Float32Array; target: BigInt64Array }): Promise<Map<string, Float32Array>> {
  const graph = buildStepGraph(model, { inputShape: SHAPE });
  const session = await createSession(graph.onnx, { threads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', b.input, SHAPE), target: new ort.Tensor('int64', b.target, [4]) };
    for (const [key, p] of graph.params) feeds[key] = new ort.Tensor('float32', p.data, [...p.shape]);
    for (const [key, t] of [...graph.fixed, ...graph.buffers]) feeds[key] = t.data instanceof BigInt64Array ? new ort.Tensor('int64', t.data, [...t.shape]) : new ort.Tensor('float32', t.data, [...t.shape]);
    const out = await session.run(feeds);
    return new Map(graph.params.map(([key]) => [key, out[`grad.${key}`].data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** one step of a TrainingSession; returns the weights before and after */
async function stepOnce(model: Module, optimizer: OptimizerEmitter, lr: number, extra: { clipGrad?: GradClip; paramGroups?: ReadonlyMap<string, { weightDecay: number; lrScale: number }> } = {}) {
  const before = snapshot(model);
  const session = await TrainingSession.create(model, { inputShape: SHAPE, optimizer, threads: 1, ...extra });
  try {
    const b = batch(3);
    await session.step(b.input, b.target, lr);
  } finally {
    await session.release();
  }
  return { before, after: snapshot(model) };
}

// ---- gradient clipping ----------------------------------------------------------------------------

interface ClipCase {
  readonly name: string;
  /** the threshold as a multiple of the gradients' total norm (norm mode) or of their largest element (value mode) */
  readonly relative: number;
  readonly mode: GradClip['mode'];
}

const clipCases: ClipCase[] = [
  { name: 'norm, active: scaled by max/(norm + 1e-6)', relative: 0.25, mode: 'norm' },
  { name: 'norm, inactive: a threshold above the norm changes nothing', relative: 4, mode: 'norm' },
  { name: 'value: each element clamped to ±max', relative: 0.1, mode: 'value' },
];

/** The plain-SGD step with clipping equals p − lr·clip(g), g from the gradients-only graph. */
async function assertClippedStep(c: ClipCase): Promise<void> {
  manualSeed(5);
  const model = new Tiny();
  const grads = await gradientsOf(model, batch(3));
  const all = [...grads.values()];
  const norm = Math.sqrt(all.reduce((s, g) => s + g.reduce((t, x) => t + x * x, 0), 0));
  const largest = Math.max(...all.map(maxAbs));
  const max = c.relative * (c.mode === 'norm' ? norm : largest);
  const coef = Math.min(1, max / (norm + 1e-6));
  const clipped = (x: number) => (c.mode === 'norm' ? x * coef : Math.min(max, Math.max(-max, x)));
  const lr = 1;
  const { before, after } = await stepOnce(model, sgd(), lr, { clipGrad: { mode: c.mode, max } });
  for (const [key, g] of grads) {
    const p0 = before.get(key)!;
    const p1 = after.get(key)!;
    const want = Float64Array.from(g, (x) => -lr * clipped(x));
    const got = Float64Array.from(p1, (x, i) => x - p0[i]);
    const err = maxAbs(got.map((x, i) => x - want[i]));
    assert.ok(err <= 1e-4 * maxAbs(want) + 1e-7 * maxAbs(p0), `${c.name}: ${key} moved ${maxAbs(got)}, off by ${err} (want moves of ${maxAbs(want)})`);
  }
  // not vacuous: the active cases change the step
  if (c.relative < 1) assert.ok(c.mode === 'value' ? largest > max : coef < 0.5);
}

for (const c of clipCases) test(`clip-grad ${c.name}`, () => assertClippedStep(c));

// ---- weight decay per group, lr multipliers ---------------------------------------------------------

/**
 * A zero-gradient step (every gradient clamped to ±1e-30) leaves only the decay: p·(1 − lr·scale·wd)
 * for the group's weight decay and lr scale; the optimizer's default decay is 0.1.
 */
interface DecayCase {
  readonly name: string;
  readonly optimizer: OptimizerEmitter;
  readonly rules: Omit<ParamGroupRules, 'weightDecay'>;
  /** the expected (weight decay, lr scale) of each key */
  readonly want: Readonly<Record<string, readonly [number, number]>>;
}

const WD = 0.1;
const decayCases: DecayCase[] = [
  {
    name: 'SGD, --norm-weight-decay 0: BatchNorm and LayerNorm parameters are not decayed',
    optimizer: sgd({ weightDecay: WD }),
    rules: { normWeightDecay: 0 },
    want: { 'conv.weight': [WD, 1], 'conv.bias': [WD, 1], 'bn.weight': [0, 1], 'bn.bias': [0, 1], 'ln.weight': [0, 1], 'ln.bias': [0, 1], 'fc.weight': [WD, 1], 'fc.bias': [WD, 1] },
  },
  {
    name: 'SGD, --bias-weight-decay 0 (before the norm rule, as torchvision) and --norm-weight-decay 0.02',
    optimizer: sgd({ weightDecay: WD }),
    rules: { biasWeightDecay: 0, normWeightDecay: 0.02 },
    want: { 'conv.weight': [WD, 1], 'conv.bias': [0, 1], 'bn.weight': [0.02, 1], 'bn.bias': [0, 1], 'ln.weight': [0.02, 1], 'ln.bias': [0, 1], 'fc.weight': [WD, 1], 'fc.bias': [0, 1] },
  },
  {
    name: 'AdamW (decoupled decay scales with the group lr), --lr-mult fc=3,*.bias=0.5 (first match wins)',
    optimizer: adamw({ weightDecay: WD }),
    rules: { lrMult: [{ pattern: 'fc', mult: 3 }, { pattern: '*.bias', mult: 0.5 }] },
    want: { 'conv.weight': [WD, 1], 'conv.bias': [WD, 0.5], 'bn.weight': [WD, 1], 'bn.bias': [WD, 0.5], 'ln.weight': [WD, 1], 'ln.bias': [WD, 0.5], 'fc.weight': [WD, 3], 'fc.bias': [WD, 3] },
  },
];

async function assertDecayOnly(c: DecayCase): Promise<void> {
  manualSeed(9);
  const model = new Tiny();
  const groups = paramGroups(model, { weightDecay: WD, ...c.rules });
  assert.deepEqual(Object.fromEntries([...groups].map(([k, g]) => [k, [g.weightDecay, g.lrScale]])), c.want, `${c.name}: groups`);
  const lr = 0.5;
  const { before, after } = await stepOnce(model, c.optimizer, lr, { paramGroups: groups, clipGrad: { mode: 'value', max: 1e-30 } });
  for (const [key, [wd, scale]] of Object.entries(c.want)) {
    const p0 = before.get(key)!;
    const want = p0.map((x) => x * (1 - lr * scale * wd));
    const err = maxAbs(after.get(key)!.map((x, i) => x - want[i]));
    assert.ok(err <= 1e-6 * maxAbs(p0), `${c.name}: ${key} off by ${err}`);
    if (wd === 0) assert.deepEqual(after.get(key), p0, `${c.name}: ${key} must not move`);
  }
}

for (const c of decayCases) test(`param groups: ${c.name}`, () => assertDecayOnly(c));

// ---- frozen parameters -------------------------------------------------------------------------------

test('--freeze: frozen parameters are inputs, not updated, without optimizer state; the others train', async () => {
  manualSeed(4);
  const model = new LeNet();
  assert.deepEqual(freezeParameters(model, ['conv1', 'fc3.bias']), ['conv1.weight', 'conv1.bias', 'fc3.bias']);
  const graph = buildStepGraph(model, { inputShape: [4, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }) });
  assert.deepEqual(
    graph.params.map(([k]) => k),
    ['conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight'],
  );
  assert.deepEqual(graph.fixed.map(([k]) => k).filter((k) => !k.startsWith('new')), ['conv1.weight', 'conv1.bias', 'fc3.bias']);
  const before = snapshot(model);
  const session = await TrainingSession.create(model, { inputShape: [4, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }), threads: 1 });
  try {
    const rand = mulberry32(1);
    for (let s = 0; s < 2; s++) await session.step(Float32Array.from({ length: 4 * 3 * 32 * 32 }, () => rand() - 0.5), BigInt64Array.from([1n, 2n, 3n, 4n]), 0.1);
    assert.deepEqual([...session.optimizerState().keys()].filter((k) => k.startsWith('conv1') || k.startsWith('fc3.bias')), []);
  } finally {
    await session.release();
  }
  const after = snapshot(model);
  for (const [key, p] of before) {
    const frozen = ['conv1.weight', 'conv1.bias', 'fc3.bias'].includes(key);
    assert.equal(maxAbs(p.map((x, i) => x - after.get(key)![i])) === 0, frozen, `${key} ${frozen ? 'moved' : 'did not move'}`);
  }
});

test('--freeze and --lr-mult refuse a pattern that matches nothing, and freezing everything', () => {
  assert.throws(() => freezeParameters(new LeNet(), ['conv9']), /^UserError: --freeze conv9: the pattern matches no parameter; keys look like conv1\.weight, conv1\.bias, conv2\.weight, …$/);
  assert.throws(() => freezeParameters(new LeNet(), ['*']), /freezes every parameter; nothing would train/);
  assert.throws(() => paramGroups(new LeNet(), { weightDecay: 0, lrMult: [{ pattern: 'head', mult: 2 }] }), /--lr-mult head=2: the pattern matches no trainable parameter/);
});

// ---- layer-wise lr decay --------------------------------------------------------------------------

interface LayerCase {
  readonly family: string;
  /** a registered config of the family (its rule is the family's) */
  readonly config: string;
  readonly build: () => Module;
  /** key → layer id */
  readonly ids: Readonly<Record<string, number>>;
  readonly numLayers: number;
}

const layerCases: LayerCase[] = [
  {
    family: 'VisionTransformer (2 layers)',
    config: 'vit_b_16',
    build: () => createFromConstructor('VisionTransformer', SMALL_VIT),
    numLayers: 4,
    ids: { class_token: 0, 'conv_proj.weight': 0, 'encoder.pos_embedding': 0, 'encoder.layers.encoder_layer_0.ln_1.weight': 1, 'encoder.layers.encoder_layer_1.mlp.3.bias': 2, 'encoder.ln.weight': 3, 'heads.head.weight': 3 },
  },
  {
    family: 'SwinTransformer (depths 2, 2)',
    config: 'swin_t',
    build: () => createFromConstructor('SwinTransformer', SMALL_SWIN),
    numLayers: 6,
    ids: { 'features.0.0.weight': 0, 'features.0.2.bias': 0, 'features.1.0.attn.qkv.weight': 1, 'features.1.1.attn.relative_position_bias_table': 2, 'features.2.reduction.weight': 3, 'features.3.0.norm1.weight': 3, 'features.3.1.mlp.3.bias': 4, 'norm.weight': 5, 'head.bias': 5 },
  },
  {
    family: 'ConvNeXt (1, 1, 1 blocks)',
    config: 'convnext_tiny',
    build: () => createFromConstructor('ConvNeXt', SMALL_CONVNEXT, 'torchvision'),
    numLayers: 5,
    ids: { 'features.0.0.weight': 0, 'features.0.1.weight': 0, 'features.1.0.layer_scale': 1, 'features.2.0.weight': 2, 'features.2.1.bias': 2, 'features.3.0.block.0.weight': 2, 'features.4.1.weight': 3, 'features.5.0.block.5.bias': 3, 'classifier.0.weight': 4, 'classifier.2.weight': 4 },
  },
];

/** The family's rule gives the expected ids; scales are 0.5^(numLayers − 1 − id), non-decreasing from the input to the head. */
function assertLayerDecay(c: LayerCase): void {
  const model = c.build();
  const rule = modelInfo(c.config).layerIds;
  assert.ok(rule, `${c.config}'s family declares a layer-id rule`);
  const ids = rule(model);
  assert.equal(ids.numLayers, c.numLayers, `${c.family}: numLayers`);
  for (const [key, id] of Object.entries(c.ids)) assert.equal(ids.layerId(key), id, `${c.family}: ${key}`);
  const groups = paramGroups(model, { weightDecay: 0, layerDecay: { rate: 0.5, ids } });
  const keys = [...model.namedParameters()].map(([k]) => k);
  for (const key of keys) assert.equal(groups.get(key)?.lrScale, 0.5 ** (c.numLayers - 1 - ids.layerId(key)), `${c.family}: ${key} scale`);
  // state-dict order runs from the input to the head: the ids never go down, from 0 to the last
  const order = keys.map((k) => ids.layerId(k));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), `${c.family}: ids in state-dict order`);
  assert.deepEqual([order[0], order[order.length - 1]], [0, c.numLayers - 1]);
}

for (const c of layerCases) test(`layer decay: ${c.family}`, () => assertLayerDecay(c));
