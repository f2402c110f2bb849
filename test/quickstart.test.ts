/**
 * `tessera quickstart` end to end on the bundled CIFAR-10 sample, one epoch (seconds): the run
 * folder holds what train writes plus quickstart.json (test accuracy, three predictions), an
 * earlier quickstart's folder is replaced, and bad input is one line with exit 2 and nothing
 * touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-support/cli.js';
import type { QuickstartSummary } from '../src/cli/quickstart.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-quickstart-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** a folder holding `files` (name → text) */
function folderWith(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

test('quickstart trains, evaluates and classifies into a run folder, replacing an earlier quickstart', async () => {
  const out = folderWith('earlier', { 'quickstart.json': '{}\n', 'stale.txt': 'from an earlier run\n' });
  const r = await runCli(['quickstart', '--epochs', '1', '--out', out, '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(out, 'stale.txt')), 'the earlier quickstart folder is replaced');
  for (const file of ['config.json', 'metrics.jsonl', 'last.safetensors', 'best.safetensors', 'quickstart.json']) assert.ok(existsSync(join(out, file)), `${file} in the run folder`);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1);
  const summary: QuickstartSummary = JSON.parse(readFileSync(join(out, 'quickstart.json'), 'utf8'));
  assert.equal(summary.testImages, 1000);
  assert.equal(summary.classes.length, 10);
  assert.ok(summary.testTop1 !== null && summary.testTop1 > 0.1, `one epoch beats chance: ${summary.testTop1}`);
  assert.deepEqual(summary.predictions.map((p) => p.image.replace(/^.*[\\/]/, '')), ['cat.jpg', 'horse.jpg', 'ship.jpg']);
  for (const p of summary.predictions) assert.equal(p.top.length, 3);
  for (const line of ['evaluation of the last checkpoint', 'top-3 classes', '--data cifar10', '--pretrained', 'tessera export']) assert.ok(r.stdout.includes(line), `stdout says "${line}"`);
});

/** a quickstart call that must fail with one line and leave the folder as it was */
interface RefusalCase {
  readonly name: string;
  readonly args: (dir: string) => readonly string[];
  readonly message: RegExp;
}

const REFUSALS: readonly RefusalCase[] = [
  { name: 'a folder that is not a quickstart run', args: (dir) => ['--out', dir], message: /is not empty and is not a quickstart run folder; give another --out/ },
  { name: 'a sample without train/ and test/', args: (dir) => ['--out', join(scratch, 'unused'), '--sample', dir], message: /train does not exist; --sample needs a folder with train\/ and test\// },
];

async function checkRefusal(c: RefusalCase, i: number): Promise<void> {
  const dir = folderWith(`other-${i}`, { 'notes.txt': 'mine\n' });
  const r = await runCli(['quickstart', ...c.args(dir)]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, c.message);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.deepEqual(readdirSync(dir), ['notes.txt']);
}

REFUSALS.forEach((c, i) => test(`quickstart refuses ${c.name} in one line`, () => checkRefusal(c, i)));
