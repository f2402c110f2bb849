/**
 * torchvision MobileNetV3 and EfficientNet (V1, V2) ports, and stochastic depth: EfficientNet's
 * stochastic-depth schedule, and stochastic depth in an ORT training graph (a fresh mask on every
 * run: ORT neither folds nor removes the random op). Every config's counts: zoo.test.ts; its real
 * forward and training step: zoo-run-*.test.ts; fixture parity: parity-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value, withGraph } from '../src/graph/ir.js';
import { Module } from '../src/nn/module.js';
import { Linear } from '../src/nn/layers.js';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { createFromConstructor } from '../src/models/index.js';
import { disableDropout } from '../src/verify/parity.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { createSession, ort, toOrt } from '../src/runtime/ort.js';
import { bernoulliMask, stochasticDepth } from '../src/ops/random.js';
import { writeOnnx } from '../src/onnx/write.js';
import { SMALL_EFFICIENTNET_V2 } from '../test-support/fixture-cases.js';

test('EfficientNet blocks get torchvision’s linearly increasing stochastic-depth rate; disableDropout zeroes them', () => {
  const model = createFromConstructor('EfficientNet', { ...SMALL_EFFICIENTNET_V2, stochasticDepthProb: 0.4 });
  const ps = [...model.namedModules()].filter(([, m]) => m instanceof StochasticDepth).map(([path, m]) => [path, (m as StochasticDepth).p]);
  assert.deepEqual(ps, [
    ['features.1.0.stochasticDepth', 0],
    ['features.2.0.stochasticDepth', 0.1],
    ['features.3.0.stochasticDepth', 0.2],
    ['features.4.0.stochasticDepth', 0.30000000000000004],
  ]);
  disableDropout(model);
  assert.ok([...model.namedModules()].every(([, m]) => !(m instanceof StochasticDepth) || m.p === 0));
  assert.throws(() => createFromConstructor('EfficientNet', { ...SMALL_EFFICIENTNET_V2, invertedResidualSetting: [{ type: 'MBConv', expandRatio: 1 }] }), /"MBConvConfig" or "FusedMBConvConfig"/);
  assert.throws(() => createFromConstructor('EfficientNet', { ...SMALL_EFFICIENTNET_V2, normLayer: { type: 'GroupNorm' } }), /normLayer.type must be "BatchNorm2d"/);
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
