/**
 * Run reports without a browser: reading run folders (bad input is one line, unreadable metrics
 * lines are skipped and counted), the confused pairs, the --bench files of the zoo page.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UserError } from '../src/errors.js';
import { mostConfusedPairs } from '../src/report/evaluation.js';
import { parseMetrics, readRun } from '../src/report/run-data.js';
import { readBenchFiles } from '../src/report/zoo-page.js';
import { runCli } from '../test-support/cli.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';
import { train } from '../src/train/trainer.js';

let scratch = '';
let run = '';
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tessera-report-'));
  await makeImageFolder(join(scratch, 'data'), ['blue', 'red'], 6);
  run = join(scratch, 'run');
  await train(tinyRunOptions(join(scratch, 'data'), run, { epochs: 1, batchSize: 4 }), { sink: { write: () => true } });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

const LINE = '{"epoch":1,"lr":0.1,"trainLoss":2,"trainAcc":0.2,"valLoss":null,"valTop1":null,"imagesPerSecond":900,"seconds":3}';

test('parseMetrics skips and counts lines that are not metrics objects', () => {
  const cases = [
    { text: `${LINE}\n`, metrics: 1, corrupt: 0 },
    { text: `${LINE}\n\n{"epoch":2,"lr"\n`, metrics: 1, corrupt: 1 },
    { text: 'garbage\n[1,2]\n{"epoch":"one"}\n', metrics: 0, corrupt: 3 },
    { text: '', metrics: 0, corrupt: 0 },
  ];
  for (const c of cases) {
    const r = parseMetrics(c.text);
    assert.deepEqual([r.metrics.length, r.corrupt], [c.metrics, c.corrupt], c.text);
  }
});

/** Makes a folder from `files` (name → text; a run's own files copied with 'copy'). */
function folder(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    if (text === 'copy') cpSync(join(run, file), join(dir, file));
    else writeFileSync(join(dir, file), text);
  }
  return dir;
}

test('tessera report: a folder that is not a run, or a run with no finished epoch, is one line and exit 2', async () => {
  const cases = [
    { name: 'missing', dir: join(scratch, 'nothing-here'), message: /is not a folder/ },
    { name: 'not a run', dir: folder('plain', { 'a.txt': 'x' }), message: /is not a run folder \(no config\.json\)/ },
    { name: 'no epoch', dir: folder('fresh', { 'config.json': 'copy' }), message: /has no finished epoch yet; its report is written after the first epoch/ },
    { name: 'only corrupt lines', dir: folder('corrupt', { 'config.json': 'copy', 'metrics.jsonl': 'garbage\n' }), message: /has no finished epoch yet \(1 unreadable metrics\.jsonl line skipped\)/ },
    { name: 'bad config', dir: folder('bad-config', { 'config.json': '{', 'metrics.jsonl': `${LINE}\n` }), message: /config\.json: cannot read the run configuration/ },
  ];
  for (const c of cases) {
    assert.throws(() => readRun(c.dir), (e) => e instanceof UserError && c.message.test(e.message), c.name);
    const r = await runCli(['report', c.dir]);
    assert.equal(r.code, 2, c.name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr, c.message, c.name);
  }
});

test('tessera report: a corrupt metrics.jsonl line is skipped with a count on the page, the rest drawn', async () => {
  const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8');
  const dir = folder('half-corrupt', { 'config.json': 'copy', 'report-data.json': 'copy', 'metrics.jsonl': `${metrics}{"epoch":2,"lr"\n` });
  const r = await runCli(['report', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 unreadable metrics\.jsonl line skipped/);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /metrics\.jsonl: 1 unreadable line skipped/);
  assert.match(html, /data-chart="confusion"/);
});

test('tessera report: several runs need --out', async () => {
  const r = await runCli(['report', run, run]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /2 runs make a comparison page; name it with --out FILE\.html/);
});

test('mostConfusedPairs: off-diagonal cells, largest first', () => {
  const cases = [
    { confusion: [[5, 2, 0], [1, 6, 3], [0, 0, 9]], limit: 2, want: [{ truth: 1, predicted: 2, count: 3 }, { truth: 0, predicted: 1, count: 2 }] },
    { confusion: [[4, 0], [0, 4]], limit: 5, want: [] },
    { confusion: [[0, 1], [1, 0]], limit: 5, want: [{ truth: 0, predicted: 1, count: 1 }, { truth: 1, predicted: 0, count: 1 }] },
  ];
  for (const c of cases) assert.deepEqual(mostConfusedPairs(c.confusion, c.limit), c.want);
});

test('readBenchFiles: one result or an array per file; anything else is one line naming the file', () => {
  const one = { model: 'cifar_lenet', batchSize: 8, threads: 1, trainImagesPerSec: 900, inferImagesPerSec: 4000 };
  const file = (name: string, text: string) => {
    const p = join(scratch, name);
    writeFileSync(p, text);
    return p;
  };
  assert.equal(readBenchFiles([file('one.json', JSON.stringify(one)), file('two.json', JSON.stringify([one, { ...one, model: 'resnet18' }]))]).length, 3);
  const bad = [
    { path: join(scratch, 'missing.json'), message: /missing\.json: cannot read it as JSON/ },
    { path: file('text.json', 'hello'), message: /text\.json: cannot read it as JSON/ },
    { path: file('wrong.json', JSON.stringify([one, { model: 'x' }])), message: /wrong\.json: item 2 is not a tessera bench --json result/ },
  ];
  for (const c of bad) assert.throws(() => readBenchFiles([c.path]), (e) => e instanceof UserError && c.message.test(e.message));
});
