/**
 * Reading PyTorch checkpoints (src/io/pickle.ts, src/io/torch-pickle.ts, src/io/pytorch.ts) and
 * `tessera convert`.
 *
 * The checkpoints under test/data/checkpoints/ were written once by torch 1.13 with the dev-only
 * make_checkpoints.py; expected.json records their contents (dtype, shape, sum, sampled
 * elements), so these tests need neither Python nor torch. Truncated, corrupt and foreign files
 * are made here from those.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../src/graph/ir.js';
import { createModel } from '../src/models/index.js';
import { unpickle } from '../src/io/pickle.js';
import { ForbiddenGlobalError, PickleValue, TensorRef, TorchCheckpointError } from '../src/io/torch-pickle.js';
import { CheckpointInfo, NOT_A_CHECKPOINT, loadTorchCheckpoint, parseTorchCheckpoint, readTorchCheckpoint } from '../src/io/pytorch.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { CliResult, ROOT, runCli } from '../test-support/cli.js';

const DATA = join(ROOT, 'test/data/checkpoints');
const PWNED = '/tmp/tessera-pwned';

type Sample = [number, number | string];
interface TensorExpectation {
  dtype: string;
  sourceDtype: string;
  shape: number[];
  sum: number | null;
  samples: Sample[];
}
interface FileExpectation {
  format: 'zip' | 'legacy';
  container: string | null;
  strippedPrefix: string | null;
  tensors: Record<string, TensorExpectation>;
}
const expected = JSON.parse(readFileSync(join(DATA, 'expected.json'), 'utf8')) as Record<string, FileExpectation> & { hostile: Record<string, string> };
const BENIGN = Object.keys(expected).filter((k) => k !== 'hostile');
const HOSTILE = Object.entries(expected.hostile);

const scratch = mkdtempSync(join(tmpdir(), 'tessera-ckpt-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
rmSync(PWNED, { force: true });

// ---- helpers, one per concern ---------------------------------------------------------------------

/** A recorded element: a JSON number, or 'inf' / '-inf' / 'nan' / a decimal int64 string. */
function expectedValue(v: number | string, dtype: string): number | bigint {
  if (dtype === 'int64') return BigInt(v);
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (v === 'nan') return NaN;
  return v as number;
}

/** Asserts one tensor's dtype, shape, sampled elements (exactly, -0 included) and sum. */
function assertTensor(name: string, t: HostTensor | undefined, e: TensorExpectation): void {
  assert.ok(t, `${name} is missing`);
  assert.equal(t.dtype, e.dtype, `${name} dtype`);
  assert.deepEqual([...t.shape], e.shape, `${name} shape`);
  assert.equal(t.data.length, e.shape.reduce((a, b) => a * b, 1), `${name} element count`);
  for (const [i, v] of e.samples) {
    const want = expectedValue(v, e.dtype);
    assert.ok(Object.is(t.data[i], want), `${name}[${i}] is ${String(t.data[i])}, expected ${String(want)}`);
  }
  if (e.sum !== null) {
    let sum = 0;
    for (const x of t.data) sum += Number(x);
    assert.ok(Math.abs(sum - e.sum) <= 1e-9 * Math.max(1, Math.abs(e.sum)), `${name} sums to ${sum}, expected ${e.sum}`);
  }
}

/** Asserts a whole state dict against a recorded file: keys in order, then every tensor. */
function assertStateDict(tensors: Map<string, HostTensor>, e: FileExpectation): void {
  assert.deepEqual([...tensors.keys()], Object.keys(e.tensors));
  for (const [k, te] of Object.entries(e.tensors)) assertTensor(k, tensors.get(k), te);
}

/** Asserts `fn` is refused for asking for `global`, and that nothing ran. */
function assertRefused(fn: () => unknown, global: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ForbiddenGlobalError && e instanceof TorchCheckpointError, `expected a refusal, got ${String(e)}`);
    assert.equal(e.global, global);
    assert.match(e.message, new RegExp(`refusing to load: the pickle asks for ${global.replace(/\./g, '\\.')}; a checkpoint must hold tensors only`));
    return true;
  });
  assert.ok(!existsSync(PWNED), `${PWNED} was created`);
}

/** Asserts `fn` fails with one TorchCheckpointError line matching `pattern` (never a RangeError etc.). */
function assertCheckpointError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TorchCheckpointError, `expected a TorchCheckpointError, got ${(e as Error)?.name}: ${String((e as Error)?.message ?? e)}`);
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

/** Writes bytes to a scratch file and returns its path. */
function scratchFile(name: string, bytes: Uint8Array | string): string {
  const p = join(scratch, name);
  writeFileSync(p, bytes);
  return p;
}

/** Assembles pickle bytes from opcodes (numbers), raw strings (latin1) and byte arrays. */
function pk(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32le = (n: number) => Uint8Array.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff]);
/** SHORT_BINUNICODE of an ASCII string */
const str = (s: string) => pk(0x8c, s.length, s);



/** Asserts a CLI user error: exit 2, exactly one line `tessera: ...` matching `pattern`, no stack. */
function assertOneLineError(r: CliResult, pattern: RegExp): void {
  const shown = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 2, shown);
  assert.match(r.stderr, /^tessera[: ][^\n]+\n$/, shown);
  assert.match(r.stderr, pattern, shown);
  assert.doesNotMatch(r.stderr, /internal error|^\s+at /m, shown);
}

/** Asserts two state dicts hold the same keys, dtypes, shapes and elements. */
function assertSameTensors(a: Map<string, HostTensor>, b: Map<string, HostTensor>): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual([...u.shape], [...t.shape], k);
    assert.deepEqual(Array.from(u.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), k);
  }
}

// ---- benign checkpoints ---------------------------------------------------------------------------

for (const file of BENIGN) {
  const e = expected[file];
  test(`${file}: ${e.format} format, every tensor's keys, shape, dtype and values`, () => {
    const { tensors, info } = loadTorchCheckpoint(join(DATA, file));
    assert.equal(info.format, e.format);
    assert.equal(info.container, e.container);
    assert.equal(info.strippedPrefix, e.strippedPrefix);
    assertStateDict(tensors, e);
    assert.deepEqual(Object.fromEntries(info.sourceDtypes), Object.fromEntries(Object.entries(e.tensors).map(([k, t]) => [k, t.sourceDtype])));
  });
}

test('readTorchCheckpoint reports what it unwrapped through onInfo', () => {
  let info: CheckpointInfo | undefined;
  const sd = readTorchCheckpoint(join(DATA, 'wrapped_module.pt'), { onInfo: (i) => (info = i) });
  assert.equal(info?.container, 'state_dict');
  assert.equal(info?.strippedPrefix, 'module.');
  assert.deepEqual(info?.ignoredKeys, ['epoch', 'arch', 'best_acc1', 'optimizer']);
  assert.ok(sd.has('1.num_batches_tracked') && ![...sd.keys()].some((k) => k.startsWith('module.')));
});

test('views are gathered: transposed, sliced, expanded (stride 0) and offset into a shared storage', () => {
  const { tensors } = loadTorchCheckpoint(join(DATA, 'dtypes.pt'));
  assert.deepEqual(Array.from(tensors.get('transposed')!.data as Float32Array), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.deepEqual(Array.from(tensors.get('expanded')!.data as Float32Array), [1, 2, 3, 1, 2, 3]);
  assert.deepEqual(Array.from(tensors.get('shared_view')!.data as Float64Array), [4.5, 6, 7.5, 9]);
  // results never alias each other or the file
  (tensors.get('shared_base')!.data as Float64Array)[3] = -1;
  assert.equal((tensors.get('shared_view')!.data as Float64Array)[0], 4.5);
});

test('the torch.save of pytorch-cifar LeNet (float16) loads strictly into cifar_lenet', () => {
  const sd = readTorchCheckpoint(join(DATA, 'lenet_f16.pt'));
  const model = createModel('cifar_lenet');
  const result = model.loadStateDict(sd, { strict: true });
  assert.deepEqual(result, { missing: [], unexpected: [], mismatched: [] });
  assertTensor('fc1.weight', model.stateDict().get('fc1.weight'), expected['lenet_f16.pt'].tensors['fc1.weight']);
});

// ---- hostile pickles ------------------------------------------------------------------------------

for (const [file, global] of HOSTILE) {
  test(`${file}: refused for asking for ${global}, and nothing runs`, () => {
    assertRefused(() => loadTorchCheckpoint(join(DATA, file)), global);
  });
}

const hostilePickles: { name: string; bytes: Uint8Array; global: string }[] = [
  // protocol 2: GLOBAL 'os\nsystem', BINUNICODE 'touch ...', TUPLE1, REDUCE, STOP
  { name: 'GLOBAL os.system', bytes: pk(0x80, 2, 'c', 'os\nsystem\n', 'X', u32le(24), `touch ${PWNED}`, 0x85, 'R', '.'), global: 'os.system' },
  { name: 'GLOBAL nt.system', bytes: pk(0x80, 2, 'c', 'nt\nsystem\n', ')', 'R', '.'), global: 'nt.system' },
  { name: 'GLOBAL __builtin__.eval (protocol 2 spelling)', bytes: pk(0x80, 2, 'c', '__builtin__\neval\n', ')', 'R', '.'), global: '__builtin__.eval' },
  { name: 'STACK_GLOBAL builtins.exec', bytes: pk(0x80, 4, str('builtins'), str('exec'), 0x93, ')', 'R', '.'), global: 'builtins.exec' },
  { name: 'STACK_GLOBAL from memoized strings', bytes: pk(0x80, 4, str('builtins'), 0x94, str('getattr'), 0x94, '0', '0', 'h', 0, 'h', 1, 0x93, '.'), global: 'builtins.getattr' },
  { name: 'INST subprocess.Popen', bytes: pk('(', 'X', u32le(5), 'touch', 'i', 'subprocess\nPopen\n', '.'), global: 'subprocess.Popen' },
  { name: 'a torch global outside the list', bytes: pk(0x80, 2, 'c', 'torch\nload\n', '.'), global: 'torch.load' },
  { name: 'a pickled model class', bytes: pk(0x80, 2, 'c', '__main__\nNet\n', ')', 0x81, '.'), global: '__main__.Net' },
  { name: 'after allowed globals', bytes: pk(0x80, 2, '}', 'c', 'torch._utils\n_rebuild_tensor_v2\n', 'c', 'os\nsystem\n', '.'), global: 'os.system' },
];
for (const c of hostilePickles) {
  test(`unpickle refuses ${c.name}`, () => {
    assertRefused(() => unpickle(c.bytes, { source: 'x.pkl' }), c.global);
    assertRefused(() => parseTorchCheckpoint(c.bytes, 'x.pkl'), c.global);
  });
}

test('a pickled whole model gets a hint to save the state dict', () => {
  assert.throws(() => unpickle(pk(0x80, 2, 'c', '__main__\nNet\n', '.')), /save model\.state_dict\(\) instead/);
});

test('unpickle refuses the copyreg extension registry', () => {
  assertCheckpointError(() => unpickle(pk(0x80, 2, 0x82, 1, '.')), /refusing to load: the pickle uses the copyreg extension registry/);
});

// ---- the unpickler on plain values ----------------------------------------------------------------

const values: { name: string; bytes: Uint8Array; value: PickleValue }[] = [
  { name: 'ints of every width', bytes: pk(0x80, 2, '(', 'K', 7, 'M', 0x34, 0x12, 'J', u32le(-3 >>> 0), 0x8a, 1, 0xff, 0x8a, 0, 'l', '.'), value: [7, 0x1234, -3, -1, 0] },
  { name: 'LONG1 beyond 2**53 is a bigint', bytes: pk(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'), value: 0x1950a86a20f9469cfc6cn },
  { name: 'BINFLOAT, None, True, False', bytes: pk(0x80, 2, '(', 'G', 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, 'N', 0x88, 0x89, 't', '.'), value: [Math.PI, null, true, false] },
  { name: 'a dict with SETITEM and SETITEMS', bytes: pk(0x80, 2, '}', str('a'), 'K', 1, 's', '(', str('b'), 'N', str('c'), ']', 'u', '.'), value: new Map<PickleValue, PickleValue>([['a', 1], ['b', null], ['c', []]]) },
  { name: 'lists with APPEND and APPENDS, memo shared', bytes: pk(0x80, 2, ']', 'q', 0, 'K', 1, 'a', '(', 'K', 2, 'K', 3, 'e', 'h', 0, 0x86, '.'), value: [[1, 2, 3], [1, 2, 3]] },
  { name: 'protocol 4 FRAME, BINUNICODE8 and bytes', bytes: pk(0x80, 4, 0x95, 15, 0, 0, 0, 0, 0, 0, 0, 0x8d, 2, 0, 0, 0, 0, 0, 0, 0, 'hi', 'C', 2, 1, 2, 0x86, '.'), value: ['hi', Uint8Array.from([1, 2])] },
  { name: 'UTF-8 strings', bytes: pk(0x8c, 5, 0xc3, 0xa9, 0xe2, 0x82, 0xac, '.'), value: 'é€' },
  { name: 'an OrderedDict via REDUCE', bytes: pk(0x80, 2, 'c', 'collections\nOrderedDict\n', ')', 'R', str('k'), 'K', 5, 's', '.'), value: new Map<PickleValue, PickleValue>([['k', 5]]) },
];
for (const c of values) {
  test(`unpickle: ${c.name}`, () => {
    const { value } = unpickle(c.bytes);
    assert.deepEqual(value, c.value);
  });
}

test('unpickle rebuilds a tensor as an inert reference to its storage', () => {
  // ('storage', torch.HalfStorage, '0', 'cpu', 6) -> _rebuild_tensor_v2(storage, 1, (2, 2), (1, 2), False, OrderedDict())
  const bytes = pk(
    0x80, 2, 'c', 'torch._utils\n_rebuild_tensor_v2\n', '(',
    '(', str('storage'), 'c', 'torch\nHalfStorage\n', str('0'), str('cpu'), 'K', 6, 't', 'Q',
    'K', 1, 'K', 2, 'K', 2, 0x86, 'K', 1, 'K', 2, 0x86, 0x89, 'c', 'collections\nOrderedDict\n', ')', 'R', 't', 'R', '.',
  );
  const { value } = unpickle(bytes);
  assert.ok(value instanceof TensorRef);
  assert.deepEqual([value.storage.dtype, value.storage.key, value.storage.numel, value.storageOffset, value.shape, value.stride], ['float16', '0', 6, 1, [2, 2], [1, 2]]);
});

const badPickles: { name: string; bytes: Uint8Array; error: RegExp }[] = [
  { name: 'an unknown opcode', bytes: pk(0x80, 2, 0xff, '.'), error: /unknown or unsupported pickle opcode 0xff \(pickle byte 2\)/ },
  { name: 'a protocol newer than 5', bytes: pk(0x80, 6, 'N', '.'), error: /pickle protocol 6 is newer than 5/ },
  { name: 'no STOP', bytes: pk(0x80, 2, 'N'), error: /truncated: the pickle ends at byte 3/ },
  { name: 'a string cut short', bytes: pk(0x80, 2, 'X', u32le(100), 'abc'), error: /truncated: the pickle ends at byte 10 inside BINUNICODE at byte 2 \(needs 100 more bytes\)/ },
  { name: 'a GLOBAL without its newline', bytes: pk(0x80, 2, 'c', 'os'), error: /truncated: .*inside GLOBAL.*no end of line/ },
  { name: 'a memo read before it is written', bytes: pk(0x80, 2, 'h', 3, '.'), error: /memo entry 3 is read before it is written/ },
  { name: 'stack underflow', bytes: pk(0x80, 2, 'R', '.'), error: /stack underflow/ },
  { name: 'calling a storage class', bytes: pk(0x80, 2, 'c', 'torch\nFloatStorage\n', ')', 'R', '.'), error: /torch\.FloatStorage is a storage class and cannot be called/ },
  { name: 'a non-storage persistent id', bytes: pk(0x80, 2, str('x'), 'Q', '.'), error: /unsupported persistent id a str/ },
  { name: 'out-of-band buffers', bytes: pk(0x80, 5, 0x97, '.'), error: /out-of-band buffers/ },
];
for (const c of badPickles) {
  test(`unpickle rejects ${c.name}`, () => assertCheckpointError(() => unpickle(c.bytes, { source: 'p.pkl' }), c.error));
}

// ---- damaged and foreign files --------------------------------------------------------------------

const damaged: { name: string; make: () => Uint8Array | string; error: RegExp }[] = [
  { name: 'an empty file', make: () => new Uint8Array(0), error: /the file is empty: not a PyTorch checkpoint/ },
  { name: 'a text file (wrong magic)', make: () => 'this is not a checkpoint\n', error: new RegExp(NOT_A_CHECKPOINT.replace(/[()]/g, '\\$&')) },
  { name: 'random bytes', make: () => Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff), error: /not a PyTorch checkpoint \(expected a zip archive or the legacy magic number\)/ },
  { name: 'a pickle of something else', make: () => pk(0x80, 2, 'K', 5, '.'), error: /not a PyTorch checkpoint .*; it is a pickle of a number/ },
  { name: 'a zip cut in half', make: () => readFileSync(join(DATA, 'dtypes.pt')).subarray(0, 2000), error: /truncated or damaged zip archive: no end-of-central-directory record/ },
  { name: 'a zip cut before its last bytes', make: () => readFileSync(join(DATA, 'lenet_f16.pt')).subarray(0, -10), error: /truncated or damaged zip archive/ },
  { name: 'a legacy file cut inside a storage', make: () => readFileSync(join(DATA, 'tiny_legacy.pt')).subarray(0, -100), error: /truncated: storage \S+ \(\d+ of \d+\) (needs bytes \[\d+, \d+\), but the file ends at byte \d+|starts at byte \d+, past the end)/ },
  { name: 'a legacy file cut inside the main pickle', make: () => readFileSync(join(DATA, 'tiny_legacy.pt')).subarray(0, 400), error: /truncated: the pickle ends at byte 400/ },
  {
    name: 'a zip with a flipped storage byte',
    make: () => {
      const b = Uint8Array.prototype.slice.call(readFileSync(join(DATA, 'dtypes.pt')));
      // the first storage's data: after its local header's name (the first occurrence) and extra field
      const name = Buffer.from('dtypes/data/0');
      const at = Buffer.from(b).indexOf(name);
      const extra = b[at - 2] | (b[at - 1] << 8);
      b[at + name.length + extra + 1] ^= 0xff;
      return b;
    },
    error: /damaged zip archive: CRC mismatch in dtypes\/data\/0/,
  },
];
for (const c of damaged) {
  test(`${c.name} gives one clear TorchCheckpointError`, () => {
    const path = scratchFile(`damaged-${c.name.replace(/\W+/g, '_')}.pt`, c.make());
    assertCheckpointError(() => loadTorchCheckpoint(path), c.error);
    assert.match((() => {
      try {
        loadTorchCheckpoint(path);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })(), new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), 'the message starts with the file');
  });
}

test('every prefix of a checkpoint fails cleanly, never with a RangeError', () => {
  for (const file of ['tiny_legacy.pt', 'dtypes.pt', 'wrapped_module.pt']) {
    const bytes = readFileSync(join(DATA, file));
    for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 97))) {
      assert.throws(() => parseTorchCheckpoint(bytes.subarray(0, n), `${file}[:${n}]`), TorchCheckpointError, `${file} cut at ${n}`);
    }
  }
});

test('a missing file', () => assertCheckpointError(() => loadTorchCheckpoint(join(scratch, 'nope.pt')), /nope\.pt: cannot read: no such file/));

// ---- the CLI --------------------------------------------------------------------------------------

test('tessera convert LeNet --model cifar_lenet checks the keys and writes a safetensors that reads back equal', async () => {
  const out = join(scratch, 'lenet.safetensors');
  const r = await runCli(['convert', join(DATA, 'lenet_f16.pt'), '--out', out, '--model', 'cifar_lenet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /10 tensors, 62006 values/);
  assert.match(r.stdout, /converted 10 float16 -> float32/);
  assert.match(r.stdout, /keys and shapes checked against cifar_lenet: all 10 tensors load strictly/);
  assertSameTensors(readSafetensors(out).tensors, readTorchCheckpoint(join(DATA, 'lenet_f16.pt')));
});

test('tessera convert reports the container and the stripped prefix; all dtypes survive', async () => {
  for (const [file, pattern] of [
    ['wrapped_module.pt', /container: the state dict under "state_dict" \(ignored: epoch, arch, best_acc1, optimizer\)[\s\S]*prefix: stripped "module\." from all 9 keys[\s\S]*keys not checked/],
    ['dtypes.pt', /converted 2 float16 -> float32, 1 bfloat16 -> float32; kept 4 float32, 3 float64, 2 int64, 1 int32, 1 uint8, 1 bool/],
    ['tiny_legacy.pt', /format: legacy/],
  ] as const) {
    const out = join(scratch, `${file}.safetensors`);
    const r = await runCli(['convert', join(DATA, file), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, pattern);
    assertSameTensors(readSafetensors(out).tensors, readTorchCheckpoint(join(DATA, file)));
  }
});

test('tessera convert of a safetensors file rewrites it unchanged', async () => {
  const first = join(scratch, 'again-1.safetensors');
  const second = join(scratch, 'again-2.safetensors');
  assert.equal((await runCli(['convert', join(DATA, 'dtypes.pt'), '--out', first])).code, 0);
  const r = await runCli(['convert', first, '--out', second]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /format: safetensors/);
  assertSameTensors(readSafetensors(second).tensors, readSafetensors(first).tensors);
});

for (const [file, global] of HOSTILE) {
  test(`tessera convert ${file} exits 2 with one line naming ${global}`, async () => {
    const out = join(scratch, `${file}.safetensors`);
    const r = await runCli(['convert', join(DATA, file), '--out', out]);
    assertOneLineError(r, new RegExp(`refusing to load: the pickle asks for ${global.replace(/\./g, '\\.')}`));
    assert.ok(!existsSync(out), 'nothing written');
    assert.ok(!existsSync(PWNED), `${PWNED} was created`);
  });
}

const cliErrors: { name: string; args: () => string[]; error: RegExp }[] = [
  { name: 'a wrong-magic file', args: () => ['convert', scratchFile('text.pt', 'hello\n'), '--out', join(scratch, 'x.safetensors')], error: /text\.pt: not a PyTorch checkpoint/ },
  { name: 'a truncated file', args: () => ['convert', scratchFile('cut.pt', readFileSync(join(DATA, 'dtypes.pt')).subarray(0, 999)), '--out', join(scratch, 'x.safetensors')], error: /cut\.pt: truncated or damaged zip archive/ },
  { name: 'keys that do not fit the model', args: () => ['convert', join(DATA, 'tiny_legacy.pt'), '--out', join(scratch, 'x.safetensors'), '--model', 'cifar_lenet'], error: /keys checked against cifar_lenet: state dict does not match the model: 10 missing/ },
  { name: 'no --out', args: () => ['convert', join(DATA, 'dtypes.pt')], error: /--out FILE\.safetensors is required/ },
  { name: 'a missing checkpoint', args: () => ['convert', join(scratch, 'absent.pt'), '--out', join(scratch, 'x.safetensors')], error: /checkpoint \S*absent\.pt does not exist/ },
];
for (const c of cliErrors) {
  test(`tessera convert: ${c.name} exits 2 with one line`, async () => {
    assertOneLineError(await runCli(c.args()), c.error);
    assert.ok(!existsSync(join(scratch, 'x.safetensors')));
  });
}
