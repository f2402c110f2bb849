/**
 * Reading ONNX files: a protobuf wire-format decoder (the reverse of `ProtoWriter` in
 * protobuf.ts) and the ModelProto / GraphProto / NodeProto / TensorProto / AttributeProto /
 * ValueInfoProto messages, decoded into plain objects with host tensors.
 *
 * Tensor payloads are read from `raw_data` (little-endian) or the typed fields (`float_data`,
 * `int32_data`, `int64_data`, `double_data`, `uint64_data`); float16 and bfloat16 are widened to
 * float32, int8/int16/uint16 to int32 and uint32 to int64. An initializer whose data lives in an
 * external file (ONNX's external-data format, src/onnx/external-data.ts: models over 2 GB) is read
 * from beside the model's file; from bytes alone, or with the side file missing, it is one
 * `OnnxFormatError` that says what to do. Every malformed input
 * (a truncated file, a field running past its message, a file that is not protobuf) is one
 * `OnnxFormatError` naming the source; no RangeError escapes.
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'model.onnx');
 * saveOnnx(createModel('cifar_lenet'), path, { inputShape: [1, 3, 32, 32] });
 * const model = readOnnxFile(path);
 * model.opset;                                                  // → 17
 * model.graph.nodes.filter((n) => n.opType === 'Conv').length; // → 2
 */
import { dirname, readFileSync, readFileRange } from '#platform/runtime';
import { UserError, errnoCode, fsError } from '../errors.js';
import { parseExternalEntries } from './external-data.js';
import type { DType, HostTensor, TypedData } from '../graph/ir.js';
import { bfloat16ToFloat32, float16ToFloat32 } from '../io/safetensors.js';

/** A file that is not a readable ONNX model (the user's input problem). */
export class OnnxFormatError extends UserError {}

/** One attribute of a node, by its AttributeProto type. Sub-graphs are kept only as a marker. */
export type OnnxAttribute =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: HostTensor }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'other'; readonly type: number };

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  /** '' (or 'ai.onnx') for standard ops */
  readonly domain: string;
  /** value names; '' marks an omitted optional input */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

/** A graph input or output: element type (null when not a supported tensor type) and dims (a number, a symbolic name, or null). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dtype: DType | null;
  readonly dims: readonly (number | string | null)[] | null;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  /** initializers by name, in file order */
  readonly initializers: ReadonlyMap<string, HostTensor>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  /** version of the default ('' / ai.onnx) operator set */
  readonly opset: number;
  readonly producer: string;
  readonly graph: OnnxGraph;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Reads and decodes an .onnx file; an unreadable path (missing, a folder, no permission) is one UserError line naming it. */
export function readOnnxFile(path: string): OnnxModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw fsError(e, path, 'read');
  }
  return decodeOnnx(bytes, path, dirname(path));
}

/**
 * Decodes ONNX ModelProto bytes; `source` names the input in error messages, `externalDataDir`
 * is the folder external data locations are relative to (the model file's; none: refused).
 */
export function decodeOnnx(bytes: Uint8Array, source = '<buffer>', externalDataDir: string | null = null): OnnxModel {
  try {
    return decodeModel(new ProtoReader(bytes), source, externalDataDir);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw e;
    if (e instanceof WireError) throw new OnnxFormatError(`${source}: not a readable ONNX model (${e.message}); is the file complete and really .onnx?`);
    throw e;
  }
}

class WireError extends Error {}

/** Protobuf wire-format reader over one message's bytes. */
export class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** an unsigned varint as a number (exact below 2^53) */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new WireError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** a varint as a signed 64-bit integer (int64 fields: negative values take 10 bytes) */
  int64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new WireError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** [field number, wire type] */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8);
    const wire = t % 8;
    if (field === 0) throw new WireError(`field number 0 at byte ${this.pos}`);
    return [field, wire];
  }

  /** the payload of a length-delimited field */
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new WireError(`a field of ${n} bytes runs past the end (byte ${this.pos} of ${this.buf.length})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  float32(): number {
    if (this.pos + 4 > this.buf.length) throw new WireError(`truncated fixed32 at byte ${this.pos}`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** skips a field of the given wire type */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new WireError(`unsupported wire type ${wire} at byte ${this.pos}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new WireError(`truncated field at byte ${this.pos}`);
    this.pos += n;
  }

  /** repeated int64, packed (wire 2) or one value (wire 0) */
  int64s(wire: number, into: bigint[]): void {
    if (wire === 0) into.push(this.int64());
    else {
      const r = new ProtoReader(this.bytes());
      while (!r.done) into.push(r.int64());
    }
  }

  /** repeated float, packed (wire 2) or one value (wire 5) */
  floats(wire: number, into: number[]): void {
    if (wire === 5) into.push(this.float32());
    else {
      const b = this.bytes();
      if (b.length % 4) throw new WireError('packed floats not a multiple of 4 bytes');
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      for (let i = 0; i < b.length; i += 4) into.push(dv.getFloat32(i, true));
    }
  }

  /** repeated double, packed (wire 2) or one value (wire 1) */
  doubles(wire: number, into: number[]): void {
    const b = wire === 1 ? this.fixed(8) : this.bytes();
    if (b.length % 8) throw new WireError('packed doubles not a multiple of 8 bytes');
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    for (let i = 0; i < b.length; i += 8) into.push(dv.getFloat64(i, true));
  }

  private fixed(n: number): Uint8Array {
    this.advance(n);
    return this.buf.subarray(this.pos - n, this.pos);
  }

  /** reads every field: `on(field, wire)` must consume the field or return false to skip it */
  fields(on: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const [field, wire] = this.tag();
      if (!on(field, wire)) this.skip(wire);
    }
  }
}

function expectWire(wire: number, want: number, what: string): void {
  if (wire !== want) throw new WireError(`${what} has wire type ${wire}, expected ${want}`);
}

function decodeModel(r: ProtoReader, source: string, dir: string | null): OnnxModel {
  // a holder object: assignments inside the field callbacks stay visible to the type checker
  const m: { irVersion: number; opset: number | null; producer: string; graph: OnnxGraph | null } = { irVersion: 0, opset: null, producer: '', graph: null };
  const metadata: Record<string, string> = {};
  r.fields((field, wire) => {
    if (field === 1 && wire === 0) m.irVersion = r.varint();
    else if (field === 2 && wire === 2) m.producer = r.string();
    else if (field === 7) {
      expectWire(wire, 2, 'ModelProto.graph');
      m.graph = decodeGraph(new ProtoReader(r.bytes()), source, dir);
    } else if (field === 8) {
      expectWire(wire, 2, 'ModelProto.opset_import');
      const o = new ProtoReader(r.bytes());
      const id = { domain: '', version: 0 };
      o.fields((f, w) => {
        if (f === 1 && w === 2) id.domain = o.string();
        else if (f === 2 && w === 0) id.version = o.varint();
        else return false;
        return true;
      });
      if (id.domain === '' || id.domain === 'ai.onnx') m.opset = id.version;
    } else if (field === 14 && wire === 2) {
      const [k, v] = decodeStringPair(new ProtoReader(r.bytes()));
      metadata[k] = v;
    } else return false;
    return true;
  });
  const { irVersion, opset, producer, graph } = m;
  if (!graph || irVersion === 0) throw new OnnxFormatError(`${source}: not an ONNX model (no ${graph ? 'IR version' : 'graph'} found); is it really an .onnx file?`);
  if (opset === null) throw new OnnxFormatError(`${source}: the model imports no default (ai.onnx) operator set`);
  return { irVersion, opset, producer, graph, metadata };
}

function decodeStringPair(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  r.fields((f, w) => {
    if (f === 1 && w === 2) key = r.string();
    else if (f === 2 && w === 2) value = r.string();
    else return false;
    return true;
  });
  return [key, value];
}

function decodeGraph(r: ProtoReader, source: string, dir: string | null): OnnxGraph {
  let name = '';
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, HostTensor>();
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  r.fields((field, wire) => {
    if (wire !== 2) return false;
    if (field === 1) nodes.push(decodeNode(new ProtoReader(r.bytes()), source));
    else if (field === 2) name = r.string();
    else if (field === 5) {
      const [tname, t] = decodeTensor(new ProtoReader(r.bytes()), source, dir);
      initializers.set(tname, t);
    } else if (field === 15) throw new OnnxFormatError(`${source}: sparse initializers are not supported; re-export with dense weights`);
    else if (field === 11) inputs.push(decodeValueInfo(new ProtoReader(r.bytes())));
    else if (field === 12) outputs.push(decodeValueInfo(new ProtoReader(r.bytes())));
    else return false;
    return true;
  });
  return { name, nodes, initializers, inputs, outputs };
}

function decodeNode(r: ProtoReader, source: string): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  const attributes = new Map<string, OnnxAttribute>();
  r.fields((field, wire) => {
    if (wire !== 2) return false;
    if (field === 1) inputs.push(r.string());
    else if (field === 2) outputs.push(r.string());
    else if (field === 3) name = r.string();
    else if (field === 4) opType = r.string();
    else if (field === 7) domain = r.string();
    else if (field === 5) {
      const [aname, a] = decodeAttribute(new ProtoReader(r.bytes()), source);
      attributes.set(aname, a);
    } else return false;
    return true;
  });
  return { name, opType, domain, inputs, outputs, attributes };
}

function decodeAttribute(r: ProtoReader, source: string): [string, OnnxAttribute] {
  const m: { name: string; type: number; f?: number; i?: bigint; s?: Uint8Array; t?: HostTensor; other: boolean } = { name: '', type: 0, other: false };
  const floats: number[] = [];
  const ints: bigint[] = [];
  const strings: string[] = [];
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) m.name = r.string();
    else if (field === 20 && wire === 0) m.type = r.varint();
    else if (field === 2 && wire === 5) m.f = r.float32();
    else if (field === 3 && wire === 0) m.i = r.int64();
    else if (field === 4 && wire === 2) m.s = r.bytes();
    else if (field === 5 && wire === 2) m.t = decodeTensor(new ProtoReader(r.bytes()), source)[1];
    else if (field === 7) r.floats(wire, floats);
    else if (field === 8) r.int64s(wire, ints);
    else if (field === 9 && wire === 2) strings.push(r.string());
    else {
      if ([6, 10, 11, 22, 14].includes(field)) m.other = true;
      return false;
    }
    return true;
  });
  const { name, type, f, i, s, t, other } = m;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  // type tells which field holds the value; files without it (IR < 3) fall back to the field present
  switch (type) {
    case 1:
      return [name, { kind: 'float', value: f ?? 0 }];
    case 2:
      return [name, { kind: 'int', value: Number(i ?? 0n) }];
    case 3:
      return [name, { kind: 'string', value: text(s ?? new Uint8Array()) }];
    case 4:
      if (!t) throw new OnnxFormatError(`${source}: attribute ${name} of type TENSOR has no tensor`);
      return [name, { kind: 'tensor', value: t }];
    case 6:
      return [name, { kind: 'floats', value: floats }];
    case 7:
      return [name, { kind: 'ints', value: ints.map(Number) }];
    case 8:
      return [name, { kind: 'strings', value: strings }];
    case 0:
      if (f !== undefined) return [name, { kind: 'float', value: f }];
      if (i !== undefined) return [name, { kind: 'int', value: Number(i) }];
      if (s !== undefined) return [name, { kind: 'string', value: text(s) }];
      if (t) return [name, { kind: 'tensor', value: t }];
      if (floats.length) return [name, { kind: 'floats', value: floats }];
      if (ints.length) return [name, { kind: 'ints', value: ints.map(Number) }];
      if (strings.length) return [name, { kind: 'strings', value: strings }];
      return [name, { kind: 'other', type: other ? -1 : 0 }];
    default:
      return [name, { kind: 'other', type }];
  }
}

/** ONNX TensorProto.DataType codes this reader decodes, and the host dtype each becomes */
const DATA_TYPES: Readonly<Record<number, { name: string; dtype: DType; size: number }>> = {
  1: { name: 'float', dtype: 'float32', size: 4 },
  2: { name: 'uint8', dtype: 'uint8', size: 1 },
  3: { name: 'int8', dtype: 'int32', size: 1 },
  4: { name: 'uint16', dtype: 'int32', size: 2 },
  5: { name: 'int16', dtype: 'int32', size: 2 },
  6: { name: 'int32', dtype: 'int32', size: 4 },
  7: { name: 'int64', dtype: 'int64', size: 8 },
  9: { name: 'bool', dtype: 'bool', size: 1 },
  10: { name: 'float16', dtype: 'float32', size: 2 },
  11: { name: 'double', dtype: 'float64', size: 8 },
  12: { name: 'uint32', dtype: 'int64', size: 4 },
  13: { name: 'uint64', dtype: 'int64', size: 8 },
  16: { name: 'bfloat16', dtype: 'float32', size: 2 },
};

/** The host dtype of a TensorProto.DataType code, or null where the reader has none. */
export function dtypeOfOnnxCode(code: number): DType | null {
  return DATA_TYPES[code]?.dtype ?? null;
}

/** a TensorProto; external data is read relative to `dir` (null: refused) */
function decodeTensor(r: ProtoReader, source: string, dir: string | null = null): [string, HostTensor] {
  const dims: bigint[] = [];
  const fields: TypedFields = { floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [] };
  const m: { dataType: number; name: string; raw: Uint8Array | null; external: boolean } = { dataType: 0, name: '', raw: null, external: false };
  const entries = new Map<string, string>();
  r.fields((field, wire) => {
    if (field === 1) r.int64s(wire, dims);
    else if (field === 2 && wire === 0) m.dataType = r.varint();
    else if (field === 8 && wire === 2) m.name = r.string();
    else if (field === 9 && wire === 2) m.raw = r.bytes();
    else if (field === 4) r.floats(wire, fields.floatData);
    else if (field === 5) r.int64s(wire, fields.int32Data);
    else if (field === 7) r.int64s(wire, fields.int64Data);
    else if (field === 10) r.doubles(wire, fields.doubleData);
    else if (field === 11) r.int64s(wire, fields.uint64Data);
    else if (field === 13 && wire === 2) {
      const [k, v] = decodeStringPair(new ProtoReader(r.bytes()));
      entries.set(k, v);
      m.external = true;
    } else if (field === 14 && wire === 0) m.external = r.varint() === 1 || m.external;
    else return false;
    return true;
  });
  const { dataType, name } = m;
  const what = `tensor "${name}"`;
  const raw = m.external ? externalBytes(entries, what, source, dir) : m.raw;
  const type = DATA_TYPES[dataType];
  if (!type) throw new OnnxFormatError(`${source}: ${what} has data type ${dataType}, which tessera cannot read (float, double, float16, bfloat16 and integer types only)`);
  const shape = dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (raw && raw.length !== count * type.size) throw new OnnxFormatError(`${source}: ${what} has ${raw.length} bytes of data, its shape [${shape}] needs ${count * type.size}`);
  const data = raw ? fromRaw(raw, dataType, count) : fromTyped(dataType, fields);
  if (data.length !== count) throw new OnnxFormatError(`${source}: ${what} has ${data.length} values, its shape [${shape}] needs ${count}`);
  return [name, { dtype: type.dtype, shape, data }];
}

/** the bytes a tensor's `external_data` entries name, from the side file in `dir` */
function externalBytes(entries: ReadonlyMap<string, string>, what: string, source: string, dir: string | null): Uint8Array {
  const fail = (message: string) => new OnnxFormatError(`${source}: ${message}`);
  const { location, offset, length } = parseExternalEntries(entries, what, fail);
  if (dir === null) throw fail(`${what} keeps its data in an external file (${location}); read the model from its file, with ${location} beside it`);
  const path = `${dir}/${location}`;
  try {
    return readFileRange(path, offset, length);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw fail(`${what} keeps its data in ${location}, which is not beside the model (no ${path}); copy ${location} next to it`);
    if (e instanceof RangeError) throw fail(`${what}: ${path} is too short (${e.message}); is it complete, and the one written with this model?`);
    throw fsError(e, path, 'read');
  }
}

/** little-endian raw_data to the host array of `dataType`'s dtype */
function fromRaw(raw: Uint8Array, dataType: number, count: number): TypedData {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const check = (size: number) => {
    if (raw.length !== count * size) throw new OnnxFormatError(`raw data of ${raw.length} bytes does not hold ${count} values of ${size} bytes`);
  };
  const numbers = <T extends Float32Array | Float64Array | Int32Array | Uint8Array>(out: T, size: number, get: (offset: number) => number): T => {
    check(size);
    for (let i = 0; i < count; i++) out[i] = get(i * size);
    return out;
  };
  const bigints = (size: number, get: (offset: number) => bigint): BigInt64Array => {
    check(size);
    const out = new BigInt64Array(count);
    for (let i = 0; i < count; i++) out[i] = get(i * size);
    return out;
  };
  switch (dataType) {
    case 1:
      return numbers(new Float32Array(count), 4, (o) => dv.getFloat32(o, true));
    case 11:
      return numbers(new Float64Array(count), 8, (o) => dv.getFloat64(o, true));
    case 7:
      return bigints(8, (o) => dv.getBigInt64(o, true));
    case 12:
      return bigints(4, (o) => BigInt(dv.getUint32(o, true)));
    case 13:
      return bigints(8, (o) => BigInt.asIntN(64, dv.getBigUint64(o, true)));
    case 6:
      return numbers(new Int32Array(count), 4, (o) => dv.getInt32(o, true));
    case 5:
      return numbers(new Int32Array(count), 2, (o) => dv.getInt16(o, true));
    case 4:
      return numbers(new Int32Array(count), 2, (o) => dv.getUint16(o, true));
    case 3:
      return numbers(new Int32Array(count), 1, (o) => dv.getInt8(o));
    case 10:
      return numbers(new Float32Array(count), 2, (o) => float16ToFloat32(dv.getUint16(o, true)));
    case 16:
      return numbers(new Float32Array(count), 2, (o) => bfloat16ToFloat32(dv.getUint16(o, true)));
    default:
      // uint8, bool
      return numbers(new Uint8Array(count), 1, (o) => dv.getUint8(o));
  }
}

interface TypedFields {
  floatData: number[];
  int32Data: bigint[];
  int64Data: bigint[];
  doubleData: number[];
  uint64Data: bigint[];
}

function fromTyped(dataType: number, f: TypedFields): TypedData {
  switch (dataType) {
    case 1:
      return Float32Array.from(f.floatData);
    case 11:
      return Float64Array.from(f.doubleData);
    case 7:
      return BigInt64Array.from(f.int64Data);
    case 12:
    case 13:
      return BigInt64Array.from(f.uint64Data, (v) => BigInt.asIntN(64, v));
    case 10:
      return Float32Array.from(f.int32Data, (v) => float16ToFloat32(Number(v) & 0xffff));
    case 16:
      return Float32Array.from(f.int32Data, (v) => bfloat16ToFloat32(Number(v) & 0xffff));
    case 2:
    case 9:
      return Uint8Array.from(f.int32Data, Number);
    default:
      return Int32Array.from(f.int32Data, Number);
  }
}

function decodeValueInfo(r: ProtoReader): OnnxValueInfo {
  const m: { name: string; dtype: DType | null; dims: (number | string | null)[] | null } = { name: '', dtype: null, dims: null };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) m.name = r.string();
    else if (field === 2 && wire === 2) {
      // TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) | dim_param (2)
      const type = new ProtoReader(r.bytes());
      type.fields((tf, tw) => {
        if (tf !== 1 || tw !== 2) return false;
        const tensor = new ProtoReader(type.bytes());
        tensor.fields((f, w) => {
          if (f === 1 && w === 0) m.dtype = dtypeOfOnnxCode(tensor.varint());
          else if (f === 2 && w === 2) m.dims = decodeShape(new ProtoReader(tensor.bytes()));
          else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name: m.name, dtype: m.dtype, dims: m.dims };
}

function decodeShape(shape: ProtoReader): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  shape.fields((sf, sw) => {
    if (sf !== 1 || sw !== 2) return false;
    const dim = new ProtoReader(shape.bytes());
    const d: { value: number | string | null } = { value: null };
    dim.fields((df, dw) => {
      if (df === 1 && dw === 0) d.value = Number(dim.int64());
      else if (df === 2 && dw === 2) d.value = dim.string();
      else return false;
      return true;
    });
    dims.push(d.value);
    return true;
  });
  return dims;
}
