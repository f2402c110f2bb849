/**
 * The graph IR: values with static shapes and dtypes, nodes that apply a registered op, and
 * the graph that owns both in topological (creation) order.
 *
 * Models never build graphs by hand: they call op functions (`relu(x)`, `conv(x, w)`), which
 * append nodes to the active graph (see `withGraph`).
 */

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';

export interface TensorType {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** Host-side tensor data, the form weights, batches and constants take outside ONNX Runtime. */
export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

export type ValueKind = 'input' | 'const' | 'node';

export class Value implements TensorType {
  constructor(
    readonly id: number,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly kind: ValueKind,
    /** producing node for kind 'node' (graph passes such as BatchNorm folding may rewire it) */
    public node: Node | null,
    /** output index within the producing node */
    readonly index: number,
    /** graph input name (kind 'input') or initializer name hint */
    public name: string | null,
    /** constant payload (kind 'const') */
    readonly constData: HostTensor | null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }
}

export type AttrValue = number | string | boolean | readonly number[] | null | undefined;
export type Attrs = Readonly<Record<string, AttrValue>>;

/** One application of an op; `A` is the type of its attributes as the op declares them (see `OpDef`). */
export class Node<A extends Attrs = Attrs> {
  constructor(
    readonly id: number,
    readonly op: string,
    readonly inputs: readonly Value[],
    readonly attrs: A,
    /** module path at creation, for error messages and ONNX node names */
    readonly scope: string,
  ) {}
  outputs: Value[] = [];
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly consts: Value[] = [];
  private nextId = 0;
  private scopeStack: string[] = [];

  /** module path of the innermost scope (scopes hold absolute paths) */
  get scope(): string {
    return this.scopeStack[this.scopeStack.length - 1] ?? '';
  }

  pushScope(name: string): void {
    this.scopeStack.push(name);
  }

  popScope(): void {
    this.scopeStack.pop();
  }

  addInput(name: string, shape: readonly number[], dtype: DType): Value {
    if (this.inputs.some((v) => v.name === name)) throw new Error(`graph input "${name}" defined twice`);
    const v = new Value(this.nextId++, [...shape], dtype, 'input', null, 0, name, null);
    this.inputs.push(v);
    return v;
  }

  addConst(t: HostTensor, nameHint: string | null = null): Value {
    const v = new Value(this.nextId++, [...t.shape], t.dtype, 'const', null, 0, nameHint, t);
    this.consts.push(v);
    return v;
  }

  addNode<A extends Attrs>(op: string, inputs: readonly Value[], attrs: A, outTypes: readonly TensorType[]): Node<A> {
    const node = new Node(this.nextId++, op, inputs, attrs, this.scope);
    node.outputs = outTypes.map((t, i) => new Value(this.nextId++, [...t.shape], t.dtype, 'node', node, i, null, null));
    this.nodes.push(node);
    return node;
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

let active: Graph | null = null;

/** The graph op functions append to; throws outside `withGraph`. */
export function currentGraph(): Graph {
  if (!active) throw new Error('no active graph: call ops inside withGraph() or a trace');
  return active;
}

/** Runs `fn` with `g` as the active graph (nesting restores the outer one). */
export function withGraph<T>(g: Graph, fn: () => T): T {
  const prev = active;
  active = g;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

/** Runs `fn` with `path` (an absolute module path) as the active graph's scope. */
export function inScope<T>(path: string, fn: () => T): T {
  const g = active;
  if (!g) return fn();
  g.pushScope(path);
  try {
    return fn();
  } finally {
    g.popScope();
  }
}
