/**
 * pytorch-cifar ports (VGG, PreActResNet, GoogLeNet, DenseNet, ResNeXt29, MobileNet, DPN):
 * state-dict key order and the JSON constructors. Every config's counts: zoo.test.ts; its real
 * forward and training step: zoo-run-*.test.ts; fixture parity: parity-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Module } from '../src/nn/module.js';
import { createFromConstructor } from '../src/models/index.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

test('state-dict keys follow the references', () => {
  const keys = (name: string) => [...buildWithConstantInit(name).stateDict().keys()];
  const vgg = keys('cifar_vgg11');
  assert.deepEqual(vgg.slice(0, 3), ['features.0.weight', 'features.0.bias', 'features.1.weight']);
  assert.ok(vgg.includes('features.4.weight') && vgg.includes('features.26.num_batches_tracked'));
  assert.deepEqual(vgg.slice(-2), ['classifier.weight', 'classifier.bias']);
  const pre = keys('cifar_preactresnet18');
  assert.deepEqual(pre.slice(0, 3), ['conv1.weight', 'layer1.0.bn1.weight', 'layer1.0.bn1.bias']);
  assert.ok(!pre.some((k) => k.startsWith('layer1.0.shortcut')));
  assert.equal(pre[pre.indexOf('layer2.0.conv2.weight') + 1], 'layer2.0.shortcut.0.weight');
  const g = keys('cifar_googlenet');
  assert.deepEqual(g.slice(0, 2), ['pre_layers.0.weight', 'pre_layers.0.bias']);
  assert.ok(g.includes('a3.b4.1.weight') && g.includes('b5.b3.7.running_var'));
  const rx = keys('cifar_resnext29_32x4d');
  assert.ok(rx.includes('layer1.0.shortcut.1.running_mean') && !rx.includes('layer1.1.shortcut.0.weight'));
  const dpn = keys('cifar_dpn26');
  assert.ok(dpn.includes('layer4.0.shortcut.1.weight') && !dpn.includes('layer4.1.shortcut.0.weight'));
  assert.deepEqual(keys('cifar_mobilenet').slice(-4), ['layers.12.bn2.running_var', 'layers.12.bn2.num_batches_tracked', 'linear.weight', 'linear.bias']);
});

test('constructors from JSON', () => {
  const out = (m: Module) => (m.stateDict().get('linear.bias') ?? m.stateDict().get('classifier.bias'))!.shape[0];
  assert.equal(out(createFromConstructor('VGG', { vggName: 'VGG11', numClasses: 7 }, 'pytorch-cifar')), 7);
  assert.throws(() => createFromConstructor('VGG', {}, 'pytorch-cifar'), /vggName is required/);
  assert.throws(() => createFromConstructor('VGG', { vggName: 'VGG12' }, 'pytorch-cifar'), /unknown vggName/);
  assert.equal(out(createFromConstructor('PreActResNet', { block: 'PreActBottleneck', numBlocks: [1, 1, 1, 1], numClasses: 3 }, 'pytorch-cifar')), 3);
  assert.throws(() => createFromConstructor('PreActResNet', { block: 'Basic' }, 'pytorch-cifar'), /PreActBlock/);
  assert.equal(out(createFromConstructor('DenseNet', { nblocks: [1, 1, 1, 1], growthRate: 4, numClasses: 5 }, 'pytorch-cifar')), 5);
  assert.equal(out(createFromConstructor('ResNeXt', { numBlocks: [1, 1, 1], cardinality: 2, bottleneckWidth: 4 }, 'pytorch-cifar')), 10);
  assert.equal(out(createFromConstructor('DPN', { cfg: { inPlanes: [32, 32, 32, 32], outPlanes: [8, 8, 8, 8], numBlocks: [1, 1, 1, 1], denseDepth: [4, 4, 4, 4] } }, 'pytorch-cifar')), 10);
  assert.throws(() => createFromConstructor('DPN', {}, 'pytorch-cifar'), /cfg is required/);
  assert.equal(out(createFromConstructor('densenet_cifar', { numClasses: 4 }, 'pytorch-cifar')), 4);
  assert.throws(() => createFromConstructor('MobileNet', { width: 1 }, 'pytorch-cifar'), /unknown argument\(s\) width/);
  assert.equal(out(createFromConstructor('GoogLeNet', { numClasses: 2 }, 'pytorch-cifar')), 2);
});
