/**
 * pytorch-cifar ports: ShuffleNet (v1), ShuffleNetV2, SENet18, EfficientNetB0, RegNet, PNASNet,
 * DLA and SimpleDLA: constructor arguments, drop-connect, DLA's child order. Every config's
 * counts (and the absent ShuffleNet v1 rows): zoo.test.ts; real forward and training step:
 * zoo-run-*.test.ts; fixture parity: parity-*.test.ts.
 */
import { test } from 'node:test';
import { Trace, traceWith } from '../src/nn/trace.js';
import { Module } from '../src/nn/module.js';
import assert from 'node:assert/strict';
import { manualSeed } from '../src/nn/init.js';
import { createFromConstructor } from '../src/models/index.js';
import { Block as EfficientNetBlock } from '../src/models/cifar/efficientnet.js';
import { disableDropout } from '../src/verify/parity.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

/** traces the forward pass at batch 2 with the weights as constants and returns the logits' shape */
function tracedLogitsShape(model: Module): readonly number[] {
  const trace = new Trace(model, { weights: 'constants' });
  return traceWith(trace, () => model.call(trace.graph.addInput('input', [2, 3, 32, 32], 'float32'))).shape;
}

test('ShuffleNetV2 constructor takes netSize', () => {
  const sizes: [number, number][] = [
    [0.5, 352042],
    [2, 5338026],
  ];
  for (const [netSize, params] of sizes) {
    manualSeed(0);
    assert.equal(createFromConstructor('ShuffleNetV2', { netSize }, 'pytorch-cifar').parameterCount(), params);
  }
  assert.equal(createFromConstructor('ShuffleNetV2', { netSize: 0.5, numClasses: 4 }, 'pytorch-cifar').stateDict().get('linear.bias')?.shape[0], 4);
  assert.throws(() => createFromConstructor('ShuffleNetV2', {}, 'pytorch-cifar'), /netSize is required/);
  assert.throws(() => createFromConstructor('ShuffleNetV2', { netSize: 3 }, 'pytorch-cifar'), /netSize must be one of 0.5, 1, 1.5, 2/);
  assert.throws(() => createFromConstructor('ShuffleNetV2', { netSize: 1, width: 2 }, 'pytorch-cifar'), /unknown argument\(s\) width/);
});

test('EfficientNetB0 drop-connect: rate 0 as in pytorch-cifar, refused above 0 in training, zeroed by disableDropout', () => {
  const model = buildWithConstantInit('cifar_efficientnetb0');
  const blocks = [...model.namedModules()].map(([, m]) => m).filter((m): m is EfficientNetBlock => m instanceof EfficientNetBlock);
  assert.equal(blocks.length, 16);
  assert.ok(blocks.every((b) => b.dropConnectRate === 0));
  blocks[1].dropConnectRate = 0.1; // no skip connection: drop-connect never applies there
  blocks[2].dropConnectRate = 0.1;
  assert.deepEqual(tracedLogitsShape(model.eval()), [2, 10]);
  assert.throws(() => tracedLogitsShape(model.train()), /drop-connect at rate 0.1 needs a random per-sample mask/);
  disableDropout(model);
  assert.ok(blocks.every((b) => b.dropConnectRate === 0));
  assert.deepEqual(tracedLogitsShape(model.train()), [2, 10]);
});

test('DLA and SimpleDLA trees register their children in pytorch-cifar order', () => {
  const dla = [...buildWithConstantInit('cifar_dla').stateDict().keys()];
  const layer4 = [...new Set(dla.filter((k) => k.startsWith('layer4.')).map((k) => k.split('.')[1]))];
  assert.deepEqual(layer4, ['root', 'level_1', 'prev_root', 'left_node', 'right_node']);
  const simple = [...buildWithConstantInit('cifar_simpledla').stateDict().keys()];
  assert.deepEqual([...new Set(simple.filter((k) => k.startsWith('layer4.')).map((k) => k.split('.')[1]))], ['root', 'left_tree', 'right_tree']);
  assert.deepEqual(simple.slice(0, 2), ['base.0.weight', 'base.1.weight']);
});
