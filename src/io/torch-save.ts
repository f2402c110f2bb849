/**
 * Writing a state dict as `torch.save` does (the zip format of PyTorch >= 1.6), so that
 * `model.load_state_dict(torch.load(path))` reads it in Python, `weights_only=True` included:
 *
 *  - `archive/data.pkl`: a protocol-2 pickle of an `OrderedDict` whose values are
 *    `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, each
 *    storage a persistent id `('storage', torch.FloatStorage, '<n>', 'cpu', numel)` (the class
 *    by dtype: Long for int64, and so on);
 *  - `archive/data/<n>`: the storage's raw little-endian bytes, one contiguous storage per tensor;
 *  - `archive/byteorder` (`little`) and `archive/version` (`3`), as torch 2.x writes them.
 *
 * Entries are stored, each one's data 64-byte aligned as torch aligns them (see zip-write.ts).
 * Only the globals Tessera's own reader allows (torch-pickle.ts) are written, so the file
 * also reads back with `readTorchCheckpoint`.
 */
import type { HostTensor } from '../graph/ir.js';
import { AtomicWriteOptions, writeFileAtomic } from '../util/files.js';
import { STORAGE_CLASSES } from './torch-pickle.js';
import { ZipRecord, zipStoredAligned } from './zip-write.js';

/** The archive folder torch.save uses for a buffer (for a file, any name reads the same). */
const ARCHIVE = 'archive';
/** The zip format version torch >= 1.13 writes and reads. */
const FORMAT_VERSION = '3\n';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Writes `tensors` (in their order) as a `torch.save` zip checkpoint at `path`, atomically.
 *
 * @example
 * import { readTorchCheckpoint, writeTorchCheckpoint } from 'tessera';
 * const sd = new Map([['fc.weight', { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }]]);
 * writeTorchCheckpoint('/tmp/tessera-fc.pth', sd);
 * // in Python: torch.load('/tmp/tessera-fc.pth')['fc.weight'] is tensor([[1., 2., 3.], [4., 5., 6.]])
 * readTorchCheckpoint('/tmp/tessera-fc.pth').get('fc.weight')!.shape; // → [2, 3]
 */
export function writeTorchCheckpoint(path: string, tensors: ReadonlyMap<string, HostTensor>, io: AtomicWriteOptions = {}): void {
  writeFileAtomic(path, Buffer.concat(torchSaveChunks(tensors)), io);
}

/**
 * The bytes of a `torch.save` zip checkpoint of `tensors`, as chunks (tensor data is not copied
 * on a little-endian host).
 *
 * @example
 * const chunks = torchSaveChunks(new Map([['n', { dtype: 'int64' as const, shape: [], data: new BigInt64Array([7n]) }]]));
 * parseTorchCheckpoint(Buffer.concat(chunks)).tensors.get('n')!.data[0]; // → 7n
 */
export function torchSaveChunks(tensors: ReadonlyMap<string, HostTensor>): Uint8Array[] {
  const storages: ZipRecord[] = [];
  const pickle = new PickleWriter();
  pickle.protocol(2);
  pickle.emptyOrderedDict();
  pickle.mark();
  for (const [key, tensor] of tensors) {
    const storageKey = String(storages.length);
    storages.push({ name: `${ARCHIVE}/data/${storageKey}`, data: littleEndianBytes(tensor) });
    pickle.string(key);
    pickle.tensor(tensor, storageKey);
  }
  pickle.op(SETITEMS);
  pickle.op(STOP);
  const text = new TextEncoder();
  return zipStoredAligned([
    { name: `${ARCHIVE}/data.pkl`, data: pickle.bytes() },
    { name: `${ARCHIVE}/byteorder`, data: text.encode('little') },
    ...storages,
    { name: `${ARCHIVE}/version`, data: text.encode(FORMAT_VERSION) },
  ]);
}

const MARK = 0x28;
const STOP = 0x2e;
const SETITEMS = 0x75;
const TUPLE = 0x74;
const EMPTY_TUPLE = 0x29;
const REDUCE = 0x52;
const BINPERSID = 0x51;
const NEWFALSE = 0x89;

/** Emits the few pickle opcodes a state dict needs (protocol 2). */
class PickleWriter {
  private readonly parts: number[] = [];
  private readonly encoder = new TextEncoder();

  op(code: number): void {
    this.parts.push(code);
  }

  protocol(n: number): void {
    this.parts.push(0x80, n);
  }

  mark(): void {
    this.op(MARK);
  }

  /** GLOBAL: `module\nname\n` */
  global(module: string, name: string): void {
    this.op(0x63);
    this.raw(this.encoder.encode(`${module}\n${name}\n`));
  }

  /** BINUNICODE */
  string(s: string): void {
    const b = this.encoder.encode(s);
    this.op(0x58);
    this.u32(b.length);
    this.raw(b);
  }

  /** BININT1 / BININT2 / BININT (element counts and dims: a 4 GiB archive holds no more than 2**31 elements) */
  int(n: number): void {
    if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new Error(`pickle int ${n} is outside the 32-bit range this writer emits`);
    if (n >= 0 && n < 0x100) this.parts.push(0x4b, n);
    else if (n >= 0 && n < 0x10000) this.parts.push(0x4d, n & 0xff, n >>> 8);
    else {
      this.op(0x4a);
      this.u32(n >>> 0);
    }
  }

  /** a tuple of ints */
  ints(values: readonly number[]): void {
    if (values.length === 0) return this.op(EMPTY_TUPLE);
    this.mark();
    for (const v of values) this.int(v);
    this.op(TUPLE);
  }

  /** `collections.OrderedDict()` */
  emptyOrderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.op(EMPTY_TUPLE);
    this.op(REDUCE);
  }

  /** `_rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())` */
  tensor(t: HostTensor, storageKey: string): void {
    const storageClass = STORAGE_CLASSES.find(([, dtype]) => dtype === t.dtype);
    if (!storageClass) throw new Error(`no torch storage class holds ${t.dtype}`);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.mark();
    this.mark();
    this.string('storage');
    this.global('torch', storageClass[0]);
    this.string(storageKey);
    this.string('cpu');
    this.int(t.data.length);
    this.op(TUPLE);
    this.op(BINPERSID);
    this.int(0);
    this.ints(t.shape);
    this.ints(contiguousStrides(t.shape));
    this.op(NEWFALSE);
    this.emptyOrderedDict();
    this.op(TUPLE);
    this.op(REDUCE);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private u32(n: number): void {
    this.parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  }

  private raw(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
}

/** row-major strides in elements */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= Math.max(shape[d], 1);
  }
  return strides;
}

/** a tensor's elements as little-endian bytes (a view on a little-endian host) */
function littleEndianBytes(t: HostTensor): Uint8Array {
  const { data } = t;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const itemSize = data.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN_HOST || itemSize === 1) return bytes;
  const swapped = Uint8Array.prototype.slice.call(bytes);
  for (let i = 0; i < swapped.length; i += itemSize) swapped.subarray(i, i + itemSize).reverse();
  return swapped;
}
