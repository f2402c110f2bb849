/**
 * The op registry. Every op declares, in one place, its shape/dtype rule (`infer`), its ONNX
 * emission (`emit`) and its vector-Jacobian rule (`grad`). Tests enumerate `listOps()`.
 */
import { UserError } from '../errors.js';
import { Attrs, Node, TensorType, Value, currentGraph, shapeStr } from '../graph/ir.js';

/** What an op's `emit` writes ONNX nodes through (implemented by the ONNX writer). */
export interface Emitter {
  /** appends an ONNX node (of the default domain unless `domain` names another, e.g. NCHWC_DOMAIN) */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs?: OnnxAttrs, domain?: string): void;
  /** a fresh intermediate name */
  tmp(hint?: string): string;
  /** an int64 1-D constant initializer, returns its name */
  ints(values: readonly number[]): string;
  /** a float32 scalar (or 1-D) constant initializer in the given dtype, returns its name */
  scalar(value: number, dtype?: TensorType['dtype']): string;
  /**
   * the ONNX opset being written (13..17): an op newer than it must be emitted as its
   * decomposition; absent (emitters that only inspect what would be written) means 17
   */
  readonly opset?: number;
  /**
   * ONNX Runtime's NCHWc block size (16 on AVX-512, 8 on AVX2) where float32 convolutions may be
   * written as `com.microsoft.nchwc` nodes (training-step graphs only); absent: standard ONNX only
   */
  readonly nchwcBlock?: number;
}

export type OnnxAttrValue = number | string | readonly number[] | { float: number } | { floats: readonly number[] };
export type OnnxAttrs = Record<string, OnnxAttrValue | undefined>;

export interface GradContext {
  /** which inputs need a gradient (only those are computed) */
  readonly needs: readonly boolean[];
}

/**
 * An op's declaration, typed by its attributes `A`: every rule sees the attributes (and the node,
 * as `Node<A>`) with the type the op's function was called with.
 */
export interface OpDef<A extends Attrs = Attrs> {
  readonly type: string;
  /** shape/dtype rule: throws a plain message; the caller adds op and module path */
  infer(inputs: readonly TensorType[], attrs: A): TensorType[];
  /**
   * writes the ONNX nodes computing `outs` from `ins`; `live[i]` says whether output i is used
   * (ops with optional outputs may leave unused ones out)
   */
  emit(e: Emitter, ins: readonly string[], outs: readonly string[], attrs: A, node: Node<A>, live: readonly boolean[]): void;
  /**
   * vector-Jacobian rule: given the gradients of the outputs (null where none flows), returns
   * one gradient per input (null for inputs that get none or are not needed). Built from op
   * functions, so backward nodes are ordinary IR nodes.
   */
  grad(node: Node<A>, gOut: readonly (Value | null)[], ctx: GradContext): (Value | null)[];
  /** multiply-accumulates of one application (convolutions and matrix products; others count 0) */
  macs?(node: Node<A>): number;
}

/**
 * A registered op as the graph's consumers (ONNX writer, autodiff, graph rewrites) call it: with
 * any node of its type, whose attributes the op typed when its function created the node.
 */
export interface RegisteredOp {
  readonly type: string;
  /** `OpDef.emit` for `node` (its attributes are the node's own) */
  emit(e: Emitter, ins: readonly string[], outs: readonly string[], node: Node, live: readonly boolean[]): void;
  /** `OpDef.grad` for `node` */
  grad(node: Node, gOut: readonly (Value | null)[], ctx: GradContext): (Value | null)[];
  /** `OpDef.macs` for `node` (absent where the op declares none) */
  macs?(node: Node): number;
  /** a new node (in no graph, no outputs yet) applying `like`'s op and attributes to `inputs`, for graph rewrites */
  reapply(like: Node, id: number, inputs: readonly Value[]): Node;
}

const registry = new Map<string, RegisteredOp>();

/** Shapes that do not fit a module (e.g. images of the wrong size or channel count); the user's to fix. */
export class ShapeError extends UserError {}

/**
 * Registers an op and returns the function that applies it to the active graph.
 *
 * This is the one place where a node's typed attributes meet the untyped graph: every node the
 * returned function (or `reapply`) creates is remembered with its type `Node<A>`, and the
 * registered rules look the node up there, so `def` only ever sees nodes it created, typed as
 * it created them, with no cast. A node that did not come from this op is refused.
 *
 * @example
 * const negate = defineOp<{ readonly k: number }>({
 *   type: 'Negate',
 *   infer: ([x]) => [x],
 *   emit: (e, [x], [y]) => e.node('Neg', [x], [y]),
 *   grad: (n, [g], { needs }) => [needs[0] && g ? mul(g, -n.attrs.k) : null],
 * });
 */
export function defineOp<A extends Attrs>(def: OpDef<A>): (inputs: readonly Value[], attrs: A) => Value[] {
  if (registry.has(def.type)) throw new Error(`op ${def.type} registered twice`);
  const typedNodes = new WeakMap<Node, Node<A>>();
  const typed = (node: Node): Node<A> => {
    const t = typedNodes.get(node);
    if (!t) throw new Error(`node ${node.id} (${node.op}) was not created by the ${def.type} op function`);
    return t;
  };
  const remember = (node: Node<A>): Node<A> => {
    typedNodes.set(node, node);
    return node;
  };
  const { macs } = def;
  registry.set(def.type, {
    type: def.type,
    emit: (e, ins, outs, node, live) => {
      const t = typed(node);
      def.emit(e, ins, outs, t.attrs, t, live);
    },
    grad: (node, gOut, ctx) => def.grad(typed(node), gOut, ctx),
    macs: macs && ((node) => macs(typed(node))),
    reapply: (like, id, inputs) => {
      const t = typed(like);
      return remember(new Node(id, def.type, inputs, t.attrs, t.scope));
    },
  });
  return (inputs, attrs) => remember(applyOp(def, inputs, attrs)).outputs;
}

/** appends a node applying `def` to the active graph (shape errors name the op and module) */
function applyOp<A extends Attrs>(def: OpDef<A>, inputs: readonly Value[], attrs: A): Node<A> {
  const g = currentGraph();
  let types: TensorType[];
  try {
    types = def.infer(inputs, attrs);
  } catch (err) {
    const where = g.scope ? ` in module "${g.scope}"` : '';
    const shapes = inputs.map((v) => `${shapeStr(v.shape)}:${v.dtype}`).join(', ');
    throw new ShapeError(`${def.type}${where}: ${err instanceof Error ? err.message : String(err)} (inputs ${shapes})`);
  }
  return g.addNode(def.type, inputs, attrs, types);
}

/** The registered op `type` (ONNX writer, autodiff and graph rewrites call its rules with its nodes). */
export function getOp(type: string): RegisteredOp {
  const def = registry.get(type);
  if (!def) throw new Error(`unknown op "${type}"`);
  return def;
}

/** Every registered op type, sorted. */
export function listOps(): string[] {
  return [...registry.keys()].sort();
}
