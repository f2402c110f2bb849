/**
 * torchvision MobileNetV3 and EfficientNet (V1, V2) ports, and stochastic depth: the registry
 * entry and a traced forward at batch 1, 64×64 for every config, fixture parity
 * (tv_mobilenet_v3_small, tv_efficientnet_b0, tv_efficientnet_v2_small through the
 * `EfficientNet` constructor's JSON form), and stochastic depth in an ORT training graph (a fresh
 * mask on every run: ORT neither folds nor removes the random op). Parameter / state-dict / buffer
 * counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graph, Value, withGraph } from '../src/graph/ir.js';
import { Module } from '../src/nn/module.js';
import { Linear } from '../src/nn/layers.js';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { ParityOptions, checkFixture, disableDropout } from '../src/verify/parity.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { createSession, ort, toOrt } from '../src/runtime/ort.js';
import { bernoulliMask, stochasticDepth } from '../src/ops/random.js';
import { writeOnnx } from '../src/onnx/write.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const haveFixtures = existsSync(FIXTURES);

/** [registry name, family, default input size (torchvision's weights meta), year] */
const configs: [string, string, number, number][] = [
  ['mobilenet_v3_small', 'mobilenetv3', 224, 2019],
  ['mobilenet_v3_large', 'mobilenetv3', 224, 2019],
  ['efficientnet_b0', 'efficientnet', 224, 2019],
  ['efficientnet_b1', 'efficientnet', 240, 2019],
  ['efficientnet_b2', 'efficientnet', 260, 2019],
  ['efficientnet_b3', 'efficientnet', 300, 2019],
  ['efficientnet_b4', 'efficientnet', 380, 2019],
  ['efficientnet_b5', 'efficientnet', 456, 2019],
  ['efficientnet_b6', 'efficientnet', 528, 2019],
  ['efficientnet_b7', 'efficientnet', 600, 2019],
  ['efficientnet_v2_s', 'efficientnet', 384, 2021],
  ['efficientnet_v2_m', 'efficientnet', 480, 2021],
  ['efficientnet_v2_l', 'efficientnet', 480, 2021],
];

/** the one helper: registry metadata, then an eval-mode trace at batch 1, 64×64 */
function checkConfig(name: string, family: string, inputSize: number, year: number): void {
  const info = modelInfo(name);
  assert.equal(info.source, 'torchvision');
  assert.equal(info.family, family);
  assert.equal(info.reference, name);
  assert.equal(info.inputSize, inputSize);
  assert.equal(info.numClasses, 1000);
  assert.equal(info.year, year);
  assert.ok(info.paper.length > 0);
  const model = buildWithConstantInit(name).eval();
  const trace = new Trace(model, { weights: 'constants' });
  const out = traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, 64, 64], 'float32')));
  assert.deepEqual(out.shape, [1, 1000], `${name}: logits shape`);
}

for (const [name, family, inputSize, year] of configs) {
  test(`${name}: registry entry (torchvision, ${family}, ${inputSize}px); traces at 1×3×64×64 to [1, 1000]`, () => checkConfig(name, family, inputSize, year));
}

// the reduced EfficientNet of tv_efficientnet_v2_small (see its metadata `constructor`), in JSON
const reducedV2: JsonArgs = {
  invertedResidualSetting: [
    { type: 'FusedMBConvConfig', expandRatio: 1, kernel: 3, stride: 1, inputChannels: 16, outChannels: 16, numLayers: 1 },
    { type: 'FusedMBConvConfig', expandRatio: 4, kernel: 3, stride: 2, inputChannels: 16, outChannels: 24, numLayers: 1 },
    { type: 'MBConvConfig', expandRatio: 4, kernel: 3, stride: 2, inputChannels: 24, outChannels: 32, numLayers: 1, widthMult: 1.0, depthMult: 1.0 },
    { type: 'MBConvConfig', expandRatio: 6, kernel: 3, stride: 1, inputChannels: 32, outChannels: 48, numLayers: 1, widthMult: 1.0, depthMult: 1.0 },
  ],
  dropout: 0.2,
  stochasticDepthProb: 0.2,
  numClasses: 10,
  normLayer: { type: 'BatchNorm2d', eps: 1e-3 },
  lastChannel: 128,
};

/** [fixture, model, options] (default: float64, as the references were computed) */
const fixtureCases: [string, () => Module, ParityOptions?][] = [
  ['tv_mobilenet_v3_small', () => createFromConstructor('mobilenet_v3_small', { numClasses: 10 })],
  ['tv_efficientnet_b0', () => createFromConstructor('efficientnet_b0', { numClasses: 10 })],
  ['tv_efficientnet_v2_small', () => createFromConstructor('EfficientNet', reducedV2)],
];

for (const [fixture, build, opts] of fixtureCases) {
  test(`${fixture}: parity with the torchvision fixture`, async (t) => {
    if (!haveFixtures) return t.skip(`shared/fixtures not found (${FIXTURES}; see ../shared/README.md)`);
    const file = readSafetensors(join(FIXTURES, `${fixture}.safetensors`));
    const report = await checkFixture(build(), file, opts);
    const failing = report.checks.filter((c) => !c.ok);
    assert.ok(report.checks.length > 0, `${fixture}: nothing checked`);
    assert.ok(report.ok, `${fixture}: ${failing.map((c) => `${c.key} max error ${c.maxError.toExponential(3)} > ${c.allowed.toExponential(3)}`).join('; ')}`);
  });
}

test('EfficientNet blocks get torchvision’s linearly increasing stochastic-depth rate; disableDropout zeroes them', () => {
  const model = createFromConstructor('EfficientNet', { ...reducedV2, stochasticDepthProb: 0.4 });
  const ps = [...model.namedModules()].filter(([, m]) => m instanceof StochasticDepth).map(([path, m]) => [path, (m as StochasticDepth).p]);
  assert.deepEqual(ps, [
    ['features.1.0.stochasticDepth', 0],
    ['features.2.0.stochasticDepth', 0.1],
    ['features.3.0.stochasticDepth', 0.2],
    ['features.4.0.stochasticDepth', 0.30000000000000004],
  ]);
  disableDropout(model);
  assert.ok([...model.namedModules()].every(([, m]) => !(m instanceof StochasticDepth) || m.p === 0));
  assert.throws(() => createFromConstructor('EfficientNet', { ...reducedV2, invertedResidualSetting: [{ type: 'MBConv', expandRatio: 1 }] }), /"MBConvConfig" or "FusedMBConvConfig"/);
  assert.throws(() => createFromConstructor('EfficientNet', { ...reducedV2, normLayer: { type: 'GroupNorm' } }), /normLayer.type must be "BatchNorm2d"/);
});

test('stochasticDepth adds no node when p = 0 or not training', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.addInput('x', [2, 3], 'float32');
    assert.equal(stochasticDepth(x, 0, 'row', true), x);
    assert.equal(stochasticDepth(x, 0.5, 'row', false), x);
    assert.throws(() => stochasticDepth(x, 1.5, 'row', true), /between 0 and 1/);
  });
  assert.equal(g.nodes.length, 0);
});

/** Linear then row-mode stochastic depth: a training graph whose logits show the mask */
class DropPathNet extends Module {
  fc = new Linear(4, 3);
  drop = new StochasticDepth(0.5, 'row');
  forward(x: Value): Value {
    return this.drop.call(this.fc.call(x));
  }
}

test('stochastic depth in an ORT training graph draws a new mask on every run (not folded or removed)', async () => {
  const batch = 64;
  const run = async (model: Module) => {
    const graph = buildStepGraph(model, { inputShape: [batch, 4] });
    const session = await createSession(graph.onnx, { optimization: 'all' });
    const feeds: Record<string, ort.Tensor> = {
      input: toOrt({ dtype: 'float32', shape: [batch, 4], data: Float32Array.from({ length: batch * 4 }, (_, i) => 1 + (i % 7) / 7) }),
      target: toOrt({ dtype: 'int64', shape: [batch], data: BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 3)) }),
    };
    for (const [key, t] of [...graph.params, ...graph.fixed, ...graph.buffers]) feeds[key] = toOrt(t);
    const rows = async () => {
      const logits = (await session.run(feeds)).logits.data as Float32Array;
      return Array.from({ length: batch }, (_, i) => logits.slice(3 * i, 3 * i + 3).some((v) => v !== 0));
    };
    const [a, b] = [await rows(), await rows()];
    await session.release();
    return { a, b };
  };

  const { a, b } = await run(new DropPathNet());
  const kept = a.filter(Boolean).length;
  assert.ok(kept > 12 && kept < 52, `kept ${kept} of ${batch} rows`);
  assert.notDeepEqual(a, b, 'the two runs of one session drew the same mask');

  const off = new DropPathNet();
  disableDropout(off);
  const same = await run(off);
  assert.ok(same.a.every(Boolean) && same.b.every(Boolean), 'p = 0 keeps every row');
});

test('two identical BernoulliMask nodes in one graph are not merged by ORT (fully optimized)', async () => {
  const g = new Graph();
  const outputs = withGraph(g, () => [bernoulliMask([256], 0.5), bernoulliMask([256], 0.5)]).map((value, i) => ({ name: `m${i}`, value }));
  const session = await createSession(writeOnnx(g, outputs), { optimization: 'all' });
  const r = await session.run({});
  await session.release();
  const [a, b] = [r.m0.data as Float32Array, r.m1.data as Float32Array];
  assert.ok(a.some((v, i) => v !== b[i]), 'the two masks are identical');
});
