/**
 * What the pickle of a PyTorch checkpoint may contain, for the restricted unpickler of
 * `pickle.ts`: the value model, the allowlist of globals, and the persistent-id resolver that
 * turns torch's storage ids into `StorageRef`s. Nothing here reads pickle bytes.
 *
 * Allowed globals (see `ALLOWED_GLOBALS`):
 *  - `collections.OrderedDict`: called with no arguments (or a list of pairs), it gives a `Map`
 *  - `torch._utils._rebuild_tensor_v2` (torch >= 0.4) and `torch._utils._rebuild_tensor`
 *    (torch < 0.4, the older model-zoo files): give a `TensorRef`
 *  - `torch._utils._rebuild_parameter`: unwraps an `nn.Parameter` to its `TensorRef`
 *  - the storage classes `torch.{Float,Half,BFloat16,Double,Long,Int,Byte,Bool}Storage`, plus
 *    `torch.CharStorage` and `torch.ShortStorage` so that int8/int16 tensors get an
 *    "unsupported dtype" error rather than a misleading "refusing to load"; storage classes only
 *    mark the dtype inside a persistent id, calling one is an error
 *
 * Values map as: None -> null, bool -> boolean, int -> number (bigint beyond 2**53), float ->
 * number, str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array, dict and
 * OrderedDict -> Map, set -> Set. BUILD state on an OrderedDict (its `_metadata` attribute) is
 * dropped.
 */
import { UserError } from '../errors.js';

/** A PyTorch checkpoint (.pt/.pth) that cannot be read or is refused: one clear line naming the source (a file, maybe with the archive entry) and the problem. */
export class TorchCheckpointError extends UserError {
  readonly source: string;
  /** the problem, without the source */
  readonly problem: string;
  constructor(source: string, what: string) {
    super(`${source}: ${what}`);
    this.source = source;
    this.problem = what;
  }
}

/** The refusal of a global outside the allowlist; `global` is its `module.name`. */
export class ForbiddenGlobalError extends TorchCheckpointError {
  readonly global: string;
  constructor(source: string, module: string, name: string) {
    super(source, refusal(module, name));
    this.global = `${module}.${name}`;
  }
}

/** The tensor element types torch storages hold. */
export type TorchDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** A global the allowlist admitted; it is only ever a marker, never a JavaScript function. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: 'ordered_dict' | 'rebuild_tensor_v2' | 'rebuild_tensor' | 'rebuild_parameter' | 'storage',
    /** the element type of a storage class */
    readonly dtype: TorchDType | null = null,
  ) {
    Object.freeze(this);
  }

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Bytes per element of each storage dtype. */
export const ITEM_SIZE: Readonly<Record<TorchDType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** The storage classes by name and the element type each holds (the first of a dtype is the one torch writes). */
export const STORAGE_CLASSES: readonly (readonly [string, TorchDType])[] = [
  ['FloatStorage', 'float32'],
  ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'],
  ['DoubleStorage', 'float64'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
  ['CharStorage', 'int8'],
  ['ShortStorage', 'int16'],
];

/** Every global a checkpoint may name, by `module.name`; nothing else is ever resolved. */
export const ALLOWED_GLOBALS: ReadonlyMap<string, PyGlobal> = new Map(
  [
    new PyGlobal('collections', 'OrderedDict', 'ordered_dict'),
    new PyGlobal('torch._utils', '_rebuild_tensor_v2', 'rebuild_tensor_v2'),
    new PyGlobal('torch._utils', '_rebuild_tensor', 'rebuild_tensor'),
    new PyGlobal('torch._utils', '_rebuild_parameter', 'rebuild_parameter'),
    ...STORAGE_CLASSES.map(([name, dtype]) => new PyGlobal('torch', name, 'storage', dtype)),
  ].map((g) => [g.qualifiedName, g] as const),
);

/** A storage named by a persistent id: ('storage', StorageClass, key, location, numel[, view]). */
export class StorageRef {
  constructor(
    readonly dtype: TorchDType,
    /** the key of the storage's bytes: `data/<key>` in a zip, the storage list in a legacy file */
    readonly key: string,
    readonly location: string,
    /** element count the pickle declares */
    readonly numel: number,
    /** legacy storage views (torch < 0.4): this storage is elements [offset, offset+numel) of `key` */
    readonly viewOffset: number | null = null,
  ) {
    Object.freeze(this);
  }
}

/** A tensor the pickle rebuilds: a strided view of a storage (no data is read while unpickling). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    Object.freeze(this);
  }
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PyGlobal
  | StorageRef
  | TensorRef;

/** Resolves a persistent id (BINPERSID) to a value; torch uses it for storages. */
export type PersistentLoad = (pid: PickleValue, fail: (what: string) => never) => PickleValue;

/** A Python tuple: a frozen array (a list is a plain array). */
export const isTuple = (v: unknown): v is readonly PickleValue[] => Array.isArray(v) && Object.isFrozen(v);
/** A Python int that fits a JavaScript number exactly. */
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * A short description of a value's Python type, for error messages.
 *
 * @example
 *   describeValue(new Map([['a', 1]])); // 'a dict of 1'
 *   describeValue(Object.freeze([1, 2])); // 'a tuple of 2'
 */
export function describeValue(v: PickleValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'a bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  if (typeof v === 'string') return 'a str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return `a ${Object.isFrozen(v) ? 'tuple' : 'list'} of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Set) return 'a set';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof StorageRef) return `a ${v.dtype} storage`;
  return 'a tensor';
}

/** The refusal for a global outside the allowlist. */
function refusal(module: string, name: string): string {
  const what = `${module}.${name}`;
  const hint =
    module === '__main__' || module.startsWith('torch.nn.') || module.startsWith('__torch__')
      ? ' (a whole model saved with torch.save(model)? save model.state_dict() instead)'
      : '';
  return `refusing to load: the pickle asks for ${what}; a checkpoint must hold tensors only${hint}`;
}

/**
 * The persistent-id resolver for torch checkpoints: `('storage', StorageClass, key, location,
 * numel)` (zip format) or the legacy `(..., numel, view_metadata)`, into a `StorageRef`. Storages
 * with the same key resolve to one object.
 *
 * @example
 *   const seen = new Set<string>();
 *   const load = torchPersistentLoad();
 *   unpickle(dataPkl, { persistentLoad: (pid, fail) => { const s = load(pid, fail); seen.add((s as StorageRef).key); return s; } });
 */
export function torchPersistentLoad(): PersistentLoad {
  const seen = new Map<string, StorageRef>();
  return (pid, fail) => {
    if (!isTuple(pid) || pid[0] !== 'storage') fail(`unsupported persistent id ${describeValue(pid)} (torch writes ('storage', ...) tuples)`);
    const [, type, key, location, numel, view] = pid as readonly PickleValue[];
    if (!(type instanceof PyGlobal) || type.kind !== 'storage' || !type.dtype) fail(`persistent id names ${describeValue(type)}, not a storage class`);
    if (typeof key !== 'string') fail(`storage key is ${describeValue(key)}, not a str`);
    if (typeof location !== 'string') fail(`storage location is ${describeValue(location)}, not a str`);
    if (!isInt(numel) || numel < 0) fail(`storage ${key} has an invalid element count (${describeValue(numel)})`);
    const dtype = (type as PyGlobal).dtype!;
    if (view !== undefined && view !== null) {
      // legacy storage view (torch < 0.4): (view_key, offset, view_size) in elements of the root `key`
      const v = view as readonly PickleValue[];
      if (!isTuple(view) || v.length !== 3 || typeof v[0] !== 'string' || !isInt(v[1]) || v[1] < 0 || !isInt(v[2]) || v[2] < 0) {
        fail(`storage ${key} has an invalid view description (${describeValue(view)})`);
      }
      const viewKey = `view ${v[0] as string}`;
      const hit = seen.get(viewKey);
      if (hit) return hit;
      const ref = new StorageRef(dtype, key as string, location as string, v[2] as number, v[1] as number);
      seen.set(viewKey, ref);
      return ref;
    }
    const rootKey = key as string;
    const hit = seen.get(rootKey);
    if (hit) {
      if (hit.dtype !== dtype) fail(`storage ${rootKey} is used as both ${hit.dtype} and ${dtype}`);
      return hit;
    }
    const ref = new StorageRef(dtype, rootKey, location as string, numel as number);
    seen.set(rootKey, ref);
    return ref;
  };
}
