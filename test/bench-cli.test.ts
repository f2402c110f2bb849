/**
 * `tessera bench` end to end: spawns `node bin/tessera.js bench ...` from the repo root with tiny
 * sizes (one step of cifar_lenet at batch 4) and checks the JSON report and the error path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../test-support/cli.js';




test('tessera bench --json prints one object with every measurement, torch null unless asked', async () => {
  const r = await runCli(['bench', '--model', 'cifar_lenet', '--batch-size', '4', '--threads', '1', '--steps', '1', '--warmup', '0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `stdout should be one JSON line, got:\n${r.stdout}`);
  const report = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(report).sort(), ['batchSize', 'inferImagesPerSec', 'loaderImagesPerSec', 'model', 'peakRssMB', 'threads', 'torch', 'trainImagesPerSec'].sort());
  assert.equal(report.model, 'cifar_lenet');
  assert.equal(report.batchSize, 4);
  assert.equal(report.threads, 1);
  for (const key of ['trainImagesPerSec', 'inferImagesPerSec', 'loaderImagesPerSec', 'peakRssMB']) {
    const v = report[key];
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${key} should be a positive number, got ${String(v)}`);
  }
  assert.equal(report.torch, null);
});

test('tessera bench with an unknown model exits 2 with one line', async () => {
  const r = await runCli(['bench', '--model', 'no_such_model', '--batch-size', '4', '--threads', '1', '--json']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `stderr should be one line, got:\n${r.stderr}`);
  assert.match(lines[0], /^tessera: unknown model "no_such_model"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
