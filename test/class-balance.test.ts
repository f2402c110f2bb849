/**
 * Class imbalance (src/train/class-balance.ts) and the recipes' training runs: class-weight
 * formulas against hand-computed values, the weighted sampler's determinism and class
 * frequencies, CIFAR-10-LT counts, balanced accuracy; then `tessera train` end to end on a
 * synthetic 3-class ImageFolder (LeNet, batch 8, one ORT thread): a weights file of the wrong
 * length (exit 2, one line, nothing written), a run with --mixup 0.2 --cutmix 1.0, a run with
 * --class-weights balanced --sampler balanced --imbalance-ratio, `tessera eval`'s balanced
 * accuracy, and a resumed Mixup + sampler run that reproduces the uninterrupted losses exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader } from '../src/data/loader.js';
import type { ImageDataset } from '../src/data/types.js';
import { balancedAccuracy, classCounts, classWeightsFor, longTailCounts, longTailedSplits, sampledOrder } from '../src/train/class-balance.js';
import type { Splits } from '../src/train/subset.js';
import { TrainOptions, train } from '../src/train/trainer.js';
import { CliResult, runCli } from '../test-support/cli.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-class-balance-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// ---- class weights -----------------------------------------------------------------------------

const weightsFile = (name: string, text: string): string => {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
};

/** [what, --class-weights value, class counts, expected weights (by hand)] */
const WEIGHT_CASES: [string, string, number[], number[]][] = [
  ['balanced: n/(k·n_c)', 'balanced', [30, 10], [40 / 60, 40 / 20]],
  ['balanced, three classes', 'balanced', [50, 25, 25], [100 / 150, 100 / 75, 100 / 75]],
  ['balanced, equal counts: all 1', 'balanced', [7, 7, 7], [1, 1, 1]],
  ['balanced, a class with no images gets 0', 'balanced', [10, 0, 30], [40 / 30, 0, 40 / 90]],
  // (1−β)/(1−β^n): β = 0.5, n = 1 → 1, n = 2 → 2/3; normalized to sum 2: ×6/5
  ['effective β = 0.5', 'effective:0.5', [1, 2], [6 / 5, 4 / 5]],
  // β = 0: every class weighs (1−0)/(1−0) = 1
  ['effective β = 0: all 1', 'effective:0', [100, 3, 9], [1, 1, 1]],
  // β = 0.9, n = 1, 2, 3: 1, 1/1.9, 1/2.71 (as 0.1/(1−0.9^n)); sum s, times 3/s
  ['effective β = 0.9', 'effective:0.9', [1, 2, 3], [1, 1 / 1.9, 1 / 2.71].map((w, _, a) => (3 * w) / (1 + 1 / 1.9 + 1 / 2.71))],
  ['file: a JSON array', weightsFile('w.json', '[0.5, 2, 1.25]\n'), [1, 1, 1], [0.5, 2, 1.25]],
  ['file: one number per line, comments and blank lines ignored', weightsFile('w.txt', '# per class\n1\n\n2.5e-1\n3 # last\n'), [1, 1, 1], [1, 0.25, 3]],
];

for (const [what, spec, counts, expected] of WEIGHT_CASES) {
  test(`--class-weights ${what}`, () => {
    const got = classWeightsFor(spec, counts);
    assert.equal(got.length, expected.length);
    got.forEach((w, c) => assert.ok(Math.abs(w - expected[c]) <= 1e-12 * Math.max(1, expected[c]), `class ${c}: ${w} vs ${expected[c]}`));
  });
}

test('--class-weights: what is wrong is named in one line', () => {
  const cases: [string, RegExp][] = [
    [weightsFile('two.json', '[1, 2]'), /two\.json: 2 weight\(s\) for 3 classes; give one weight per class/],
    [weightsFile('neg.txt', '1\n-2\n3\n'), /neg\.txt: value 2 \(-2\) is not a number ≥ 0/],
    [weightsFile('bad.json', '[1, "a", 3]'), /bad\.json: value 2 \("a"\) is not a number ≥ 0/],
    ['effective:1.5', /effective:1\.5: BETA must be a number in \[0, 1\)/],
    [join(scratch, 'missing.txt'), /missing\.txt: .*expected balanced, effective:BETA or a file/],
  ];
  for (const [spec, pattern] of cases) assert.throws(() => classWeightsFor(spec, [1, 1, 1]), (e: Error) => pattern.test(e.message) && !e.message.includes('\n'), spec);
});

// ---- the sampler ----------------------------------------------------------------------------------

/** 1000 images: 900 of class 0, 90 of class 1, 10 of class 2, interleaved */
const LABELS = Int32Array.from({ length: 1000 }, (_, i) => (i % 100 < 90 ? 0 : i % 100 < 99 ? 1 : 2));

test('sampler: the same (seed, epoch) gives the same order; another epoch or seed another; the length is the dataset\'s', () => {
  const a = sampledOrder(LABELS, 3, 'balanced', 7, 4);
  assert.equal(a.length, 1000);
  assert.deepEqual(a, sampledOrder(LABELS, 3, 'balanced', 7, 4));
  assert.notDeepEqual(a, sampledOrder(LABELS, 3, 'balanced', 7, 5));
  assert.notDeepEqual(a, sampledOrder(LABELS, 3, 'balanced', 8, 4));
});

/**
 * Class frequencies over 20 epochs (20,000 draws): balanced gives each class 1/3, sqrt gives
 * √n_c/Σ√n (30, 9.49, 3.16 of 42.65). Each within 5 binomial standard errors (≤ 0.017).
 */
for (const [sampler, expected] of [
  ['balanced', [1 / 3, 1 / 3, 1 / 3]],
  ['sqrt', [30, Math.sqrt(90), Math.sqrt(10)].map((s, _, a) => s / a.reduce((x, y) => x + y, 0))],
] as const) {
  test(`sampler ${sampler}: class frequencies over an epoch, every image of a class drawn`, () => {
    const counts = [0, 0, 0];
    const drawn = new Set<number>();
    const draws = 20 * LABELS.length;
    for (let epoch = 0; epoch < 20; epoch++) {
      for (const i of sampledOrder(LABELS, 3, sampler, 0, epoch)) {
        counts[LABELS[i]]++;
        drawn.add(i);
      }
    }
    counts.forEach((n, c) => {
      const se = Math.sqrt((expected[c] * (1 - expected[c])) / draws);
      assert.ok(Math.abs(n / draws - expected[c]) < 5 * se, `class ${c}: ${n / draws} vs ${expected[c]} ± ${5 * se}`);
    });
    const minority = LABELS.reduce((s, y, i) => (y === 2 ? [...s, i] : s), [] as number[]);
    assert.ok(minority.every((i) => drawn.has(i)), 'every image of the smallest class is drawn');
  });
}

test('a sampled order that repeats an image augments each repeat afresh, the same with or without worker threads', async () => {
  // one 8×8 image with a gradient, so that crops and flips show
  const pixels = Uint8Array.from({ length: 3 * 8 * 8 }, (_, k) => (k * 37) % 256);
  const one: ImageDataset = { name: 'one', classes: ['a'], length: 4, sample: () => ({ label: 0, source: { kind: 'pixels', data: pixels, width: 8, height: 8 } }) };
  const batchOf = async (workers: number): Promise<Float32Array> => {
    const loader = new DataLoader(one, { batchSize: 4, shuffle: true, seed: 3, dropLast: true, workers, order: () => Int32Array.of(2, 2, 2, 2), transform: { size: 8, randomCrop: { padding: 2 }, hflip: true, mean: [0, 0, 0], std: [1, 1, 1] } });
    try {
      for await (const b of loader.epoch(0)) return b.input;
      throw new Error('no batch');
    } finally {
      await loader.close();
    }
  };
  const input = await batchOf(0);
  const per = 3 * 8 * 8;
  const images = new Set(Array.from({ length: 4 }, (_, i) => input.subarray(i * per, (i + 1) * per).join(',')));
  assert.equal(images.size, 4, 'four different augmentations of the one image');
  assert.deepEqual(await batchOf(1), input);
});

// ---- long-tailed sets ------------------------------------------------------------------------------

test('CIFAR-10-LT, imbalance ratio 100: 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50', () => {
  assert.deepEqual(longTailCounts(new Array<number>(10).fill(5000), 100), [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
  // --val-split 500 on the 5000-per-class JPEG set; the same as Python's int(4500 * 0.01 ** (i / 9))
  assert.deepEqual(longTailCounts(new Array<number>(10).fill(4500), 100), [4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45]);
});

test('long-tailed splits keep the first images of each class in dataset order; validation untouched', () => {
  const classes = Array.from({ length: 10 }, (_, c) => `c${c}`);
  const dataset = (name: string, length: number): ImageDataset => ({ name, classes, length, sample: (i) => ({ label: i % 10, source: { kind: 'file', path: `${i}.png` } }) });
  const train = dataset('train', 1000);
  const val = dataset('val', 50);
  const splits: Splits = { train, val, classes, info: { kind: 'folder', train: 'train', val: 'val', trainImages: 1000, valImages: 50, description: 'val validates' } };
  const lt = longTailedSplits(splits, 10);
  const counts = classCounts(Int32Array.from({ length: lt.train.length }, (_, i) => lt.train.sample(i).label), 10);
  assert.deepEqual(counts, longTailCounts(new Array<number>(10).fill(100), 10));
  assert.equal(lt.info.trainImages, lt.train.length);
  // class 9 keeps ⌊100·0.1⌋ = 10 images: its first ten, dataset indices 9, 19, ..., 99
  const nines = Array.from({ length: lt.train.length }, (_, i) => lt.train.sample(i)).filter((s) => s.label === 9);
  assert.deepEqual(
    nines.map((s) => (s.source.kind === 'file' ? s.source.path : '')),
    Array.from({ length: 10 }, (_, k) => `${10 * k + 9}.png`),
  );
  assert.equal(lt.val, val);
  assert.match(lt.info.description, /long-tailed training set \(imbalance ratio 10\): 100, 77, 59/);
});

test('balanced accuracy: the mean recall of the classes that have images', () => {
  assert.equal(balancedAccuracy([{ images: 90, accuracy: 1 }, { images: 10, accuracy: 0 }]), 0.5);
  assert.equal(balancedAccuracy([{ images: 0, accuracy: null }]), null);
});

// ---- through the CLI and train() ------------------------------------------------------------------

const DATA = join(scratch, 'colours');
const ready = makeImageFolder(DATA, ['blue', 'green', 'red'], 12);
const BASE = ['train', '--model', 'cifar_lenet', '--data', DATA, '--val-split', '2', '--batch-size', '8', '--threads', '1', '--workers', '0', '--epochs', '2'];

const metricsOf = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function assertTrained(r: CliResult, run: string): Record<string, unknown>[] {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const metrics = metricsOf(run);
  assert.equal(metrics.length, 2);
  for (const m of metrics) {
    assert.ok(Number.isFinite(m.trainLoss), `trainLoss ${m.trainLoss}`);
    const recall = m.valClassRecall as number[];
    assert.equal(recall.length, 3);
    assert.ok(Math.abs((m.valBalancedAcc as number) - (recall[0] + recall[1] + recall[2]) / 3) < 1e-12);
  }
  return metrics;
}

test('tessera train --help shows the Mixup/CutMix, loss and class-imbalance flags', async () => {
  const r = await runCli(['train', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const flags = ['mixup A', 'cutmix A', 'cutmix-minmax LO,HI', 'mixup-prob P', 'mixup-switch-prob P', 'mixup-mode MODE', 'bce-loss', 'bce-target-thresh T', 'focal-gamma G', 'class-weights SPEC', 'sampler NAME', 'imbalance-ratio R'];
  for (const f of flags) assert.match(r.stdout, new RegExp(`\\n  --${f} `), f);
});

test('a --class-weights file of the wrong length: exit 2, one line naming both lengths, nothing written', async () => {
  await ready;
  const run = join(scratch, 'wrong-length');
  const r = await runCli([...BASE, '--out', run, '--class-weights', weightsFile('four.txt', '1\n2\n3\n4\n')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^tessera[: ][^\n]*four\.txt: 4 weight\(s\) for 3 classes[^\n]*\n$/);
  assert.ok(!existsSync(join(run, 'config.json')), 'no config.json left behind');
});

test('tessera train --mixup 0.2 --cutmix 1.0 --label-smoothing 0.1: trains, records the options, counts accuracy against the labels', async () => {
  await ready;
  const run = join(scratch, 'mix');
  const r = await runCli([...BASE, '--out', run, '--mixup', '0.2', '--cutmix', '1.0', '--label-smoothing', '0.1', '--mixup-mode', 'elem']);
  const metrics = assertTrained(r, run);
  assert.match(r.stdout, /mixing: Mixup α 0\.2, CutMix α 1 \(CutMix with probability 0\.5\), per image with probability 1; label smoothing 0\.1 in the targets/);
  assert.match(r.stdout, /\nloss: cross-entropy\n/, 'the smoothing moved from the loss into the targets');
  for (const m of metrics) assert.ok((m.trainAcc as number) >= 0 && (m.trainAcc as number) <= 1);
  const { options } = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  assert.deepEqual([options.mixup, options.cutmix, options.mixupProb, options.mixupSwitchProb, options.mixupMode], [0.2, 1, 1, 0.5, 'elem']);
});

test('tessera train --class-weights balanced --sampler balanced --imbalance-ratio 3, then tessera eval reports balanced accuracy', async () => {
  await ready;
  const run = join(scratch, 'balanced');
  const r = await runCli([...BASE, '--out', run, '--class-weights', 'balanced', '--sampler', 'balanced', '--imbalance-ratio', '3']);
  assertTrained(r, run);
  assert.match(r.stdout, /\nloss: cross-entropy, class weights\n/);
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
  // 10 training images per class; class i keeps ⌊10·3^(−i/2)⌋: 10, 5, 3
  assert.equal(config.split.trainImages, 18);
  assert.match(config.split.description, /imbalance ratio 3\): 10, 5, 3 images per class/);
  assert.deepEqual([config.options.classWeights, config.options.sampler, config.options.imbalanceRatio], ['balanced', 'balanced', 3]);

  const e = await runCli(['eval', '--checkpoint', run, '--data', DATA, '--json', '--threads', '1', '--workers', '0']);
  assert.equal(e.code, 0, e.stderr);
  const out = JSON.parse(e.stdout);
  const recalls: number[] = out.perClass.map((p: { recall: number }) => p.recall);
  assert.ok(Math.abs(out.balancedAccuracy - recalls.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  const text = await runCli(['eval', '--checkpoint', run, '--data', DATA, '--threads', '1', '--workers', '0']);
  assert.match(text.stdout, /top-1 [\d.]+%  top-3 [\d.]+%  balanced accuracy [\d.]+%/);
});

test('Mixup + CutMix + sampler: a run resumed after epoch 1 computes the losses of an uninterrupted run exactly', async () => {
  await ready;
  const quiet = { write: () => true };
  const opts = (out: string, epochs: number, resume?: string): TrainOptions =>
    tinyRunOptions(DATA, out, { epochs, resume, mixup: 0.4, cutmix: 1, mixupMode: 'pair', labelSmoothing: 0.1, sampler: 'sqrt', focalGamma: 1 });
  const whole = join(scratch, 'whole');
  const parts = join(scratch, 'parts');
  const a = await train(opts(whole, 3), { sink: quiet });
  await train(opts(parts, 1), { sink: quiet });
  const b = await train(opts(parts, 3, parts), { sink: quiet });
  const losses = (m: readonly { trainLoss: number; trainAcc: number | null }[]) => m.map((x) => [x.trainLoss, x.trainAcc]);
  assert.deepEqual(losses(b.metrics), losses(a.metrics));
});
