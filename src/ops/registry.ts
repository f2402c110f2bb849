/**
 * The op registry. Every op declares, in one place, its shape/dtype rule (`infer`), its ONNX
 * emission (`emit`) and its vector-Jacobian rule (`grad`). Tests enumerate `listOps()`.
 */
import { UserError } from '../errors.js';
import { Attrs, Node, TensorType, Value, currentGraph, shapeStr } from '../graph/ir.js';

/** What an op's `emit` writes ONNX nodes through (implemented by the ONNX writer). */
export interface Emitter {
  /** appends an ONNX node; returns its output names */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs?: OnnxAttrs): void;
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
}

export type OnnxAttrValue = number | string | readonly number[] | { float: number } | { floats: readonly number[] };
export type OnnxAttrs = Record<string, OnnxAttrValue | undefined>;

export interface GradContext {
  /** which inputs need a gradient (only those are computed) */
  readonly needs: readonly boolean[];
}

export interface OpDef<A extends Attrs = Attrs> {
  readonly type: string;
  /** shape/dtype rule: throws a plain message; the caller adds op and module path */
  infer(inputs: readonly TensorType[], attrs: A): TensorType[];
  /**
   * writes the ONNX nodes computing `outs` from `ins`; `live[i]` says whether output i is used
   * (ops with optional outputs may leave unused ones out)
   */
  emit(e: Emitter, ins: readonly string[], outs: readonly string[], attrs: A, node: Node, live: readonly boolean[]): void;
  /**
   * vector-Jacobian rule: given the gradients of the outputs (null where none flows), returns
   * one gradient per input (null for inputs that get none or are not needed). Built from op
   * functions, so backward nodes are ordinary IR nodes.
   */
  grad(node: Node, gOut: readonly (Value | null)[], ctx: GradContext): (Value | null)[];
  /** multiply-accumulates of one application (convolutions and matrix products; others count 0) */
  macs?(node: Node): number;
}

const registry = new Map<string, OpDef<Attrs>>();

/** Shapes that do not fit a module (e.g. images of the wrong size or channel count); the user's to fix. */
export class ShapeError extends UserError {}

/** Registers an op and returns the function that applies it to the active graph. */
export function defineOp<A extends Attrs>(def: OpDef<A>): (inputs: readonly Value[], attrs: A) => Value[] {
  if (registry.has(def.type)) throw new Error(`op ${def.type} registered twice`);
  registry.set(def.type, {
    type: def.type,
    infer: (inputs, attrs) => def.infer(inputs, attrs as A),
    emit: (e, ins, outs, attrs, node, live) => def.emit(e, ins, outs, attrs as A, node, live),
    grad: (node, gOut, ctx) => def.grad(node, gOut, ctx),
    macs: def.macs,
  });
  return (inputs, attrs) => applyOp(def, inputs, attrs);
}

export function applyOp<A extends Attrs>(def: OpDef<A>, inputs: readonly Value[], attrs: A): Value[] {
  const g = currentGraph();
  let types: TensorType[];
  try {
    types = def.infer(inputs, attrs);
  } catch (err) {
    const where = g.scope ? ` in module "${g.scope}"` : '';
    const shapes = inputs.map((v) => `${shapeStr(v.shape)}:${v.dtype}`).join(', ');
    throw new ShapeError(`${def.type}${where}: ${(err as Error).message} (inputs ${shapes})`);
  }
  return g.addNode(def.type, inputs, attrs, types).outputs;
}

export function getOp(type: string): OpDef<Attrs> {
  const def = registry.get(type);
  if (!def) throw new Error(`unknown op "${type}"`);
  return def;
}

/** Every registered op type, sorted. */
export function listOps(): string[] {
  return [...registry.keys()].sort();
}
