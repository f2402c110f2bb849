/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative
 * to the start of the data section) plus an optional `__metadata__` object of string values.
 *
 * Every malformed input is reported as one `SafetensorsError` naming the source and the problem;
 * the parser never lets a RangeError or a garbage tensor through.
 */
import { readFileSync, writeFileAtomic } from '#platform/runtime';
import { UserError, describeFsError } from '../errors.js';
import type { DType, HostTensor, TypedData } from '../graph/ir.js';
import type { AtomicWriteOptions } from '../util/files.js';

export interface SafetensorsFile {
  /** tensors in header order (`__metadata__` excluded) */
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
  /** the dtype string as stored in the file, e.g. 'F16' for a tensor decoded to float32 */
  sourceDtypes: Map<string, string>;
}

/** A malformed or unreadable safetensors file; the message names it. */
export class SafetensorsError extends UserError {
  readonly source: string;
  constructor(source: string, what: string) {
    super(`${source}: ${what}`);
    this.source = source;
  }
}

/** Headers larger than this are rejected, as the reference implementation does. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface FileDtype {
  readonly dtype: DType;
  readonly itemsize: number;
}

/** dtypes this reader understands, and what they decode to */
const READ_DTYPES: Readonly<Record<string, FileDtype>> = {
  F32: { dtype: 'float32', itemsize: 4 },
  F16: { dtype: 'float32', itemsize: 2 },
  BF16: { dtype: 'float32', itemsize: 2 },
  F64: { dtype: 'float64', itemsize: 8 },
  I64: { dtype: 'int64', itemsize: 8 },
  I32: { dtype: 'int32', itemsize: 4 },
  U8: { dtype: 'uint8', itemsize: 1 },
  BOOL: { dtype: 'bool', itemsize: 1 },
};

/** how each host dtype is written */
const WRITE_DTYPES: Readonly<Record<DType, { name: string; itemsize: number; array: Function }>> = {
  float32: { name: 'F32', itemsize: 4, array: Float32Array },
  float64: { name: 'F64', itemsize: 8, array: Float64Array },
  int64: { name: 'I64', itemsize: 8, array: BigInt64Array },
  int32: { name: 'I32', itemsize: 4, array: Int32Array },
  uint8: { name: 'U8', itemsize: 1, array: Uint8Array },
  bool: { name: 'BOOL', itemsize: 1, array: Uint8Array },
};

/**
 * Decodes an IEEE 754 half-precision bit pattern (0..0xffff), exactly, subnormals, infinities
 * and NaN included.
 *
 * @example
 *   float16ToFloat32(0x3c00); // → 1
 *   float16ToFloat32(0x0001); // → 2 ** -24
 *   float16ToFloat32(0x7c00); // → Infinity
 */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16Scratch = new Float32Array(1);
const bf16ScratchBits = new Uint32Array(bf16Scratch.buffer);

/**
 * Decodes a bfloat16 bit pattern (0..0xffff): the upper half of a float32, so the conversion
 * is exact.
 *
 * @example
 *   bfloat16ToFloat32(0x3f80); // → 1
 *   bfloat16ToFloat32(0xc020); // → -2.5
 */
export function bfloat16ToFloat32(bits: number): number {
  bf16ScratchBits[0] = (bits & 0xffff) << 16;
  return bf16Scratch[0];
}

let f16Table: Float32Array | null = null;
function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = float16ToFloat32(i);
  }
  return f16Table;
}

/** Reverses each `itemsize`-byte group in place (little-endian file <-> big-endian host). */
function swapBytes(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i < bytes.length; i += itemsize) bytes.subarray(i, i + itemsize).reverse();
}

/** Copies bytes into a fresh, aligned buffer, swapping between little-endian and host order. */
function hostCopy(src: Uint8Array, itemsize: number): ArrayBuffer {
  const copy = new Uint8Array(src.length);
  copy.set(src);
  if (!LITTLE_ENDIAN_HOST) swapBytes(copy, itemsize);
  return copy.buffer;
}

function decode(fileDtype: string, raw: Uint8Array, count: number): TypedData {
  const buf = hostCopy(raw, READ_DTYPES[fileDtype].itemsize);
  switch (fileDtype) {
    case 'F32':
      return new Float32Array(buf, 0, count);
    case 'F64':
      return new Float64Array(buf, 0, count);
    case 'I64':
      return new BigInt64Array(buf, 0, count);
    case 'I32':
      return new Int32Array(buf, 0, count);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, 0, count);
    case 'F16': {
      const bits = new Uint16Array(buf, 0, count);
      const table = float16Table();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[bits[i]];
      return out;
    }
    case 'BF16': {
      const bits = new Uint16Array(buf, 0, count);
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = bits[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new Error(`unreachable dtype ${fileDtype}`);
  }
}

/**
 * The top-level keys of an already validated JSON object text, in textual order, duplicates
 * kept (Object.keys would move integer-like names first and JSON.parse drops duplicates).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(start, i + 1)) as string);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** A short preview of a header value for a message; a value nested too deeply to stringify is described instead. */
const show = (v: unknown): string => {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return `${Array.isArray(v) ? 'an array' : 'an object'} nested too deeply to show`;
  }
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

interface Entry {
  name: string;
  fileDtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a safetensors file held in memory. F16 and BF16 tensors are upcast to float32; the
 * other dtypes keep their width. Tensor data is copied, so the result never aliases `bytes`.
 *
 * @example
 *   const bytes = serializeSafetensors([['w', { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }]]);
 *   const { tensors } = parseSafetensors(bytes);
 *   tensors.get('w')!.data; // → new Float32Array([1, 2])
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const fail = (what: string): never => {
    throw new SafetensorsError(source, what);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.length) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  }

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) fail(`header is not a JSON object but ${show(header)}`);
  const values = new Map(Object.entries(header as Record<string, unknown>));
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) fail(`header has duplicate key ${show(k)}`);
    seen.add(k);
  }

  const metadata: Record<string, string> = {};
  if (values.has(METADATA_KEY)) {
    const meta = values.get(METADATA_KEY);
    if (!isObject(meta)) fail(`${METADATA_KEY} is not an object but ${show(meta)}`);
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY} value for ${show(k)} is not a string but ${show(v)}`);
      metadata[k] = v as string;
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const entries: Entry[] = [];
  for (const name of keys) {
    if (name === METADATA_KEY) continue;
    const info = values.get(name);
    const bad = (what: string): never => fail(`tensor ${show(name)}: ${what}`);
    if (!isObject(info)) bad(`entry is not an object but ${show(info)}`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    for (const [field, v] of [['dtype', dtype], ['shape', shape], ['data_offsets', offsets]] as const) {
      if (v === undefined) bad(`entry is missing "${field}"`);
    }
    if (typeof dtype !== 'string' || !Object.hasOwn(READ_DTYPES, dtype)) {
      bad(`unknown or unsupported dtype ${show(dtype)} (supported: ${Object.keys(READ_DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      bad(`shape must be an array of non-negative integers, got ${show(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      bad(`data_offsets must be [begin, end] with 0 <= begin <= end, got ${show(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (end > dataLen) bad(`data_offsets ${show(offsets)} end beyond the ${dataLen}-byte data section`);
    const elems = (shape as number[]).reduce((a, b) => a * b, 1);
    const { itemsize } = READ_DTYPES[dtype as string];
    if (!Number.isSafeInteger(elems * itemsize) || elems * itemsize !== end - begin) {
      bad(`data_offsets ${show(offsets)} hold ${end - begin} bytes but shape ${show(shape)} of ${dtype} needs ${elems * itemsize}`);
    }
    entries.push({ name, fileDtype: dtype as string, shape: (shape as number[]).slice(), begin, end });
  }

  // The spec requires the tensors to tile the data section exactly: no overlap, no gap.
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | null = null;
  for (const e of byOffset) {
    if (e.begin < cursor) {
      fail(`tensor ${show(e.name)} at bytes [${e.begin}, ${e.end}) overlaps tensor ${show(prev!.name)} at [${prev!.begin}, ${prev!.end})`);
    }
    if (e.begin > cursor) fail(`data bytes [${cursor}, ${e.begin}) are not covered by any tensor (gap before ${show(e.name)})`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) fail(`data bytes [${cursor}, ${dataLen}) at the end are not covered by any tensor`);

  const tensors = new Map<string, HostTensor>();
  const sourceDtypes = new Map<string, string>();
  for (const e of entries) {
    const { dtype, itemsize } = READ_DTYPES[e.fileDtype];
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype, shape: e.shape, data: decode(e.fileDtype, raw, (e.end - e.begin) / itemsize) });
    sourceDtypes.set(e.name, e.fileDtype);
  }
  return { tensors, metadata, sourceDtypes };
}

/**
 * Reads and parses a safetensors file.
 *
 * @example
 *   import { mkdtempSync } from 'node:fs';
 *   import { tmpdir } from 'node:os';
 *   import { join } from 'node:path';
 *   const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'weights.safetensors');
 *   writeSafetensors(path, [['w', { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }]], { note: 'demo' });
 *   const { tensors, metadata } = readSafetensors(path);
 *   console.log([...tensors.keys()], metadata); // prints [ 'w' ] { note: 'demo' }
 */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read ${path}: ${describeFsError(e)}`);
  }
  return parseSafetensors(bytes, path);
}

/**
 * Serializes tensors (in iteration order) to safetensors bytes: compact JSON header padded with
 * spaces to a multiple of 8, `__metadata__` first and only when non-empty, data little-endian.
 * Writes F32, F64, I64, I32, U8 and BOOL, one per host dtype; F16 and BF16 are read, never written.
 *
 * @example
 *   const bytes = serializeSafetensors(
 *     new Map([['b', { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }]]),
 *     { note: 'demo' },
 *   );
 *   parseSafetensors(bytes).metadata.note; // → 'demo'
 */
export function serializeSafetensors(
  tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const fail = (what: string): never => {
    throw new SafetensorsError('<serialize>', what);
  };
  const parts: string[] = [];
  const metaEntries = Object.entries(metadata);
  for (const [k, v] of metaEntries) {
    if (typeof v !== 'string') fail(`metadata value for ${show(k)} is not a string but ${show(v)}`);
  }
  if (metaEntries.length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);

  const chunks: Uint8Array[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const [name, t] of tensors) {
    const bad = (what: string): never => fail(`tensor ${show(name)}: ${what}`);
    if (name === METADATA_KEY) bad(`the name ${METADATA_KEY} is reserved`);
    if (names.has(name)) bad('duplicate tensor name');
    names.add(name);
    const spec = Object.hasOwn(WRITE_DTYPES, t.dtype) ? WRITE_DTYPES[t.dtype] : bad(`unknown dtype ${show(t.dtype)}`);
    if (!(t.data instanceof spec.array)) bad(`dtype ${t.dtype} needs a ${spec.array.name}, got ${t.data?.constructor?.name}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) bad(`invalid shape ${show(t.shape)}`);
    const elems = t.shape.reduce((a, b) => a * b, 1);
    if (elems !== t.data.length) bad(`shape ${show(t.shape)} has ${elems} elements but data has ${t.data.length}`);
    const chunk = new Uint8Array(hostCopy(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), spec.itemsize));
    chunks.push(chunk);
    const info = { dtype: spec.name, shape: t.shape, data_offsets: [offset, offset + chunk.length] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += chunk.length;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/**
 * Serializes and writes tensors atomically: the bytes go to `path.tmp-<pid>`, which is then
 * renamed over `path`, so a failure never leaves a half-written file behind (a full disk or a
 * read-only folder is one `UserError` line naming `path`).
 *
 * @example
 *   import { mkdtempSync } from 'node:fs';
 *   import { tmpdir } from 'node:os';
 *   import { join } from 'node:path';
 *   const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'w.safetensors');
 *   writeSafetensors(path, [['w', { dtype: 'float32', shape: [1], data: new Float32Array([3]) }]]);
 *   readSafetensors(path).tensors.get('w')!.data[0]; // → 3
 */
export function writeSafetensors(
  path: string,
  tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
  opts: AtomicWriteOptions = {},
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata), opts);
}
