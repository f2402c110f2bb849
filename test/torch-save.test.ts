/**
 * `tessera convert RUN --to pth`: the torch.save zip checkpoint read back through Tessera's own
 * PyTorch reader gives every key (in the model's order), dtype, shape and byte of the run's
 * state dict, for the smallest model of each registered family (up to 3M parameters), with and
 * without --ema; every tensor dtype, 0-d and empty tensors round-trip through
 * writeTorchCheckpoint; each zip entry's data is 64-byte aligned as torch aligns it; wrong
 * names and options are one UsageError line with nothing written. (That PyTorch itself loads
 * the file into torchvision's model is checked by hand: tools/check_pth.py.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCommand } from '../src/cli/convert.js';
import { UserError } from '../src/errors.js';
import type { HostTensor } from '../src/graph/ir.js';
import { loadTorchCheckpoint, parseTorchCheckpoint } from '../src/io/pytorch.js';
import { torchSaveChunks, writeTorchCheckpoint } from '../src/io/torch-save.js';
import { ZIP_DATA_ALIGNMENT } from '../src/io/zip-write.js';
import { listModels } from '../src/models/index.js';
import { ZOO_COUNTS } from '../src/models/zoo-counts.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { writeRunCheckpoint } from '../test-support/run-checkpoint.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-pth-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** the smallest registered model of each family, where it has at most 3M parameters */
function smallModels(): string[] {
  const smallest = new Map<string, { name: string; params: number }>();
  for (const info of listModels()) {
    const params = ZOO_COUNTS[info.name]?.params;
    if (params === undefined || params > 3e6) continue;
    const best = smallest.get(info.family);
    if (!best || params < best.params) smallest.set(info.family, { name: info.name, params });
  }
  return [...smallest.values()].map((m) => m.name).sort();
}

/** bytes of a tensor's data */
const bytesOf = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** asserts `got` holds exactly `want`'s keys in order, with equal dtypes, shapes and bytes */
function assertSameTensors(got: ReadonlyMap<string, HostTensor>, want: ReadonlyMap<string, HostTensor>, what: string): void {
  assert.deepEqual([...got.keys()], [...want.keys()], `${what}: keys in order`);
  for (const [key, w] of want) {
    const g = got.get(key)!;
    assert.equal(g.dtype, w.dtype, `${what}: ${key} dtype`);
    assert.deepEqual(g.shape, w.shape, `${what}: ${key} shape`);
    assert.ok(bytesOf(g).equals(bytesOf(w)), `${what}: ${key} values byte-equal`);
  }
}

/** asserts every local entry's data starts on a ZIP_DATA_ALIGNMENT boundary; returns the entry names */
function assertAlignedEntries(zip: Buffer): string[] {
  const names: string[] = [];
  for (let p = 0; zip.readUInt32LE(p) === 0x04034b50; ) {
    const nameLength = zip.readUInt16LE(p + 26);
    const extraLength = zip.readUInt16LE(p + 28);
    const name = zip.toString('utf8', p + 30, p + 30 + nameLength);
    const data = p + 30 + nameLength + extraLength;
    assert.equal(data % ZIP_DATA_ALIGNMENT, 0, `${name}: data at byte ${data}`);
    names.push(name);
    p = data + zip.readUInt32LE(p + 18);
  }
  return names;
}

for (const name of smallModels()) {
  for (const ema of [false, true]) {
    test(`tessera convert RUN --to pth${ema ? ' --ema' : ''} of ${name}: read back, every key, dtype, shape and byte of the state dict`, async () => {
      const run = join(scratch, `${name}-${ema}`);
      const model = writeRunCheckpoint(run, name, { classes: ['a', 'b', 'c'], seed: 5, ema });
      const out = join(scratch, `${name}-${ema}.pth`);
      assert.equal(await convertCommand([run, '--to', 'pth', '--out', out, ...(ema ? ['--ema'] : [])]), 0);

      const want = new Map(model.stateDict());
      if (ema) for (const [key, t] of loadCheckpoint(join(run, 'best.safetensors')).emaState) want.set(key, t);
      const { tensors, info } = loadTorchCheckpoint(out);
      assert.equal(info.format, 'zip');
      assert.equal(info.pickleProtocol, 2);
      assert.equal(info.container, null);
      assertSameTensors(tensors, want, name);

      const names = assertAlignedEntries(readFileSync(out));
      assert.deepEqual(names.slice(0, 2), ['archive/data.pkl', 'archive/byteorder']);
      assert.equal(names.at(-1), 'archive/version');
      assert.equal(names.length, want.size + 3);
    });
  }
}

const DTYPE_CASES: readonly { label: string; tensors: [string, HostTensor][] }[] = [
  {
    label: 'every host dtype',
    tensors: [
      ['f32', { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 3e-8, Infinity, -0, 7]) }],
      ['f64', { dtype: 'float64', shape: [2], data: new Float64Array([Math.PI, -1e300]) }],
      ['i64', { dtype: 'int64', shape: [3], data: new BigInt64Array([-(2n ** 62n), 0n, 2n ** 62n]) }],
      ['i32', { dtype: 'int32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) }],
      ['u8', { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) }],
      ['b', { dtype: 'bool', shape: [2, 1], data: new Uint8Array([1, 0]) }],
    ],
  },
  {
    label: '0-d, empty, long and odd-sized tensors, a non-ASCII key',
    tensors: [
      ['scalar', { dtype: 'int64', shape: [], data: new BigInt64Array([123456789012n]) }],
      ['empty', { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }],
      ['long', { dtype: 'float32', shape: [70000], data: Float32Array.from({ length: 70000 }, (_, i) => i / 7) }],
      ['odd', { dtype: 'uint8', shape: [5, 1, 3], data: Uint8Array.from({ length: 15 }, (_, i) => i) }],
      ['bloc.poids-é', { dtype: 'float32', shape: [1, 1, 1, 1], data: new Float32Array([2]) }],
    ],
  },
];

for (const c of DTYPE_CASES) {
  test(`writeTorchCheckpoint round trip: ${c.label}`, () => {
    const want = new Map(c.tensors);
    const bytes = Buffer.concat(torchSaveChunks(want));
    assertAlignedEntries(bytes);
    assertSameTensors(parseTorchCheckpoint(bytes).tensors, want, c.label);
    const file = join(scratch, 'dtypes.pth');
    writeTorchCheckpoint(file, want);
    assert.ok(readFileSync(file).equals(bytes), 'the file holds the same bytes (reproducible)');
  });
}

test('tessera convert FILE.pth --to pth keeps a PyTorch checkpoint as it reads it', async () => {
  const want = new Map(DTYPE_CASES[0].tensors);
  const input = join(scratch, 'in.pth');
  writeTorchCheckpoint(input, want);
  const out = join(scratch, 'again.pth');
  assert.equal(await convertCommand([input, '--to', 'pth', '--out', out]), 0);
  assertSameTensors(loadTorchCheckpoint(out).tensors, want, 'pth to pth');
});

const BAD: readonly { label: string; args: (run: string, dir: string) => string[]; message: RegExp }[] = [
  { label: '--to pth with a .safetensors name', args: (run, dir) => [run, '--to', 'pth', '--out', join(dir, 'x.safetensors')], message: /names a safetensors file, but --to pth writes a torch\.save checkpoint/ },
  { label: 'a .pth name without --to pth', args: (run, dir) => [run, '--out', join(dir, 'x.pth')], message: /names a PyTorch file, but safetensors is written; add --to pth/ },
  { label: 'another model than the run\'s', args: (run, dir) => [run, '--to', 'pth', '--model', 'cifar_resnet18', '--out', join(dir, 'x.pth')], message: /is a cifar_lenet checkpoint, not cifar_resnet18/ },
  { label: '--ema of a run without an EMA', args: (run, dir) => [run, '--to', 'pth', '--ema', '--out', join(dir, 'x.pth')], message: /holds no EMA weights/ },
  { label: '--ema of a plain PyTorch file', args: (_run, dir) => [join(dir, 'plain.pth'), '--to', 'pth', '--ema', '--out', join(dir, 'x.pth')], message: /--ema takes a run or a Tessera training checkpoint/ },
  { label: '--to something else', args: (run, dir) => [run, '--to', 'onnx', '--out', join(dir, 'x.onnx')], message: /--to/ },
];

for (const c of BAD) {
  test(`tessera convert refuses ${c.label}: one UsageError line, nothing written`, async () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    const run = join(dir, 'run');
    writeRunCheckpoint(run, 'cifar_lenet', { classes: ['a', 'b'] });
    writeTorchCheckpoint(join(dir, 'plain.pth'), new Map(DTYPE_CASES[0].tensors));
    await assert.rejects(convertCommand(c.args(run, dir)), (e: unknown) => e instanceof UserError && c.message.test(e.message) && !e.message.includes('\n'));
    assert.deepEqual(readdirSync(dir).sort(), ['plain.pth', 'run']);
  });
}
