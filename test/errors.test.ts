/**
 * Bad input at the API level: each case must fail with the right error class and a message that
 * says where and what (module path and both shapes; missing, unexpected and mismatched state-dict
 * keys; a suggestion for a misspelt model name; a foreign file where a checkpoint belongs; an
 * unreadable image). Every error the user can fix is a UserError (exit 2); a failed write leaves
 * nothing behind; an evaluation leaves unreadable images out of every figure.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { UserError, asUserError, fsError } from '../src/errors.js';
import { DatasetError } from '../src/data/errors.js';
import { openImageFolder } from '../src/data/imagefolder.js';
import { DataLoader } from '../src/data/loader.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';
import { decodeImageFile } from '../src/data/worker.js';
import { serializeSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { CheckpointError, loadCheckpoint } from '../src/train/checkpoint.js';
import { EvalResult, evaluate } from '../src/train/trainer.js';
import { WriteFile, makeDirs, writeFileAtomic } from '../src/util/files.js';
import { HostTensor } from '../src/graph/ir.js';
import { Conv2d } from '../src/nn/layers.js';
import { LoadResult, Module, Sequential, StateDictError } from '../src/nn/module.js';
import { ShapeError } from '../src/ops/registry.js';
import { UnknownModelError, createModel, listModels, modelInfo, resolveModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { sgd } from '../src/optim/sgd.js';
import { InferenceModel, exportInferenceOnnx } from '../src/runtime/inference.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { TrainingSession } from '../src/runtime/training-session.js';

interface ErrorCase {
  readonly name: string;
  /** the call that must fail (a rejected promise counts) */
  readonly act: () => unknown;
  readonly error: new (...args: never[]) => Error;
  /** every pattern must occur in the message */
  readonly message: readonly (RegExp | string)[];
  /** further checks on the error */
  readonly check?: (e: Error) => void;
}

/** a two-level model whose second conv expects 5 channels but gets 4: the error must name "features.1" */
function nestedMismatch(): Module {
  return Sequential.named([['features', new Sequential(new Conv2d(3, 4, 3), new Conv2d(5, 6, 3))]]);
}

/** LeNet's state dict without fc3 and with a stray key: only missing and unexpected keys, no shape mismatch */
function lenetStateWithoutFc3(): Map<string, HostTensor> {
  const sd = new Map(createModel('cifar_lenet').stateDict());
  sd.delete('fc3.weight');
  sd.delete('fc3.bias');
  sd.set('fc4.weight', { dtype: 'float32', shape: [10, 84], data: new Float32Array(840) });
  return sd;
}

const loadResult = (e: Error): LoadResult => (e as StateDictError).result;

const scratch = mkdtempSync(join(tmpdir(), 'tessera-errors-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** writes `bytes` to a new file under the scratch folder and returns its path */
function scratchFile(name: string, bytes: Uint8Array | string): string {
  const dir = mkdtempSync(join(scratch, 'f-'));
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** the names a "did you mean A, B?" clause lists */
const suggested = (message: string): string[] => /did you mean ([^?]*)\?/.exec(message)?.[1].split(', ') ?? [];

const isRoot = process.getuid?.() === 0;
const CHECKPOINTS = fileURLToPath(new URL('../../test/data/checkpoints/', import.meta.url));

const cases: ErrorCase[] = [
  // ---- shapes at trace time
  {
    name: 'a 1-channel image into cifar_lenet (inference export)',
    act: () => exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [2, 1, 32, 32] }),
    error: ShapeError,
    message: ['module "conv1"', '[2, 1, 32, 32]', '[6, 3, 5, 5]', /1 channels, weight expects 3/],
  },
  {
    name: 'a 1-channel image into cifar_resnet18 (training step graph)',
    act: () => buildStepGraph(createModel('cifar_resnet18'), { inputShape: [2, 1, 32, 32] }),
    error: ShapeError,
    message: ['module "conv1"', '[2, 1, 32, 32]', '[64, 3, 3, 3]'],
  },
  {
    name: '28×28 images into cifar_lenet: fc1 gets 256 in-features instead of 400',
    act: () => exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [2, 3, 28, 28] }),
    error: ShapeError,
    message: ['module "fc1"', '[2, 256]', '[120, 400]'],
  },
  {
    name: '64×64 images into cifar_resnet18: the classifier gets 2048 in-features instead of 512',
    act: () => InferenceModel.create(createModel('cifar_resnet18'), { inputShape: [2, 3, 64, 64] }),
    error: ShapeError,
    message: ['module "linear"', '[2, 2048]', '[10, 512]'],
  },
  {
    name: 'a channel mismatch inside a nested module (TrainingSession.create)',
    act: () => TrainingSession.create(nestedMismatch(), { inputShape: [2, 3, 16, 16], optimizer: sgd() }),
    error: ShapeError,
    message: ['module "features.1"', '[2, 4, 14, 14]', '[6, 5, 3, 3]'],
  },
  // ---- state dicts
  {
    name: 'a ResNet18 state dict into LeNet',
    act: () => createModel('cifar_lenet').loadStateDict(createModel('cifar_resnet18').stateDict()),
    error: StateDictError,
    message: [/\b9 missing: .*fc1\.weight/, /\b121 unexpected: .*layer1\.0\.conv1\.weight/, 'conv1.weight: checkpoint [64, 3, 3, 3], model [6, 3, 5, 5]'],
    check: (e) => {
      const r = loadResult(e);
      assert.deepEqual(r.missing, ['conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
      assert.equal(r.unexpected.length, 121);
      assert.ok(r.unexpected.includes('linear.weight') && r.unexpected.includes('bn1.num_batches_tracked'));
      assert.deepEqual(r.mismatched, ['conv1.weight: checkpoint [64, 3, 3, 3], model [6, 3, 5, 5]']);
    },
  },
  {
    name: 'a state dict with missing and unexpected keys (strict)',
    act: () => createModel('cifar_lenet').loadStateDict(lenetStateWithoutFc3()),
    error: StateDictError,
    message: ['2 missing: fc3.weight, fc3.bias', '1 unexpected: fc4.weight'],
    check: (e) => assert.deepEqual(loadResult(e), { missing: ['fc3.weight', 'fc3.bias'], unexpected: ['fc4.weight'], mismatched: [] }),
  },
  {
    name: 'a 5-class head into a 10-class LeNet, even with strict: false',
    act: () => createModel('cifar_lenet').loadStateDict(createModel('cifar_lenet', { numClasses: 5 }).stateDict(), { strict: false }),
    error: StateDictError,
    message: ['fc3.weight: checkpoint [5, 84], model [10, 84]', 'fc3.bias: checkpoint [5], model [10]'],
    check: (e) => assert.deepEqual(loadResult(e), { missing: [], unexpected: [], mismatched: ['fc3.weight: checkpoint [5, 84], model [10, 84]', 'fc3.bias: checkpoint [5], model [10]'] }),
  },
  // ---- model names
  {
    name: "createModel('cifar_resnt18')",
    act: () => createModel('cifar_resnt18'),
    error: UnknownModelError,
    message: ['unknown model "cifar_resnt18"', /did you mean cifar_resnet18\b/],
  },
  {
    name: "resolveModel('ResNt', {...}, 'torchvision')",
    act: () => resolveModel('ResNt', { block: 'BasicBlock', layers: [1, 1, 1, 1] }, 'torchvision'),
    error: UnknownModelError,
    message: ['"ResNt"', /close constructors: .*\bResNet\b.*--args JSON/],
  },
  {
    name: "modelInfo('ResNet18'): a constructor name where a config is expected",
    act: () => modelInfo('ResNet18'),
    error: UnknownModelError,
    message: [/did you mean cifar_resnet18, resnet18\b/, 'ResNet18 is a constructor, which needs its arguments', '--args JSON'],
    // only names `--model` takes are suggested
    check: (e) => assert.deepEqual(suggested(e.message).filter((n) => !listModels().some((m) => m.name === n)), []),
  },
  // ---- a foreign file where a training checkpoint is expected (eval/predict/export --checkpoint, train --resume)
  {
    name: 'an ONNX model as a training checkpoint',
    act: () => loadCheckpoint(scratchFile('lenet.onnx', exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [1, 3, 32, 32] }))),
    error: CheckpointError,
    message: [/^\S*lenet\.onnx is an ONNX model, not a Tessera training checkpoint; `tessera import` takes ONNX files$/],
  },
  {
    name: 'a PyTorch zip checkpoint (.pt) as a training checkpoint',
    act: () => loadCheckpoint(join(CHECKPOINTS, 'lenet_f16.pt')),
    error: CheckpointError,
    message: [/lenet_f16\.pt is a PyTorch checkpoint \(torch\.save\), not a Tessera training checkpoint; `tessera convert` turns it into safetensors/],
  },
  {
    name: 'a legacy PyTorch checkpoint as a training checkpoint',
    act: () => loadCheckpoint(join(CHECKPOINTS, 'tiny_legacy.pt')),
    error: CheckpointError,
    message: [/tiny_legacy\.pt is a PyTorch checkpoint \(legacy torch\.save\)/, '--pretrained FILE'],
  },
  {
    name: 'a plain safetensors state dict as a training checkpoint',
    act: () => loadCheckpoint(scratchFile('state.safetensors', serializeSafetensors(createModel('cifar_lenet').stateDict()))),
    error: CheckpointError,
    message: [/state\.safetensors is not a Tessera training checkpoint \(metadata format missing/],
  },
  // ---- images that cannot be read: said so, not "unsupported image format"
  {
    name: 'a folder given as an image',
    act: () => decodeImageFile(mkdtempSync(join(scratch, 'img-dir-')), 32),
    error: DatasetError,
    message: [/img-dir-\w+: cannot read the image: is a directory$/],
  },
  {
    name: 'a file that is not an image',
    act: () => decodeImageFile(scratchFile('notes.png', 'not an image\n'), 32),
    error: DatasetError,
    message: [/notes\.png: cannot read the image \(.*unsupported image format\)$/],
  },
];

/**
 * What decoding `path` throws, as `Class: message`. Root reads every file, so as root the decode
 * runs in a child process that drops to the `nobody` user (65534) after loading the decoder.
 */
async function decodeFailure(path: string): Promise<string> {
  if (!isRoot) {
    try {
      await decodeImageFile(path, 32);
      return 'decoded';
    } catch (e) {
      return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
    }
  }
  const worker = new URL('../src/data/worker.js', import.meta.url).href;
  const script = `const { decodeImageFile } = await import(${JSON.stringify(worker)});
process.setgid(65534); process.setuid(65534);
try { await decodeImageFile(${JSON.stringify(path)}, 32); console.log('decoded'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('an image without read permission is "permission denied", not "unsupported image format"', async () => {
  const path = scratchFile('secret.png', await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer());
  chmodSync(path, 0o000);
  assert.match(await decodeFailure(path), /^DatasetError: \S*secret\.png: cannot read the image: permission denied$/);
});

/** runs the case's call and asserts it fails as described */
async function assertFails(c: ErrorCase): Promise<void> {
  let thrown: unknown = null;
  try {
    await c.act();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, `${c.name}: did not fail`);
  assert.ok(thrown instanceof c.error, `${c.name}: threw ${(thrown as Error)?.constructor?.name} (${String((thrown as Error)?.message ?? thrown)}), not ${c.error.name}`);
  for (const m of c.message) {
    if (typeof m === 'string') assert.ok(thrown.message.includes(m), `${c.name}: message lacks ${JSON.stringify(m)}: ${thrown.message}`);
    else assert.match(thrown.message, m, `${c.name}`);
  }
  c.check?.(thrown);
}

for (const c of cases) test(`rejects ${c.name}`, () => assertFails(c));

test('a failed strict load leaves the model untouched; strict: false loads what matches and returns the rest', () => {
  const sd = lenetStateWithoutFc3();
  const conv1 = sd.get('conv1.weight')!.data as Float32Array;
  const model = createModel('cifar_lenet');
  const before = Float32Array.from(model.stateDict().get('conv1.weight')!.data as Float32Array);
  assert.notDeepEqual(before, conv1, 'two fresh LeNets draw different weights');

  assert.throws(() => model.loadStateDict(sd), StateDictError);
  assert.deepEqual(model.stateDict().get('conv1.weight')!.data, before, 'strict failure loaded nothing');

  const fc3 = Float32Array.from(model.stateDict().get('fc3.weight')!.data as Float32Array);
  const result = model.loadStateDict(sd, { strict: false });
  assert.deepEqual(result, { missing: ['fc3.weight', 'fc3.bias'], unexpected: ['fc4.weight'], mismatched: [] });
  assert.deepEqual(model.stateDict().get('conv1.weight')!.data, conv1, 'matching keys loaded');
  assert.deepEqual(model.stateDict().get('fc3.weight')!.data, fc3, 'missing keys keep their values');
});

// ---- file-system errors: the user's (exit 2, naming the path) or a bug (exit 1) ----------------

/** a Node-style file-system error */
const fsFailure = (code: string, path?: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: failed${path ? `, open '${path}'` : ''}`), { code, ...(path ? { path, syscall: 'open' } : {}) });

const fsCases: readonly { code: string; user: boolean; reason?: RegExp }[] = [
  { code: 'ENOENT', user: true, reason: /no such file or directory$/ },
  { code: 'ENOTDIR', user: true, reason: /a path component is a file, not a folder$/ },
  { code: 'EISDIR', user: true, reason: /is a directory; name a file$/ },
  { code: 'EACCES', user: true, reason: /permission denied; check its permissions$/ },
  { code: 'EPERM', user: true, reason: /permission denied; check its permissions$/ },
  { code: 'ENOSPC', user: true, reason: /no space left on device; free some space or write elsewhere$/ },
  { code: 'EDQUOT', user: true, reason: /disk quota exceeded; free some space or write elsewhere$/ },
  { code: 'EROFS', user: true, reason: /read-only file system; write elsewhere$/ },
  { code: 'EIO', user: false },
  { code: 'EBADF', user: false },
];

for (const c of fsCases) {
  test(`${c.code} is ${c.user ? "the user's to fix: one line naming the path" : 'a bug: passed on as is'}`, () => {
    const raw = fsFailure(c.code, 'out/model.onnx');
    const wrapped = fsError(raw, 'out/model.onnx', 'write');
    const reported = asUserError(raw);
    if (!c.user) {
      assert.equal(wrapped, raw);
      assert.equal(reported, raw);
      return;
    }
    assert.ok(wrapped instanceof UserError && reported instanceof UserError);
    assert.match(wrapped.message, /^out\/model\.onnx: cannot write: /);
    assert.match(wrapped.message, c.reason!);
    assert.match(reported.message, /^out\/model\.onnx: /);
    assert.equal(wrapped.cause, raw);
  });
}

// ---- nothing half-written after a failed write ---------------------------------------------------

/** a writer that puts part of the bytes on disk, then fails as a full disk or a read-only file system would */
const failingWriter =
  (code: string): WriteFile =>
  (path, data) => {
    writeFileSync(path, typeof data === 'string' ? data.slice(0, 3) : data.subarray(0, 3));
    throw fsFailure(code, path);
  };

const writeCases: readonly { name: string; write: (path: string, writeFile: WriteFile) => unknown }[] = [
  { name: 'writeFileAtomic', write: (path, writeFile) => writeFileAtomic(path, 'some text', { writeFile }) },
  { name: 'writeSafetensors', write: (path, writeFile) => writeSafetensors(path, createModel('cifar_lenet').stateDict(), {}, { writeFile }) },
];

for (const c of writeCases) {
  for (const code of ['ENOSPC', 'EROFS', 'EDQUOT']) {
    test(`${c.name} on ${code}: one UserError line naming the file, nothing left behind`, () => {
      const dir = mkdtempSync(join(scratch, 'write-'));
      const path = join(dir, 'out.bin');
      assert.throws(
        () => c.write(path, failingWriter(code)),
        (e: unknown) => e instanceof UserError && e.message.startsWith(`${path}: cannot write: `) && !e.message.includes('\n'),
      );
      assert.deepEqual(readdirSync(dir), []);
    });
  }
}

test('makeDirs creates the missing folders and its undo removes them again, only while empty', () => {
  const base = mkdtempSync(join(scratch, 'dirs-'));
  const undo = makeDirs(join(base, 'a', 'b', 'c'));
  assert.deepEqual(readdirSync(join(base, 'a', 'b')), ['c']);
  undo();
  assert.deepEqual(readdirSync(base), []);

  const again = makeDirs(join(base, 'a', 'b'));
  writeFileSync(join(base, 'a', 'kept.txt'), 'x');
  again();
  assert.deepEqual(readdirSync(join(base, 'a')), ['kept.txt'], 'b removed, a kept: it holds a file');
});

// ---- evaluation leaves unreadable images out -----------------------------------------------------

/** an ImageFolder of small PNGs (two classes), plus unreadable files when `unreadable` */
async function imageFolder(unreadable: boolean): Promise<string> {
  const root = mkdtempSync(join(scratch, 'folder-'));
  for (const [cls, shades] of [['cat', [10, 90, 170]], ['dog', [50, 130, 210, 250]]] as const) {
    mkdirSync(join(root, cls));
    for (const shade of shades) {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: shade, g: 255 - shade, b: (shade * 7) % 256 } } }).png().toBuffer();
      writeFileSync(join(root, cls, `${shade}.png`), png);
    }
    if (unreadable) writeFileSync(join(root, cls, `${cls}-broken.png`), 'not an image\n');
  }
  return root;
}

async function evaluateFolder(root: string): Promise<EvalResult> {
  const model = createModel('cifar_lenet', { numClasses: 2 });
  const transform = { size: 32, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
  const loader = new DataLoader(openImageFolder(root), { batchSize: 4, shuffle: false, seed: 0, dropLast: false, transform, workers: 0 });
  try {
    return await evaluate(model, loader, { inputShape: [4, 3, 32, 32], threads: 1, numClasses: 2 });
  } finally {
    await loader.close();
  }
}

test('evaluate: unreadable images are skipped, reported, and in none of the figures', async () => {
  manualSeed(3);
  const clean = await evaluateFolder(await imageFolder(false));
  manualSeed(3);
  const withBroken = await evaluateFolder(await imageFolder(true));
  assert.equal(clean.images, 7);
  assert.deepEqual(
    withBroken.skipped.map((s) => s.reason.replace(/^.*\/(\w+-broken\.png): .*$/, '$1')),
    ['cat-broken.png', 'dog-broken.png'],
  );
  const { skipped, loss, predictions, ...figures } = withBroken;
  const { skipped: none, loss: cleanLoss, predictions: cleanPredictions, ...cleanFigures } = clean;
  assert.deepEqual(none, []);
  assert.deepEqual(figures, cleanFigures, 'images, top-1, top-5, per-class and confusion as without the unreadable files');
  // per-image predictions are by dataset index: the unreadable files' are -1, the others' as without them
  assert.deepEqual([...(predictions?.predicted ?? [])].filter((c) => c !== -1), [...(cleanPredictions?.predicted ?? [])]);
  assert.equal([...(predictions?.predicted ?? [])].filter((c) => c === -1).length, 2);
  assert.ok(Math.abs(loss - cleanLoss) <= 1e-6 * Math.abs(cleanLoss), `loss ${loss} vs ${cleanLoss}`);
});
