/**
 * A restricted unpickler for the Python pickles `torch.save` writes (protocols 2 to 5).
 *
 * It interprets the pickle virtual machine into inert JavaScript data and nothing else: there is
 * no eval of any kind, no class lookup by name and no user callable. A global (GLOBAL,
 * STACK_GLOBAL, INST) is looked up in a fixed allowlist of the names a state dict needs, and any
 * other name, `os.system`, `builtins.eval`, `subprocess.Popen`, `__builtin__.exec`,
 * `__main__.Net`, ..., throws a `TorchCheckpointError` the moment the opcode is read, before the
 * pickle's REDUCE could "call" it and before any tensor data is touched.
 *
 * The allowlist (`ALLOWED_GLOBALS`), the values the machine builds (`PickleValue`) and how they
 * map from Python types, and the default persistent-id resolver (`torchPersistentLoad`) are in
 * `torch-pickle.ts`.
 */
import {
  ALLOWED_GLOBALS,
  ForbiddenGlobalError,
  PersistentLoad,
  PickleValue,
  PyGlobal,
  StorageRef,
  TensorRef,
  TorchCheckpointError,
  describeValue,
  isInt,
  isTuple,
  torchPersistentLoad,
} from './torch-pickle.js';

export interface UnpickleOptions {
  /** names the pickle in errors, e.g. 'model.pt' or 'model.pt: archive/data.pkl' */
  source?: string;
  /** byte offset where the pickle starts (legacy checkpoints hold several in a row) */
  offset?: number;
  /** called for each BINPERSID; the default `torchPersistentLoad` */
  persistentLoad?: PersistentLoad;
}

export interface UnpickleResult {
  value: PickleValue;
  /** the byte offset just past the STOP opcode */
  end: number;
  /** the protocol the PROTO opcode declared (0 when absent) */
  protocol: number;
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x2e: 'STOP', 0x28: 'MARK', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x7d: 'EMPTY_DICT', 0x5d: 'EMPTY_LIST', 0x29: 'EMPTY_TUPLE', 0x8f: 'EMPTY_SET', 0x64: 'DICT', 0x6c: 'LIST',
  0x74: 'TUPLE', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x73: 'SETITEM', 0x75: 'SETITEMS',
  0x61: 'APPEND', 0x65: 'APPENDS', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x58: 'BINUNICODE',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8e: 'BINBYTES8', 0x96: 'BYTEARRAY8', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4d: 'BININT2', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x47: 'BINFLOAT', 0x4e: 'NONE',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x94: 'MEMOIZE',
  0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE',
  0x62: 'BUILD', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x51: 'BINPERSID', 0x69: 'INST', 0x6f: 'OBJ',
  0x50: 'PERSID', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Interprets one pickle starting at `opts.offset`, allowing only the globals in
 * `ALLOWED_GLOBALS`. Tensors come back as `TensorRef`s (storage, offset, shape, stride) for the
 * caller to materialize; nothing is executed and no storage is read.
 *
 * @example
 *   // pickle.dumps({'a': 1, 'b': [2.5, None]}, protocol=2)
 *   const { value } = unpickle(bytes);
 *   (value as Map<PickleValue, PickleValue>).get('b'); // [2.5, null]
 *
 *   // pickle.dumps(Evil()) where Evil.__reduce__ returns (os.system, ('touch x',))
 *   unpickle(hostile, { source: 'x.pkl' });
 *   // throws TorchCheckpointError "x.pkl: refusing to load: the pickle asks for posix.system; a checkpoint must hold tensors only"
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const source = opts.source ?? '<pickle>';
  const persistentLoad = opts.persistentLoad ?? torchPersistentLoad();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = opts.offset ?? 0;
  let opStart = pos;
  let opName = '';
  let protocol = 0;
  let stack: StackItem[] = [];
  const metastack: StackItem[][] = [];
  const memo = new Map<number, PickleValue>();

  const fail = (what: string): never => {
    throw new TorchCheckpointError(source, `${what} (pickle byte ${opStart}${opName ? `, ${opName}` : ''})`);
  };
  const need = (n: number): number => {
    if (n > bytes.length - pos) {
      throw new TorchCheckpointError(source, `truncated: the pickle ends at byte ${bytes.length} inside ${opName || 'an opcode'} at byte ${opStart} (needs ${n} more bytes)`);
    }
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => bytes.subarray(need(n), pos);
  // a copy even when `bytes` is a Node Buffer, whose own slice() returns a view
  const copy = (b: Uint8Array): Uint8Array => Uint8Array.prototype.slice.call(b);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) {
      throw new TorchCheckpointError(source, `truncated: the pickle ends at byte ${bytes.length} inside ${opName} at byte ${opStart} (no end of line)`);
    }
    const text = decodeText(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const decodeText = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };

  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack[stack.length - 1];
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    if (metastack.length === 0) fail('no MARK to pop to');
    stack = metastack.pop()!;
    if (items.includes(MARK)) fail('unexpected MARK on the stack');
    return items as PickleValue[];
  };
  const push = (v: PickleValue) => stack.push(v);
  const tuple = (items: PickleValue[]): PickleValue[] => Object.freeze(items) as PickleValue[];
  const findClass = (module: string, name: string): PyGlobal => {
    const g = ALLOWED_GLOBALS.get(`${module}.${name}`);
    if (!g) throw new ForbiddenGlobalError(source, module, name);
    return g;
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo entry ${i} is read before it is written`);
    return memo.get(i)!;
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail(`cannot set items on ${describeValue(target)}`);
    if (items.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target) || isTuple(target)) fail(`cannot append to ${describeValue(target)}`);
    (target as PickleValue[]).push(...items);
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  /** REDUCE / NEWOBJ: "calls" an allowed global, which only ever builds inert data */
  const call = (fn: PickleValue, args: PickleValue, how: string): PickleValue => {
    if (!(fn instanceof PyGlobal)) return fail(`${how} of ${describeValue(fn)}, which is not an allowed global`);
    if (!Array.isArray(args)) return fail(`${how} of ${fn.qualifiedName} with ${describeValue(args)} instead of an argument tuple`);
    switch (fn.kind) {
      case 'ordered_dict': {
        const m = new Map<PickleValue, PickleValue>();
        if (args.length === 0) return m;
        const items = args[0];
        if (args.length === 1 && Array.isArray(items)) {
          for (const pair of items) {
            if (!Array.isArray(pair) || pair.length !== 2) fail('OrderedDict items must be (key, value) pairs');
            m.set((pair as PickleValue[])[0], (pair as PickleValue[])[1]);
          }
          return m;
        }
        if (args.length === 1 && items instanceof Map) return new Map(items);
        return fail(`OrderedDict called with ${describeValue(args as PickleValue[])}`);
      }
      case 'rebuild_tensor_v2':
      case 'rebuild_tensor':
        return rebuildTensor(fn, args);
      case 'rebuild_parameter': {
        const data = args[0];
        if (!(data instanceof TensorRef)) return fail(`${fn.qualifiedName} got ${describeValue(data)} instead of a tensor`);
        return data;
      }
      default:
        return fail(`${fn.qualifiedName} is a storage class and cannot be called`);
    }
  };
  const rebuildTensor = (fn: PyGlobal, args: readonly PickleValue[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    const minArgs = fn.kind === 'rebuild_tensor' ? 4 : 6;
    if (args.length < minArgs) fail(`${fn.qualifiedName} needs at least ${minArgs} arguments, got ${args.length}`);
    if (!(storage instanceof StorageRef)) fail(`${fn.qualifiedName}: the storage is ${describeValue(storage)}`);
    if (!isInt(offset) || offset < 0) fail(`${fn.qualifiedName}: invalid storage offset ${String(offset)}`);
    const ints = (v: PickleValue): v is number[] => Array.isArray(v) && v.every((d) => isInt(d) && d >= 0);
    if (!ints(size)) fail(`${fn.qualifiedName}: size must be a tuple of non-negative ints, got ${describeValue(size)}`);
    if (!ints(stride) || (stride as number[]).length !== (size as number[]).length) {
      fail(`${fn.qualifiedName}: stride must be ${(size as number[]).length} non-negative ints, got ${describeValue(stride)}`);
    }
    return new TensorRef(storage as StorageRef, offset as number, (size as number[]).slice(), (stride as number[]).slice());
  };

  for (;;) {
    opStart = pos;
    opName = '';
    const op = u8();
    opName = OPCODE_NAMES[op] ?? '';
    switch (op) {
      case 0x80: // PROTO
        protocol = u8();
        if (protocol > 5) fail(`pickle protocol ${protocol} is newer than 5`);
        break;
      case 0x95: // FRAME: the whole pickle is in memory, only the length is checked
        if (u64() > bytes.length - pos) {
          throw new TorchCheckpointError(source, `truncated: a pickle frame at byte ${opStart} runs past the end (${bytes.length} bytes)`);
        }
        break;
      case 0x2e: // STOP
        if (metastack.length) fail('STOP inside an unclosed MARK');
        return { value: pop(), end: pos, protocol };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark();
        else stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x64: { // DICT
        const m = new Map<PickleValue, PickleValue>();
        setItems(m, popMark());
        push(m);
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x74: // TUPLE
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        push(tuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        push(tuple([pop(), b, c]));
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`cannot add items to ${describeValue(s)}`);
        for (const v of items) (s as Set<PickleValue>).add(v);
        break;
      }
      case 0x58: // BINUNICODE
        push(decodeText(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(decodeText(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(decodeText(take(u64())));
        break;
      case 0x54: { // BINSTRING (Python 2 str)
        const n = view.getInt32(need(4), true);
        if (n < 0) fail('negative BINSTRING length');
        push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        push(copy(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        push(copy(take(u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(copy(take(u64())));
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(signedLE(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0) fail('negative LONG4 length');
        push(signedLE(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(view.getFloat64(need(8), false));
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(findClass(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(findClass(module as string, name as string));
        break;
      }
      case 0x69: { // INST "module\nname\n": protocol 0/1 instantiation
        const module = line();
        const name = line();
        const cls = findClass(module, name);
        push(call(cls, tuple(popMark()), 'INST'));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        push(call(items[0], tuple(items.slice(1)), 'OBJ'));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        push(call(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || cls.kind !== 'ordered_dict') fail(`NEWOBJ of ${describeValue(cls)} is not supported`);
        push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || cls.kind !== 'ordered_dict') fail(`NEWOBJ_EX of ${describeValue(cls)} is not supported`);
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: { // BUILD: only attribute state on a dict or tensor, which is dropped
        const state = pop();
        const target = top();
        if (!(target instanceof Map || target instanceof TensorRef)) fail(`BUILD on ${describeValue(target)} is not supported`);
        void state;
        break;
      }
      case 0x51: // BINPERSID
        push(persistentLoad(pop(), fail));
        break;
      case 0x50: // PERSID
        fail('text persistent ids (PERSID) are not supported');
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail('refusing to load: the pickle uses the copyreg extension registry (EXT opcodes); a checkpoint must hold tensors only');
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail('out-of-band buffers (pickle protocol 5) are not supported');
        break;
      default:
        fail(`unknown or unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''}`);
    }
  }
}
