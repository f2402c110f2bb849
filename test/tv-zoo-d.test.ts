/**
 * torchvision ConvNeXt port and the LayerNorm modules: state-dict keys and the stochastic-depth
 * schedule. Every config's counts: zoo.test.ts; its real forward and training step:
 * zoo-run-*.test.ts; fixture parity (tv_convnext): parity-*.test.ts.
 */
import { test } from 'node:test';
import { SMALL_CONVNEXT as reduced } from '../test-support/fixture-cases.js';
import assert from 'node:assert/strict';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { LayerNorm } from '../src/nn/norm.js';
import { createFromConstructor } from '../src/models/index.js';

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
