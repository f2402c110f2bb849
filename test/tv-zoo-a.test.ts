/**
 * torchvision ports AlexNet, VGG, SqueezeNet, GoogLeNet and Inception v3: training-mode and
 * auxiliary-head traces, state-dict key order, constructors from JSON, initialization, the general
 * adaptive average pool. Every config's counts: zoo.test.ts; its real forward and training step:
 * zoo-run-*.test.ts; fixture parity: parity-*.test.ts (all driven by the registry or the fixtures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '../src/graph/ir.js';
import { manualSeed } from '../src/nn/init.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { Module } from '../src/nn/module.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel } from '../src/models/index.js';
import { AdaptiveAvgPool2d } from '../src/nn/layers.js';
import { InceptionAux as GoogLeNetAux } from '../src/models/googlenet.js';
import { InceptionAux as Inception3Aux } from '../src/models/inception.js';
import { buildWithConstantInit, counts, withConstantInit as constantInit } from '../test-support/zoo-counts.js';

/** traces a forward with weights as constants (shape inference only) and returns the output shape */
function tracedShape(model: Module, input: readonly number[], training = false): readonly number[] {
  model.train(training);
  const trace = new Trace(model, { weights: 'constants' });
  return traceWith(trace, () => model.call(trace.graph.addInput('input', input, 'float32'))).shape;
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

/** constant init as in zoo-counts, uniform draws 0.25 so torchvision's re-initialization is visible */
const withConstantInit = <T>(build: () => T): T => constantInit(build, 0.25);

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


