/**
 * ONNX external data (src/onnx/external-data.ts), for models over ONNX's 2 GB file limit such as
 * vit_h_14, checked on small models with the threshold forced to 0: the side file's layout
 * (aligned offsets, large initializers only), a session on the model with its side file giving
 * exactly the single-file session's logits, the reader reading the side file back to the same
 * initializers; `tessera export` writing MODEL.onnx and MODEL.onnx.data together (or neither)
 * and `tessera import` of the pair; a missing or truncated side file, one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportCommand } from '../src/cli/export.js';
import { UserError } from '../src/errors.js';
import { HostTensor } from '../src/graph/ir.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { EXTERNAL_DATA_THRESHOLD, EXTERNAL_MIN_BYTES, LARGE_ALIGNMENT, LARGE_TENSOR_BYTES, OnnxFiles, PAGE_BYTES, defaultExternalDataThreshold } from '../src/onnx/external-data.js';
import { importOnnx } from '../src/onnx/import.js';
import { stageOnnxFiles } from '../src/onnx/onnx-files.js';
import { decodeOnnx, readOnnxFile } from '../src/onnx/read.js';
import { InferenceModel, exportInferenceFiles, exportInferenceOnnx } from '../src/runtime/inference.js';
import { createSession, fromOrt, toOrt } from '../src/runtime/ort.js';
import { runCli } from '../test-support/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-external-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const SHAPE = [2, 3, 32, 32];

/** a deterministic input batch in [-2, 2) */
function inputBatch(shape: readonly number[]): HostTensor {
  return { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => 2 * Math.sin(i * 0.37)) };
}

/** the logits of an ORT session on `model` (bytes, or a model with its side file) */
async function logitsOf(model: Uint8Array | OnnxFiles, input: HostTensor): Promise<HostTensor> {
  const session = await createSession(model, { threads: 1 });
  try {
    return fromOrt((await session.run({ input: toOrt(input) })).logits);
  } finally {
    await session.release();
  }
}

/** asserts the side file's layout: large initializers only, aligned offsets, in order without overlap */
function assertLayout(files: OnnxFiles): void {
  const data = files.externalData;
  assert.ok(data, 'a side file');
  let end = 0;
  for (const { offset, bytes } of data.pieces) {
    assert.ok(bytes.length >= EXTERNAL_MIN_BYTES, `only initializers of ${EXTERNAL_MIN_BYTES} bytes or more go to the side file (${bytes.length})`);
    assert.equal(offset % (bytes.length >= LARGE_TENSOR_BYTES ? LARGE_ALIGNMENT : PAGE_BYTES), 0, `offset ${offset} of ${bytes.length} bytes aligned`);
    assert.ok(offset >= end, `offset ${offset} after the previous piece's end ${end}`);
    end = offset + bytes.length;
  }
  assert.equal(data.size, end);
}

for (const name of ['cifar_lenet', 'cifar_resnet18']) {
  test(`${name} with its weights in a side file (threshold 0): same logits as the single file, the reader reads the same initializers`, async () => {
    manualSeed(5);
    const model = createModel(name);
    const single = exportInferenceOnnx(model, { inputShape: SHAPE });
    const files = exportInferenceFiles(model, { inputShape: SHAPE, externalDataThreshold: 0, externalDataLocation: `${name}.onnx.data` });
    assertLayout(files);
    assert.ok(files.model.length < single.length / 10, `the model without its large initializers: ${files.model.length} of ${single.length} bytes`);
    const input = inputBatch(SHAPE);
    assert.deepEqual(await logitsOf(files, input), await logitsOf(single, input));

    const dir = mkdtempSync(join(scratch, name));
    const staged = stageOnnxFiles(join(dir, `${name}.onnx`), files);
    staged.commit();
    staged.discard();
    assert.deepEqual(readdirSync(dir).sort(), [`${name}.onnx`, `${name}.onnx.data`]);
    assert.deepEqual(readOnnxFile(join(dir, `${name}.onnx`)).graph.initializers, decodeOnnx(single).graph.initializers);
  });
}

test('below the threshold (default 1.8 GB) every initializer stays inside the model', () => {
  assert.equal(defaultExternalDataThreshold(), EXTERNAL_DATA_THRESHOLD);
  const files = exportInferenceFiles(createModel('cifar_lenet'), { inputShape: SHAPE });
  assert.equal(files.externalData, null);
});

test('exportInferenceOnnx (one file) refuses a model that needs a side file, in one line', () => {
  assert.throws(
    () => exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: SHAPE, externalDataThreshold: 0 }),
    (e: unknown) => e instanceof UserError && /^the model's weights take 0\.00 GB, more than one ONNX file holds \(2 GB\); write it as a file with its model\.onnx\.data beside it/.test(e.message) && !e.message.includes('\n'),
  );
});

/** the environment that gives every model a side file */
const SIDE_FILE_ENV = { TESSERA_EXTERNAL_DATA_THRESHOLD: '0' };

/** a folder with a cifar_lenet state dict; resolves to the folder, the checkpoint and the model */
function lenetCheckpoint(label: string): { dir: string; ckpt: string; model: ReturnType<typeof createModel> } {
  manualSeed(9);
  const model = createModel('cifar_lenet');
  const dir = mkdtempSync(join(scratch, label));
  const ckpt = join(dir, 'lenet.safetensors');
  writeSafetensors(ckpt, model.stateDict());
  return { dir, ckpt, model };
}

test('tessera export writes model.onnx and model.onnx.data side by side and says so; import of the pair gives the model\'s logits', async () => {
  const { dir, ckpt, model } = lenetCheckpoint('export');
  const out = join(dir, 'model.onnx');
  const { code, stdout, stderr } = await runCli(['export', '--model', 'cifar_lenet', '--checkpoint', ckpt, '--out', out], { ...SIDE_FILE_ENV, TESSERA_THREADS: '1' });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /check: .* ok/);
  assert.match(stdout, /^wrote model\.onnx\.data beside it: \d+\.\d\d MB of weights as ONNX external data .*keep the two files together$/m);
  assert.deepEqual(readdirSync(dir).sort(), ['lenet.safetensors', 'model.onnx', 'model.onnx.data']);

  const imported = importOnnx(out);
  const input = inputBatch(SHAPE);
  const want = await InferenceModel.create(model, { inputShape: SHAPE, threads: 1 });
  const got = await InferenceModel.create(imported, { inputShape: SHAPE, threads: 1 });
  const [a, b] = [await got.run(input), await want.run(input)];
  await Promise.all([got.release(), want.release()]);
  const maxLogit = Math.max(...[...b.data].map((v) => Math.abs(Number(v))));
  assert.ok([...a.data].every((v, i) => Math.abs(Number(v) - Number(b.data[i])) <= 1e-4 * maxLogit), 'imported logits within 1e-4 · max |logit|');

  const r = await runCli(['import', out, '--out', join(dir, 'imported.safetensors')]);
  assert.equal(r.code, 0, r.stderr);
});

test('tessera export with a side file on a failing disk: one line, neither file left behind', async () => {
  const { dir, ckpt } = lenetCheckpoint('enospc');
  const full = (path: string) => {
    writeFileSync(path, 'par');
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
  };
  process.env.TESSERA_EXTERNAL_DATA_THRESHOLD = SIDE_FILE_ENV.TESSERA_EXTERNAL_DATA_THRESHOLD;
  try {
    await assert.rejects(exportCommand(['--model', 'cifar_lenet', '--checkpoint', ckpt, '--out', join(dir, 'model.onnx')], { writeFile: full }), (e: unknown) => e instanceof UserError && /model\.onnx: cannot write: no space left/.test(e.message));
  } finally {
    delete process.env.TESSERA_EXTERNAL_DATA_THRESHOLD;
  }
  assert.deepEqual(readdirSync(dir), ['lenet.safetensors']);
});

/** what is done to the side file, and the one line `tessera import` must then print */
const brokenSideFiles: readonly { name: string; spoil: (data: string) => void; message: RegExp }[] = [
  { name: 'missing', spoil: (data) => renameSync(data, `${data}.elsewhere`), message: /^tessera: \S+model\.onnx: tensor "\S+" keeps its data in model\.onnx\.data, which is not beside the model \(no \S+model\.onnx\.data\); copy model\.onnx\.data next to it\n$/ },
  { name: 'truncated', spoil: (data) => truncateSync(data, 2000), message: /^tessera: \S+model\.onnx: tensor "\S+": \S+model\.onnx\.data is too short \(.*\); is it complete, and the one written with this model\?\n$/ },
];

for (const c of brokenSideFiles) {
  test(`tessera import of a model whose side file is ${c.name}: one line, exit 2`, async () => {
    const { dir } = lenetCheckpoint(c.name);
    const out = join(dir, 'model.onnx');
    const staged = stageOnnxFiles(out, exportInferenceFiles(createModel('cifar_lenet'), { inputShape: SHAPE, externalDataThreshold: 0 }));
    staged.commit();
    c.spoil(`${out}.data`);
    const r = await runCli(['import', out, '--out', join(dir, 'imported.safetensors')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, c.message);
  });
}
