/**
 * `--recipe airbench94` (and airbench96) end to end and its parts in the engine: the recipes' values against
 * airbench's decoupled hyperparameters, the per-step schedule over a fractional run, the
 * lookahead in the step graph against airbench's update done by hand, the per-step rate factor
 * that freezes the whitening bias, the summed loss, the alternating flip and reflect translation
 * in the loader's pipeline against their definitions (src/augment/airbench.ts), cutout, a mismatched
 * model refused, and a short run whose loss falls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRAIN, resolveOptions } from '../src/cli/train.js';
import { readCommandLine } from '../src/cli/args.js';
import { UserError } from '../src/errors.js';
import { createModel } from '../src/models/index.js';
import { manualSeed, Rng } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { sgd } from '../src/optim/sgd.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { ort } from '../src/runtime/ort.js';
import { AIRBENCH_HYPER, AIRBENCH_LR, airbenchLrFactor, airbenchSgdGroups, lookaheadDecays, lookaheadUpdate } from '../src/train/airbench-schedule.js';
import { airbenchLookahead } from '../src/train/airbench.js';
import { epochSteps, makeSchedule, totalEpochs } from '../src/train/schedule.js';
import { transformSample } from '../src/augment/pipeline.js';
import { airbenchAugment, cutOut, reflectTranslate } from '../src/augment/airbench.js';
import { runTransforms } from '../src/train/run-transforms.js';
import { applyTransform, hflip, normalizeInto, type RgbImage } from '../src/data/transforms.js';
import { DataLoader } from '../src/data/loader.js';
import type { ImageDataset, TransformSpec } from '../src/data/types.js';
import { train } from '../src/train/trainer.js';
import { makeImageFolder } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-airbench-recipe-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** `tessera train` options from these arguments */
const trainOptions = (...args: string[]) => resolveOptions(readCommandLine(TRAIN, ['--data', 'cifar10', '--out', join(scratch, 'unused'), ...args])!);

/** what legacy/airbench94.py and airbench96.py set besides the decoupled hyperparameters (AIRBENCH_HYPER) */
const AIRBENCH_RECIPES = [
  { variant: 'airbench94', epochs: 9.9, translate: 2, cutout: 0 },
  { variant: 'airbench96', epochs: 37, translate: 4, cutout: 12 },
] as const;

for (const r of AIRBENCH_RECIPES) {
  test(`recipe ${r.variant}: airbench's hyperparameters in PyTorch SGD's terms, per group`, () => {
    const o = trainOptions('--recipe', r.variant);
    const h = AIRBENCH_HYPER[r.variant];
    const groups = airbenchSgdGroups(h);
    assert.deepEqual(
      [o.model, o.airbench, o.epochs, o.batchSize, o.momentum, o.nesterov, o.labelSmoothing, o.lossReduction, o.sched, o.flip, o.cropPadding, o.paddingMode, o.cutout],
      [`cifar_${r.variant}`, r.variant, r.epochs, h.batchSize, h.momentum, true, 0.2, 'sum', 'airbench', 'alternating', r.translate, 'reflect', r.cutout],
    );
    assert.equal(o.lr, groups.other.lr);
    assert.equal(o.weightDecay, groups.other.weightDecay);
    assert.equal(o.normWeightDecay, groups.norm.weightDecay);
    assert.equal(o.lrMult, `*norm*.bias=${h.biasScaler}`);
  });
}

test('a recipe for another model is refused by name; so is --airbench with --model-ema', () => {
  assert.throws(
    () => trainOptions('--recipe', 'airbench94', '--model', 'resnet50'),
    (e: unknown) => e instanceof UserError && /^--airbench airbench94 .* fits cifar_airbench94 and cifar_airbench96; resnet50 is a resnet model from torchvision/.test(e.message),
  );
  assert.throws(() => trainOptions('--recipe', 'airbench94', '--model-ema'), /--airbench keeps its lookahead where --model-ema keeps its average/);
});

test('a fractional run: ⌈iterations·epochs⌉ steps, the last epoch cut; --sched airbench is lr·factor at every step', () => {
  const iters = 43;
  const total = Math.ceil(iters * 9.9);
  const steps = Array.from({ length: totalEpochs({ epochs: 9.9 }) }, (_, e) => epochSteps({ epochs: 9.9 }, e, iters));
  assert.equal(steps.length, 10);
  assert.equal(steps.reduce((a, b) => a + b), total);
  assert.deepEqual([epochSteps({ epochs: 3 }, 2, iters), epochSteps({ epochs: 2.5 }, 2, 10)], [iters, 5]);
  const lr = 0.00146484375;
  const schedule = makeSchedule({ name: 'airbench', lr, epochs: 9.9, airbench: AIRBENCH_LR.airbench94 });
  for (let s = 0; s < total; s++) assert.equal(schedule(Math.floor(s / iters), s % iters, iters), lr * airbenchLrFactor(s, total, AIRBENCH_LR.airbench94), `step ${s}`);
});

/** every float tensor of `model`'s state dict, copied */
const floatState = (model: Module) => new Map([...model.stateDict()].filter(([, t]) => t.data instanceof Float32Array).map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)]));

test("lookahead in the step graph = airbench's update by hand after each step (every float tensor, BatchNorm statistics included)", async () => {
  const shape = [4, 3, 32, 32];
  const rng = new Rng(5);
  const images = Float32Array.from({ length: 4 * 3 * 32 * 32 }, () => rng.next() * 2 - 1);
  const labels = BigInt64Array.from([0n, 3n, 7n, 9n]);
  const total = 7;
  const build = () => {
    manualSeed(1);
    return createModel('cifar_airbench94');
  };
  const inGraph = build();
  const byHand = build();
  const optimizer = sgd({ momentum: 0.85, nesterov: true, weightDecay: 1e-3 });
  const a = await TrainingSession.create(inGraph, { inputShape: shape, optimizer, threads: 1, ema: airbenchLookahead(total) });
  const b = await TrainingSession.create(byHand, { inputShape: shape, optimizer, threads: 1 });
  const ema = floatState(byHand);
  try {
    for (let step = 1; step <= total; step++) {
      await a.step(images, labels, 0.05);
      await b.step(images, labels, 0.05);
      for (const decay of lookaheadDecays(step, total)) {
        for (const [key, t] of byHand.stateDict()) if (t.data instanceof Float32Array) lookaheadUpdate(ema.get(key)!, t.data, decay);
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  const got = floatState(inGraph);
  let worst = 0;
  for (const [key, want] of floatState(byHand)) {
    const g = got.get(key)!;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(g[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  assert.ok(worst < 1e-4, `largest difference ${worst}`);
  assert.ok([...got.keys()].includes('2.norm1.running_mean'));
});

test("a parameter group's per-step rate factor: 0 freezes the parameter (no gradient, value and momentum kept), the others train as before", async () => {
  const key = 'fc3.bias';
  // the same model and batch twice: the bias's factor is 1 then 0 (`frozen`), or 1 throughout (`trained`)
  const run = async (factor: (step: number) => number) => {
    manualSeed(0);
    const model = createModel('cifar_lenet');
    const lrFactor = { name: 'fc3_bias_lr', value: factor };
    const session = await TrainingSession.create(model, { inputShape: [2, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }), threads: 1, paramGroups: new Map([[key, { weightDecay: 0, lrScale: 1, lrFactor }]]) });
    const images = new Float32Array(2 * 3 * 32 * 32).fill(0.3);
    const labels = BigInt64Array.from([1n, 2n]);
    try {
      await session.step(images, labels, 0.1);
      const first = { state: floatState(model), momentum: Float32Array.from(session.optimizerState().get(`${key}.momentum_buffer`)!), frozen: session.frozen };
      await session.step(images, labels, 0.1);
      return { first, state: floatState(model), momentum: session.optimizerState().get(`${key}.momentum_buffer`)!, frozen: session.frozen };
    } finally {
      await session.release();
    }
  };
  const frozen = await run((step) => (step <= 1 ? 1 : 0));
  const trained = await run(() => 1);
  assert.deepEqual([frozen.first.frozen, frozen.frozen, trained.frozen], [[], [key], []]);
  assert.deepEqual(frozen.state.get(key), frozen.first.state.get(key), 'factor 0: the bias stays');
  assert.deepEqual(frozen.momentum, frozen.first.momentum, 'factor 0: its momentum stays');
  assert.notDeepEqual(trained.state.get(key), frozen.first.state.get(key), 'factor 1: the bias trains');
  for (const [k, want] of trained.state) if (k !== key) assert.deepEqual(frozen.state.get(k), want, `${k}: trains as without the freeze`);
  assert.throws(() => buildStepGraph(createModel('cifar_lenet'), { inputShape: [2, 3, 32, 32], optimizer: sgd(), frozen: new Set(['fc9.bias']) }), /frozen fc9\.bias is not a trainable parameter/);
});

test("loss reduction 'sum': the gradients are N times the mean's, the loss output stays the mean", async () => {
  const shape = [3, 3, 32, 32];
  const feeds: Record<string, ort.Tensor> = {};
  const run = async (reduction: 'mean' | 'sum') => {
    manualSeed(2);
    const model = createModel('cifar_lenet');
    const graph = buildStepGraph(model, { inputShape: shape, loss: { kind: 'ce', labelSmoothing: 0.2, reduction } });
    const session = await ort.InferenceSession.create(graph.onnx);
    feeds.input = new ort.Tensor('float32', Float32Array.from({ length: 3 * 3 * 32 * 32 }, (_, i) => Math.sin(i)), shape);
    feeds.target = new ort.Tensor('int64', BigInt64Array.from([1n, 4n, 8n]), [3]);
    for (const [key, t] of [...graph.params, ...graph.fixed, ...graph.buffers]) feeds[key] = new ort.Tensor(t.data instanceof BigInt64Array ? 'int64' : 'float32', t.data, [...t.shape]);
    const out = await session.run(feeds);
    await session.release();
    return out;
  };
  const mean = await run('mean');
  const sum = await run('sum');
  assert.equal(sum.loss.data[0], mean.loss.data[0]);
  const g = (o: typeof mean) => Float32Array.from(o['grad.fc3.weight'].data as Float32Array);
  const [gm, gs] = [g(mean), g(sum)];
  for (let i = 0; i < gm.length; i++) assert.ok(Math.abs(gs[i] - 3 * gm[i]) <= 1e-6 + 1e-5 * Math.abs(gs[i]), `element ${i}: ${gs[i]} vs 3 × ${gm[i]}`);
});

/** a random size×size image */
function randomImage(size: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  return { width: size, height: size, data: Uint8Array.from({ length: 3 * size * size }, () => rng.int(256)) };
}

const NORM = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] } as const;

test("the loader's airbench augmentation = airbenchAugment (start flip, reflect translation, odd-epoch flip), then normalization", () => {
  const img = randomImage(8, 3);
  const spec: TransformSpec = { size: 8, randomCrop: { padding: 2, mode: 'reflect' }, hflip: 'alternating', ...NORM };
  for (const [startFlipped, epoch, seed] of [[false, 0, 1], [true, 0, 2], [false, 1, 3], [true, 3, 4], [true, 2, 5]] as const) {
    const got = transformSample(img, spec, new Rng(seed), undefined, 0, { startFlipped, epoch });
    const want = normalizeInto(airbenchAugment(img, { startFlipped, epoch, radius: 2, rng: new Rng(seed) }), NORM.mean, NORM.std);
    assert.deepEqual(got, want, `start ${startFlipped}, epoch ${epoch}`);
  }
  // the fused path (random flip off) pads by reflection the same way
  const plain: TransformSpec = { size: 8, randomCrop: { padding: 2, mode: 'reflect' }, hflip: false, ...NORM };
  const rng = new Rng(9);
  const [top, left] = [rng.int(5), rng.int(5)];
  assert.deepEqual(applyTransform(img, plain, new Rng(9)), normalizeInto(reflectTranslate(img, top - 2, left - 2, 2), NORM.mean, NORM.std));
});

test("cutout: one size×size square of zeros wholly inside the image, everything else kept, every position drawn", () => {
  for (const { h, w, size } of [{ h: 8, w: 8, size: 3 }, { h: 6, w: 9, size: 6 }, { h: 32, w: 32, size: 12 }]) {
    const rng = new Rng(h * w + size);
    const seen = new Set<string>();
    for (let draw = 0; draw < 40 * (h - size + 1) * (w - size + 1); draw++) {
      const img = Float32Array.from({ length: 3 * h * w }, (_, i) => 1 + i);
      cutOut(img, 0, h, w, size, rng);
      const zeros = [...img.keys()].filter((i) => img[i] === 0);
      assert.equal(zeros.length, 3 * size * size);
      const [top, left] = [Math.floor((zeros[0] % (h * w)) / w), zeros[0] % w];
      for (let i = 0; i < img.length; i++) {
        const [y, x] = [Math.floor((i % (h * w)) / w), i % w];
        const inside = y >= top && y < top + size && x >= left && x < left + size;
        assert.equal(img[i], inside ? 0 : 1 + i, `pixel ${i}`);
      }
      seen.add(`${top},${left}`);
    }
    assert.equal(seen.size, (h - size + 1) * (w - size + 1), `${h}×${w}, cutout ${size}: every corner drawn`);
  }
  assert.throws(() => cutOut(new Float32Array(48), 0, 4, 4, 5, new Rng(1)), /a 5×5 cutout does not fit a 4×4 image/);
});

test("the loader's pipeline cuts out after the airbench augmentation and normalization, with the sample's next draws", () => {
  const img = randomImage(8, 4);
  const spec: TransformSpec = { size: 8, randomCrop: { padding: 2, mode: 'reflect' }, hflip: 'alternating', cutout: 3, ...NORM };
  for (const [startFlipped, epoch, seed] of [[false, 0, 11], [true, 1, 12]] as const) {
    const rng = new Rng(seed);
    const want = normalizeInto(airbenchAugment(img, { startFlipped, epoch, radius: 2, rng }), NORM.mean, NORM.std);
    cutOut(want, 0, 8, 8, 3, rng);
    assert.deepEqual(transformSample(img, spec, new Rng(seed), undefined, 0, { startFlipped, epoch }), want);
  }
  assert.throws(() => runTransforms(trainOptions('--recipe', 'airbench96', '--cutout', '40'), 32), /--cutout 40 is larger than the 32×32 training image; give at most 32/);
});

test('the alternating flip through the DataLoader: every image mirrored in one of two consecutive epochs, about half at the start', async () => {
  const images = Array.from({ length: 40 }, (_, i) => randomImage(4, 100 + i));
  const dataset: ImageDataset = { name: 'random', classes: ['a'], length: images.length, sample: (i) => ({ label: 0, source: { kind: 'pixels', data: images[i].data, width: 4, height: 4 } }) };
  const loader = new DataLoader(dataset, { batchSize: 40, shuffle: false, seed: 7, dropLast: false, workers: 0, transform: { size: 4, hflip: 'alternating', ...NORM } });
  const epochs: Float32Array[] = [];
  try {
    for (const e of [0, 1, 2]) for await (const batch of loader.epoch(e)) epochs.push(Float32Array.from(batch.input));
  } finally {
    await loader.close();
  }
  const per = 3 * 16;
  let startFlipped = 0;
  images.forEach((img, i) => {
    const plain = normalizeInto(img, NORM.mean, NORM.std);
    const mirrored = normalizeInto(hflip(img), NORM.mean, NORM.std);
    const at = (e: number) => epochs[e].subarray(i * per, (i + 1) * per);
    const start = at(0).every((v, k) => v === mirrored[k]);
    assert.deepEqual(at(0), start ? mirrored : plain, `image ${i}, epoch 0`);
    assert.deepEqual(at(1), start ? plain : mirrored, `image ${i}, epoch 1`);
    assert.deepEqual(at(2), at(0), `image ${i}, epoch 2`);
    if (start) startFlipped++;
  });
  assert.ok(startFlipped > 8 && startFlipped < 32, `${startFlipped} of 40 start mirrored`);
});

test('recipe airbench94 on a tiny folder: whitening from what there is (and says so), the loss falls, validation and TTA after the last epoch', async () => {
  const data = join(scratch, 'data');
  await makeImageFolder(data, ['blue', 'green', 'red'], 22);
  const recipe = trainOptions('--recipe', 'airbench94');
  const lines: string[] = [];
  const sink = { write: (s: string) => lines.push(s) > 0 };
  const out = join(scratch, 'run');
  const result = await train({ ...recipe, data, out, valSplit: 2, batchSize: 16, epochs: 3.5, threads: 1, workers: 0 }, { sink });
  const text = lines.join('');
  assert.match(text, /whitening: 60 images, fewer than the 5000 the estimate asks for; using all 60/);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(metrics.length, 4);
  assert.ok(metrics[3].trainLoss < metrics[0].trainLoss, `train loss ${metrics.map((m) => m.trainLoss).join(' → ')}`);
  assert.equal(typeof metrics[3].valTtaTop1, 'number');
  assert.equal(metrics[0].valTtaTop1, undefined);
  // the recipe's --val-interval 10: validation after the last epoch only
  assert.deepEqual(metrics.map((m) => typeof m.valTop1), ['object', 'object', 'object', 'number']);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<svg/);
  assert.equal(result.epochs, 4);
});
