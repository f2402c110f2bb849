/**
 * Four training steps against PyTorch (traj_*.safetensors, format: ../shared/README.md): the model
 * from the stored `init.<key>` weights, the fixture's optimizer and loss. Each step's loss (before
 * its update) and the final weights must match the float64 reference with the fixture's own rtol
 * and floor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostTensor } from '../src/graph/ir.js';
import { SafetensorsFile, readSafetensors } from '../src/io/safetensors.js';
import { createFromConstructor, createModel } from '../src/models/index.js';
import { Module } from '../src/nn/module.js';
import { OptimizerEmitter } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { adamw } from '../src/optim/adamw.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { sharedFixture } from '../test-support/fixtures.js';


function need(f: SafetensorsFile, key: string): HostTensor {
  const t = f.tensors.get(key);
  assert.ok(t, `fixture has no ${key}`);
  return t;
}

interface TrajectoryCase {
  readonly fixture: string;
  /** the metadata fields that fix the run, each asserted to say what this case does */
  readonly metadata: readonly [field: string, pattern: RegExp][];
  readonly model: () => Module;
  readonly optimizer: OptimizerEmitter;
  readonly lr: number;
  readonly labelSmoothing?: number;
}

const common: [string, RegExp][] = [
  ['steps', /^4$/],
  ['batch', /^8$/],
  ['image_size', /^32$/],
];

const cases: readonly TrajectoryCase[] = [
  {
    fixture: 'traj_sgd_lenet',
    metadata: [
      ['model', /^pytorch-cifar LeNet\(\)$/],
      ['optimizer', /^SGD lr=0\.05 momentum=0\.9 nesterov=True weight_decay=5e-4\b/],
      ['loss', /^cross-entropy, label_smoothing=0\.1, mean over batch$/],
      ...common,
    ],
    model: () => createModel('cifar_lenet'),
    optimizer: sgd({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
    lr: 0.05,
    labelSmoothing: 0.1,
  },
  {
    fixture: 'traj_adamw_vit',
    metadata: [
      ['model', /^torchvision VisionTransformer\(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10\)$/],
      ['optimizer', /^AdamW lr=1e-3 betas=\(0\.9,0\.999\) eps=1e-8 weight_decay=0\.05\b/],
      ['loss', /^cross-entropy, mean over batch$/],
      ...common,
    ],
    model: () => createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64, numClasses: 10 }),
    optimizer: adamw({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05 }),
    lr: 1e-3,
  },
];

interface Deviation {
  readonly key: string;
  readonly error: number;
  readonly allowed: number;
}

/** |ours − ref| ≤ rtol·|ref| (loss) */
function lossDeviation(key: string, ours: number, ref: number, rtol: number): Deviation {
  return { key, error: Math.abs(ours - ref), allowed: rtol * Math.abs(ref) };
}

/** max|ours − ref| ≤ rtol·max(max|ref|, floor) (weights) */
function tensorDeviation(key: string, ours: ArrayLike<number>, ref: ArrayLike<number>, rtol: number, floor: number): Deviation {
  assert.equal(ours.length, ref.length, `${key}: ${ours.length} values vs ${ref.length}`);
  let error = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(ours[i] - ref[i]);
    error = Number.isNaN(e) ? Infinity : Math.max(error, e);
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { key, error, allowed: rtol * Math.max(maxRef, floor) };
}

async function checkTrajectory(c: TrajectoryCase, t: { diagnostic(msg: string): void }): Promise<void> {
  const f = readSafetensors(sharedFixture(`${c.fixture}.safetensors`));
  for (const [field, pattern] of c.metadata) assert.match(f.metadata[field] ?? '', pattern, `metadata ${field}`);
  const rtol = JSON.parse(f.metadata.rtol) as Record<string, number>;
  const floor = Number(f.metadata.floor);
  assert.ok(Number.isFinite(floor) && floor > 0, `metadata floor ${f.metadata.floor}`);
  const steps = Number(f.metadata.steps);
  const batch = Number(f.metadata.batch);

  const model = c.model();
  const init = new Map([...f.tensors].filter(([k]) => k.startsWith('init.')).map(([k, v]) => [k.slice(5), v]));
  model.loadStateDict(init);

  const session = await TrainingSession.create(model, {
    inputShape: [batch, 3, 32, 32],
    optimizer: c.optimizer,
    loss: { kind: 'ce', labelSmoothing: c.labelSmoothing },
    threads: 1,
  });
  const deviations: Deviation[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const input = need(f, `step${i}.input`);
      const target = need(f, `step${i}.target`);
      assert.deepEqual([...input.shape], [batch, 3, 32, 32]);
      const { loss } = await session.step(input.data as Float32Array, target.data as BigInt64Array, c.lr);
      const key = `step${i}.loss`;
      deviations.push(lossDeviation(key, loss, Number(need(f, key).data[0]), rtol[key]));
    }
  } finally {
    await session.release();
  }
  const sd = model.stateDict();
  const finals = [...f.tensors.keys()].filter((k) => k.startsWith('final.'));
  assert.deepEqual(finals.map((k) => k.slice(6)).sort(), [...sd.keys()].sort(), 'final.<key> covers the state dict');
  for (const key of finals) {
    assert.ok(rtol[key] !== undefined, `no rtol for ${key}`);
    deviations.push(tensorDeviation(key, sd.get(key.slice(6))!.data as Float32Array, need(f, key).data as Float32Array, rtol[key], floor));
  }
  const worst = deviations.reduce((w, d) => (d.error / d.allowed > w.error / w.allowed ? d : w));
  t.diagnostic(`worst: ${worst.key} at ${((100 * worst.error) / worst.allowed).toFixed(1)}% of its tolerance`);
  const bad = deviations.filter((d) => !(d.error <= d.allowed));
  assert.deepEqual(
    bad.map((d) => d.key),
    [],
    `out of tolerance:\n${bad.map((d) => `  ${d.key}: error ${d.error.toExponential(3)} > allowed ${d.allowed.toExponential(3)}`).join('\n')}`,
  );
}

for (const c of cases) test(`${c.fixture}: four steps match PyTorch (losses and final weights)`, (t) => checkTrajectory(c, t));
