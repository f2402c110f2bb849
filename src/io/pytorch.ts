/**
 * Reading PyTorch checkpoints (`torch.save` files, `.pt` / `.pth`) into host tensors, without
 * Python and without running anything the file asks for.
 *
 * Two formats:
 *  - zip (torch >= 1.6): `<archive>/data.pkl` (the pickle), `<archive>/data/<key>` (one entry
 *    per storage, raw little-endian bytes), `<archive>/version`, and since torch 2.1
 *    `<archive>/byteorder`. torch writes stored entries; deflated ones are read too.
 *  - legacy (`_use_new_zipfile_serialization=False`, and every file before torch 1.6): pickles
 *    of the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001 and a sys-info dict,
 *    then the main pickle, then the list of storage keys, then each storage as an int64 element
 *    count followed by its raw bytes.
 *
 * The pickles go through the restricted unpickler of `pickle.ts`: a global outside the allowlist
 * (os.system, builtins.eval, ...) is refused before any tensor data is read. Every problem is a
 * `TorchCheckpointError`: one line naming the file and what is wrong.
 */
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import type { DType, HostTensor, TypedData } from '../graph/ir.js';
import { unpickle } from './pickle.js';
import {
  ForbiddenGlobalError,
  ITEM_SIZE,
  PickleValue,
  StorageRef,
  TensorRef,
  TorchCheckpointError,
  TorchDType,
  describeValue,
  torchPersistentLoad,
} from './torch-pickle.js';
import { float16ToFloat32 } from './safetensors.js';
import { DATA_PARALLEL_PREFIX, sharedPrefixToStrip } from './state-dict-prefix.js';

export { TorchCheckpointError, ForbiddenGlobalError } from './torch-pickle.js';
export { DATA_PARALLEL_PREFIX, sharedPrefixToStrip };
export type { TorchDType } from './torch-pickle.js';

/** The message for a file that is neither format. */
export const NOT_A_CHECKPOINT = 'not a PyTorch checkpoint (expected a zip archive or the legacy magic number)';

/**
 * Keys under which training scripts nest the state dict, in the order they are tried (`net` is
 * pytorch-cifar's `{'net': state_dict, 'acc': ..., 'epoch': ...}`).
 */
export const STATE_DICT_KEYS: readonly string[] = ['state_dict', 'model', 'model_state_dict', 'module', 'state_dict_ema', 'net'];

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** How a checkpoint was read and what was done to its keys and dtypes. */
export interface CheckpointInfo {
  format: 'zip' | 'legacy';
  /** the zip's top folder ('archive' for buffers, the file stem for files); null for legacy */
  archiveName: string | null;
  /** the pickle protocol of the main pickle */
  pickleProtocol: number;
  /** the key of the outer dict that held the state dict (e.g. 'state_dict'), null for a plain one */
  container: string | null;
  /** outer keys that were not used (epoch, optimizer, ...), or non-tensor entries dropped */
  ignoredKeys: string[];
  /** 'module.' when it was stripped from every key, else null */
  strippedPrefix: string | null;
  /** each tensor's dtype as stored, by final key: 'float16' and 'bfloat16' tensors come back as float32 */
  sourceDtypes: Map<string, TorchDType>;
}

export interface TorchCheckpoint {
  tensors: Map<string, HostTensor>;
  info: CheckpointInfo;
}

/** The host dtype each readable storage dtype becomes. */
const HOST_DTYPE: Readonly<Partial<Record<TorchDType, DType>>> = {
  float32: 'float32',
  float16: 'float32',
  bfloat16: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

/**
 * Reads a checkpoint file into a map of host tensors (state-dict order); `opts.onInfo` receives
 * what was unwrapped, stripped and converted.
 *
 * @example
 *   // torch.save(model.half().state_dict(), 'lenet_f16.pt') of pytorch-cifar's LeNet (committed with the tests)
 *   const sd = readTorchCheckpoint('test/data/checkpoints/lenet_f16.pt', { onInfo: (i) => console.log(i.format, i.container, i.strippedPrefix) });
 *   // prints zip null null
 *   sd.get('conv1.weight')!.shape; // → [6, 3, 5, 5]
 *   createModel('cifar_lenet').loadStateDict(sd);
 */
export function readTorchCheckpoint(path: string, opts: { onInfo?: (info: CheckpointInfo) => void } = {}): Map<string, HostTensor> {
  const { tensors, info } = loadTorchCheckpoint(path);
  opts.onInfo?.(info);
  return tensors;
}

/**
 * Reads a checkpoint file: its tensors and a `CheckpointInfo`.
 *
 * @example
 *   const { tensors, info } = loadTorchCheckpoint('ckpt.pth');
 *   info.container;      // 'state_dict' for {'epoch': 3, 'state_dict': ...}
 *   info.strippedPrefix; // 'module.' for a DataParallel model
 */
export function loadTorchCheckpoint(path: string): TorchCheckpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message;
    throw new TorchCheckpointError(path, `cannot read: ${why}`);
  }
  return parseTorchCheckpoint(bytes, path);
}

/**
 * Parses checkpoint bytes held in memory (`source` names them in errors). Tensor data is
 * copied, so the result never aliases `bytes`.
 *
 * @example
 *   const { tensors } = parseTorchCheckpoint(readFileSync('w.pt'), 'w.pt');
 *   tensors.get('fc.weight')!.shape; // [10, 84]
 */
export function parseTorchCheckpoint(bytes: Uint8Array, source = '<buffer>'): TorchCheckpoint {
  const fail = (what: string): never => {
    throw new TorchCheckpointError(source, what);
  };
  if (bytes.length === 0) fail(`the file is empty: ${NOT_A_CHECKPOINT}`);
  const raw = isZip(bytes) ? readZipCheckpoint(bytes, source, fail) : readLegacyCheckpoint(bytes, source, fail);
  return buildStateDict(raw, fail);
}

/** What a format reader hands on: the unpickled root and a way to fetch storage bytes. */
interface RawCheckpoint {
  format: 'zip' | 'legacy';
  archiveName: string | null;
  pickleProtocol: number;
  root: PickleValue;
  /** the bytes of a storage (by root key) in little-endian (or, with bigEndian, big-endian) order */
  storageBytes: (key: string, dtype: TorchDType) => Uint8Array;
  bigEndian: boolean;
}

// ---- zip ----------------------------------------------------------------------------------------

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6));
}

interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Reads the zip central directory (zip64 included). */
function readZipDirectory(bytes: Uint8Array, fail: (what: string) => never): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  let eocd = -1;
  for (let p = len - 22; p >= Math.max(0, len - 22 - 0xffff); p--) {
    if (view.getUint32(p, true) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail(`truncated or damaged zip archive: no end-of-central-directory record (the file may be cut short; ${len} bytes)`);
  let total = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = safeU64(view, eocd - 20 + 8, fail);
    if (z64 + 56 > eocd || view.getUint32(z64, true) !== 0x06064b50) fail('damaged zip archive: the zip64 end-of-central-directory record is missing');
    total = safeU64(view, z64 + 32, fail);
    cdSize = safeU64(view, z64 + 40, fail);
    cdOffset = safeU64(view, z64 + 48, fail);
  }
  if (cdOffset + cdSize > eocd) fail(`truncated or damaged zip archive: the central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at byte ${eocd}`);
  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder('utf-8');
  let p = cdOffset;
  for (let i = 0; i < total; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== 0x02014b50) fail(`damaged zip archive: central directory entry ${i} of ${total} is malformed`);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const e: ZipEntry = {
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
      name: names.decode(bytes.subarray(p + 46, p + 46 + nameLen)),
    };
    // zip64 extra field: the 64-bit values of the fields stored as 0xffffffff, in this order
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const size = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let f = x + 4;
        const next = () => {
          if (f + 8 > x + 4 + size) fail(`damaged zip archive: entry ${e.name} has a short zip64 field`);
          const v = safeU64(view, f, fail);
          f += 8;
          return v;
        };
        if (e.size === 0xffffffff) e.size = next();
        if (e.compressedSize === 0xffffffff) e.compressedSize = next();
        if (e.localOffset === 0xffffffff) e.localOffset = next();
      }
      x += 4 + size;
    }
    entries.set(e.name, e);
    p = xEnd + commentLen;
  }
  return entries;
}

function safeU64(view: DataView, at: number, fail: (what: string) => never): number {
  if (at < 0 || at + 8 > view.byteLength) fail('truncated or damaged zip archive: a zip64 field lies outside the file');
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('damaged zip archive: a zip64 field is out of range');
  return Number(v);
}

let crcTable: Uint32Array | null = null;
/** The zip (IEEE) CRC-32 of `data`; the zip writer of `torch-save.ts` uses it too. */
export function crc32(data: Uint8Array): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The (uncompressed, CRC-checked) bytes of an entry; stored entries are not copied. */
function zipEntryData(bytes: Uint8Array, e: ZipEntry, fail: (what: string) => never): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (e.flags & 1) fail(`zip entry ${e.name} is encrypted`);
  if (e.localOffset + 30 > bytes.length || view.getUint32(e.localOffset, true) !== 0x04034b50) {
    fail(`damaged zip archive: the local header of ${e.name} at byte ${e.localOffset} is missing`);
  }
  const start = e.localOffset + 30 + view.getUint16(e.localOffset + 26, true) + view.getUint16(e.localOffset + 28, true);
  const end = start + e.compressedSize;
  if (end > bytes.length) fail(`truncated: zip entry ${e.name} ends at byte ${end}, past the end of the file (${bytes.length} bytes)`);
  const packed = bytes.subarray(start, end);
  let data: Uint8Array;
  if (e.method === 0) {
    if (e.size !== e.compressedSize) fail(`damaged zip archive: stored entry ${e.name} has sizes ${e.compressedSize} and ${e.size}`);
    data = packed;
  } else if (e.method === 8) {
    try {
      data = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      return fail(`damaged zip archive: cannot inflate ${e.name} (${(err as Error).message})`);
    }
    if (data.length !== e.size) fail(`damaged zip archive: ${e.name} inflates to ${data.length} bytes, not ${e.size}`);
  } else {
    return fail(`zip entry ${e.name} uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
  }
  if (crc32(data) !== e.crc) fail(`damaged zip archive: CRC mismatch in ${e.name}`);
  return data;
}

function readZipCheckpoint(bytes: Uint8Array, source: string, fail: (what: string) => never): RawCheckpoint {
  const entries = readZipDirectory(bytes, fail);
  const first = entries.keys().next().value as string | undefined;
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  const firstDir = first?.split('/')[0];
  const pkl = pickles.find((n) => n === `${firstDir}/data.pkl`) ?? pickles[0];
  if (!pkl) fail('a zip archive, but not a torch.save checkpoint: it has no <archive>/data.pkl entry');
  const prefix = pkl.slice(0, -'/data.pkl'.length);
  if (entries.has(`${prefix}/constants.pkl`) || [...entries.keys()].some((n) => n.startsWith(`${prefix}/code/`))) {
    fail('a TorchScript archive (torch.jit.save), not a torch.save checkpoint; in Python, save model.state_dict() with torch.save');
  }
  let bigEndian = false;
  const order = entries.get(`${prefix}/byteorder`);
  if (order) {
    const text = new TextDecoder().decode(zipEntryData(bytes, order, fail)).trim();
    if (text !== 'little' && text !== 'big') fail(`${prefix}/byteorder says "${text.slice(0, 20)}", not little or big`);
    bigEndian = text === 'big';
  }
  const { value, protocol } = unpickle(zipEntryData(bytes, entries.get(pkl)!, fail), { source });
  return {
    format: 'zip',
    archiveName: prefix,
    pickleProtocol: protocol,
    root: value,
    bigEndian,
    storageBytes: (key) => {
      const e = entries.get(`${prefix}/data/${key}`);
      if (!e) return fail(`storage ${key} is missing: the archive has no ${prefix}/data/${key}`);
      return zipEntryData(bytes, e, fail);
    },
  };
}

// ---- legacy -------------------------------------------------------------------------------------

function readLegacyCheckpoint(bytes: Uint8Array, source: string, fail: (what: string) => never): RawCheckpoint {
  // Whatever the file is, its first pickle goes through the restricted unpickler (torch.load
  // would run it): a raw pickle that asks for os.system is refused by name, not just "foreign".
  let magic;
  try {
    magic = unpickle(bytes, { source });
  } catch (e) {
    if (e instanceof ForbiddenGlobalError || !(e instanceof TorchCheckpointError)) throw e;
    return fail(bytes[0] === 0x80 ? `${NOT_A_CHECKPOINT}; it starts like a pickle, but: ${e.problem}` : NOT_A_CHECKPOINT);
  }
  if (magic.value !== LEGACY_MAGIC) fail(`${NOT_A_CHECKPOINT}; it is a pickle of ${describeValue(magic.value)}`);
  const version = unpickle(bytes, { source, offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL_VERSION) fail(`legacy checkpoint with protocol version ${String(version.value)}, expected ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = unpickle(bytes, { source, offset: version.end });
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) fail('legacy checkpoint written on a big-endian machine; not supported');

  const dtypes = new Map<string, TorchDType>();
  const load = torchPersistentLoad();
  const main = unpickle(bytes, {
    source,
    offset: sysInfo.end,
    persistentLoad: (pid, f) => {
      const ref = load(pid, f);
      if (ref instanceof StorageRef) dtypes.set(ref.key, ref.dtype);
      return ref;
    },
  });
  const keysPickle = unpickle(bytes, { source, offset: main.end });
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail(`legacy checkpoint: the storage key list is ${describeValue(keys)}, not a list of str`);

  // each storage: int64 element count, then the raw bytes; only the layout is read here
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const spans = new Map<string, [number, number]>();
  let pos = keysPickle.end;
  (keys as string[]).forEach((key, i) => {
    const dtype = dtypes.get(key) ?? fail(`legacy checkpoint: storage ${key} is listed but no tensor uses it`);
    const what = `storage ${key} (${i + 1} of ${(keys as string[]).length})`;
    if (pos + 8 > bytes.length) fail(`truncated: ${what} starts at byte ${pos}, past the end of the file (${bytes.length} bytes)`);
    const numel = view.getBigInt64(pos, true);
    if (numel < 0n || numel > BigInt(Number.MAX_SAFE_INTEGER)) fail(`legacy checkpoint: ${what} has an invalid element count ${numel}`);
    const start = pos + 8;
    const end = start + Number(numel) * ITEM_SIZE[dtype];
    if (end > bytes.length) fail(`truncated: ${what} needs bytes [${start}, ${end}), but the file ends at byte ${bytes.length}`);
    spans.set(key, [start, end]);
    pos = end;
  });
  return {
    format: 'legacy',
    archiveName: null,
    pickleProtocol: main.protocol,
    root: main.value,
    bigEndian: false,
    storageBytes: (key) => {
      const span = spans.get(key) ?? fail(`legacy checkpoint: storage ${key} is not in the storage list`);
      return bytes.subarray(span[0], span[1]);
    },
  };
}

// ---- state dict -----------------------------------------------------------------------------------

const isTensorMapping = (v: PickleValue | undefined): boolean =>
  v instanceof Map && v.size > 0 && [...v.values()].every((t) => t instanceof TensorRef);

/** "epoch (a number), state_dict (a dict of 12: 11 tensors)" */
function describeKeys(m: Map<PickleValue, PickleValue>): string {
  const parts = [...m].slice(0, 8).map(([k, v]) => {
    if (v instanceof Map) {
      const n = [...v.values()].filter((t) => t instanceof TensorRef).length;
      return `${String(k)} (a dict of ${v.size}${n ? `: ${n} tensors` : ''})`;
    }
    return `${String(k)} (${describeValue(v)})`;
  });
  return parts.join(', ') + (m.size > 8 ? `, … (${m.size - 8} more)` : '');
}

function buildStateDict(raw: RawCheckpoint, fail: (what: string) => never): TorchCheckpoint {
  const { root } = raw;
  let mapping: Map<PickleValue, PickleValue> | null = null;
  let container: string | null = null;
  let ignoredKeys: string[] = [];
  if (!(root instanceof Map)) {
    fail(`holds ${describeValue(root)}, not a dict of named tensors (a state dict)`);
  } else if (isTensorMapping(root)) {
    mapping = root;
  } else {
    container = STATE_DICT_KEYS.find((k) => isTensorMapping(root.get(k))) ?? null;
    if (container !== null) {
      mapping = root.get(container) as Map<PickleValue, PickleValue>;
      ignoredKeys = [...root.keys()].filter((k) => k !== container).map(String);
    } else if ([...root.values()].some((v) => v instanceof TensorRef)) {
      // a state dict with stray non-tensor entries: keep the tensors
      mapping = new Map([...root].filter(([, v]) => v instanceof TensorRef));
      ignoredKeys = [...root].filter(([, v]) => !(v instanceof TensorRef)).map(([k]) => String(k));
    } else if (root.size === 0) {
      fail('holds an empty dict, no tensors');
    } else {
      fail(`holds no state dict: a dict with ${describeKeys(root)}; expected named tensors, or a dict of them under ${STATE_DICT_KEYS.join(', ')}`);
    }
  }

  const keys = [...mapping!.keys()];
  for (const k of keys) if (typeof k !== 'string') fail(`state dict key ${String(k)} is ${describeValue(k)}, not a str`);
  const strip = sharedPrefixToStrip(keys as string[]) !== null;

  const storages = new Map<string, ArrayLike<number | bigint>>();
  const tensors = new Map<string, HostTensor>();
  const sourceDtypes = new Map<string, TorchDType>();
  for (const [k, v] of mapping!) {
    const key = strip ? (k as string).slice(DATA_PARALLEL_PREFIX.length) : (k as string);
    const t = v as TensorRef;
    tensors.set(key, materialize(key, t, storageElements(t.storage, raw, storages, fail), fail));
    sourceDtypes.set(key, t.storage.dtype);
  }
  return {
    tensors,
    info: {
      format: raw.format,
      archiveName: raw.archiveName,
      pickleProtocol: raw.pickleProtocol,
      container,
      ignoredKeys,
      strippedPrefix: strip ? DATA_PARALLEL_PREFIX : null,
      sourceDtypes,
    },
  };
}

type RawArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint16Array | Uint8Array;

/** An array of a storage's elements in host order (float16/bfloat16 as their bit patterns). */
function storageElements(ref: StorageRef, raw: RawCheckpoint, cache: Map<string, ArrayLike<number | bigint>>, fail: (what: string) => never): ArrayLike<number | bigint> {
  const cacheKey = `${ref.dtype} ${ref.key}`;
  let all = cache.get(cacheKey);
  if (!all) {
    const itemsize = ITEM_SIZE[ref.dtype];
    const bytes = raw.storageBytes(ref.key, ref.dtype);
    if (bytes.length % itemsize) fail(`storage ${ref.key} holds ${bytes.length} bytes, not a whole number of ${ref.dtype} elements`);
    all = hostArray(ref.dtype, bytes, raw.bigEndian);
    if (ref.viewOffset === null && all.length < ref.numel) fail(`truncated: storage ${ref.key} holds ${all.length} ${ref.dtype} elements, but the pickle declares ${ref.numel}`);
    cache.set(cacheKey, all);
  }
  if (ref.viewOffset === null) return all;
  if (ref.viewOffset + ref.numel > all.length) fail(`storage view [${ref.viewOffset}, ${ref.viewOffset + ref.numel}) lies outside storage ${ref.key} of ${all.length} elements`);
  return (all as RawArray).subarray(ref.viewOffset, ref.viewOffset + ref.numel);
}

function hostArray(dtype: TorchDType, bytes: Uint8Array, bigEndian: boolean): RawArray {
  const itemsize = ITEM_SIZE[dtype];
  let src = bytes;
  // (Uint8Array.prototype.slice: a Node Buffer's own slice() would return a view, not a copy)
  if (bigEndian === LITTLE_ENDIAN_HOST && itemsize > 1) {
    src = Uint8Array.prototype.slice.call(bytes);
    for (let i = 0; i < src.length; i += itemsize) src.subarray(i, i + itemsize).reverse();
  } else if (src.byteOffset % itemsize) {
    src = Uint8Array.prototype.slice.call(bytes);
  }
  const n = src.length / itemsize;
  const b = src.buffer;
  const o = src.byteOffset;
  switch (dtype) {
    case 'float32':
      return new Float32Array(b, o, n);
    case 'float64':
      return new Float64Array(b, o, n);
    case 'int64':
      return new BigInt64Array(b, o, n);
    case 'int32':
      return new Int32Array(b, o, n);
    case 'int16':
      return new Int16Array(b, o, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(b, o, n);
    case 'int8':
      return new Int8Array(b, o, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(b, o, n);
  }
}

let f16Table: Float32Array | null = null;

/** Gathers a strided view of `src` into a fresh contiguous host tensor. */
function materialize(key: string, t: TensorRef, src: ArrayLike<number | bigint>, fail: (what: string) => never): HostTensor {
  const dtype = t.storage.dtype;
  const host = HOST_DTYPE[dtype];
  if (!host) {
    return fail(`tensor ${key} has dtype ${dtype}, which Tessera does not read (supported: ${Object.keys(HOST_DTYPE).join(', ')})`);
  }
  const { shape, stride, storageOffset } = t;
  let numel = 1;
  for (const d of shape) numel *= d;
  if (!Number.isSafeInteger(numel)) fail(`tensor ${key} has an impossible shape [${shape.join(', ')}]`);
  if (numel > 0) {
    let last = storageOffset;
    for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
    if (!Number.isSafeInteger(last) || last >= src.length) {
      fail(`tensor ${key} (shape [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${storageOffset}) reaches element ${last} of a storage of ${src.length}`);
    }
  }
  const raw = gather(src, numel, shape, stride, storageOffset);
  let data: TypedData;
  if (dtype === 'float16') {
    if (!f16Table) {
      f16Table = new Float32Array(65536);
      for (let i = 0; i < 65536; i++) f16Table[i] = float16ToFloat32(i);
    }
    const out = new Float32Array(numel);
    for (let i = 0; i < numel; i++) out[i] = f16Table[raw[i] as number];
    data = out;
  } else if (dtype === 'bfloat16') {
    const bits = new Uint32Array(numel);
    for (let i = 0; i < numel; i++) bits[i] = (raw[i] as number) << 16;
    data = new Float32Array(bits.buffer);
  } else if (dtype === 'bool') {
    const out = raw as Uint8Array;
    for (let i = 0; i < numel; i++) out[i] = out[i] ? 1 : 0;
    data = out;
  } else {
    data = raw as TypedData;
  }
  return { dtype: host, shape: shape.slice(), data };
}

/** Copies the elements of a strided view, in row-major order, into a new array of src's type. */
function gather(src: ArrayLike<number | bigint>, numel: number, shape: readonly number[], stride: readonly number[], offset: number): RawArray {
  const s = src as RawArray;
  const Ctor = s.constructor as new (n: number) => RawArray;
  const out = new Ctor(numel);
  if (numel === 0) return out;
  const rank = shape.length;
  let contiguous = true;
  for (let d = rank - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous) {
    (out as Float64Array).set((s as Float64Array).subarray(offset, offset + numel));
    return out;
  }
  const o: { [i: number]: number | bigint } = out;
  const idx = new Array<number>(rank).fill(0);
  let p = offset;
  for (let i = 0; i < numel; i++) {
    o[i] = s[p];
    for (let d = rank - 1; d >= 0; d--) {
      p += stride[d];
      if (++idx[d] < shape[d]) break;
      p -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}
