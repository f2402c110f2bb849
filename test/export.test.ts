/**
 * ONNX export. `tessera export` end to end: a randomly initialized model with non-trivial
 * BatchNorm statistics, saved as a plain state dict, exported through the CLI; the file must hold
 * no BatchNormalization (all folded into convs), carry the preprocessing metadata, and run with
 * another batch size (dynamic batch) to the unfolded model's logits. Opsets 13–17: models with
 * LayerNorm and HardSwish written at 13 (where ONNX has neither op, so both are decomposed) and
 * at 17, each file run by a fresh ONNX Runtime session to Tessera's logits. A failed write (a full
 * disk, injected) leaves no temporary file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportCommand } from '../src/cli/export.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';
import { UserError } from '../src/errors.js';
import { HostTensor } from '../src/graph/ir.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { createFromConstructor, createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { Module } from '../src/nn/module.js';
import { InferenceModel, exportInferenceOnnx } from '../src/runtime/inference.js';
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

/**
 * `model`'s state dict with every per-channel float tensor (norm weights and biases, BatchNorm
 * running statistics, layer scales, biases) set to non-trivial values; returns the dict and how
 * many BatchNorms it has
 */
function perturbedState(model: Module, seed: number): { state: Map<string, HostTensor>; batchNorms: number } {
  const rand = lcg(seed);
  const state = new Map<string, HostTensor>();
  let batchNorms = 0;
  for (const [k, t] of model.stateDict()) {
    const copy = { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() } as HostTensor;
    state.set(k, copy);
    const perChannel = t.dtype === 'float32' && t.shape.filter((d) => d > 1).length === 1;
    if (!perChannel) continue;
    const positive = /(running_var|weight|layer_scale)$/.test(k);
    const d = copy.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = positive ? 0.5 + rand() : 0.4 * (rand() - 0.5);
    if (k.endsWith('running_mean')) batchNorms++;
  }
  return { state, batchNorms };
}

/** a deterministic input batch in [-2, 2) */
function inputBatch(shape: readonly number[], seed: number): HostTensor {
  const rand = lcg(seed);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 4 * rand() - 2) };
}

/** asserts a fresh ORT session on `file` gives `model`'s logits (Tessera's unfolded inference graph) within 1e-4 · max |logit| */
async function assertFileReproducesModel(file: string, model: Module, input: HostTensor, numClasses: number): Promise<void> {
  const ref = await InferenceModel.create(model, { inputShape: input.shape, threads: 2, optimization: 'disabled' });
  const want = await ref.run(input);
  await ref.release();
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
  const got = fromOrt((await session.run({ input: toOrt(input) })).logits);
  await session.release();
  assert.deepEqual(got.shape, [input.shape[0], numClasses]);
  let maxDiff = 0;
  let maxLogit = 0;
  for (let i = 0; i < want.data.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(Number(got.data[i]) - Number(want.data[i])));
    maxLogit = Math.max(maxLogit, Math.abs(Number(want.data[i])));
  }
  assert.ok(maxLogit > 0, 'non-zero logits');
  assert.ok(maxDiff <= 1e-4 * maxLogit, `max |diff| ${maxDiff} ≤ 1e-4 · ${maxLogit}`);
}

/**
 * whether ONNX bytes hold a node of this op type: a NodeProto's op_type is field 4, a string
 * (tag 0x22, then its length); node names, which also mention the IR op, are field 3
 */
function hasOpType(bytes: Uint8Array, opType: string): boolean {
  return Buffer.from(bytes).includes(Buffer.concat([Buffer.from([0x22, opType.length]), Buffer.from(opType, 'latin1')]));
}

const cliCases: readonly { name: string; opset: number }[] = [
  { name: 'cifar_resnet18', opset: 17 },
  { name: 'cifar_mobilenetv2', opset: 17 },
  { name: 'cifar_mobilenetv2', opset: 13 },
];

for (const { name, opset } of cliCases) {
  test(`tessera export --opset ${opset} folds every BatchNorm of ${name} and matches the unfolded model at batch 3`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-export-'));
    try {
      manualSeed(7);
      const { state, batchNorms } = perturbedState(createModel(name), 7);
      assert.ok(batchNorms > 0, `${name} has BatchNorms`);
      const ckpt = join(dir, `${name}.safetensors`);
      const out = join(dir, `${name}.onnx`);
      writeSafetensors(ckpt, state);
      const args = ['export', '--model', name, '--checkpoint', ckpt, '--out', out, '--image-size', '32', '--opset', String(opset)];
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TESSERA_THREADS: '2' } });
      assert.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr})`);
      assert.match(r.stdout, /check: .* ok/);
      assert.match(r.stdout, new RegExp(`wrote .*opset ${opset}`));
      assert.ok(existsSync(out), `${out} exists`);
      assert.ok(!existsSync(`${out}.tmp-${r.pid}`), 'no temporary file left');

      const bytes = readFileSync(out);
      const text = bytes.toString('latin1');
      assert.ok(!hasOpType(bytes, 'BatchNormalization'), 'no BatchNormalization left after folding');
      assert.ok(hasOpType(bytes, 'Conv'), 'has Conv nodes');
      for (const key of ['mean', 'std', 'image_size', 'classes', 'model', 'tessera_version']) assert.ok(text.includes(key), `metadata has ${key}`);
      assert.ok(text.includes(JSON.stringify(CIFAR10_MEAN)), 'metadata holds the CIFAR mean');
      assert.ok(text.includes(JSON.stringify(CIFAR10_STD)), 'metadata holds the CIFAR std');

      const model = createModel(name);
      model.loadStateDict(state);
      await assertFileReproducesModel(out, model, inputBatch([3, 3, 32, 32], 11), 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** small models whose graphs use the ops newer than opset 13 */
const opsetModels: readonly { label: string; build: () => Module; opType: string; since: number }[] = [
  {
    label: 'a two-stage ConvNeXt (LayerNorm, LayerNorm2d)',
    // layer scale 1, not 1e-6, so each block's LayerNorm shows in the logits
    build: () => createFromConstructor('ConvNeXt', { blockSetting: [{ inputChannels: 16, outChannels: 32, numLayers: 1 }, { inputChannels: 32, outChannels: null, numLayers: 2 }], layerScale: 1, numClasses: 10 }),
    opType: 'LayerNormalization',
    since: 17,
  },
  {
    label: 'mobilenet_v3_small at width 0.5 (HardSwish)',
    build: () => createFromConstructor('mobilenet_v3_small', { widthMult: 0.5, numClasses: 10 }),
    opType: 'HardSwish',
    since: 14,
  },
];

for (const m of opsetModels) {
  for (const opset of [13, 17]) {
    test(`export at opset ${opset}: ${m.label} ${opset >= m.since ? `as ${m.opType}` : 'decomposed'}; a fresh ORT session on the file gives Tessera's logits`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-opset-'));
      try {
        manualSeed(3);
        const model = m.build();
        model.loadStateDict(perturbedState(model, 5).state);
        const bytes = exportInferenceOnnx(model, { inputShape: [1, 3, 32, 32], dynamicBatch: true, foldBatchNorms: true, opset });
        assert.equal(hasOpType(bytes, m.opType), opset >= m.since, `${m.opType} nodes ${opset >= m.since ? 'present' : 'absent'} at opset ${opset}`);
        const file = join(dir, `opset${opset}.onnx`);
        writeFileSync(file, bytes);
        await assertFileReproducesModel(file, model, inputBatch([3, 3, 32, 32], 11), 10);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

for (const opset of [12, 18]) {
  test(`tessera export refuses --opset ${opset} with one line and exit 2`, () => {
    const r = spawnSync(process.execPath, [BIN, 'export', '--model', 'cifar_resnet18', '--checkpoint', 'x.safetensors', '--out', 'x.onnx', '--opset', String(opset)], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`^tessera export: --opset: expected a whole number from 13 to 17, got "${opset}"\\n$`));
  });
}

/** a writer that puts part of the file on disk, then fails as a full disk or a read-only file system would */
const failingWriter = (code: string) => (path: string, data: Uint8Array | string) => {
  writeFileSync(path, typeof data === 'string' ? data.slice(0, 3) : data.subarray(0, 3));
  throw Object.assign(new Error(`${code}: failed, write`), { code, syscall: 'write' });
};

for (const code of ['ENOSPC', 'EROFS', 'EDQUOT']) {
  test(`tessera export on ${code}: one UserError line naming the file, no model.onnx.tmp-PID left`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-export-'));
    try {
      const ckpt = join(dir, 'lenet.safetensors');
      const out = join(dir, 'model.onnx');
      writeSafetensors(ckpt, createModel('cifar_lenet').stateDict());
      const args = ['--model', 'cifar_lenet', '--checkpoint', ckpt, '--out', out];
      await assert.rejects(exportCommand(args, { writeFile: failingWriter(code) }), (e: unknown) => e instanceof UserError && e.message.startsWith(`${out}: cannot write: `));
      assert.deepEqual(readdirSync(dir), ['lenet.safetensors']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
