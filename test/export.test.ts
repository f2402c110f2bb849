/**
 * `tessera export` end to end: a randomly initialized model with non-trivial BatchNorm statistics,
 * saved as a plain state dict, exported through the CLI; the file must hold no BatchNormalization
 * (all folded into convs), carry the preprocessing metadata, and run with another batch size
 * (dynamic batch) to the unfolded model's logits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';
import { HostTensor } from '../src/graph/ir.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { fromOrt, ort, toOrt } from '../src/runtime/ort.js';

const BIN = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** a deterministic uniform generator in [0, 1) */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** the model's state dict with every BatchNorm's γ, β, running mean and running variance set to non-trivial values */
function perturbedState(name: string, seed: number): Map<string, HostTensor> {
  manualSeed(seed);
  const model = createModel(name);
  const rand = lcg(seed);
  const sd = new Map<string, HostTensor>();
  for (const [k, t] of model.stateDict()) sd.set(k, { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() } as HostTensor);
  let bns = 0;
  for (const key of [...sd.keys()].filter((k) => k.endsWith('running_mean'))) {
    const p = key.slice(0, -'running_mean'.length);
    const set = (n: string, f: () => number) => {
      const t = sd.get(p + n);
      assert.ok(t, `${p + n} exists`);
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = f();
    };
    set('running_mean', () => rand() - 0.5);
    set('running_var', () => 0.5 + 1.5 * rand());
    set('weight', () => 0.5 + rand());
    set('bias', () => 0.4 * (rand() - 0.5));
    bns++;
  }
  assert.ok(bns > 0, `${name} has BatchNorms`);
  return sd;
}

for (const name of ['cifar_resnet18', 'cifar_mobilenetv2']) {
  test(`tessera export folds every BatchNorm of ${name} and matches the unfolded model at batch 3`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-export-'));
    try {
      const sd = perturbedState(name, 7);
      const ckpt = join(dir, `${name}.safetensors`);
      const out = join(dir, `${name}.onnx`);
      writeSafetensors(ckpt, sd);
      const r = spawnSync(process.execPath, [BIN, 'export', '--model', name, '--checkpoint', ckpt, '--out', out, '--image-size', '32'], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, TESSERA_THREADS: '2' },
      });
      assert.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr})`);
      assert.match(r.stdout, /check: .* ok/);
      assert.ok(existsSync(out), `${out} exists`);
      assert.ok(!existsSync(`${out}.tmp-${r.pid}`), 'no temporary file left');

      const bytes = readFileSync(out);
      const text = bytes.toString('latin1');
      assert.ok(!text.includes('BatchNormalization'), 'no BatchNormalization left after folding');
      assert.ok(text.includes('Conv'), 'has Conv nodes');
      for (const key of ['mean', 'std', 'image_size', 'classes', 'model', 'tessera_version']) assert.ok(text.includes(key), `metadata has ${key}`);
      assert.ok(text.includes(JSON.stringify(CIFAR10_MEAN)), 'metadata holds the CIFAR mean');
      assert.ok(text.includes(JSON.stringify(CIFAR10_STD)), 'metadata holds the CIFAR std');

      // reference: Tessera's unfolded inference graph with the same weights, batch 3
      const shape = [3, 3, 32, 32];
      const rand = lcg(11);
      const data = Float32Array.from({ length: 3 * 3 * 32 * 32 }, () => 4 * rand() - 2);
      const input: HostTensor = { dtype: 'float32', shape, data };
      const model = createModel(name);
      model.loadStateDict(sd);
      const ref = await InferenceModel.create(model, { inputShape: shape, threads: 2, optimization: 'disabled' });
      const want = await ref.run(input);
      await ref.release();
      const session = await ort.InferenceSession.create(out, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
      const got = fromOrt((await session.run({ input: toOrt(input) })).logits);
      await session.release();
      assert.deepEqual(got.shape, [3, 10]);
      let maxDiff = 0;
      let maxLogit = 0;
      for (let i = 0; i < want.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(Number(got.data[i]) - Number(want.data[i])));
        maxLogit = Math.max(maxLogit, Math.abs(Number(want.data[i])));
      }
      assert.ok(maxLogit > 0, 'non-zero logits');
      assert.ok(maxDiff <= 1e-4 * maxLogit, `max |diff| ${maxDiff} ≤ 1e-4 · ${maxLogit}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('tessera export refuses opsets other than 17 with one line and exit 2', () => {
  const r = spawnSync(process.execPath, [BIN, 'export', '--model', 'cifar_resnet18', '--checkpoint', 'x.safetensors', '--out', 'x.onnx', '--opset', '13'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^tessera: .*opset 13 is not supported.*17.*\n$/);
});
