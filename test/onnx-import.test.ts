/**
 * `importOnnx` and `tessera import` on the torch.onnx.export fixtures (../shared/fixtures/onnx):
 * each imports, reproduces its `io` logits within 1e-4 of the largest |logit| (also at another
 * batch size), takes SGD steps that lower the loss on a fixed batch, and round-trips its state
 * dict through `tessera import --out`. A Tessera model with BatchNorm, exported to ONNX and
 * imported back, keeps its names and statistics and trains exactly like the original. Bad input
 * (not ONNX, truncated, an unsupported op, no --out, a missing file) is one line, exit 2, nothing
 * written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostTensor, Value } from '../src/graph/ir.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { manualSeed } from '../src/nn/init.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { OnnxImportError, OnnxModule, importOnnx } from '../src/onnx/import.js';
import { ProtoWriter } from '../src/onnx/protobuf.js';
import { OnnxFormatError, decodeOnnx } from '../src/onnx/read.js';
import { relu } from '../src/ops/activations.js';
import { globalAvgPool } from '../src/ops/pool.js';
import { flatten } from '../src/ops/shape.js';
import { sgd } from '../src/optim/sgd.js';
import { InferenceModel, exportInferenceOnnx } from '../src/runtime/inference.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { runCli } from '../test-support/cli.js';
import { sharedFixture } from '../test-support/fixtures.js';


interface FixtureCase {
  readonly name: string;
  /** a second batch size the imported model is traced with (the fixture's is 16) */
  readonly otherBatch: number;
  /** images per training step (the first ones of the io input) */
  readonly trainBatch: number;
  readonly lr: number;
}

const fixtureCases: FixtureCase[] = [
  { name: 'tv_vit', otherBatch: 5, trainBatch: 8, lr: 0.01 },
  { name: 'tv_mobilenet_v3_small', otherBatch: 3, trainBatch: 4, lr: 0.01 },
];

const onnxPath = (name: string) => sharedFixture(`onnx/${name}.onnx`);

function loadIo(name: string): { input: HostTensor; logits: HostTensor } {
  const f = readSafetensors(sharedFixture(`onnx/${name}.io.safetensors`));
  return { input: f.tensors.get('input')!, logits: f.tensors.get('logits')! };
}

function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-onnx-import-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** eval-mode logits of `model` for the first `batch` images of `input` */
async function runEval(model: Module, input: HostTensor, batch: number): Promise<Float32Array> {
  const per = input.data.length / input.shape[0];
  const shape = [batch, ...input.shape.slice(1)];
  const net = await InferenceModel.create(model, { inputShape: shape, threads: 2 });
  try {
    const out = await net.run({ dtype: 'float32', shape, data: (input.data as Float32Array).subarray(0, batch * per) });
    return out.data as Float32Array;
  } finally {
    await net.release();
  }
}

/** asserts max |actual − expected| <= rel × max |expected| */
function assertCloseToMax(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
  }
  assert.ok(maxRef > 0, `${what}: reference is all zeros`);
  assert.ok(maxDiff <= rel * maxRef, `${what}: max |difference| ${maxDiff} > ${rel} × ${maxRef}`);
}

// ---- the fixtures: logits, any batch, training, state dict round trip ---------------------------

async function assertReproducesLogits(c: FixtureCase): Promise<void> {
  const model = importOnnx(onnxPath(c.name));
  const { input, logits } = loadIo(c.name);
  const n = input.shape[0];
  assertCloseToMax(await runEval(model, input, n), logits.data as Float32Array, 1e-4, `${c.name} at batch ${n}`);
  const classes = logits.shape[1];
  assert.deepEqual(model.outputShape([c.otherBatch, ...input.shape.slice(1)]), [c.otherBatch, classes]);
  const head = (logits.data as Float32Array).subarray(0, c.otherBatch * classes);
  assertCloseToMax(await runEval(model, input, c.otherBatch), head, 1e-4, `${c.name} at batch ${c.otherBatch}`);
}

/** four SGD steps on one batch; returns the losses */
async function assertTrains(c: FixtureCase): Promise<number[]> {
  const model = importOnnx(onnxPath(c.name));
  const { input, logits } = loadIo(c.name);
  const classes = logits.shape[1];
  const per = input.data.length / input.shape[0];
  const images = (input.data as Float32Array).slice(0, c.trainBatch * per);
  const target = BigInt64Array.from({ length: c.trainBatch }, (_, i) => BigInt((3 * i + 1) % classes));
  const before = new Map([...model.namedParameters()].map(([k, p]) => [k, p.data.slice()]));
  assert.ok(before.size > 0, 'the imported model has parameters');
  const session = await TrainingSession.create(model, { inputShape: [c.trainBatch, ...input.shape.slice(1)], optimizer: sgd(), threads: 2 });
  const losses: number[] = [];
  try {
    for (let step = 0; step < 4; step++) losses.push((await session.step(images, target, c.lr)).loss);
  } finally {
    await session.release();
  }
  assert.ok(losses.every(Number.isFinite), `${c.name}: non-finite loss in ${losses.join(', ')}`);
  assert.ok(losses[3] < losses[0], `${c.name}: loss did not fall over 4 steps: ${losses.join(', ')}`);
  const changed = [...model.namedParameters()].filter(([k, p]) => p.data.some((v, i) => v !== before.get(k)![i])).length;
  // (the fixtures' weights are perturbed, not trained: in MobileNetV3 the first blocks' gradients are
  // around 1e-10, too small to move a float32 weight at this learning rate, so not every tensor changes)
  assert.ok(changed > 0.5 * before.size, `${c.name}: only ${changed} of ${before.size} parameters changed`);
  const last = model.imported[model.imported.length - 1];
  assert.ok(last.tensor.data.some((v, i) => v !== before.get(last.key)![i]), `${c.name}: the last parameter (${last.key}) did not change`);
  return losses;
}

async function assertStateDictRoundTrip(c: FixtureCase): Promise<void> {
  const model = importOnnx(onnxPath(c.name));
  await withTempDir(async (dir) => {
    const out = join(dir, `${c.name}.safetensors`);
    const r = await runCli(['import', onnxPath(c.name), '--out', out]);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stdout, /classes: 10/);
    assert.match(r.stdout, /parameters: \d+ tensors/);
    const written = readSafetensors(out).tensors;
    const state = model.stateDict();
    assert.deepEqual([...written.keys()], [...state.keys()], 'safetensors keys = the state dict keys, in order');
    for (const [key, t] of state) {
      const w = written.get(key)!;
      assert.deepEqual([...w.shape], [...t.shape], `${key}: shape`);
      assert.deepEqual(w.data, t.data, `${key}: values`);
    }
    // the written state loads into a fresh import strictly
    importOnnx(onnxPath(c.name)).loadStateDict(written);
  });
}

for (const c of fixtureCases) {
  test(`${c.name}.onnx imports and reproduces its io logits (and at batch ${c.otherBatch})`, () => assertReproducesLogits(c));
  test(`${c.name}.onnx takes SGD steps that lower the loss on a fixed batch`, async (t) => {
    t.diagnostic(`losses: ${(await assertTrains(c)).map((l) => l.toFixed(4)).join(' ')}`);
  });
  test(`${c.name}.onnx state dict round-trips through tessera import --out`, () => assertStateDictRoundTrip(c));
}

// ---- BatchNormalization keeps its statistics and fine-tunes ------------------------------------

class BnNet extends Module {
  conv = new Conv2d(3, 6, 3, { padding: 1, bias: false });
  bn = new BatchNorm2d(6);
  fc = new Linear(6, 4);

  forward(x: Value): Value {
    return this.fc.call(flatten(globalAvgPool(relu(this.bn.call(this.conv.call(x))))));
  }
}

function seededImages(n: number, size: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: n * 3 * size * size }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
}

test('a Tessera model with BatchNorm, exported to ONNX and imported, keeps names and statistics and trains like the original', async () => {
  manualSeed(4);
  const native = new BnNet();
  native.bn.running_mean.data = Float32Array.from({ length: 6 }, (_, i) => 0.1 * i - 0.2);
  native.bn.running_var.data = Float32Array.from({ length: 6 }, (_, i) => 0.5 + 0.2 * i);
  const shape = [4, 3, 8, 8];
  const imported = importOnnx(exportInferenceOnnx(native, { inputShape: shape }), 'bnnet.onnx');
  const nativeKeys = [...native.stateDict().keys()].filter((k) => !k.endsWith('num_batches_tracked'));
  assert.deepEqual([...imported.stateDict().keys()].sort(), nativeKeys.sort(), 'the ONNX initializer names are the state-dict keys');
  assert.deepEqual([...imported.namedBuffers()].map(([k]) => k).sort(), ['bn.running_mean', 'bn.running_var']);

  const images = seededImages(4, 8);
  const input: HostTensor = { dtype: 'float32', shape, data: images };
  assertCloseToMax(await runEval(imported, input, 4), await runEval(native, input, 4), 1e-5, 'eval logits');

  const target = BigInt64Array.of(0n, 1n, 2n, 3n);
  const step = async (m: Module) => {
    const session = await TrainingSession.create(m, { inputShape: shape, optimizer: sgd({ momentum: 0.9 }), threads: 1 });
    try {
      return [(await session.step(images, target, 0.1)).loss, (await session.step(images, target, 0.1)).loss];
    } finally {
      await session.release();
    }
  };
  const [nativeLoss, importedLoss] = [await step(native), await step(imported)];
  assertCloseToMax(importedLoss, nativeLoss, 1e-5, 'train-mode losses of two steps');
  const state = imported.stateDict();
  for (const [key, t] of native.stateDict()) {
    if (key.endsWith('num_batches_tracked')) continue;
    assertCloseToMax(state.get(key)!.data as Float32Array, t.data as Float32Array, 1e-5, `${key} after two steps`);
  }
});

// ---- errors ----------------------------------------------------------------------------------

/** a minimal ONNX model: one node of `opType` named `nodeName` from "input" [1, 3, 8, 8] to "logits" */
function onnxWithOneNode(opType: string, nodeName: string): Uint8Array {
  const valueInfo = (w: ProtoWriter, name: string, dims: number[]) =>
    w.string(1, name).message(2, (type) => type.message(1, (t) => t.int(1, 1).message(2, (s) => dims.forEach((d) => s.message(1, (dim) => dim.int(1, d))))));
  return new ProtoWriter()
    .int(1, 8)
    .message(7, (g) =>
      g
        .message(1, (n) => n.string(1, 'input').string(2, 'logits').string(3, nodeName).string(4, opType))
        .string(2, 'tiny')
        .message(11, (v) => valueInfo(v, 'input', [1, 3, 8, 8]))
        .message(12, (v) => valueInfo(v, 'logits', [1, 3, 8, 8])),
    )
    .message(8, (o) => o.string(1, '').int(2, 17))
    .finish();
}

interface TensorEncodingCase {
  readonly name: string;
  /** writes TensorProto fields after dims, data type and name */
  readonly write: (t: ProtoWriter) => void;
  readonly dataType: number;
  /** the decoded values, or the error the decoder must give */
  readonly expect: readonly (number | bigint)[] | RegExp;
}

const f16Bytes = Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38); // 1, -2, 0.5 as float16
const tensorEncodingCases: TensorEncodingCase[] = [
  { name: 'float raw_data', dataType: 1, write: (t) => t.bytes(9, new Uint8Array(Float32Array.of(1, -2, 0.5).buffer)), expect: [1, -2, 0.5] },
  { name: 'float_data (packed)', dataType: 1, write: (t) => t.packedFloats(4, [1, -2, 0.5]), expect: [1, -2, 0.5] },
  { name: 'float16 raw_data', dataType: 10, write: (t) => t.bytes(9, f16Bytes), expect: [1, -2, 0.5] },
  { name: 'int64_data (negative values)', dataType: 7, write: (t) => t.packedInts(7, [1n, -2n, 3n]), expect: [1n, -2n, 3n] },
  { name: 'double_data', dataType: 11, write: (t) => t.bytes(10, new Uint8Array(Float64Array.of(1, -2, 0.5).buffer)), expect: [1, -2, 0.5] },
  { name: 'raw_data of the wrong length', dataType: 1, write: (t) => t.bytes(9, new Uint8Array(8)), expect: /has 8 bytes of data, its shape \[3\] needs 12/ },
  { name: 'external data', dataType: 1, write: (t) => t.message(13, (e) => e.string(1, 'location').string(2, 'weights.bin')).int(14, 1), expect: /^w\.onnx: tensor "w" keeps its data in an external file \(weights\.bin\); read the model from its file, with weights\.bin beside it$/ },
];

/** a model whose one initializer "w" [3] is encoded by `c` */
function modelWithInitializer(c: TensorEncodingCase): Uint8Array {
  return new ProtoWriter()
    .int(1, 8)
    .message(7, (g) => g.message(5, (t) => c.write(t.packedInts(1, [3]).int(2, c.dataType).string(8, 'w'))))
    .message(8, (o) => o.string(1, '').int(2, 17))
    .finish();
}

for (const c of tensorEncodingCases) {
  test(`the ONNX reader decodes a tensor given as ${c.name}`, () => {
    const bytes = modelWithInitializer(c);
    if (c.expect instanceof RegExp) {
      assert.throws(() => decodeOnnx(bytes, 'w.onnx'), (e: unknown) => e instanceof OnnxFormatError && (c.expect as RegExp).test(e.message));
      return;
    }
    const w = decodeOnnx(bytes, 'w.onnx').graph.initializers.get('w')!;
    assert.deepEqual([...w.shape], [3]);
    assert.deepEqual([...w.data], [...c.expect]);
  });
}

test('importOnnx names an unsupported op and its node; undecodable bytes are an OnnxFormatError', () => {
  assert.throws(() => importOnnx(onnxWithOneNode('Det', 'my_det_node'), 'tiny.onnx'), (e: unknown) => e instanceof OnnxImportError && /Det/.test(e.message) && /my_det_node/.test(e.message));
  assert.ok(importOnnx(onnxWithOneNode('Relu', 'relu')) instanceof OnnxModule, 'the same graph with a supported op imports');
  assert.throws(() => importOnnx(new TextEncoder().encode('definitely not protobuf\n'), 'text.onnx'), OnnxFormatError);
});

interface CliErrorCase {
  readonly name: string;
  /** writes the input into `dir` and returns the CLI arguments; the output file is always dir/out.safetensors */
  readonly args: (dir: string, out: string) => string[];
  /** what the one line must say */
  readonly message: RegExp;
}

const cliErrorCases: CliErrorCase[] = [
  {
    name: 'a file that is not ONNX',
    args: (dir, out) => {
      writeFileSync(join(dir, 'notes.onnx'), 'these are my notes, not a model\n');
      return ['import', join(dir, 'notes.onnx'), '--out', out];
    },
    message: /notes\.onnx: not (a readable ONNX|an ONNX) model/,
  },
  {
    name: 'a truncated file',
    args: (dir, out) => {
      writeFileSync(join(dir, 'cut.onnx'), readFileSync(onnxPath('tv_vit')).subarray(0, 40000));
      return ['import', join(dir, 'cut.onnx'), '--out', out];
    },
    message: /cut\.onnx: not a readable ONNX model .*runs past the end/,
  },
  {
    name: 'a graph with an unsupported op',
    args: (dir, out) => {
      writeFileSync(join(dir, 'det.onnx'), onnxWithOneNode('Det', 'the_det_node'));
      return ['import', join(dir, 'det.onnx'), '--out', out];
    },
    message: /unsupported ONNX op Det \(node "the_det_node"\)/,
  },
  {
    name: 'no --out',
    args: () => ['import', onnxPath('tv_vit')],
    message: /--out FILE\.safetensors is required/,
  },
  {
    name: 'a missing file',
    args: (dir, out) => ['import', join(dir, 'absent.onnx'), '--out', out],
    message: /absent\.onnx does not exist/,
  },
];

for (const c of cliErrorCases) {
  test(`tessera import with ${c.name}: one line, exit 2, nothing written`, async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'out.safetensors');
      const r = await runCli(c.args(dir, out));
      assert.equal(r.code, 2, `exit ${r.code}; stderr: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
      assert.match(lines[0], /^tessera[: ]/);
      assert.match(lines[0], c.message);
      assert.equal(r.stdout, '');
      assert.equal(existsSync(out), false, 'nothing written');
    });
  });
}
