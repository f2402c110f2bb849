import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Module } from '../src/nn/module.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel } from '../src/models/registry.js';
import '../src/models/resnet.js';
import '../src/models/mobilenetv2.js';
import { makeDivisible } from '../src/models/common.js';

// Parameter, state-dict and buffer counts of every registered config against zoo_params.json:
// test/zoo.test.ts.

test('resnet18 state-dict keys start in torchvision order', () => {
  const keys = [...createModel('resnet18', { numClasses: 10 }).stateDict().keys()];
  assert.deepEqual(keys.slice(0, 7), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.0.conv1.weight']);
  assert.ok(keys.includes('layer2.0.downsample.0.weight') && keys.includes('layer2.0.downsample.1.running_var'));
  assert.ok(!keys.includes('layer1.0.downsample.0.weight'));
  assert.deepEqual(keys.slice(-2), ['fc.weight', 'fc.bias']);
});

test('mobilenet_v2 state-dict keys follow torchvision', () => {
  const keys = [...createModel('mobilenet_v2', { numClasses: 10 }).stateDict().keys()];
  assert.deepEqual(keys.slice(0, 2), ['features.0.0.weight', 'features.0.1.weight']);
  assert.ok(keys.includes('features.1.conv.0.0.weight') && keys.includes('features.1.conv.1.weight') && keys.includes('features.2.conv.3.running_mean'));
  assert.deepEqual(keys.slice(-2), ['classifier.1.weight', 'classifier.1.bias']);
});

test('ResNet constructor from JSON', () => {
  const net = createFromConstructor('ResNet', { block: 'Bottleneck', layers: [1, 1, 1, 1], numClasses: 10, groups: 4, widthPerGroup: 8, zeroInitResidual: true, replaceStrideWithDilation: [false, true, true] }, 'torchvision');
  const sd = net.stateDict();
  assert.deepEqual(sd.get('fc.weight')?.shape, [10, 2048]);
  assert.deepEqual(sd.get('layer1.0.conv2.weight')?.shape, [32, 8, 3, 3]);
  assert.ok([...(sd.get('layer1.0.bn3.weight')!.data as Float32Array)].every((v) => v === 0));
  assert.ok([...(sd.get('layer1.0.bn2.weight')!.data as Float32Array)].every((v) => v === 1));
  assert.throws(() => createFromConstructor('ResNet', { block: 'Basic', layers: [1, 1, 1, 1] }), /block must be "BasicBlock" or "Bottleneck"/);
  assert.throws(() => createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1] }), /layers must be an array of 4/);
  assert.throws(() => createFromConstructor('ResNet', { block: 'BasicBlock' }), /layers is required/);
  assert.throws(() => createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], depth: 3 }), /unknown argument\(s\) depth/);
  assert.throws(() => createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: '10' }), /numClasses must be a positive integer/);
  assert.throws(() => createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], groups: 2 }), /BasicBlock only supports groups=1/);
  assert.equal(createFromConstructor('resnet18', { numClasses: 7 }, 'torchvision').stateDict().get('fc.bias')?.shape[0], 7);
  assert.throws(() => createFromConstructor('resnet18', { groups: 2 }, 'torchvision'), /unknown argument\(s\) groups/);
});

test('MobileNetV2 constructor from JSON', () => {
  const net = createFromConstructor('MobileNetV2', { numClasses: 10, widthMult: 0.5, roundNearest: 8, dropout: 0.1 }, 'torchvision');
  const sd = net.stateDict();
  assert.deepEqual(sd.get('features.0.0.weight')?.shape, [16, 3, 3, 3]);
  assert.deepEqual(sd.get('classifier.1.weight')?.shape, [10, 1280]);
  assert.ok([...(sd.get('classifier.1.bias')!.data as Float32Array)].every((v) => v === 0));
  assert.equal(createFromConstructor('mobilenet_v2', { numClasses: 3 }).stateDict().get('classifier.1.bias')?.shape[0], 3);
  assert.throws(() => createFromConstructor('mobilenet_v2', { width: 1 }), /unknown argument\(s\) width/);
  assert.throws(() => createFromConstructor('MobileNetV2', { dropout: 2 }), /dropout must be a number in \[0, 1\)/);
});

/** traces a forward pass (shape inference only) and returns the output shape */
function outShape(model: Module, size: number): readonly number[] {
  const tr = new Trace(model.eval(), { weights: 'inputs' });
  return traceWith(tr, () => model.call(tr.graph.addInput('input', [2, 3, size, size], 'float32'))).shape;
}

test('forward passes trace to [batch, numClasses]', () => {
  assert.deepEqual(outShape(createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: 10 }), 64), [2, 10]);
  assert.deepEqual(outShape(createFromConstructor('ResNet', { block: 'Bottleneck', layers: [1, 1, 2, 1], numClasses: 5, replaceStrideWithDilation: [false, true, true] }), 64), [2, 5]);
  assert.deepEqual(outShape(createFromConstructor('MobileNetV2', { numClasses: 7, widthMult: 0.35 }), 64), [2, 7]);
});

test('makeDivisible matches torchvision _make_divisible', () => {
  assert.equal(makeDivisible(32, 8), 32);
  assert.equal(makeDivisible(32 * 0.5, 8), 16);
  assert.equal(makeDivisible(24 * 0.75, 8), 24); // 18 -> 16 is more than 10% down, so 24
  assert.equal(makeDivisible(1280 * 1.4, 8), 1792);
  assert.equal(makeDivisible(3, 8), 8);
  assert.equal(makeDivisible(20, 8, 1), 24);
});
