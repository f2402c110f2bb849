/**
 * pytorch-cifar ports (VGG, PreActResNet, GoogLeNet, DenseNet, ResNeXt29, MobileNet, DPN): the
 * registry entry and a traced forward at batch 2 for every config, state-dict key order, fixture
 * parity for densenet_cifar, and a real ONNX Runtime forward for one config per family. Their
 * parameter / state-dict / buffer counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '../src/nn/module.js';
import { manualSeed } from '../src/nn/init.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { checkFixture } from '../src/verify/parity.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** [registry name, reference constructor (the zoo_params.json key), family] */
const configs: [string, string, string][] = [
  ['cifar_vgg11', 'VGG11', 'vgg'],
  ['cifar_vgg13', 'VGG13', 'vgg'],
  ['cifar_vgg16', 'VGG16', 'vgg'],
  ['cifar_vgg19', 'VGG19', 'vgg'],
  ['cifar_preactresnet18', 'PreActResNet18', 'preactresnet'],
  ['cifar_preactresnet34', 'PreActResNet34', 'preactresnet'],
  ['cifar_preactresnet50', 'PreActResNet50', 'preactresnet'],
  ['cifar_preactresnet101', 'PreActResNet101', 'preactresnet'],
  ['cifar_preactresnet152', 'PreActResNet152', 'preactresnet'],
  ['cifar_googlenet', 'GoogLeNet', 'googlenet'],
  ['cifar_densenet121', 'DenseNet121', 'densenet'],
  ['cifar_densenet161', 'DenseNet161', 'densenet'],
  ['cifar_densenet169', 'DenseNet169', 'densenet'],
  ['cifar_densenet201', 'DenseNet201', 'densenet'],
  ['cifar_densenet_cifar', 'densenet_cifar', 'densenet'],
  ['cifar_resnext29_2x64d', 'ResNeXt29_2x64d', 'resnext'],
  ['cifar_resnext29_4x64d', 'ResNeXt29_4x64d', 'resnext'],
  ['cifar_resnext29_8x64d', 'ResNeXt29_8x64d', 'resnext'],
  ['cifar_resnext29_32x4d', 'ResNeXt29_32x4d', 'resnext'],
  ['cifar_mobilenet', 'MobileNet', 'mobilenet'],
  ['cifar_dpn26', 'DPN26', 'dpn'],
  ['cifar_dpn92', 'DPN92', 'dpn'],
];

/** traces an eval-mode forward with weights as constants and returns the logits' shape */
function tracedShape(model: Module, batch: number): readonly number[] {
  const trace = new Trace(model.eval(), { weights: 'constants' });
  return traceWith(trace, () => model.call(trace.graph.addInput('input', [batch, 3, 32, 32], 'float32'))).shape;
}

/** one helper for every config: registry metadata, traced output shape */
function checkConfig(name: string, reference: string, family: string): void {
  const info = modelInfo(name);
  assert.equal(info.source, 'pytorch-cifar');
  assert.equal(info.family, family);
  assert.equal(info.reference, reference);
  assert.equal(info.inputSize, 32);
  assert.equal(info.numClasses, 10);
  assert.ok(info.paper.length > 0 && info.year > 1990, `${name}: paper and year`);
  const model = buildWithConstantInit(name);
  assert.deepEqual(tracedShape(model, 2), [2, 10], `${name}: logits shape`);
}

for (const [name, reference, family] of configs) {
  test(`${name}: registry entry for pytorch-cifar ${reference}; traces to [2, 10]`, () => checkConfig(name, reference, family));
}

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

test('densenet_cifar matches the pc_densenet_cifar fixture', async (t) => {
  const path = join(FIXTURES, 'pc_densenet_cifar.safetensors');
  if (!existsSync(path)) return t.skip(`fixture ${path} is absent (see shared/README.md)`);
  const file = readSafetensors(path);
  const report = await checkFixture(createModel('cifar_densenet_cifar'), file);
  const references = [...file.tensors.keys()].filter((k) => /^(logits|loss|grad|running)\./.test(k)).sort();
  assert.deepEqual(report.checks.map((c) => c.key).sort(), references, 'every reference tensor is checked');
  const failing = report.checks.filter((c) => !c.ok);
  assert.ok(report.ok, failing.map((c) => `${c.key}: max error ${c.maxError.toExponential(3)} > allowed ${c.allowed.toExponential(3)}`).join('\n'));
});

for (const name of ['cifar_vgg11', 'cifar_preactresnet18', 'cifar_googlenet', 'cifar_densenet_cifar', 'cifar_resnext29_2x64d', 'cifar_mobilenet', 'cifar_dpn26']) {
  test(`${name}: ONNX Runtime forward at batch 1 gives finite logits`, async () => {
    manualSeed(0);
    const net = await InferenceModel.create(createModel(name), { inputShape: [1, 3, 32, 32] });
    try {
      const input = new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
      const logits = await net.run({ dtype: 'float32', shape: [1, 3, 32, 32], data: input });
      assert.deepEqual(logits.shape, [1, 10]);
      assert.ok([...(logits.data as Float32Array)].every(Number.isFinite), `${name}: non-finite logits`);
    } finally {
      await net.release();
    }
  });
}
