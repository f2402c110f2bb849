/**
 * Training runs end to end, small: LR schedules against values computed with PyTorch's scheduler
 * code, the --config YAML subset, the progress display, the per-class hold-out, and `tessera
 * train` / `eval` / `predict` through the CLI on a synthetic 3-class ImageFolder (solid colours +
 * noise, 32×32, LeNet, batch 8, one ORT thread): run folder contents, SIGKILL + --resume
 * reproducing the losses of an uninterrupted run exactly, the run folder's lock, NaN handling,
 * and one-line errors. Runs that must be killed or diverge run in test-support/train-child.ts
 * with test plugins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../src/cli/args.js';
import { parseFlatYaml } from '../src/cli/train.js';
import type { ImageDataset } from '../src/data/types.js';
import { EpochProgress } from '../src/train/progress.js';
import { ScheduleOptions, makeSchedule } from '../src/train/schedule.js';
import { holdOutPerClass } from '../src/train/subset.js';
import { LOCK_FILE } from '../src/train/run-folder.js';
import { CliResult, ROOT, runCli, runScript } from '../test-support/cli.js';
import { makeImageFolder } from '../test-support/image-folder.js';
import { TRAIN_CHILD } from '../test-support/train-child.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-train-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// ---- schedules ------------------------------------------------------------------------------

interface LrCase {
  name: string;
  opts: ScheduleOptions;
  /** [epoch, iteration, iterations per epoch, expected] */
  points: [number, number, number, number][];
}

// Expected values come from a line-by-line Python transliteration of torch.optim.lr_scheduler's
// recursive get_lr (CosineAnnealingLR, MultiStepLR) and OneCycleLR, stepped as pytorch-cifar
// steps them (per epoch) or per iteration (OneCycleLR).
const lrCases: LrCase[] = [
  {
    name: 'cosine, T_max = 200 epochs, per epoch (constant within an epoch)',
    opts: { name: 'cosine', lr: 0.1, epochs: 200 },
    points: [
      [0, 0, 391, 0.1],
      [0, 390, 391, 0.1],
      [1, 0, 391, 0.09999383162408304],
      [50, 17, 391, 0.0853553390593274],
      [99, 0, 391, 0.05078536586559106],
      [100, 0, 391, 0.050000000000000024],
      [150, 0, 391, 0.014644660940672632],
      [199, 390, 391, 6.168375916970619e-6],
    ],
  },
  {
    name: 'cosine over 7 epochs from 0.05',
    opts: { name: 'cosine', lr: 0.05, epochs: 7 },
    points: [0.05, 0.04752422169756048, 0.040587245046468344, 0.030563023348907863, 0.019436976651092144, 0.009412754953531664, 0.002475778302439524].map((v, e) => [e, 3, 10, v]),
  },
  {
    name: 'step: ×0.1 at 50% and 75% of 200 epochs',
    opts: { name: 'step', lr: 0.1, epochs: 200 },
    points: [
      [0, 0, 391, 0.1],
      [99, 390, 391, 0.1],
      [100, 0, 391, 0.010000000000000002],
      [149, 0, 391, 0.010000000000000002],
      [150, 0, 391, 0.0010000000000000002],
      [199, 0, 391, 0.0010000000000000002],
    ],
  },
  {
    name: 'step with milestones 5,7',
    opts: { name: 'step', lr: 0.1, epochs: 10, milestones: [5, 7] },
    points: [0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002].map((v, e) => [e, 0, 4, v]),
  },
  {
    name: 'onecycle, 30 epochs × 391 iterations, per iteration',
    opts: { name: 'onecycle', lr: 0.1, epochs: 30 },
    points: [
      [0, 0, 391, 0.0040000000000000036],
      [0, 1, 391, 0.004000019139002012],
      [0, 100, 391, 0.004191262878598584],
      [8, 3518 - 8 * 391, 391, 0.1],
      [9, 0, 391, 0.09999999634029645],
      [9, 1, 391, 0.09999998536118633],
      [12, 5000 - 12 * 391, 391, 0.09217517034127358],
      [29, 390, 391, 4e-7],
    ],
  },
  {
    name: 'onecycle, 4 epochs × 5 iterations (every step)',
    opts: { name: 'onecycle', lr: 0.2, epochs: 4 },
    points: [
      0.008000000000000007, 0.026334368540005065, 0.07433436854000505, 0.13366563145999494, 0.18166563145999495, 0.2, 0.19749280124701749, 0.19009692640269477, 0.17818323551421, 0.1623491307899526,
      0.14338860035826018, 0.12225240438725786, 0.1000004, 0.07774839561274215, 0.056612199641739844, 0.0376516692100474, 0.021817564485790007, 0.009903873597305258, 0.002507998752982511, 8e-7,
    ].map((v, s) => [Math.floor(s / 5), s % 5, 5, v]),
  },
  {
    name: 'cosine with 2 warmup epochs: the schedule × (t + 1)/W per iteration, then unchanged',
    opts: { name: 'cosine', lr: 0.1, epochs: 10, warmupEpochs: 2 },
    points: [
      [0, 0, 5, (0.1 * 1) / 10],
      [0, 4, 5, (0.1 * 5) / 10],
      [1, 0, 5, ((0.05 * (1 + Math.cos(Math.PI / 10))) * 6) / 10],
      [1, 4, 5, 0.05 * (1 + Math.cos(Math.PI / 10))],
      [2, 0, 5, 0.05 * (1 + Math.cos((2 * Math.PI) / 10))],
    ],
  },
];

for (const c of lrCases) {
  test(`schedule: ${c.name}`, () => {
    const lr = makeSchedule(c.opts);
    for (const [e, i, n, want] of c.points) {
      const got = lr(e, i, n);
      assert.ok(Math.abs(got - want) <= 1e-12 * Math.abs(want), `epoch ${e} iteration ${i}/${n}: got ${got}, PyTorch ${want}`);
    }
  });
}

test('schedule: impossible settings are refused', () => {
  assert.throws(() => makeSchedule({ name: 'cosine', lr: 0.1, epochs: 0 }), /positive number of epochs/);
  assert.throws(() => makeSchedule({ name: 'cosine', lr: 0, epochs: 3 }), /positive/);
  assert.throws(() => makeSchedule({ name: 'cosine', lr: 0.1, epochs: 3, warmupEpochs: 4 }), /warmup/);
  assert.throws(() => makeSchedule({ name: 'step', lr: 0.1, epochs: 3, milestones: [1.5] }), /milestones/);
});

// ---- --config YAML ------------------------------------------------------------------------

const yamlOk: { name: string; text: string; want: Record<string, string | number | boolean> }[] = [
  { name: 'numbers, booleans, strings, comments', text: '# run\nmodel: cifar_lenet  # small\nlr: 5e-2\nepochs: 30\nnesterov: true\nsched: onecycle\n\n', want: { model: 'cifar_lenet', lr: 0.05, epochs: 30, nesterov: true, sched: 'onecycle' } },
  { name: 'quoted strings keep # and spaces', text: `---\nout: "runs/a #1"\ndata: '/data/it''s'\n`, want: { out: 'runs/a #1', data: "/data/it's" } },
  { name: 'a comma list stays a string (milestones)', text: 'milestones: 100,150\nweight_decay: .0005\n', want: { milestones: '100,150', weight_decay: 0.0005 } },
  { name: 'CRLF line ends, False', text: 'offline: False\r\nseed: -0\r\n', want: { offline: false, seed: -0 } },
];
for (const c of yamlOk) {
  test(`config YAML: ${c.name}`, () => {
    const got = Object.fromEntries([...parseFlatYaml(c.text, 'c.yaml')].map(([k, v]) => [k, v.value]));
    assert.deepEqual(got, c.want);
  });
}

const yamlBad: { name: string; text: string; error: RegExp }[] = [
  { name: 'nested mapping', text: 'model: a\noptim:\n  lr: 0.1\n', error: /^c\.yaml:2: a value is missing/ },
  { name: 'indented line', text: 'model: a\n  lr: 0.1\n', error: /^c\.yaml:2: indented lines/ },
  { name: 'list item', text: '- a\n', error: /^c\.yaml:1: lists are not supported/ },
  { name: 'flow list', text: 'epochs: 3\nmilestones: [1, 2]\n', error: /^c\.yaml:2: flow lists/ },
  { name: 'anchor', text: 'model: &m a\n', error: /^c\.yaml:1: "&"/ },
  { name: 'null', text: 'lr: ~\n', error: /^c\.yaml:1: null/ },
  { name: 'yes/no', text: 'nesterov: yes\n', error: /^c\.yaml:1: "yes" is ambiguous/ },
  { name: 'duplicate key', text: 'lr: 1\nepochs: 2\nlr: 3\n', error: /^c\.yaml:3: "lr" is given twice \(first on line 1\)/ },
  { name: 'no colon', text: 'epochs 3\n', error: /^c\.yaml:1: expected `key: value`/ },
  { name: 'unterminated quote', text: 'out: "runs\n', error: /^c\.yaml:1: unterminated/ },
  { name: 'no space after the colon', text: 'lr:0.1\n', error: /^c\.yaml:1: put a space/ },
];
for (const c of yamlBad) {
  test(`config YAML rejects: ${c.name}`, () => {
    assert.throws(() => parseFlatYaml(c.text, 'c.yaml'), (e: Error) => e instanceof UsageError && c.error.test(e.message));
  });
}

// ---- progress -----------------------------------------------------------------------------

test('progress: plain lines every N batches plus the summary; a TTY bar redraws at most every 100 ms', () => {
  let t = 0;
  const plain: string[] = [];
  const p = new EpochProgress({ epoch: 2, epochs: 5, batches: 10, sink: { write: (s: string) => plain.push(s) }, tty: false, everyBatches: 4, now: () => t });
  for (let b = 1; b <= 10; b++) {
    t += 10;
    p.update({ batch: b, images: 8 * b, loss: 1, correct: 4 * b });
  }
  p.finish('epoch 2/5: done');
  assert.deepEqual(
    plain.map((l) => l.replace(/:.*/s, '')),
    ['epoch 2/5 batch 4/10', 'epoch 2/5 batch 8/10', 'epoch 2/5'],
  );
  assert.match(plain[0], /loss 1\.0000 acc 50\.0% 800 img\/s eta 0:00\n$/);

  t = 0;
  const tty: string[] = [];
  const bar = new EpochProgress({ epoch: 1, epochs: 1, batches: 20, sink: { write: (s: string) => tty.push(s), isTTY: true, columns: 120 }, now: () => t });
  for (let b = 1; b <= 20; b++) {
    t += 30;
    bar.update({ batch: b, images: b, loss: 0.5, correct: b });
  }
  bar.finish('summary');
  // drawn at 30, 150 (≥ 100 ms later), 270, 390, 510 and always at the last batch (600 ms)
  const draws = tty.filter((s) => s.startsWith('\repoch'));
  assert.equal(draws.length, 6);
  assert.match(draws[5], /^\repoch 1\/1 \[=+\] 20\/20 loss 0\.5000 acc 100\.0% \d+ img\/s ETA 0:00\x1b\[K$/);
  assert.deepEqual(tty.slice(-2), ['\r\x1b[K', 'summary\n']);
});

test('progress of a pass that does not train: its label, no loss or accuracy', () => {
  let t = 0;
  const lines: string[] = [];
  const p = new EpochProgress({ epoch: 1, epochs: 1, label: 'decoding 40 images', batches: 4, sink: { write: (s: string) => lines.push(s) }, tty: false, everyBatches: 2, now: () => t });
  for (let b = 1; b <= 4; b++) {
    t += 500;
    p.update({ batch: b, images: 10 * b, loss: null, correct: null });
  }
  assert.deepEqual(lines, ['decoding 40 images batch 2/4: 20 img/s eta 0:01\n', 'decoding 40 images batch 4/4: 20 img/s eta 0:00\n']);
});

// ---- validation hold-out ------------------------------------------------------------------

test('--val-split holds out the last N images of every class, deterministically', () => {
  const labels = [0, 1, 0, 2, 1, 0, 2, 2, 1, 0];
  const ds: ImageDataset = { name: 'fake', classes: ['a', 'b', 'c'], length: labels.length, sample: (i) => ({ label: labels[i], source: { kind: 'file', path: String(i) } }) };
  const { train, val } = holdOutPerClass(ds, 1);
  const paths = (d: ImageDataset) => Array.from({ length: d.length }, (_, i) => (d.sample(i).source as { path: string }).path);
  assert.deepEqual(paths(val), ['7', '8', '9']);
  assert.deepEqual(paths(train), ['0', '1', '2', '3', '4', '5', '6']);
  assert.throws(() => holdOutPerClass(ds, 3), /class "b" has 3 image\(s\); --val-split 3 would leave none/);
});

// ---- the CLI on a synthetic ImageFolder ---------------------------------------------------


const DATA = join(scratch, 'colors');
const TWO = join(scratch, 'two-classes');
const readyData = (async () => {
  await makeImageFolder(DATA, ['blue', 'green', 'red'], 12);
  await makeImageFolder(TWO, ['blue', 'red'], 6);
})();

const BASE = ['--model', 'cifar_lenet', '--val-split', '2', '--batch-size', '8', '--threads', '1', '--workers', '1'];
const metrics = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);

/** exactly one line `tessera: ...` on stderr, no stack frames */
function assertOneLine(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^tessera[: ]/);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

const RUN2 = join(scratch, 'run2');

test('train: a 2-epoch LeNet run writes config.json, metrics.jsonl and the last/best checkpoints; --config is overridden by flags', async () => {
  await readyData;
  const yaml = join(scratch, 'lenet.yaml');
  writeFileSync(yaml, '# tiny run\nepochs: 5\nlr: 0.05\nsched: cosine\nlabel_smoothing: 0.1\n');
  const r = await runCli(['train', ...BASE, '--data', DATA, '--config', yaml, '--epochs', '2', '--out', RUN2]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /epoch 2\/2: lr [\d.]+ train loss/);
  for (const f of ['config.json', 'metrics.jsonl', 'last.safetensors', 'last.json', 'best.safetensors', 'best.json']) assert.ok(existsSync(join(RUN2, f)), f);
  assert.ok(!existsSync(lockOf(RUN2)), 'the lock is released');
  const config = JSON.parse(readFileSync(join(RUN2, 'config.json'), 'utf8'));
  assert.equal(config.options.epochs, 2);
  assert.equal(config.options.lr, 0.05);
  assert.equal(config.options.labelSmoothing, 0.1);
  assert.equal(config.options.momentum, 0.9);
  assert.equal(config.model.name, 'cifar_lenet');
  assert.deepEqual(config.dataset.classes, ['blue', 'green', 'red']);
  assert.equal(config.split.kind, 'holdout');
  assert.equal(config.split.valImages, 6);
  assert.equal(config.batchesPerEpoch, 3);
  assert.equal(config.droppedPerEpoch, 6);
  assert.deepEqual(config.transform.train.randomCrop, { padding: 4 });
  assert.equal(config.optimizer.name, 'sgd');
  assert.match(config.tessera, /^\d+\.\d+\.\d+/);
  const m = metrics(RUN2);
  assert.deepEqual(m.map((x) => x.epoch), [1, 2]);
  for (const x of m) {
    for (const k of ['lr', 'trainLoss', 'trainAcc', 'valLoss', 'valTop1', 'valTop5', 'imagesPerSecond', 'seconds', 'skipped']) assert.equal(typeof x[k], 'number', k);
  }
  const last = JSON.parse(readFileSync(join(RUN2, 'last.json'), 'utf8'));
  assert.equal(last.epoch, 2);
  assert.equal(last.stepCount, 6);
  assert.deepEqual(last.classes, ['blue', 'green', 'red']);
  assert.ok(last.tensors['conv1.weight'] && last.tensors['optimizer.conv1.weight.momentum_buffer']);
});

test('eval and predict on the trained run', async () => {
  const text = await runCli(['eval', '--checkpoint', RUN2, '--data', DATA, '--batch-size', '16', '--threads', '1', '--workers', '1']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /top-1 [\d.]+%  top-3 [\d.]+%[\s\S]*per-class accuracy[\s\S]*confusion matrix/);
  const json = await runCli(['eval', '--checkpoint', join(RUN2, 'last.safetensors'), '--data', DATA, '--json', '--threads', '1', '--workers', '0']);
  assert.equal(json.code, 0, json.stderr);
  const e = JSON.parse(json.stdout);
  assert.equal(e.images, 36);
  assert.equal(e.confusion.matrix.flat().reduce((a: number, b: number) => a + b, 0), 36);
  assert.equal(e.perClass.length, 3);
  assert.ok(e.top1 >= 0 && e.top1 <= 1 && e.top5 === 1);

  const imgs = [join(DATA, 'red', '00.png'), join(DATA, 'blue', '05.png')];
  const p = await runCli(['predict', '--checkpoint', RUN2, ...imgs, '--topk', '2', '--json', '--threads', '1']);
  assert.equal(p.code, 0, p.stderr);
  const out = JSON.parse(p.stdout);
  assert.equal(out.predictions.length, 2);
  for (const pred of out.predictions) {
    assert.equal(pred.top.length, 2);
    assert.ok(pred.top[0].probability >= pred.top[1].probability && pred.top[0].probability <= 1);
  }
  const t = await runCli(['predict', '--checkpoint', RUN2, imgs[0], '--threads', '1']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /red\/00\.png\n  (blue|green|red) +\d+\.\d\d%/);
});

const lockOf = (run: string) => join(run, LOCK_FILE);

/** A paused training run in a child process, after its first epoch's metrics line. */
interface PausedRun {
  readonly child: ChildProcess;
  /** the signal that ended it (null: it exited by itself) */
  readonly ended: Promise<NodeJS.Signals | null>;
}

/** Starts `tessera train ARGS` with a 30 s pause after each epoch and waits for epoch 1's metrics line. */
async function startPausedRun(trainArgs: readonly string[], out: string): Promise<PausedRun> {
  const child = spawn(process.execPath, [TRAIN_CHILD, '--pause-after-epoch', '30000', '--', ...trainArgs], { cwd: ROOT, stdio: 'ignore' });
  const ended = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  const m = join(out, 'metrics.jsonl');
  for (let i = 0; i < 1200 && !(existsSync(m) && readFileSync(m, 'utf8').includes('\n')); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(metrics(out).length, 1, 'the run paused after epoch 1');
  return { child, ended };
}

/** Metrics fields that measure time, not training: they differ between any two runs. */
const TIMING_FIELDS = new Set(['imagesPerSecond', 'loaderImagesPerSecond', 'loaderWaitSeconds', 'seconds']);
const withoutTimings = (lines: Record<string, unknown>[]) => lines.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING_FIELDS.has(k))));

/** A run killed between epochs and resumed must reproduce these options' uninterrupted run exactly. */
const resumeCases: { name: string; flags: string[] }[] = [
  { name: 'crop + flip', flags: [] },
  {
    name: 'a recipe: TrivialAugmentWide, random erasing, Mixup/CutMix, label smoothing, EMA, clipping, warmup',
    flags: ['--aa', 'ta_wide', '--reprob', '0.25', '--mixup', '0.2', '--cutmix', '1.0', '--label-smoothing', '0.1', '--model-ema', '--model-ema-decay', '0.9', '--clip-grad', '1', '--warmup-epochs', '1'],
  },
];

for (const c of resumeCases) {
  test(`SIGKILL after epoch 1 (a second run on the folder is refused meanwhile), then --resume takes over the stale lock: every metric equals the uninterrupted run's exactly (${c.name})`, async () => {
    await readyData;
    const a = mkdtempSync(join(scratch, 'runA-'));
    const b = mkdtempSync(join(scratch, 'runB-'));
    const args = (out: string) => [...BASE, ...c.flags, '--data', DATA, '--epochs', '3', '--seed', '7', '--out', out];
    const ra = await runCli(['train', ...args(a)]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.ok(!existsSync(lockOf(a)), 'a finished run releases its lock');

    // run B pauses after each epoch's metrics line, so the kill lands between epochs 1 and 2
    const runB = await startPausedRun(args(b), b);
    const pid = JSON.parse(readFileSync(lockOf(b), 'utf8')).pid;
    assert.equal(pid, runB.child.pid);
    for (const second of [['train', ...args(b)], ['train', '--resume', b]]) {
      const r = await runCli(second);
      assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
      assertOneLine(r, new RegExp(`runB-\\w+ is in use by another training run \\(PID ${pid}\\); wait for it to finish or choose another --out`));
    }
    assert.equal(metrics(b).length, 1, 'the refused runs wrote nothing');
    runB.child.kill('SIGKILL');
    assert.equal(await runB.ended, 'SIGKILL');
    assert.ok(existsSync(lockOf(b)), 'a killed run leaves its lock behind');

    const rb = await runCli(['train', '--resume', b]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, new RegExp(`taking over the lock of PID ${pid}, which is no longer running`));
    assert.match(rb.stdout, /resuming .*last\.safetensors after epoch 1 \(step 3\)/);
    assert.ok(!existsSync(lockOf(b)));
    const mb = metrics(b);
    assert.deepEqual(mb.map((m) => m.epoch), [1, 2, 3]);
    assert.deepEqual(withoutTimings(mb), withoutTimings(metrics(a)));
    assert.equal(JSON.parse(readFileSync(join(b, 'last.json'), 'utf8')).stepCount, 9);
    const configB = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
    assert.equal(configB.resumedFrom.epoch, 1);
    assert.equal(configB.options.seed, 7);
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} releases the run folder's lock and ends the run by the signal; the finished epoch stays`, async () => {
    await readyData;
    const out = join(scratch, `run-${signal}`);
    const run = await startPausedRun([...BASE, '--data', DATA, '--epochs', '3', '--out', out], out);
    assert.ok(existsSync(lockOf(out)));
    run.child.kill(signal);
    assert.equal(await run.ended, signal);
    assert.ok(!existsSync(lockOf(out)), 'the lock was released');
    assert.equal(JSON.parse(readFileSync(join(out, 'last.json'), 'utf8')).epoch, 1);
  });
}

test('a NaN loss stops training with exit 1 and keeps the last good checkpoint (a plugin feeds NaN at step 5)', async () => {
  await readyData;
  const out = join(scratch, 'runNaN');
  const r = await runScript(TRAIN_CHILD, ['--nan-at-step', '5', '--', ...BASE, '--data', DATA, '--epochs', '3', '--out', out]);
  assert.equal(r.code, 1);
  assertOneLine(r, /the loss is NaN at epoch 2, batch 2\/3 \(step 5\); training stopped, the last good checkpoint is .*last\.safetensors \(epoch 1\)/);
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.equal(JSON.parse(readFileSync(join(out, 'last.json'), 'utf8')).epoch, 1);
  assert.equal(metrics(out).length, 1);
  assert.ok(!existsSync(lockOf(out)));
  const e = await runCli(['eval', '--checkpoint', out, '--data', DATA, '--json', '--threads', '1', '--workers', '0']);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(Number.isFinite(JSON.parse(e.stdout).loss));
});

interface ErrorCase {
  name: string;
  args: () => string[];
  error: RegExp;
  /** a folder that must not exist afterwards */
  absent?: () => string;
  setup?: () => void;
}

const EMPTY_CLASS = join(scratch, 'empty-class');
const A_FILE = join(scratch, 'a-file');
const BAD_YAML = join(scratch, 'bad.yaml');
const NO_CHECKPOINT = join(scratch, 'no-checkpoint');
const errorCases: ErrorCase[] = [
  { name: 'unknown model (closest names suggested)', args: () => ['train', '--model', 'cifar_lenett', '--data', DATA, '--out', join(scratch, 'e1')], error: /unknown model "cifar_lenett"; did you mean cifar_lenet/, absent: () => join(scratch, 'e1') },
  { name: 'missing data directory', args: () => ['train', ...BASE, '--data', join(scratch, 'nope'), '--out', join(scratch, 'e2')], error: /nope: no such file or directory/, absent: () => join(scratch, 'e2') },
  {
    name: 'an empty class folder',
    setup: () => {
      mkdirSync(join(EMPTY_CLASS, 'cat'), { recursive: true });
      mkdirSync(join(EMPTY_CLASS, 'dog'), { recursive: true });
      writeFileSync(join(EMPTY_CLASS, 'cat', 'x.png'), '');
    },
    args: () => ['train', ...BASE, '--data', EMPTY_CLASS, '--out', join(scratch, 'e3')],
    error: /class folder\(s\) "dog" hold no images/,
    absent: () => join(scratch, 'e3'),
  },
  {
    name: 'an unwritable output folder',
    setup: () => writeFileSync(A_FILE, 'x'),
    args: () => ['train', ...BASE, '--data', DATA, '--out', join(A_FILE, 'run')],
    error: /cannot write to the output folder .*a-file\/run: a path component is a file/,
  },
  { name: 'an output folder that holds a run', args: () => ['train', ...BASE, '--data', DATA, '--out', RUN2], error: /already holds a run \(config\.json, last\.safetensors\); continue it with --resume/ },
  { name: '--resume as another model', args: () => ['train', '--resume', RUN2, '--model', 'cifar_resnet18'], error: /was trained as cifar_lenet, not cifar_resnet18/ },
  { name: '--resume of a missing folder', args: () => ['train', '--resume', join(scratch, 'nope')], error: /--resume .*nope: no such run folder or checkpoint; give the --out folder of an earlier tessera train$/ },
  { name: '--resume of a folder that is not a run', args: () => ['train', '--resume', DATA], error: /--resume .*colors: not a run folder \(no config\.json\); give the --out folder/ },
  {
    name: '--resume of a run that never finished an epoch',
    setup: () => {
      mkdirSync(NO_CHECKPOINT, { recursive: true });
      writeFileSync(join(NO_CHECKPOINT, 'config.json'), '{"options": {"model": "cifar_lenet"}}\n');
    },
    args: () => ['train', '--resume', NO_CHECKPOINT],
    error: /--resume .*no-checkpoint: the run has no checkpoint \(it never finished an epoch\); start it again without --resume/,
  },
  { name: '--resume with another class count', args: () => ['train', '--resume', RUN2, '--data', TWO, '--val-split', '1'], error: /has 3 classes but the data has 2/ },
  {
    name: 'a --config file with a nested mapping',
    setup: () => writeFileSync(BAD_YAML, 'model: cifar_lenet\nschedule:\n  name: cosine\n'),
    args: () => ['train', '--config', BAD_YAML, '--data', DATA, '--out', join(scratch, 'e4')],
    error: /bad\.yaml:2: a value is missing/,
    absent: () => join(scratch, 'e4'),
  },
  { name: 'a bad option value', args: () => ['train', ...BASE, '--data', DATA, '--epochs', '0'], error: /tessera train: --epochs: expected a number > 0 and ≤ 1000000, got "0"/ },
  { name: 'eval on data with another class count', args: () => ['eval', '--checkpoint', RUN2, '--data', TWO], error: /has 3 classes \(cifar_lenet\) but .*two-classes has 2/ },
  { name: 'eval of a run folder without checkpoints', args: () => ['eval', '--checkpoint', scratch, '--data', DATA], error: /holds no checkpoint/ },
  { name: 'predict on an unreadable image', args: () => ['predict', '--checkpoint', RUN2, A_FILE], error: /a-file: cannot read the image/ },
];

for (const c of errorCases) {
  test(`error: ${c.name} → one line, exit 2, nothing written`, async () => {
    await readyData;
    c.setup?.();
    const before = existsSync(join(RUN2, 'config.json')) ? statSync(join(RUN2, 'config.json')).mtimeMs : 0;
    const args = c.args();
    const r = await runCli(args.includes('--threads') ? args : [...args, '--threads', '1']);
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
    assertOneLine(r, c.error);
    if (c.absent) assert.ok(!existsSync(c.absent()), `${c.absent()} was created`);
    assert.equal(existsSync(join(RUN2, 'config.json')) ? statSync(join(RUN2, 'config.json')).mtimeMs : 0, before, 'the existing run was not touched');
    assert.ok(!existsSync(lockOf(RUN2)), 'no lock is left behind');
  });
}
