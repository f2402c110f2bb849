import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../src/graph/ir.js';
import {
  SafetensorsError,
  bfloat16ToFloat32,
  float16ToFloat32,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from '../src/io/safetensors.js';
import { sharedFixture } from '../test-support/fixtures.js';

/** Builds file bytes from a header (object, or raw JSON text) and a data section. */
function rawFile(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

const f32 = (shape: number[], data_offsets: number[]) => ({ dtype: 'F32', shape, data_offsets });

// ---- round trip -------------------------------------------------------------------------------

interface RoundTripCase {
  name: string;
  tensors: [string, HostTensor][];
  metadata?: Record<string, string>;
}

const roundTrips: RoundTripCase[] = [
  {
    name: 'every writable dtype, with metadata',
    tensors: [
      ['f32', { dtype: 'float32', shape: [2, 2], data: new Float32Array([1.5, -0, Infinity, 3e-40]) }],
      ['f64', { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) }],
      ['i64', { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 7n]) }],
      ['i32', { dtype: 'int32', shape: [1, 3], data: new Int32Array([-2147483648, 0, 2147483647]) }],
      ['u8', { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) }],
      ['flag', { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }],
    ],
    metadata: { format: 'pt', 'ünïcode': 'välue ✓' },
  },
  {
    name: 'odd-sized tensors leave later tensors unaligned',
    tensors: [
      ['a', { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) }],
      ['b', { dtype: 'float64', shape: [2], data: new Float64Array([0.1, 0.2]) }],
      ['c', { dtype: 'int64', shape: [1], data: new BigInt64Array([-5n]) }],
    ],
  },
  {
    name: 'scalars, empty tensors and integer-like names keep header order',
    tensors: [
      ['10', { dtype: 'float32', shape: [], data: new Float32Array([7]) }],
      ['2', { dtype: 'int32', shape: [0, 4], data: new Int32Array(0) }],
      ['z', { dtype: 'float32', shape: [1], data: new Float32Array([8]) }],
      ['1', { dtype: 'uint8', shape: [1], data: new Uint8Array([9]) }],
    ],
  },
  {
    name: 'views into larger buffers are written by their own bytes',
    tensors: [['view', { dtype: 'float32', shape: [2], data: new Float32Array([9, 1, 2, 9]).subarray(1, 3) }]],
  },
];

function assertRoundTrip(c: RoundTripCase): void {
  const bytes = serializeSafetensors(c.tensors, c.metadata);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, 'header length is a multiple of 8');
  const file = parseSafetensors(bytes);
  assert.deepEqual([...file.tensors.keys()], c.tensors.map(([n]) => n));
  assert.deepEqual(file.metadata, c.metadata ?? {});
  for (const [name, t] of c.tensors) {
    const got = file.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual([...got.shape], [...t.shape], name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual([...got.data], [...t.data], name);
  }
  if (!c.metadata) assert.ok(!new TextDecoder().decode(bytes).includes('__metadata__'));
}

for (const c of roundTrips) test(`round trip: ${c.name}`, () => assertRoundTrip(c));

test('round trip through a file, atomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'w.safetensors');
    writeSafetensors(path, new Map(roundTrips[0].tensors), { k: 'v' });
    const file = readSafetensors(path);
    assert.deepEqual([...file.tensors.keys()], roundTrips[0].tensors.map(([n]) => n));
    assert.deepEqual(file.metadata, { k: 'v' });
    assert.equal(file.sourceDtypes.get('i64'), 'I64');
    // a failed write leaves the previous file intact and no temporary behind
    const broken: [string, HostTensor][] = [['x', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]];
    assert.throws(() => writeSafetensors(path, broken), SafetensorsError);
    assert.throws(() => writeSafetensors(join(dir, 'missing', 'w.safetensors'), broken), SafetensorsError);
    assert.deepEqual(readdirSync(dir), ['w.safetensors']);
    assert.equal(readSafetensors(path).tensors.size, roundTrips[0].tensors.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serialize rejects inconsistent tensors', () => {
  const cases: [string, [string, HostTensor][], RegExp][] = [
    ['size mismatch', [['x', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]], /shape \[3\] has 3 elements but data has 2/],
    ['wrong array', [['x', { dtype: 'int64', shape: [1], data: new Int32Array(1) }]], /int64 needs a BigInt64Array/],
    ['duplicate', [['x', { dtype: 'uint8', shape: [], data: new Uint8Array(1) }], ['x', { dtype: 'uint8', shape: [], data: new Uint8Array(1) }]], /duplicate/],
    ['reserved', [['__metadata__', { dtype: 'uint8', shape: [], data: new Uint8Array(1) }]], /reserved/],
  ];
  for (const [what, tensors, message] of cases) {
    assert.throws(() => serializeSafetensors(tensors), (e: unknown) => e instanceof SafetensorsError && message.test(e.message), what);
  }
});

// ---- F16 / BF16 decoding ----------------------------------------------------------------------

const halfCases: { dtype: 'F16' | 'BF16'; what: string; bits: number; value: number }[] = [
  { dtype: 'F16', what: '1.0', bits: 0x3c00, value: 1 },
  { dtype: 'F16', what: '-2.5', bits: 0xc100, value: -2.5 },
  { dtype: 'F16', what: 'max 65504', bits: 0x7bff, value: 65504 },
  { dtype: 'F16', what: 'smallest subnormal 2^-24', bits: 0x0001, value: 2 ** -24 },
  { dtype: 'F16', what: 'largest subnormal', bits: 0x03ff, value: 1023 * 2 ** -24 },
  { dtype: 'F16', what: '-0', bits: 0x8000, value: -0 },
  { dtype: 'F16', what: '+inf', bits: 0x7c00, value: Infinity },
  { dtype: 'F16', what: '-inf', bits: 0xfc00, value: -Infinity },
  { dtype: 'F16', what: 'nan', bits: 0x7e00, value: NaN },
  { dtype: 'BF16', what: '1.0', bits: 0x3f80, value: 1 },
  { dtype: 'BF16', what: '-2.5', bits: 0xc020, value: -2.5 },
  { dtype: 'BF16', what: '65280', bits: 0x477f, value: 65280 },
  { dtype: 'BF16', what: 'smallest subnormal 2^-133', bits: 0x0001, value: 2 ** -133 },
  { dtype: 'BF16', what: '+inf', bits: 0x7f80, value: Infinity },
  { dtype: 'BF16', what: '-inf', bits: 0xff80, value: -Infinity },
  { dtype: 'BF16', what: 'nan', bits: 0x7fc0, value: NaN },
];

function assertHalfDecodes(dtype: 'F16' | 'BF16', cases: typeof halfCases): void {
  const helper = dtype === 'F16' ? float16ToFloat32 : bfloat16ToFloat32;
  // one byte of padding first so the 16-bit tensor starts at an odd offset
  const data = new Uint8Array(1 + 2 * cases.length);
  cases.forEach((c, i) => new DataView(data.buffer).setUint16(1 + 2 * i, c.bits, true));
  const header = { pad: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, h: { dtype, shape: [cases.length], data_offsets: [1, data.length] } };
  const file = parseSafetensors(rawFile(header, data));
  const t = file.tensors.get('h')!;
  assert.equal(t.dtype, 'float32');
  assert.ok(t.data instanceof Float32Array);
  assert.equal(file.sourceDtypes.get('h'), dtype);
  cases.forEach((c, i) => {
    assert.equal(helper(c.bits), c.value, `${dtype} helper ${c.what}`);
    assert.equal(t.data[i], c.value, `${dtype} tensor ${c.what}`);
  });
}

for (const dtype of ['F16', 'BF16'] as const) {
  test(`${dtype} decodes exactly`, () => assertHalfDecodes(dtype, halfCases.filter((c) => c.dtype === dtype)));
}

test('every F16 bit pattern converts exactly through float32', () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  const t = parseSafetensors(rawFile({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } }, new Uint8Array(bits.buffer)));
  for (let i = 0; i < 65536; i++) assert.ok(Object.is(t.tensors.get('h')!.data[i], Math.fround(float16ToFloat32(i))), `bits ${i}`);
});

test('parses a Buffer whose bytes sit at an odd offset of a larger allocation', () => {
  const file = rawFile({ x: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
  const big = Buffer.alloc(file.length + 3);
  big.set(file, 3);
  const x = parseSafetensors(big.subarray(3)).tensors.get('x')!;
  assert.deepEqual([...x.data], [1, -1]);
  big.fill(0);
  assert.deepEqual([...x.data], [1, -1], 'the tensor does not alias the input');
});

// ---- malformed files --------------------------------------------------------------------------

const malformed: { what: string; build: () => Uint8Array; message: RegExp }[] = [
  { what: 'empty file', build: () => new Uint8Array(0), message: /shorter than the 8-byte header/ },
  { what: '7 bytes', build: () => new Uint8Array(7), message: /7 bytes, shorter/ },
  { what: 'header longer than file', build: () => rawFile({}, 0, 100n), message: /header length 100 runs past the end/ },
  { what: 'absurd header length', build: () => rawFile({}, 0, 2n ** 63n), message: /exceeds the 100000000-byte limit/ },
  { what: 'invalid UTF-8', build: () => { const b = rawFile('{"a":1}'); b[9] = 0xff; return b; }, message: /not valid UTF-8/ },
  { what: 'invalid JSON', build: () => rawFile('{"a":'), message: /not valid JSON/ },
  { what: 'empty header', build: () => rawFile(''), message: /not valid JSON/ },
  { what: 'JSON array', build: () => rawFile([1, 2]), message: /not a JSON object/ },
  { what: 'duplicate key', build: () => rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), message: /duplicate key "a"/ },
  { what: 'entry not an object', build: () => rawFile({ w: 3 }), message: /tensor "w": entry is not an object/ },
  { what: 'missing dtype', build: () => rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, 4), message: /tensor "w": entry is missing "dtype"/ },
  { what: 'missing shape', build: () => rawFile({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4), message: /missing "shape"/ },
  { what: 'missing offsets', build: () => rawFile({ w: { dtype: 'F32', shape: [1] } }, 4), message: /missing "data_offsets"/ },
  { what: 'unknown dtype', build: () => rawFile({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, 1), message: /unknown or unsupported dtype "Q7"/ },
  { what: 'negative dim', build: () => rawFile({ w: f32([-1], [0, 4]) }, 4), message: /shape must be an array of non-negative integers, got \[-1\]/ },
  { what: 'fractional dim', build: () => rawFile({ w: f32([1.5], [0, 4]) }, 4), message: /non-negative integers, got \[1.5\]/ },
  { what: 'shape not array', build: () => rawFile({ w: f32(4 as never, [0, 4]) }, 4), message: /shape must be an array/ },
  { what: 'offsets of wrong length', build: () => rawFile({ w: f32([1], [0, 4, 8]) }, 8), message: /data_offsets must be \[begin, end\]/ },
  { what: 'offsets reversed', build: () => rawFile({ w: f32([1], [4, 0]) }, 4), message: /data_offsets must be \[begin, end\] with 0 <= begin <= end, got \[4,0\]/ },
  { what: 'negative offset', build: () => rawFile({ w: f32([1], [-4, 0]) }, 4), message: /data_offsets must be/ },
  { what: 'end beyond data', build: () => rawFile({ w: f32([2], [0, 8]) }, 4), message: /end beyond the 4-byte data section/ },
  { what: 'size mismatch', build: () => rawFile({ w: f32([2, 3], [0, 20]) }, 20), message: /hold 20 bytes but shape \[2,3\] of F32 needs 24/ },
  { what: 'huge shape', build: () => rawFile({ w: f32([2 ** 40, 2 ** 40], [0, 4]) }, 4), message: /tensor "w": data_offsets \[0,4\] hold 4 bytes/ },
  { what: 'overlap', build: () => rawFile({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, 12), message: /tensor "b" at bytes \[4, 12\) overlaps tensor "a"/ },
  { what: 'gap', build: () => rawFile({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, 12), message: /data bytes \[4, 8\) are not covered by any tensor \(gap before "b"\)/ },
  { what: 'trailing bytes', build: () => rawFile({ a: f32([1], [0, 4]) }, 6), message: /data bytes \[4, 6\) at the end are not covered/ },
  { what: 'metadata not an object', build: () => rawFile({ __metadata__: 'x' }), message: /__metadata__ is not an object/ },
  { what: 'metadata value not a string', build: () => rawFile({ __metadata__: { lr: 0.1 } }), message: /__metadata__ value for "lr" is not a string but 0.1/ },
  {
    what: 'metadata nested 200,000 deep',
    build: () => rawFile(`{"__metadata__":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`),
    message: /__metadata__ value for "a" is not a string but an array nested too deeply to show$/,
  },
];

function assertMalformed(c: (typeof malformed)[number]): void {
  assert.throws(
    () => parseSafetensors(c.build(), 'bad.safetensors'),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `${c.what}: got ${String(e)}`);
      assert.match(e.message, /^bad\.safetensors: /);
      assert.match(e.message, c.message);
      return true;
    },
  );
}

for (const c of malformed) test(`malformed: ${c.what}`, () => assertMalformed(c));

test('reading a missing file', () => {
  const path = join(tmpdir(), `no-such-${process.pid}.safetensors`);
  assert.throws(() => readSafetensors(path), (e: unknown) => e instanceof SafetensorsError && e.message.includes(`cannot read ${path}: no such file`));
});

test('a truncated file on disk names its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'short.safetensors');
    writeFileSync(path, new Uint8Array(3));
    assert.throws(() => readSafetensors(path), (e: unknown) => e instanceof SafetensorsError && e.message.startsWith(`${path}: file is 3 bytes`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the shared fixture -----------------------------------------------------------------------

test('reads the pc_lenet fixture', () => {
  const file = readSafetensors(sharedFixture('pc_lenet.safetensors'));
  const expect: [string, string, number[], string][] = [
    ['conv1.weight', 'float32', [6, 3, 5, 5], 'F32'],
    ['fc1.weight', 'float32', [120, 400], 'F16'],
    ['target', 'int64', [16], 'I64'],
  ];
  for (const [name, dtype, shape, source] of expect) {
    const tensor = file.tensors.get(name);
    assert.ok(tensor, name);
    assert.equal(tensor.dtype, dtype, name);
    assert.deepEqual([...tensor.shape], shape, name);
    assert.equal(tensor.data.length, shape.reduce((a, b) => a * b, 1), name);
    assert.equal(file.sourceDtypes.get(name), source, name);
  }
  assert.ok(file.tensors.get('target')!.data instanceof BigInt64Array);
  assert.ok('rtol' in file.metadata);
  assert.equal([...file.tensors.keys()][0], 'conv1.weight');
});
