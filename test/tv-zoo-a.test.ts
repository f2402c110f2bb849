/**
 * torchvision ports AlexNet, VGG, SqueezeNet, GoogLeNet and Inception v3: the registry entry and a
 * traced eval forward at batch 1 at a small input for every config, state-dict key order,
 * constructors from JSON, the general adaptive average pool, fixture parity for squeezenet1_1,
 * and a real ONNX Runtime forward for squeezenet1_1 and googlenet. Their parameter / state-dict /
 * buffer counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '../src/graph/ir.js';
import { Module } from '../src/nn/module.js';
import { initRng, manualSeed } from '../src/nn/init.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { AdaptiveAvgPool2d } from '../src/nn/layers.js';
import { InceptionAux as GoogLeNetAux } from '../src/models/googlenet.js';
import { InceptionAux as Inception3Aux } from '../src/models/inception.js';
import { checkFixture } from '../src/verify/parity.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { buildWithConstantInit, counts } from '../test-support/zoo-counts.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** [registry name, family, default input size, small test input size] */
const configs: [string, string, number, number][] = [
  ['alexnet', 'alexnet', 224, 64],
  ['vgg11', 'vgg', 224, 64],
  ['vgg11_bn', 'vgg', 224, 64],
  ['vgg13', 'vgg', 224, 64],
  ['vgg13_bn', 'vgg', 224, 64],
  ['vgg16', 'vgg', 224, 64],
  ['vgg16_bn', 'vgg', 224, 64],
  ['vgg19', 'vgg', 224, 64],
  ['vgg19_bn', 'vgg', 224, 64],
  ['squeezenet1_0', 'squeezenet', 224, 64],
  ['squeezenet1_1', 'squeezenet', 224, 64],
  ['googlenet', 'googlenet', 224, 64],
  ['inception_v3', 'inception', 299, 75],
];

/** traces a forward with weights as constants (shape inference only) and returns the output shape */
function tracedShape(model: Module, input: readonly number[], training = false): readonly number[] {
  model.train(training);
  const trace = new Trace(model, { weights: 'constants' });
  return traceWith(trace, () => model.call(trace.graph.addInput('input', input, 'float32'))).shape;
}

/** one helper for every config: registry metadata, traced logits shape at a small input */
function checkConfig(name: string, family: string, inputSize: number, small: number): void {
  const info = modelInfo(name);
  assert.equal(info.source, 'torchvision');
  assert.equal(info.family, family);
  assert.equal(info.reference, name);
  assert.equal(info.inputSize, inputSize);
  assert.equal(info.numClasses, 1000);
  assert.ok(info.paper.length > 0 && info.year > 1990, `${name}: paper and year`);
  assert.deepEqual(tracedShape(buildWithConstantInit(name), [1, 3, small, small]), [1, 1000], `${name}: logits shape at ${small}x${small}`);
}

for (const [name, family, inputSize, small] of configs) {
  test(`${name}: registry entry for torchvision ${name}; traces at ${small}x${small} to [1, 1000]`, () => checkConfig(name, family, inputSize, small));
}

test('training-mode traces give the main logits only', () => {
  assert.deepEqual(tracedShape(buildWithConstantInit('googlenet'), [2, 3, 64, 64], true), [2, 1000]);
  assert.deepEqual(tracedShape(buildWithConstantInit('inception_v3'), [2, 3, 75, 75], true), [2, 1000]);
  assert.deepEqual(tracedShape(buildWithConstantInit('vgg11_bn'), [2, 3, 32, 32], true), [2, 1000]);
});

test('auxiliary heads trace at their torchvision input sizes', () => {
  // GoogLeNet at 224: inception4a/4d give 14x14, pooled adaptively to 4x4 (uneven bins)
  assert.deepEqual(tracedShape(new GoogLeNetAux(512, 10), [2, 512, 14, 14]), [2, 10]);
  // Inception v3 at 299: Mixed_6e gives 17x17
  assert.deepEqual(tracedShape(new Inception3Aux(768, 10), [2, 768, 17, 17]), [2, 10]);
});

test('state-dict keys follow torchvision', () => {
  const keys = (name: string) => [...buildWithConstantInit(name).stateDict().keys()];
  const alex = keys('alexnet');
  assert.deepEqual(alex.slice(0, 3), ['features.0.weight', 'features.0.bias', 'features.3.weight']);
  assert.deepEqual(alex.slice(-4), ['classifier.4.weight', 'classifier.4.bias', 'classifier.6.weight', 'classifier.6.bias']);
  const vgg = keys('vgg11_bn');
  assert.deepEqual(vgg.slice(0, 7), ['features.0.weight', 'features.0.bias', 'features.1.weight', 'features.1.bias', 'features.1.running_mean', 'features.1.running_var', 'features.1.num_batches_tracked']);
  assert.ok(vgg.includes('features.4.weight') && vgg.includes('features.26.num_batches_tracked'));
  assert.deepEqual(vgg.slice(-2), ['classifier.6.weight', 'classifier.6.bias']);
  assert.ok(keys('vgg19').includes('features.34.weight'));
  const sq = keys('squeezenet1_1');
  assert.deepEqual(sq.slice(0, 4), ['features.0.weight', 'features.0.bias', 'features.3.squeeze.weight', 'features.3.squeeze.bias']);
  assert.ok(sq.includes('features.12.expand3x3.bias') && sq.includes('features.3.expand1x1.weight'));
  assert.deepEqual(sq.slice(-2), ['classifier.1.weight', 'classifier.1.bias']);
  const g = keys('googlenet');
  assert.deepEqual(g.slice(0, 3), ['conv1.conv.weight', 'conv1.bn.weight', 'conv1.bn.bias']);
  assert.ok(g.includes('inception3a.branch2.1.bn.running_var') && g.includes('inception5b.branch4.1.conv.weight'));
  assert.equal(g[g.indexOf('inception5b.branch4.1.bn.num_batches_tracked') + 1], 'aux1.conv.conv.weight');
  assert.deepEqual(g.slice(-7), ['aux2.conv.bn.num_batches_tracked', 'aux2.fc1.weight', 'aux2.fc1.bias', 'aux2.fc2.weight', 'aux2.fc2.bias', 'fc.weight', 'fc.bias']);
  const inc = keys('inception_v3');
  assert.deepEqual(inc.slice(0, 2), ['Conv2d_1a_3x3.conv.weight', 'Conv2d_1a_3x3.bn.weight']);
  assert.ok(inc.includes('Mixed_5b.branch5x5_1.bn.weight') && inc.includes('Mixed_7c.branch3x3dbl_3b.conv.weight'));
  assert.equal(inc[inc.indexOf('Mixed_6e.branch_pool.bn.num_batches_tracked') + 1], 'AuxLogits.conv0.conv.weight');
  assert.equal(inc[inc.indexOf('AuxLogits.fc.bias') + 1], 'Mixed_7a.branch3x3_1.conv.weight');
  assert.deepEqual(inc.slice(-2), ['fc.weight', 'fc.bias']);
});

/**
 * runs `build` with the init generator stubbed to constants (as buildWithConstantInit does):
 * uniform draws give 0.25, normal draws 0, so PyTorch's layer defaults and torchvision's
 * re-initialization stay distinguishable without drawing ~100M random numbers
 */
function withConstantInit<T>(build: () => T): T {
  manualSeed(0);
  Object.assign(initRng(), { next: () => 0.5, uniform: () => 0.25, normal: () => 0 });
  try {
    return build();
  } finally {
    manualSeed(0);
  }
}

test('constructors from JSON', () => withConstantInit(() => {
  const sd = (m: Module) => m.stateDict();
  const classes = (m: Module, key: string) => sd(m).get(key)!.shape[0];
  assert.equal(classes(createFromConstructor('AlexNet', { numClasses: 7, dropout: 0.1 }, 'torchvision'), 'classifier.6.bias'), 7);
  assert.throws(() => createFromConstructor('alexnet', { width: 2 }, 'torchvision'), /unknown argument\(s\) width/);
  // (every VGG has the 103M-parameter classifier: build as few as possible)
  const tiny = createFromConstructor('VGG', { cfg: [8, 'M', 512, 'M'], batchNorm: true, numClasses: 3 }, 'torchvision');
  assert.deepEqual(sd(tiny).get('features.4.weight')?.shape, [512, 8, 3, 3]);
  assert.equal(classes(tiny, 'classifier.6.bias'), 3);
  assert.ok(sd(tiny).has('features.1.running_var'));
  const vggDefault = createFromConstructor('VGG', { cfg: [8, 'M', 512], numClasses: 4, initWeights: false }, 'torchvision');
  assert.throws(() => createFromConstructor('VGG', {}, 'torchvision'), /cfg is required/);
  assert.throws(() => createFromConstructor('VGG', { cfg: 'C' }, 'torchvision'), /cfg must be/);
  assert.throws(() => createFromConstructor('vgg16', { cfg: 'A' }, 'torchvision'), /unknown argument\(s\) cfg/);
  assert.ok([...(sd(vggDefault).get('classifier.0.bias')!.data as Float32Array)].every((v) => v === 0.25), 'initWeights: false keeps the default init');
  assert.ok([...(sd(tiny).get('classifier.0.bias')!.data as Float32Array)].every((v) => v === 0), 'initWeights: true zeroes Linear biases');
  assert.equal(classes(createFromConstructor('SqueezeNet', { version: '1_1', numClasses: 5 }, 'torchvision'), 'classifier.1.bias'), 5);
  assert.deepEqual(sd(createFromConstructor('SqueezeNet', {}, 'torchvision')).get('features.0.weight')?.shape, [96, 3, 7, 7]);
  assert.throws(() => createFromConstructor('SqueezeNet', { version: '1_2' }, 'torchvision'), /version must be "1_0" or "1_1"/);
  assert.throws(() => createFromConstructor('squeezenet1_1', { version: '1_0' }, 'torchvision'), /unknown argument\(s\) version/);
  const noAux = createFromConstructor('GoogLeNet', { numClasses: 10, auxLogits: false }, 'torchvision');
  assert.ok(![...sd(noAux).keys()].some((k) => k.startsWith('aux')));
  assert.equal(classes(createFromConstructor('googlenet', { numClasses: 6 }, 'torchvision'), 'aux2.fc2.bias'), 6);
  assert.throws(() => createFromConstructor('googlenet', { blocks: [] }, 'torchvision'), /unknown argument\(s\) blocks/);
  const incNoAux = createFromConstructor('Inception3', { numClasses: 10, auxLogits: false }, 'torchvision');
  assert.ok(![...sd(incNoAux).keys()].some((k) => k.startsWith('AuxLogits')));
  assert.equal(classes(createFromConstructor('inception_v3', { numClasses: 9 }, 'torchvision'), 'AuxLogits.fc.bias'), 9);
  assert.throws(() => createFromConstructor('inception_v3', { dropout: 1 }, 'torchvision'), /dropout must be a number in \[0, 1\)/);
}));

test('googlenet without auxiliary heads has torchvision weights\' 6,624,904 parameters', () => {
  manualSeed(0);
  const { params } = counts(createFromConstructor('googlenet', { auxLogits: false, initWeights: false }, 'torchvision'));
  assert.equal(params, 6624904);
});

test('initialization follows torchvision', () => {
  manualSeed(0);
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  const sq = createModel('squeezenet1_1', { numClasses: 10 }).stateDict();
  assert.ok(Math.abs(std(sq.get('classifier.1.weight')!.data as Float32Array) - 0.01) < 0.002);
  const w = sq.get('features.3.expand3x3.weight')!.data as Float32Array; // fan_in 144: U(±sqrt(6/144))
  assert.ok(Math.max(...w.map(Math.abs)) <= Math.sqrt(6 / 144) + 1e-6 && Math.max(...w.map(Math.abs)) > 0.9 * Math.sqrt(6 / 144));
  assert.ok([...(sq.get('features.3.squeeze.bias')!.data as Float32Array)].every((v) => v === 0));
  const inc = createFromConstructor('Inception3', { numClasses: 10 }, 'torchvision').stateDict();
  assert.ok(Math.abs(std(inc.get('Mixed_5b.branch1x1.conv.weight')!.data as Float32Array) - 0.1) < 0.01);
  assert.ok(Math.abs(std(inc.get('AuxLogits.fc.weight')!.data as Float32Array) - 0.001) < 0.0002);
  assert.ok(Math.abs(std(inc.get('AuxLogits.conv1.conv.weight')!.data as Float32Array) - 0.1) < 0.01, 'torchvision\'s stddev on the BasicConv2d has no effect');
  assert.ok([...(inc.get('Mixed_5b.branch1x1.bn.weight')!.data as Float32Array)].every((v) => v === 1));
});

test('adaptive average pool matches PyTorch\'s bins for uneven sizes', async () => {
  class Pool extends Module {
    pool = new AdaptiveAvgPool2d([3, 2]);
    forward(x: Value): Value {
      return this.pool.call(x);
    }
  }
  const [h, w] = [5, 3];
  const input = new Float32Array(h * w).map((_, i) => (i * 7) % 11);
  const ref: number[] = [];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      const [h0, h1] = [Math.floor((i * h) / 3), Math.ceil(((i + 1) * h) / 3)];
      const [w0, w1] = [Math.floor((j * w) / 2), Math.ceil(((j + 1) * w) / 2)];
      let s = 0;
      for (let y = h0; y < h1; y++) for (let x = w0; x < w1; x++) s += input[y * w + x];
      ref.push(s / ((h1 - h0) * (w1 - w0)));
    }
  }
  const net = await InferenceModel.create(new Pool(), { inputShape: [1, 1, h, w] });
  try {
    const out = await net.run({ dtype: 'float32', shape: [1, 1, h, w], data: input });
    assert.deepEqual(out.shape, [1, 1, 3, 2]);
    [...(out.data as Float32Array)].forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-5, `cell ${i}: ${v} vs ${ref[i]}`));
  } finally {
    await net.release();
  }
});

test('squeezenet1_1 matches the tv_squeezenet1_1 fixture', async (t) => {
  const path = join(FIXTURES, 'tv_squeezenet1_1.safetensors');
  if (!existsSync(path)) return t.skip(`fixture ${path} is absent (see shared/README.md)`);
  const report = await checkFixture(createModel('squeezenet1_1', { numClasses: 10 }), path);
  const failing = report.checks.filter((c) => !c.ok);
  assert.ok(report.checks.length > 0);
  assert.ok(report.ok, failing.map((c) => `${c.key}: max error ${c.maxError.toExponential(3)} > allowed ${c.allowed.toExponential(3)}`).join('\n'));
});

for (const name of ['squeezenet1_1', 'googlenet']) {
  test(`${name}: ONNX Runtime forward at batch 1 (64x64) gives finite logits`, async () => {
    manualSeed(0);
    const net = await InferenceModel.create(createModel(name, { numClasses: 10 }), { inputShape: [1, 3, 64, 64] });
    try {
      const input = new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i * 0.37));
      const logits = await net.run({ dtype: 'float32', shape: [1, 3, 64, 64], data: input });
      assert.deepEqual(logits.shape, [1, 10]);
      assert.ok([...(logits.data as Float32Array)].every(Number.isFinite), `${name}: non-finite logits`);
    } finally {
      await net.release();
    }
  });
}
