/**
 * pytorch-cifar ports: ShuffleNet (v1), ShuffleNetV2, SENet18, EfficientNetB0, RegNet, PNASNet,
 * DLA and SimpleDLA. The registry entry, a traced forward at batch 2, fixture parity for the
 * three with fixtures, and a real ONNX Runtime forward for one config per family. Their counts
 * against zoo_params.json (and the absent ShuffleNet v1 rows) are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/safetensors.js';
import { Module } from '../src/nn/module.js';
import { manualSeed } from '../src/nn/init.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { Block as EfficientNetBlock } from '../src/models/cifar/efficientnet.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { checkFixture, disableDropout, fixtureStateDict } from '../src/verify/parity.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

interface ZooCase {
  /** registry name */
  readonly name: string;
  /** pytorch-cifar constructor (the zoo_params.json key) */
  readonly reference: string;
  /** run a real batch-1 forward in ONNX Runtime (one config per family) */
  readonly ort?: boolean;
}

const CASES: readonly ZooCase[] = [
  { name: 'cifar_shufflenetg2', reference: 'ShuffleNetG2', ort: true },
  { name: 'cifar_shufflenetg3', reference: 'ShuffleNetG3' },
  { name: 'cifar_shufflenetv2_x0_5', reference: 'ShuffleNetV2_0.5', ort: true },
  { name: 'cifar_shufflenetv2_x1_0', reference: 'ShuffleNetV2_1' },
  { name: 'cifar_shufflenetv2_x1_5', reference: 'ShuffleNetV2_1.5' },
  { name: 'cifar_shufflenetv2_x2_0', reference: 'ShuffleNetV2_2' },
  { name: 'cifar_senet18', reference: 'SENet18', ort: true },
  { name: 'cifar_efficientnetb0', reference: 'EfficientNetB0', ort: true },
  { name: 'cifar_regnetx_200mf', reference: 'RegNetX_200MF', ort: true },
  { name: 'cifar_regnetx_400mf', reference: 'RegNetX_400MF' },
  { name: 'cifar_regnety_400mf', reference: 'RegNetY_400MF' },
  { name: 'cifar_pnasneta', reference: 'PNASNetA', ort: true },
  { name: 'cifar_pnasnetb', reference: 'PNASNetB' },
  { name: 'cifar_dla', reference: 'DLA', ort: true },
  { name: 'cifar_simpledla', reference: 'SimpleDLA', ort: true },
];

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** traces the forward pass at batch 2 with the weights as constants and returns the logits' shape */
function tracedLogitsShape(model: Module): readonly number[] {
  const trace = new Trace(model, { weights: 'constants' });
  return traceWith(trace, () => model.call(trace.graph.addInput('input', [2, 3, 32, 32], 'float32'))).shape;
}

/** the per-config checks: registry metadata, traced shapes, and (where marked) an ORT forward */
function defineCase(c: ZooCase): void {
  test(`${c.name}: registry entry`, () => {
    const info = modelInfo(c.name);
    assert.equal(info.source, 'pytorch-cifar');
    assert.equal(info.reference, c.reference);
    assert.equal(info.inputSize, 32);
    assert.equal(info.numClasses, 10);
  });

  test(`${c.name}: traces to [2, 10] logits in eval and train mode`, () => {
    const model = buildWithConstantInit(c.name);
    assert.deepEqual(tracedLogitsShape(model.eval()), [2, 10]);
    assert.deepEqual(tracedLogitsShape(model.train()), [2, 10]);
  });

  if (c.ort) {
    test(`${c.name}: ONNX Runtime forward at batch 1 gives finite logits`, async () => {
      manualSeed(7);
      const model = createModel(c.name);
      const inf = await InferenceModel.create(model, { inputShape: [1, 3, 32, 32] });
      try {
        const data = new Float32Array(3 * 32 * 32);
        for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 1.5;
        const out = await inf.run({ dtype: 'float32', shape: [1, 3, 32, 32], data });
        assert.deepEqual(out.shape, [1, 10]);
        const logits = Array.from(out.data as Float32Array);
        assert.ok(logits.every(Number.isFinite), `non-finite logits: ${logits.join(', ')}`);
        assert.ok(logits.some((v) => v !== logits[0]), 'logits are all equal: the forward pass carries no information');
      } finally {
        await inf.release();
      }
    });
  }
}

for (const c of CASES) defineCase(c);

interface ParityCase {
  readonly fixture: string;
  readonly name: string;
}

const PARITY: readonly ParityCase[] = [
  { fixture: 'pc_shufflenetv2', name: 'cifar_shufflenetv2_x0_5' },
  { fixture: 'pc_regnetx_200mf', name: 'cifar_regnetx_200mf' },
  {
    fixture: 'pc_efficientnetb0',
    name: 'cifar_efficientnetb0',
  },
];

const REFERENCE = /^(logits|loss|grad|running)\./;

for (const c of PARITY) {
  test(`${c.name}: parity with ${c.fixture}`, async (t) => {
    const path = join(FIXTURES, `${c.fixture}.safetensors`);
    if (!existsSync(path)) return t.skip(`fixture ${path} is absent (see shared/README.md)`);
    const file = readSafetensors(path);
    const model = buildWithConstantInit(c.name);
    // the fixture stores the state dict in PyTorch's order
    assert.deepEqual([...model.stateDict().keys()], [...fixtureStateDict(file).keys()]);
    const report = await checkFixture(model, file);
    const references = [...file.tensors.keys()].filter((k) => REFERENCE.test(k)).sort();
    assert.deepEqual(
      report.checks.map((ch) => ch.key).sort(),
      references,
    );
    const failing = report.checks.filter((ch) => !ch.ok);
    assert.ok(report.ok, `${c.fixture}: ${failing.length} of ${report.checks.length} out of tolerance:\n${failing.map((ch) => `  ${ch.key}: ${ch.maxError.toExponential(3)} > ${ch.allowed.toExponential(3)}`).join('\n')}`);
  });
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
