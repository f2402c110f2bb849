/**
 * A PyTorch-like Module: parameters, buffers and child modules discovered from the instance's
 * own fields in assignment order (as PyTorch registers them), `train()`/`eval()`, and
 * `stateDict()`/`loadStateDict()` with PyTorch's exact key names.
 *
 * @example
 * class Net extends Module {
 *   fc = new Linear(4, 2);
 *   forward(x: Value) { return this.fc.call(x); }
 * }
 * const net = new Net();
 * [...net.stateDict().keys()]; // ['fc.weight', 'fc.bias']
 */
import { UserError } from '../errors.js';
import { DType, HostTensor, TypedData, Value, inScope, shapeStr, sizeOf } from '../graph/ir.js';
import { activeTrace } from './trace.js';

/** A trainable float32 tensor. */
export class Parameter implements HostTensor {
  readonly dtype = 'float32' as const;
  constructor(
    public data: Float32Array,
    readonly shape: readonly number[],
    /** false freezes it: no gradient, no update */
    public requiresGrad = true,
  ) {
    if (data.length !== sizeOf(shape)) throw new Error(`parameter data has ${data.length} values, shape ${shapeStr(shape)} needs ${sizeOf(shape)}`);
  }
}

/** A non-trainable tensor that is part of the state dict (BatchNorm statistics, position ids, ...). */
export class Buffer implements HostTensor {
  constructor(
    public data: Float32Array | BigInt64Array,
    readonly shape: readonly number[],
    readonly dtype: 'float32' | 'int64',
    /** false keeps it out of the state dict (PyTorch's persistent=False) */
    readonly persistent = true,
  ) {}
}

export type StateTensor = Parameter | Buffer;

export interface LoadResult {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

/** A state dict that does not fit the model (missing, unexpected or mismatched keys); `result` lists them. */
export class StateDictError extends UserError {
  constructor(
    message: string,
    readonly result: LoadResult,
  ) {
    super(message);
  }
}

export abstract class Module {
  training = true;

  /** The forward computation on graph values; call modules through `call` so errors name them. */
  abstract forward(x: Value): Value;

  /** Runs `forward` under this module's path (set when a trace starts). */
  call(x: Value): Value {
    const path = activeTrace()?.pathOf(this);
    if (path === undefined) return this.forward(x);
    // the root module's own ops are scoped by its class name, so errors there name it too
    return inScope(path || this.constructor.name, () => this.forward(x));
  }

  /**
   * Registers a child under a computed name (PyTorch's `add_module`), in assignment order like
   * any field: for names only known at run time, such as `level_3`.
   */
  protected addModule(name: string, m: Module): void {
    Object.defineProperty(this, name, { value: m, enumerable: true, writable: true, configurable: true });
  }

  /** direct children, in registration order */
  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  /** own parameters, in registration order */
  ownParameters(): [string, Parameter][] {
    return Object.entries(this).filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  /** own buffers, in registration order */
  ownBuffers(): [string, Buffer][] {
    return Object.entries(this).filter((e): e is [string, Buffer] => e[1] instanceof Buffer);
  }

  /** this module and every descendant with its dotted path ('' for this one) */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.namedChildren()) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(): Generator<[string, Parameter]> {
    for (const [path, m] of this.namedModules()) for (const [n, p] of m.ownParameters()) yield [path ? `${path}.${n}` : n, p];
  }

  *namedBuffers(): Generator<[string, Buffer]> {
    for (const [path, m] of this.namedModules()) for (const [n, b] of m.ownBuffers()) yield [path ? `${path}.${n}` : n, b];
  }

  /** state-dict entries in PyTorch's order: each module's parameters, then its persistent buffers, then its children */
  *namedState(): Generator<[string, StateTensor]> {
    for (const [path, m] of this.namedModules()) {
      const key = (n: string) => (path ? `${path}.${n}` : n);
      for (const [n, p] of m.ownParameters()) yield [key(n), p];
      for (const [n, b] of m.ownBuffers()) if (b.persistent) yield [key(n), b];
    }
  }

  parameterCount(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) n += p.data.length;
    return n;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** The state dict: live views of every parameter and persistent buffer, keyed as PyTorch keys them. */
  stateDict(): Map<string, HostTensor> {
    return new Map(this.namedState());
  }

  /**
   * Copies tensors into this module's parameters and buffers. Reports every missing, unexpected
   * and shape-mismatched key in one `StateDictError`; with `strict: false` loads what matches
   * and returns the differences instead (shape mismatches always throw).
   */
  loadStateDict(sd: ReadonlyMap<string, HostTensor>, opts: { strict?: boolean } = {}): LoadResult {
    const own = new Map(this.namedState());
    const result: LoadResult = { missing: [], unexpected: [], mismatched: [] };
    for (const [k, t] of own) {
      const src = sd.get(k);
      if (!src) result.missing.push(k);
      else if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        // PyTorch stores num_batches_tracked as a 0-d tensor; fixtures and some writers use [1]
        if (!(sizeOf(src.shape) === 1 && sizeOf(t.shape) === 1)) result.mismatched.push(`${k}: checkpoint ${shapeStr(src.shape)}, model ${shapeStr(t.shape)}`);
      }
    }
    for (const k of sd.keys()) if (!own.has(k)) result.unexpected.push(k);
    const strict = opts.strict ?? true;
    if (result.mismatched.length || (strict && (result.missing.length || result.unexpected.length))) {
      throw new StateDictError(describeLoad(result), result);
    }
    for (const [k, t] of own) {
      const src = sd.get(k);
      if (src) copyInto(t, src, k);
    }
    return result;
  }
}

function describeLoad(r: LoadResult): string {
  const part = (what: string, keys: string[]) => (keys.length ? [`${keys.length} ${what}: ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? `, … (${keys.length - 12} more)` : ''}`] : []);
  return `state dict does not match the model: ${[...part('missing', r.missing), ...part('unexpected', r.unexpected), ...part('with another shape', r.mismatched)].join('; ')}`;
}

function copyInto(dst: StateTensor, src: HostTensor, key: string): void {
  const d = dst.data;
  const s: TypedData = src.data;
  if (d instanceof BigInt64Array) {
    if (s instanceof BigInt64Array) d.set(s);
    else if (s instanceof Float32Array || s instanceof Float64Array || s instanceof Int32Array) s.forEach((v, i) => (d[i] = BigInt(Math.round(v))));
    else throw new Error(`${key}: cannot load ${src.dtype} into int64`);
  } else if (s instanceof BigInt64Array) s.forEach((v, i) => (d[i] = Number(v)));
  else d.set(s);
}

/** Modules in order, named '0', '1', ... (or by the given names), like torch.nn.Sequential. */
export class Sequential extends Module {
  private readonly entries: [string, Module][];

  constructor(...modules: Module[]) {
    super();
    this.entries = modules.map((m, i) => [String(i), m]);
  }

  /** a Sequential with named children, like nn.Sequential(OrderedDict(...)) */
  static named(entries: [string, Module][]): Sequential {
    const s = new Sequential();
    s.entries.push(...entries);
    return s;
  }

  add(name: string, m: Module): this {
    this.entries.push([name, m]);
    return this;
  }

  get length(): number {
    return this.entries.length;
  }

  at(i: number): Module {
    return this.entries[i][1];
  }

  override namedChildren(): [string, Module][] {
    return [...this.entries];
  }

  forward(x: Value): Value {
    for (const [, m] of this.entries) x = m.call(x);
    return x;
  }
}

/** A list of modules named '0', '1', ...; forward is not defined (like nn.ModuleList). */
export class ModuleList extends Sequential {
  override forward(): Value {
    throw new Error('ModuleList has no forward; iterate over its modules');
  }
}

/** Graph value of a parameter or buffer inside the active trace. */
export function tensorValue(t: StateTensor): Value {
  const trace = activeTrace();
  if (!trace) throw new Error('modules run only inside a trace (see traceModule)');
  return trace.value(t);
}

export type { DType };
