/**
 * Training and inference graphs as files and as sessions: the pc_resnet18 step graph saved to a
 * .onnx file trains in a fresh onnxruntime-node session, the saved inference graph agrees with
 * InferenceModel (for the export's batch and, with a dynamic batch, another one), and
 * TrainingSession.step reuses its two buffer sets instead of allocating.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '../src/graph/ir.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { relu } from '../src/ops/activations.js';
import { flatten } from '../src/ops/shape.js';
import { adamw } from '../src/optim/adamw.js';
import { sgd } from '../src/optim/sgd.js';
import { OptimizerEmitter } from '../src/optim/optimizer.js';
import { InferenceModel, saveOnnx } from '../src/runtime/inference.js';
import { ort } from '../src/runtime/ort.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { mulberry32 } from '../src/util/random.js';
import { fixtureStateDict } from '../src/verify/parity.js';
import { sharedFixture } from '../test-support/fixtures.js';


/** a fresh session on a file, as a user of the exported graph would open it */
function openFile(path: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 2, logSeverityLevel: 3 });
}

function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-training-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function randomImages(n: number, size: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * 3 * size * size }, () => 2 * rand() - 1);
}

// ---- (a) the saved training-step graph trains ---------------------------------------------------

test('pc_resnet18 step graph saved to .onnx trains in a fresh session (20 SGD steps on one batch)', async (t) => {
  const f = readSafetensors(sharedFixture('pc_resnet18.safetensors'));
  const input = f.tensors.get('input')!;
  const target = f.tensors.get('target')!;
  assert.deepEqual([...input.shape], [16, 3, 32, 32]);
  const model = createModel('cifar_resnet18');
  model.loadStateDict(fixtureStateDict(f));
  const optimizer = sgd({ momentum: 0.9 });
  const graph = buildStepGraph(model, { inputShape: input.shape, optimizer });

  const losses = await withTempDir(async (dir) => {
    const path = join(dir, 'pc_resnet18.step.onnx');
    writeFileSync(path, graph.onnx);
    const session = await openFile(path);
    try {
      // every state tensor is fed by name and comes back as new.<name>
      const state = new Map<string, ort.Tensor>();
      const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);
      for (const [key, p] of graph.params) {
        state.set(key, f32(p.data.slice(), p.shape));
        for (const s of graph.slots) state.set(`${key}.${s}`, f32(new Float32Array(p.data.length), p.shape));
      }
      for (const [key, b] of graph.buffers) state.set(key, b.data instanceof BigInt64Array ? new ort.Tensor('int64', b.data.slice(), [...b.shape]) : f32(b.data.slice(), b.shape));
      const fixed = Object.fromEntries(graph.fixed.map(([key, v]) => [key, v.data instanceof BigInt64Array ? new ort.Tensor('int64', v.data, [...v.shape]) : f32(v.data, v.shape)]));
      assert.deepEqual(
        [...session.inputNames].sort(),
        ['input', 'target', 'lr', 'step', ...state.keys(), ...Object.keys(fixed)].sort(),
        'graph inputs of the saved file',
      );
      const out: number[] = [];
      for (let step = 1; step <= 20; step++) {
        const feeds: Record<string, ort.Tensor> = {
          ...fixed,
          ...Object.fromEntries(state),
          input: f32(input.data as Float32Array, input.shape),
          target: new ort.Tensor('int64', target.data as BigInt64Array, [...target.shape]),
          lr: new ort.Tensor('float32', Float32Array.of(0.05), []),
          step: new ort.Tensor('float32', Float32Array.of(step), []),
        };
        const r = await session.run(feeds);
        out.push((r.loss.data as Float32Array)[0]);
        for (const name of state.keys()) state.set(name, r[`new.${name}`]);
      }
      assert.equal(state.get('bn1.num_batches_tracked')?.data[0], 20n, 'BatchNorm counted 20 batches');
      return out;
    } finally {
      await session.release();
    }
  });
  t.diagnostic(`losses: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.ok(losses.every(Number.isFinite), `non-finite loss: ${losses.join(', ')}`);
  assert.ok(losses[19] < 0.5 * losses[0], `loss did not halve: first ${losses[0]}, last ${losses[19]}`);
});

// ---- (b) the saved inference graph ------------------------------------------------------------

interface ExportCase {
  readonly name: string;
  /** batch the graph is exported with */
  readonly exportBatch: number;
  /** batch fed to the saved file */
  readonly runBatch: number;
  readonly dynamicBatch: boolean;
}

const exportCases: ExportCase[] = [
  { name: 'the export batch (4)', exportBatch: 4, runBatch: 4, dynamicBatch: true },
  { name: 'another batch (7) through the dynamic batch dimension', exportBatch: 4, runBatch: 7, dynamicBatch: true },
  { name: 'the export batch (4), static shapes', exportBatch: 4, runBatch: 4, dynamicBatch: false },
];

/** cifar_resnet18 with non-trivial BatchNorm statistics, so eval-mode BN is not the identity */
function evalModel(): Module {
  manualSeed(3);
  const model = createModel('cifar_resnet18');
  const rand = mulberry32(5);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    m.running_mean.data.forEach((_, i, a) => ((a as Float32Array)[i] = 0.2 * (rand() - 0.5)));
    m.running_var.data.forEach((_, i, a) => ((a as Float32Array)[i] = 0.5 + rand()));
    m.weight!.data.forEach((_, i, a) => (a[i] = 0.5 + rand()));
    m.bias!.data.forEach((_, i, a) => (a[i] = 0.2 * (rand() - 0.5)));
  }
  return model;
}

async function assertSavedMatchesInference(c: ExportCase): Promise<void> {
  const model = evalModel();
  const images = randomImages(c.runBatch, 32, 17);
  const reference = await InferenceModel.create(model, { inputShape: [c.runBatch, 3, 32, 32], threads: 2 });
  const expected = (await reference.run({ dtype: 'float32', shape: [c.runBatch, 3, 32, 32], data: images })).data as Float32Array;
  await reference.release();
  assert.equal(expected.length, c.runBatch * 10);

  const actual = await withTempDir(async (dir) => {
    const path = join(dir, 'cifar_resnet18.onnx');
    saveOnnx(model, path, { inputShape: [c.exportBatch, 3, 32, 32], dynamicBatch: c.dynamicBatch });
    const session = await openFile(path);
    try {
      const r = await session.run({ input: new ort.Tensor('float32', images, [c.runBatch, 3, 32, 32]) });
      assert.deepEqual([...r.logits.dims], [c.runBatch, 10]);
      return r.logits.data as Float32Array;
    } finally {
      await session.release();
    }
  });
  let maxLogit = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxLogit = Math.max(maxLogit, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
  }
  assert.ok(maxLogit > 0, 'all logits are zero');
  assert.ok(maxDiff <= 1e-5 * maxLogit, `${c.name}: max |saved − InferenceModel| ${maxDiff} > 1e-5 × ${maxLogit}`);
}

for (const c of exportCases) {
  test(`cifar_resnet18 saved with saveOnnx (dynamicBatch ${c.dynamicBatch}) matches InferenceModel at ${c.name}`, () => assertSavedMatchesInference(c));
}

// ---- (c) a step allocates no tensors ------------------------------------------------------------

class TinyBnNet extends Module {
  conv = new Conv2d(3, 4, 3, { padding: 1 });
  bn = new BatchNorm2d(4);
  fc = new Linear(4 * 8 * 8, 10);

  forward(x: Value): Value {
    return this.fc.call(flatten(relu(this.bn.call(this.conv.call(x)))));
  }
}

const allocationCases: { name: string; optimizer: () => OptimizerEmitter }[] = [
  { name: 'SGD with momentum', optimizer: () => sgd({ momentum: 0.9 }) },
  { name: 'AdamW', optimizer: () => adamw() },
];

/**
 * Runs six steps and records, for every state-dict tensor and optimizer-state tensor, the array
 * object holding it after each step: they must alternate between exactly two objects (the initial
 * one and one pre-allocated output buffer), and the logits come back in one reused array.
 */
async function assertTwoBuffersPerTensor(optimizer: OptimizerEmitter): Promise<void> {
  manualSeed(1);
  const model = new TinyBnNet();
  const session = await TrainingSession.create(model, { inputShape: [2, 3, 8, 8], optimizer, threads: 1 });
  const input = randomImages(2, 8, 9);
  const target = BigInt64Array.of(3n, 7n);
  const history = new Map<string, unknown[]>();
  const record = () => {
    for (const [key, t] of model.stateDict()) history.set(key, [...(history.get(key) ?? []), t.data]);
    for (const [key, data] of session.optimizerState()) history.set(`optimizer:${key}`, [...(history.get(`optimizer:${key}`) ?? []), data]);
  };
  const logitArrays = new Set<Float32Array | null>();
  try {
    record();
    for (let i = 0; i < 6; i++) {
      logitArrays.add((await session.step(input, target, 0.01)).logits);
      record();
    }
  } finally {
    await session.release();
  }
  assert.equal(history.size, model.stateDict().size + [...model.namedParameters()].length * optimizer.slots.length, 'tensors tracked');
  for (const [key, objs] of history) {
    assert.equal(new Set(objs).size, 2, `${key}: ${new Set(objs).size} distinct arrays over 6 steps`);
    objs.forEach((o, i) => {
      if (i >= 1) assert.notEqual(o, objs[i - 1], `${key}: step ${i} wrote into the array it read`);
      if (i >= 2) assert.equal(o, objs[i - 2], `${key}: step ${i} did not return to the array of step ${i - 2}`);
    });
  }
  assert.equal(logitArrays.size, 1, 'logits reuse one array');
  assert.equal((model.stateDict().get('bn.num_batches_tracked')!.data as BigInt64Array)[0], 6n);
}

for (const c of allocationCases) {
  test(`TrainingSession.step alternates between two buffers per tensor (${c.name})`, () => assertTwoBuffersPerTensor(c.optimizer()));
}
