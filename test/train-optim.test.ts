/**
 * The optimisation options through `train` on a synthetic 3-class ImageFolder (LeNet, batch 8,
 * one thread): plateau with warmup and cooldown, frozen layers, norm weight decay, lr
 * multipliers and clipping in one run (its rates replayed from its own metrics, its options in
 * config.json, the frozen layer untouched), and a plateau run resumed after epoch 2 that
 * reproduces the uninterrupted run's later epochs exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { TrainOptions, train } from '../src/train/trainer.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { makeSchedule } from '../src/train/schedule.js';
import { scheduleOptions } from '../src/train/optimization.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-optim-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const DATA = join(scratch, 'colors');
const readyData = makeImageFolder(DATA, ['blue', 'green', 'red'], 12);
const quiet = { sink: { write: () => true } };

function options(out: string, extra: Partial<TrainOptions>): TrainOptions {
  return tinyRunOptions(DATA, join(scratch, out), { lr: 0.05, ...extra });
}

test('train: plateau with warmup and cooldown, --freeze, --norm-weight-decay, --lr-mult and --clip-grad in one run', async () => {
  await readyData;
  const opts = options('all', { epochs: 3, cooldownEpochs: 1, sched: 'plateau', patienceEpochs: 0, decayRate: 0.5, warmupEpochs: 1, warmupLr: 0.01, freeze: 'conv1', normWeightDecay: 0, lrMult: 'fc3=2', clipGrad: 1 });
  const result = await train(opts, quiet);
  assert.equal(result.metrics.length, 4, 'epochs + cooldown epochs');
  const schedule = makeSchedule(scheduleOptions(opts));
  for (const m of result.metrics) assert.equal(m.lr, schedule(m.epoch - 1, 0, 3, result.metrics.slice(0, m.epoch - 1)), `epoch ${m.epoch} lr`);
  const config = JSON.parse(readFileSync(join(opts.out, 'config.json'), 'utf8'));
  assert.deepEqual(
    [config.options.freeze, config.options.lrMult, config.options.clipGrad, config.options.clipMode, config.options.cooldownEpochs, config.schedule.name],
    ['conv1', 'fc3=2', 1, 'norm', 1, 'plateau'],
  );
  manualSeed(opts.seed);
  const init = createModel('cifar_lenet', { numClasses: 3 }).stateDict();
  const last = loadCheckpoint(join(opts.out, 'last.safetensors'));
  assert.deepEqual(last.modelState.get('conv1.weight')?.data, init.get('conv1.weight')?.data, 'the frozen conv1 did not move');
  assert.notDeepEqual(last.modelState.get('conv2.weight')?.data, init.get('conv2.weight')?.data, 'conv2 trained');
  assert.ok(!last.optimizerState.has('conv1.weight.momentum_buffer') && last.optimizerState.has('conv2.weight.momentum_buffer'));
});

test('train: a plateau run resumed after epoch 2 of 4 equals the uninterrupted run (the rate is replayed from metrics.jsonl)', async () => {
  await readyData;
  const plateau: Partial<TrainOptions> = { sched: 'plateau', patienceEpochs: 0, decayRate: 0.5 };
  const whole = await train(options('whole', { ...plateau, epochs: 4 }), quiet);
  const first = options('parts', { ...plateau, epochs: 2 });
  await train(first, quiet);
  const resumed = await train({ ...first, epochs: 4, resume: first.out }, quiet);
  const pick = (m: (typeof whole.metrics)[number]) => [m.epoch, m.lr, m.trainLoss, m.valLoss];
  assert.deepEqual(resumed.metrics.map(pick), whole.metrics.map(pick));
  assert.ok(new Set(whole.metrics.map((m) => m.lr)).size > 1, `the plateau decayed within the run: ${whole.metrics.map((m) => m.lr).join(', ')}`);
});
