/**
 * torchvision DenseNet, ShuffleNetV2, MnasNet and RegNet: state-dict keys, RegNet's and MNASNet's
 * width rules, the JSON constructors, initialization. Every config's counts: zoo.test.ts; its
 * real forward and training step: zoo-run-*.test.ts; fixture parity: parity-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Module } from '../src/nn/module.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel } from '../src/models/index.js';
import { blockParamsFromInitParams } from '../src/models/regnet.js';
import { mnasDepths } from '../src/models/mnasnet.js';

/** traces a forward pass (shape inference only) and returns the output shape */
function outShape(model: Module, size: number, batch = 1): readonly number[] {
  const tr = new Trace(model.eval(), { weights: 'inputs' });
  return traceWith(tr, () => model.call(tr.graph.addInput('input', [batch, 3, size, size], 'float32'))).shape;
}

test('state-dict keys follow torchvision', () => {
  const dn = [...createFromConstructor('DenseNet', { growthRate: 8, blockConfig: [1, 1], numInitFeatures: 16, numClasses: 3 }, 'torchvision').stateDict().keys()];
  assert.deepEqual(dn.slice(0, 3), ['features.conv0.weight', 'features.norm0.weight', 'features.norm0.bias']);
  assert.ok(dn.includes('features.denseblock1.denselayer1.norm1.running_var') && dn.includes('features.transition1.conv.weight') && dn.includes('features.norm5.weight'));
  assert.ok(!dn.includes('features.transition2.conv.weight'));
  assert.deepEqual(dn.slice(-2), ['classifier.weight', 'classifier.bias']);

  const sn = [...createModel('shufflenet_v2_x0_5', { numClasses: 3 }).stateDict().keys()];
  assert.deepEqual(sn.slice(0, 2), ['conv1.0.weight', 'conv1.1.weight']);
  assert.ok(sn.includes('stage2.0.branch1.0.weight') && sn.includes('stage2.1.branch2.7.weight') === false && sn.includes('stage4.3.branch2.6.running_mean'));
  assert.ok(!sn.some((k) => k.startsWith('stage2.1.branch1')));
  assert.deepEqual(sn.slice(-2), ['fc.weight', 'fc.bias']);

  const mn = [...createModel('mnasnet0_5', { numClasses: 3 }).stateDict().keys()];
  assert.deepEqual(mn.slice(0, 2), ['layers.0.weight', 'layers.1.weight']);
  assert.ok(mn.includes('layers.8.0.layers.0.weight') && mn.includes('layers.15.running_var'));
  assert.deepEqual(mn.slice(-2), ['classifier.1.weight', 'classifier.1.bias']);

  const rn = [...createModel('regnet_y_400mf', { numClasses: 3 }).stateDict().keys()];
  assert.deepEqual(rn.slice(0, 2), ['stem.0.weight', 'stem.1.weight']);
  assert.ok(rn.indexOf('trunk_output.block1.block1-0.proj.0.weight') < rn.indexOf('trunk_output.block1.block1-0.f.a.0.weight'));
  assert.ok(rn.includes('trunk_output.block1.block1-0.f.se.fc1.bias') && rn.includes('trunk_output.block4.block4-5.f.c.1.running_mean'));
  assert.ok(!rn.includes('trunk_output.block1.block1-1.proj.0.weight'));
  assert.deepEqual(rn.slice(-2), ['fc.weight', 'fc.bias']);
});

test('RegNet block params match torchvision from_init_params', () => {
  // torchvision: BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25)
  const y400 = blockParamsFromInitParams({ depth: 16, w0: 48, wA: 27.89, wM: 2.09, groupWidth: 8, seRatio: 0.25 });
  assert.deepEqual(y400.depths, [1, 3, 6, 6]);
  assert.deepEqual(y400.widths, [48, 104, 208, 440]);
  assert.deepEqual(y400.groupWidths, [8, 8, 8, 8]);
  const x400 = blockParamsFromInitParams({ depth: 22, w0: 24, wA: 24.48, wM: 2.54, groupWidth: 16 });
  assert.deepEqual(x400.depths, [1, 2, 7, 12]);
  assert.deepEqual(x400.widths, [32, 64, 160, 400]);
  assert.throws(() => blockParamsFromInitParams({ depth: 4, w0: 20, wA: 1, wM: 2, groupWidth: 8 }), /Invalid RegNet settings/);
});

test('MNASNet depths match torchvision _get_depths', () => {
  assert.deepEqual(mnasDepths(1.0), [32, 16, 24, 40, 80, 96, 192, 320]);
  assert.deepEqual(mnasDepths(0.5), [16, 8, 16, 24, 40, 48, 96, 160]);
});

test('constructors from JSON', () => {
  const rn = createFromConstructor('RegNet', { depth: 16, w0: 48, wA: 27.89, wM: 2.09, groupWidth: 8, seRatio: 0.25, numClasses: 10 }, 'torchvision');
  assert.equal(rn.parameterCount(), createModel('regnet_y_400mf', { numClasses: 10 }).parameterCount());
  const explicit = createFromConstructor('RegNet', { depths: [1, 1], widths: [16, 32], groupWidths: [8, 8], stemWidth: 16, numClasses: 4 }, 'torchvision');
  assert.deepEqual(outShape(explicit, 32, 2), [2, 4]);
  assert.throws(() => createFromConstructor('RegNet', { depth: 4 }, 'torchvision'), /argument w0 is required/);
  assert.throws(() => createFromConstructor('RegNet', { depths: [1], depth: 3 }, 'torchvision'), /not both/);
  assert.throws(() => createFromConstructor('regnet_x_400mf', { seRatio: 0.25 }, 'torchvision'), /unknown argument\(s\) seRatio/);
  assert.equal(createFromConstructor('MNASNet', { alpha: 0.75, numClasses: 5 }, 'torchvision').stateDict().get('classifier.1.bias')?.shape[0], 5);
  assert.throws(() => createFromConstructor('MNASNet', {}, 'torchvision'), /alpha is required/);
  assert.throws(() => createFromConstructor('mnasnet1_0', { dropout: 1.5 }, 'torchvision'), /dropout must be a number in \[0, 1\)/);
  const sn = createFromConstructor('ShuffleNetV2', { stagesRepeats: [1, 1, 1], stagesOutChannels: [8, 16, 32, 64, 128], numClasses: 6 }, 'torchvision');
  assert.deepEqual(outShape(sn, 32, 2), [2, 6]);
  assert.throws(() => createFromConstructor('ShuffleNetV2', { stagesRepeats: [1, 1], stagesOutChannels: [8, 16, 32, 64, 128] }, 'torchvision'), /stagesRepeats must be an array of 3/);
  assert.throws(() => createFromConstructor('ShuffleNetV2', { stagesRepeats: [1, 1, 1] }, 'torchvision'), /stagesOutChannels is required/);
  assert.equal(createFromConstructor('densenet121', { numClasses: 7 }, 'torchvision').stateDict().get('classifier.bias')?.shape[0], 7);
  assert.throws(() => createFromConstructor('densenet121', { growthRate: 12 }, 'torchvision'), /unknown argument\(s\) growthRate/);
  assert.throws(() => createFromConstructor('DenseNet', { blockConfig: [] }, 'torchvision'), /blockConfig must be a non-empty array/);
});

test('initialization follows torchvision', () => {
  const dn = createFromConstructor('DenseNet', { growthRate: 8, blockConfig: [1, 1], numInitFeatures: 16, numClasses: 3 }, 'torchvision').stateDict();
  assert.ok([...(dn.get('classifier.bias')!.data as Float32Array)].every((v) => v === 0));
  assert.ok([...(dn.get('features.norm0.weight')!.data as Float32Array)].every((v) => v === 1));
  const w = dn.get('features.conv0.weight')!.data as Float32Array; // kaiming normal, fan_in = 3·7·7
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 147)) < 0.1 * Math.sqrt(2 / 147), `conv0 std ${std}`);
  const mn = createModel('mnasnet0_5', { numClasses: 10 }).stateDict();
  const fc = mn.get('classifier.1.weight')!.data as Float32Array;
  assert.ok(fc.every((v) => Math.abs(v) <= Math.sqrt(3 / 10)) && fc.some((v) => Math.abs(v) > 0.3), 'kaiming uniform fan_out bound');
  const rn = createModel('regnet_x_400mf', { numClasses: 10 }).stateDict();
  assert.ok([...(rn.get('fc.bias')!.data as Float32Array)].every((v) => v === 0));
});
