/**
 * Tracing a Module into the graph IR: parameters and buffers become graph inputs (training
 * graphs) or constants (inference graphs, so ONNX Runtime can prepack them), module paths become
 * node scopes, and train-mode BatchNorm records its running-statistics updates here.
 */
import { Graph, Value, withGraph } from '../graph/ir.js';
import type { Module, StateTensor } from './module.js';

export interface TraceOptions {
  /** 'inputs': every parameter and buffer is a graph input named by its state-dict key; 'constants': baked in */
  readonly weights: 'inputs' | 'constants';
  /** 'float64' traces float parameters and buffers as double (reference-precision checks) */
  readonly precision?: 'float32' | 'float64';
}

export class Trace {
  readonly graph = new Graph();
  /** state-dict key of every parameter and buffer (buffers not in the state dict get their path too) */
  readonly keys = new Map<StateTensor, string>();
  readonly values = new Map<StateTensor, Value>();
  /** new values for buffers (BatchNorm running statistics), in first-update order */
  readonly bufferUpdates = new Map<StateTensor, Value>();
  private readonly paths = new Map<Module, string>();

  constructor(
    readonly model: Module,
    readonly options: TraceOptions,
  ) {
    for (const [path, m] of model.namedModules()) {
      this.paths.set(m, path);
      const key = (n: string) => (path ? `${path}.${n}` : n);
      for (const [n, p] of m.ownParameters()) this.keys.set(p, key(n));
      for (const [n, b] of m.ownBuffers()) this.keys.set(b, key(n));
    }
  }

  /** the dtype float tensors take in this trace */
  get floatType(): 'float32' | 'float64' {
    return this.options.precision ?? 'float32';
  }

  pathOf(m: Module): string | undefined {
    return this.paths.get(m);
  }

  /** the graph value standing for a parameter or buffer */
  value(t: StateTensor): Value {
    let v = this.values.get(t);
    if (!v) {
      const key = this.keys.get(t);
      if (key === undefined) throw new Error('tensor does not belong to the traced model');
      const dtype = t.dtype === 'float32' ? this.floatType : t.dtype;
      if (this.options.weights === 'inputs') v = this.graph.addInput(key, t.shape, dtype);
      // a float32 tensor traced as float64 is widened; every other tensor is traced as it is
      else v = this.graph.addConst(dtype !== t.dtype && t.data instanceof Float32Array ? { dtype, shape: t.shape, data: Float64Array.from(t.data) } : t, key);
      this.values.set(t, v);
    }
    return v;
  }

  /** records the value a buffer takes after this step */
  updateBuffer(t: StateTensor, v: Value): void {
    this.bufferUpdates.set(t, v);
  }
}

let active: Trace | null = null;

export function activeTrace(): Trace | null {
  return active;
}

/**
 * Traces `fn` (typically `model.call(input)`) with `model`'s tensors bound per `options`.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * const t = new Trace(model, { weights: 'constants' });
 * const logits = traceWith(t, () => model.call(t.graph.addInput('input', [1, 3, 32, 32], 'float32')));
 * logits.shape; // → [1, 10]
 */
export function traceWith<T>(trace: Trace, fn: () => T): T {
  const prev = active;
  active = trace;
  try {
    return withGraph(trace.graph, fn);
  } finally {
    active = prev;
  }
}
