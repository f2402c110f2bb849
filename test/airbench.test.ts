/**
 * airbench's models (src/models/cifar/airbench.ts) against the published nets: counts from
 * bench/airbench_torch.py --count (PyTorch 1.13; airbench94's 1,972,792 parameters is the
 * figure airbench states), state-dict names, what is frozen, the dirac start and the BatchNorm
 * momentum in PyTorch's sense.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, createFromConstructor } from '../src/models/index.js';
import { Airbench, BatchNorm, Conv } from '../src/models/cifar/airbench.js';
import { initWhitening } from '../src/models/cifar/whitening.js';
import { randomBatch } from '../src/bench/measure.js';
import { manualSeed } from '../src/nn/init.js';
import { sgd } from '../src/optim/sgd.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { BatchNorm2d } from '../src/nn/layers.js';
import type { Module } from '../src/nn/module.js';
import { ZooCounts, counts } from '../test-support/zoo-counts.js';

interface AirbenchRow {
  readonly name: string;
  /** bench/airbench_torch.py --count */
  readonly counts: ZooCounts;
  /** state-dict keys the published net has */
  readonly keys: readonly string[];
  /** PyTorch's BatchNorm momentum (1 − airbench's) */
  readonly torchMomentum: number;
}

const ROWS: readonly AirbenchRow[] = [
  { name: 'cifar_airbench94', counts: { params: 1972792, state_dict_keys: 39, buffers: 2310 }, keys: ['0.weight', '0.bias', '2.conv1.weight', '2.norm2.bias', '4.conv2.weight', '7.weight'], torchMomentum: 0.4 },
  { name: 'cifar_airbench96', counts: { params: 9918776, state_dict_keys: 57, buffers: 6153 }, keys: ['0.weight', '0.bias', '2.conv3.weight', '3.norm3.running_var', '4.conv3.weight', '7.weight'], torchMomentum: 0.1 },
];

const frozenKeys = (model: Module): string[] => [...model.namedParameters()].filter(([, p]) => !p.requiresGrad).map(([k]) => k);

/** the model's counts, keys, frozen parameters, BatchNorm settings and dirac start against its row */
function assertAirbench(row: AirbenchRow): void {
  const model = createModel(row.name);
  assert.ok(model instanceof Airbench, `${row.name}: an Airbench`);
  assert.deepEqual(counts(model), row.counts, `${row.name}: counts`);
  const keys = [...model.stateDict().keys()];
  for (const key of row.keys) assert.ok(keys.includes(key), `${row.name}: no state-dict key ${key}`);
  assert.ok(!keys.some((k) => /^7\.bias$|^[234]\.conv\d\.bias$/.test(k)), `${row.name}: only the whitening conv has a bias`);
  // frozen: the whitening weight and every BatchNorm scale
  const norms = [...model.namedModules()].filter(([, m]) => m instanceof BatchNorm2d);
  assert.deepEqual(frozenKeys(model), ['0.weight', ...norms.map(([k]) => `${k}.weight`)].sort((a, b) => keys.indexOf(a) - keys.indexOf(b)));
  for (const [k, m] of norms) {
    assert.ok(m instanceof BatchNorm && m.opts.momentum !== undefined, `${row.name}: ${k} is airbench's BatchNorm`);
    assert.ok(Math.abs(m.opts.momentum - row.torchMomentum) < 1e-12, `${row.name}: ${k} PyTorch momentum ${m.opts.momentum}`);
  }
  assert.deepEqual([...model.whiten.bias!.data], new Array(24).fill(0), `${row.name}: whitening bias starts at zero`);
}

for (const row of ROWS) test(`${row.name}: counts, names, frozen parameters and BatchNorm momentum as published`, () => assertAirbench(row));

test('every conv starts with its first inChannels filters as the identity at the kernel centre', () => {
  const model = createModel('cifar_airbench94');
  for (const [key, m] of model.namedModules()) {
    if (!(m instanceof Conv)) continue;
    const [outC, inC, kh, kw] = m.weight.shape;
    for (let d = 0; d < Math.min(outC, inC); d++) {
      const filter = m.weight.data.subarray(d * inC * kh * kw, (d + 1) * inC * kh * kw);
      const centre = d * kh * kw + Math.floor(kh / 2) * kw + Math.floor(kw / 2);
      assert.ok(filter.every((v, i) => v === (i === centre ? 1 : 0)), `${key} filter ${d}`);
    }
    // the rest keep PyTorch's default (random, not zero)
    if (outC > inC) assert.ok(m.weight.data.subarray(inC * inC * kh * kw).some((v) => v !== 0), `${key}: filters past ${inC} keep the default init`);
  }
});

test('the builders take numClasses and eps; a bad eps is refused by name', () => {
  const model = createFromConstructor('airbench94', { numClasses: 7, eps: 1e-12 }, 'airbench');
  assert.equal(model.stateDict().get('7.weight')?.shape[0], 7);
  const norm = [...model.namedModules()].find(([, m]) => m instanceof BatchNorm)?.[1];
  assert.ok(norm instanceof BatchNorm && norm.eps === 1e-12);
  assert.throws(() => createFromConstructor('airbench94', { eps: 0 }, 'airbench'), /argument eps must be a positive number/);
});

test('a short run on one batch: the loss falls; the whitening weight and BatchNorm scales stay put, the biases train', async () => {
  manualSeed(0);
  const model = createModel('cifar_airbench94');
  const shape = [16, 3, 32, 32];
  const { images, labels } = randomBatch(shape, 10);
  initWhitening(model, { shape, data: images }, { images: 16 });
  const snapshot = () => new Map([...model.namedParameters()].map(([k, p]) => [k, Float32Array.from(p.data)]));
  const before = snapshot();
  const session = await TrainingSession.create(model, { inputShape: shape, optimizer: sgd({ momentum: 0.85, nesterov: true }), threads: 1, optimization: 'basic' });
  const losses: number[] = [];
  try {
    for (let i = 0; i < 4; i++) losses.push((await session.step(images, labels, 0.2)).loss);
  } finally {
    await session.release();
  }
  assert.ok(losses.every(Number.isFinite) && losses[3] < losses[0], `losses ${losses.join(', ')}`);
  const after = snapshot();
  const moved = [...after].filter(([k, v]) => v.some((x, i) => x !== before.get(k)![i])).map(([k]) => k);
  assert.deepEqual(moved.filter((k) => frozenKeys(model).includes(k)), [], 'frozen parameters moved');
  for (const key of ['0.bias', '2.norm1.bias', '2.conv1.weight', '7.weight']) assert.ok(moved.includes(key), `${key} did not train`);
});
