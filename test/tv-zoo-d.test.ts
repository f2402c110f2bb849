/**
 * torchvision ConvNeXt port and the LayerNorm modules: the registry entry and a traced forward at
 * batch 1, 64×64 for every config, fixture parity (tv_convnext through the `ConvNeXt`
 * constructor's JSON form), state-dict keys and the stochastic-depth schedule. Parameter /
 * state-dict / buffer counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { LayerNorm } from '../src/nn/norm.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { checkFixture } from '../src/verify/parity.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const haveFixtures = existsSync(FIXTURES);

const configs = ['convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large'];

for (const name of configs) {
  test(`${name}: registry entry (torchvision, convnext, 224px, 2022); traces at 1×3×64×64 to [1, 1000]`, () => {
    const info = modelInfo(name);
    assert.equal(info.source, 'torchvision');
    assert.equal(info.family, 'convnext');
    assert.equal(info.reference, name);
    assert.equal(info.inputSize, 224);
    assert.equal(info.numClasses, 1000);
    assert.equal(info.year, 2022);
    assert.equal(info.paper, 'A ConvNet for the 2020s');
    const model = buildWithConstantInit(name).eval();
    const trace = new Trace(model, { weights: 'constants' });
    const out = traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, 64, 64], 'float32')));
    assert.deepEqual(out.shape, [1, 1000], `${name}: logits shape`);
  });
}

// tv_convnext's metadata constructor: ConvNeXt([CNBlockConfig(16,32,1), CNBlockConfig(32,64,1), CNBlockConfig(64,None,1)], stochastic_depth_prob=0.1, num_classes=10)
const reduced: JsonArgs = {
  blockSetting: [
    { inputChannels: 16, outChannels: 32, numLayers: 1 },
    { inputChannels: 32, outChannels: 64, numLayers: 1 },
    { inputChannels: 64, outChannels: null, numLayers: 1 },
  ],
  stochasticDepthProb: 0.1,
  numClasses: 10,
};

test('tv_convnext: parity with the torchvision fixture', async (t) => {
  if (!haveFixtures) return t.skip(`shared/fixtures not found (${FIXTURES}; see ../shared/README.md)`);
  const file = readSafetensors(join(FIXTURES, 'tv_convnext.safetensors'));
  const report = await checkFixture(createFromConstructor('ConvNeXt', reduced), file);
  const failing = report.checks.filter((c) => !c.ok);
  assert.ok(report.checks.length > 0, 'tv_convnext: nothing checked');
  assert.ok(report.ok, `tv_convnext: ${failing.map((c) => `${c.key} max error ${c.maxError.toExponential(3)} > ${c.allowed.toExponential(3)}`).join('; ')}`);
});

test('ConvNeXt: torchvision state-dict keys, stochastic-depth schedule, JSON errors', () => {
  const model = createFromConstructor('ConvNeXt', reduced);
  const keys = [...model.stateDict().keys()];
  assert.deepEqual(keys.slice(0, 6), ['features.0.0.weight', 'features.0.0.bias', 'features.0.1.weight', 'features.0.1.bias', 'features.1.0.layer_scale', 'features.1.0.block.0.weight']);
  assert.ok(keys.includes('features.2.1.weight') && keys.includes('classifier.2.bias'));
  const ps = [...model.namedModules()].filter(([, m]) => m instanceof StochasticDepth).map(([, m]) => (m as StochasticDepth).p);
  assert.deepEqual(ps, [0, 0.05, 0.1]);
  assert.throws(() => createFromConstructor('ConvNeXt', { ...reduced, blockSetting: [{ inputChannels: 16, numLayers: 1 }] }), /outChannels is required/);
  assert.throws(() => createFromConstructor('ConvNeXt', { ...reduced, blockSetting: [] }), /blockSetting is required/);
  const ln = new LayerNorm(8, { eps: 1e-6, elementwiseAffine: false });
  assert.deepEqual([...ln.stateDict().keys()], []);
  assert.deepEqual([...new LayerNorm(8).stateDict().keys()], ['weight', 'bias']);
});
