/**
 * The training loop's places to plug in (src/train/hooks.ts), each used once, and its run folder
 * (src/train/run-folder.ts): the lock against a second run, and a setup or first-epoch failure
 * (a full disk, injected through `TrainHooks.writeFile`) that leaves the folder as it was.
 * In-process `train()` of LeNet on a synthetic 3-class ImageFolder, batch 8, one ORT thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/errors.js';
import type { TrainPlugin } from '../src/train/hooks.js';
import { FileWriter, LOCK_FILE, RunFolder, RunLockedError } from '../src/train/run-folder.js';
import { TrainOptions, train } from '../src/train/trainer.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-train-hooks-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const DATA = join(scratch, 'colors');
const readyData = makeImageFolder(DATA, ['blue', 'green', 'red'], 12);

const quiet = { write: () => true };
const options = (out: string, more: Partial<TrainOptions> = {}): TrainOptions => tinyRunOptions(DATA, out, more);
const metricsLines = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | null>);

// ---- the four places to plug in ----------------------------------------------------------

/** Soft one-hot targets through slots 1 and 2, an extra metrics field (3), a record of epoch ends (4). */
function probePlugins(): { plugins: TrainPlugin[]; calls: { session: number; batches: number; epochEnds: number[] } } {
  const calls = { session: 0, batches: 0, epochEnds: [] as number[] };
  const plugins: TrainPlugin[] = [
    { name: 'soft-graph', sessionOptions: (o) => (calls.session++, { ...o, target: 'soft' }) },
    {
      name: 'one-hot',
      transformBatch: (batch, step) => {
        calls.batches++;
        const n = step.labels.length;
        const soft = new Float32Array(n * step.classes.length);
        for (let r = 0; r < n; r++) soft[r * step.classes.length + Number(step.labels[r])] = 1;
        return { input: batch.input, target: soft };
      },
    },
    { name: 'again', evaluate: async (e) => ({ fields: { valTop1Again: (await e.evaluateModel(e.model)).top1 }, summary: 'again' }) },
    {
      name: 'epoch-end',
      epochEnd: (e) => {
        assert.ok(existsSync(join(e.out, 'last.safetensors')), 'epochEnd runs after the checkpoint');
        assert.equal(e.metrics.epoch, e.epoch);
        calls.epochEnds.push(e.epoch);
      },
    },
  ];
  return { plugins, calls };
}

test('plugins: soft one-hot targets train like hard labels, an extra evaluation adds a metrics field, epochEnd sees each epoch', async () => {
  await readyData;
  const plain = join(scratch, 'plain');
  const plugged = join(scratch, 'plugged');
  await train(options(plain), { sink: quiet });
  const { plugins, calls } = probePlugins();
  const printed: string[] = [];
  await train(options(plugged), { sink: { write: (s: string) => printed.push(s) }, plugins });

  assert.deepEqual(calls, { session: 1, batches: 6, epochEnds: [1, 2] });
  const a = metricsLines(plain);
  const b = metricsLines(plugged);
  for (const [i, m] of b.entries()) {
    // soft one-hot cross-entropy is hard-label cross-entropy: equal up to float32 rounding
    assert.ok(Math.abs(Number(m.trainLoss) - Number(a[i].trainLoss)) <= 1e-5 * Number(a[i].trainLoss), `epoch ${m.epoch}: ${m.trainLoss} vs ${a[i].trainLoss}`);
    assert.equal(m.valTop1Again, m.valTop1);
    assert.equal(Object.keys(m).at(-1), 'valTop1Again', 'extra fields come last');
  }
  assert.equal(JSON.parse(readFileSync(join(plugged, 'last.json'), 'utf8')).metrics.valTop1Again, b[1].valTop1);
  assert.ok(printed.some((l) => /^epoch 2\/2: .* \| again \| /.test(l)));
});

test('plugins: a batch transform returning targets of the wrong kind is refused naming the plugin', async () => {
  await readyData;
  const wrong: TrainPlugin = { name: 'wrong', transformBatch: (b) => ({ input: b.input, target: new Float32Array(3) }) };
  const out = join(scratch, 'wrong');
  await assert.rejects(train(options(out), { sink: quiet, plugins: [wrong] }), /plugin "wrong": transformBatch returned float32 targets of 3 values .*int64 targets \[8\]/);
  assert.ok(!existsSync(out), 'the failed new run left nothing');
});

// ---- a failure before the first checkpoint leaves the folder as it was ------------------

/** All files of a folder with their bytes (undefined: no folder). */
function snapshot(dir: string): Map<string, string> | undefined {
  if (!existsSync(dir)) return undefined;
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'base64')]));
}

/** writeFileSync, except that paths matching `fail` get ENOSPC. */
function fullDiskFor(fail: RegExp): FileWriter {
  return (path, data) => {
    if (fail.test(path)) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
    writeFileSync(path, data);
  };
}

const ENOSPC_IN_EPOCH: TrainPlugin = {
  name: 'full-disk',
  transformBatch: () => {
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  },
};

interface FailureCase {
  readonly name: string;
  /** prepares the run folder; returns the options */
  readonly setup: (out: string) => Promise<TrainOptions>;
  readonly writeFile?: FileWriter;
  readonly plugins?: TrainPlugin[];
  readonly error: RegExp;
}

const unfinishedRun = async (out: string) => {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), '{"an": "unfinished run"}\n');
  return options(out);
};
const resumableRun = async (out: string) => {
  await train(options(out, { epochs: 1 }), { sink: quiet });
  return options(out, { resume: out, epochs: 2 });
};

const failureCases: FailureCase[] = [
  { name: 'a new folder, the lock cannot be written', setup: async (out) => options(out), writeFile: fullDiskFor(/train\.lock/), error: /^cannot write to the output folder .*new-lock: no space left on device$/ },
  { name: 'a new folder, config.json cannot be written', setup: async (out) => options(out), writeFile: fullDiskFor(/config\.json/), error: /^cannot write .*config\.json: no space left on device; the run folder was left as it was$/ },
  {
    name: 'an existing empty folder, metrics.jsonl cannot be written',
    setup: async (out) => (mkdirSync(out, { recursive: true }), options(out)),
    writeFile: fullDiskFor(/metrics\.jsonl/),
    error: /metrics\.jsonl: no space left on device/,
  },
  { name: "an unfinished run's folder, a full disk in the first epoch", setup: unfinishedRun, plugins: [ENOSPC_IN_EPOCH], error: /^ENOSPC/ },
  { name: 'a resumed run, config.json cannot be written', setup: resumableRun, writeFile: fullDiskFor(/config\.json/), error: /config\.json: no space left on device/ },
];

for (const c of failureCases) {
  test(`a failed setup leaves the run folder as it was: ${c.name}`, async () => {
    await readyData;
    const out = join(scratch, c.name.replace(/\W+/g, '-'), c.name.startsWith('a new folder, the lock') ? 'new-lock' : 'run');
    const opts = await c.setup(out);
    const before = snapshot(out);
    await assert.rejects(train(opts, { sink: quiet, writeFile: c.writeFile, plugins: c.plugins }), (e: Error) => c.error.test(e.message));
    assert.deepEqual(snapshot(out), before);
  });
}

test('a resumed run that fails in its epoch keeps its checkpoint and metrics', async () => {
  await readyData;
  const out = join(scratch, 'resumed-then-failed');
  const opts = await resumableRun(out);
  const last = readFileSync(join(out, 'last.safetensors'));
  await assert.rejects(train(opts, { sink: quiet, plugins: [ENOSPC_IN_EPOCH] }), /ENOSPC/);
  assert.deepEqual(readFileSync(join(out, 'last.safetensors')), last);
  assert.deepEqual(metricsLines(out).map((m) => m.epoch), [1]);
  assert.ok(!existsSync(join(out, LOCK_FILE)));
});

// ---- the lock -----------------------------------------------------------------------------

/** The id of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;

interface LockCase {
  readonly name: string;
  /** the lock file's contents before `open` */
  readonly lock: () => string;
  /** RunLockedError message, or undefined: the lock is taken over */
  readonly refused?: RegExp;
}

const lockCases: LockCase[] = [
  { name: 'a live run (this process) holds it', lock: () => JSON.stringify({ pid: process.pid, host: hostname() }), refused: /^.*held is in use by another training run \(PID \d+\); wait for it to finish or choose another --out$/ },
  { name: 'a run on another host holds it', lock: () => JSON.stringify({ pid: 1, host: 'elsewhere' }), refused: /held is in use by a training run on host elsewhere \(PID 1\); if that run is gone, delete .*train\.lock$/ },
  { name: 'an unreadable lock', lock: () => 'garbage', refused: /held is locked by .*train\.lock, which cannot be read; if no training run uses the folder, delete that file$/ },
  { name: 'a killed run left it (stale)', lock: () => JSON.stringify({ pid: deadPid(), host: hostname() }) },
];

for (const c of lockCases) {
  test(`lock: ${c.name}`, () => {
    const dir = join(scratch, `lock-${c.name.replace(/\W+/g, '-')}`, 'held');
    mkdirSync(dir, { recursive: true });
    const lock = c.lock();
    writeFileSync(join(dir, LOCK_FILE), lock);
    const said: string[] = [];
    if (c.refused) {
      const refused = c.refused;
      assert.throws(() => RunFolder.open(dir, { log: (l) => said.push(l) }), (e: Error) => e instanceof RunLockedError && e instanceof UserError && refused.test(e.message));
      assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), lock, 'the lock is left alone');
      return;
    }
    const folder = RunFolder.open(dir, { log: (l) => said.push(l) });
    assert.deepEqual(said, [`${dir}: taking over the lock of PID ${JSON.parse(lock).pid}, which is no longer running (a run that was killed)`]);
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    folder.close('done');
    assert.deepEqual(readdirSync(dir), []);
  });
}

test('lock: a second open of a folder in use is refused until the first closes; a failed unsettled run removes the folder it created', () => {
  const dir = join(scratch, 'lock-twice', 'a', 'b');
  const first = RunFolder.open(dir);
  assert.throws(() => RunFolder.open(dir), RunLockedError);
  first.stage('config.json', '{}\n');
  first.commit();
  first.close('failed');
  assert.ok(!existsSync(join(scratch, 'lock-twice')), 'the folders it created are gone');
  const second = RunFolder.open(dir);
  second.stage('config.json', '{}\n');
  second.commit();
  second.settle();
  second.close('failed');
  assert.deepEqual(readdirSync(dir), ['config.json'], 'a settled run keeps its files');
});
