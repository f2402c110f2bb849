/**
 * Importing a foreign ONNX classifier as a trainable Tessera model (`importOnnx`).
 *
 * The decoded graph (read.ts) is kept as is; `OnnxModule.forward` walks it node by node while a
 * trace is active and emits IR ops through the op table in import-ops.ts, so the imported model
 * runs in `InferenceModel`, trains in `TrainingSession` and exports like any zoo model.
 *
 * What becomes what:
 * - float initializers in data positions (Conv/Gemm/MatMul weights, biases, LayerNorm and
 *   BatchNormalization scale and shift, embeddings, ...) with rank >= 1 become `Parameter`s;
 * - float initializers feeding BatchNormalization's mean and variance become `Buffer`s: in eval
 *   mode the node is ONNX BatchNormalization on them, in train mode it normalizes with the
 *   batch statistics (BatchNormTrain) and updates them with the node's momentum, as PyTorch does;
 * - everything else (int64 initializers, rank-0 float constants, initializers in shape, axes or
 *   pads positions, Constant nodes, and everything computed from shapes) is a host constant,
 *   folded while tracing (import-host.ts). Because shapes are read from the traced input, the
 *   model traces with any batch size; for graphs exported with a fixed batch B, a Reshape of a
 *   batch-first tensor to a literal [B, ...] takes the traced batch instead.
 *
 * State-dict keys are the initializers' ONNX names, sanitized: characters other than letters,
 * digits, `_` and `.` become `_` (torch's `features.0.0.weight` stays, `onnx::Conv_421` becomes
 * `onnx__Conv_421`); a name that would clash gets a `_2`, `_3`, ... suffix. There is no
 * `num_batches_tracked` (ONNX has none).
 *
 * Unsupported ops are reported by `importOnnx` itself, before any tracing, in one
 * `OnnxImportError` naming each op type and a node that uses it.
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'model.onnx'); // e.g. from torch.onnx.export
 * saveOnnx(createModel('cifar_lenet'), path, { inputShape: [1, 3, 32, 32], dynamicBatch: true });
 * const model = importOnnx(path);
 * const net = await InferenceModel.create(model, { inputShape: [16, 3, 32, 32] });
 * const session = await TrainingSession.create(model, { inputShape: [8, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }) });
 */
import { basename } from '#platform/runtime';
import { UserError } from '../errors.js';
import { DType, Value, inScope } from '../graph/ir.js';
import { Buffer, Module, Parameter, tensorValue } from '../nn/module.js';
import { Trace, activeTrace, traceWith } from '../nn/trace.js';
import { isFloat } from '../ops/shape-rules.js';
import { HostArray, Operand, hostArray, hostConstant, isHost } from './import-host.js';
import { ONNX_OPS } from './import-ops.js';
import { OnnxOpContext } from './import-op-types.js';
import { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxValueInfo, decodeOnnx, readOnnxFile } from './read.js';

/** An ONNX model tessera cannot import (the user's input problem): unsupported op, no image input, ... */
export class OnnxImportError extends UserError {}

/** A state tensor with the ONNX initializer it came from. */
export interface ImportedTensor {
  /** the state-dict key */
  readonly key: string;
  /** the initializer's name in the ONNX graph */
  readonly onnxName: string;
  readonly tensor: Parameter | Buffer;
}

/**
 * Imports an ONNX classifier from a file path or from its bytes.
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'model.onnx'); // any classifier exported to ONNX
 * saveOnnx(createModel('cifar_lenet'), path, { inputShape: [1, 3, 32, 32], dynamicBatch: true });
 * const model = importOnnx(path);
 * [...model.stateDict().keys()].slice(0, 2); // → ['conv1.weight', 'conv1.bias']
 * model.outputShape([8, 3, 32, 32]);          // → [8, 10]
 */
export function importOnnx(source: string | Uint8Array, name?: string): OnnxModule {
  const model = typeof source === 'string' ? readOnnxFile(source) : decodeOnnx(source, name ?? '<onnx bytes>');
  return new OnnxModule(model, typeof source === 'string' ? basename(source) : (name ?? '<onnx bytes>'));
}

/** The op type a node is known by in the table ('' and 'ai.onnx' domains are the standard ops). */
function tableKey(node: OnnxNode): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}.${node.opType}`;
}

/** The op types `importOnnx` supports, sorted. */
export function supportedOnnxOps(): string[] {
  return Object.keys(ONNX_OPS).sort();
}

/** An imported ONNX graph as a Module: forward emits one IR op (or a few) per ONNX node. */
export class OnnxModule extends Module {
  /** the decoded graph; nodes are traced in file order (ONNX requires topological order) */
  readonly graph: OnnxGraph;
  readonly opset: number;
  /** file name (or given name) for messages */
  readonly source: string;
  /** the graph's one image input and its declared dims (numbers or symbolic names) */
  readonly input: OnnxValueInfo;
  /** the graph output taken as the logits */
  readonly output: OnnxValueInfo;
  /** parameters and buffers in state-dict order, with their ONNX names */
  readonly imported: readonly ImportedTensor[];
  private readonly stateByName: ReadonlyMap<string, Parameter | Buffer>;
  private readonly constants: ReadonlyMap<string, HostArray>;

  constructor(model: OnnxModel, source: string) {
    super();
    this.graph = model.graph;
    this.opset = model.opset;
    this.source = source;
    const g = model.graph;
    checkSupported(g, source);
    const inputs = g.inputs.filter((v) => !g.initializers.has(v.name));
    if (inputs.length !== 1) throw new OnnxImportError(`${source}: expected one image input, the graph has ${inputs.length}${inputs.length ? ` (${inputs.map((v) => v.name).join(', ')})` : ''}`);
    if (g.outputs.length < 1) throw new OnnxImportError(`${source}: the graph has no output`);
    this.input = inputs[0];
    this.output = g.outputs[0];

    const { state, constants } = classifyInitializers(g);
    // every own field is set before the state tensors, so `uniqueKey` sees all names in use
    const imported: ImportedTensor[] = [];
    const stateByName = new Map<string, Parameter | Buffer>();
    this.imported = imported;
    this.stateByName = stateByName;
    this.constants = constants;
    const used = new Set<string>();
    for (const [onnxName, tensor] of state) {
      const key = this.uniqueKey(sanitizeName(onnxName), used);
      used.add(key);
      Object.defineProperty(this, key, { value: tensor, enumerable: true, writable: true, configurable: true });
      imported.push({ key, onnxName, tensor });
      stateByName.set(onnxName, tensor);
    }
  }

  /** `key`, or `key_2`, `key_3`, ... where it is taken or would shadow a Module member */
  private uniqueKey(key: string, used: ReadonlySet<string>): string {
    let k = key;
    for (let i = 2; used.has(k) || k in this; i++) k = `${key}_${i}`;
    return k;
  }

  /** the declared input shape with `batch` as the first dimension; null where a dimension is symbolic or unknown */
  inputShape(batch = 1): number[] | null {
    const dims = this.input.dims;
    if (!dims || dims.length < 1) return null;
    const rest = dims.slice(1);
    return rest.every((d): d is number => typeof d === 'number' && d > 0) ? [batch, ...rest] : null;
  }

  /** the number of times each op type occurs in the graph, by op type */
  opCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const n of this.graph.nodes) counts.set(tableKey(n), (counts.get(tableKey(n)) ?? 0) + 1);
    return counts;
  }

  /**
   * Traces the eval-mode forward pass once (weights as constants, nothing run) and returns the
   * logits' shape: checks that every node maps onto the IR for this input shape.
   */
  outputShape(inputShape: readonly number[]): number[] {
    const wasTraining = this.training;
    this.eval();
    try {
      const trace = new Trace(this, { weights: 'constants' });
      const y = traceWith(trace, () => this.call(trace.graph.addInput('input', inputShape, 'float32')));
      return [...y.shape];
    } finally {
      this.train(wasTraining);
    }
  }

  forward(x: Value): Value {
    const env = new Map<string, Operand>([[this.input.name, x]]);
    const floatType: DType = isFloat(x.dtype) ? x.dtype : 'float32';
    const lookup = (name: string, node: OnnxNode): Operand | null => {
      if (name === '') return null;
      let v = env.get(name);
      if (v === undefined) {
        const t = this.stateByName.get(name);
        const c = this.constants.get(name);
        if (t) v = tensorValue(t);
        else if (c) v = c;
        else throw new OnnxImportError(`${this.source}: node "${node.name}" (${node.opType}) reads "${name}", which no earlier node produces`);
        env.set(name, v);
      }
      return v;
    };
    for (const node of this.graph.nodes) {
      const inputs = node.inputs.map((n) => lookup(n, node));
      const ctx = this.context(node, floatType, x.shape[0]);
      let outs: Operand[];
      try {
        outs = inScope(node.name || node.opType, () => ONNX_OPS[tableKey(node)].run(ctx, inputs));
      } catch (e) {
        if (e instanceof OnnxImportError) throw e;
        throw new OnnxImportError(`${this.source}: node "${node.name}" (${node.opType}): ${e instanceof Error ? e.message : String(e)}`);
      }
      node.outputs.forEach((o, i) => {
        if (o !== '' && outs[i] !== undefined) env.set(o, outs[i]);
      });
    }
    const y = env.get(this.output.name);
    if (y === undefined) throw new OnnxImportError(`${this.source}: no node produces the graph output "${this.output.name}"`);
    return isHost(y) ? hostConstant(y, floatType) : y;
  }

  /** the batch size the graph input declares; null when symbolic (a dynamic batch axis) */
  private declaredBatch(): number | null {
    const first = this.input.dims?.[0];
    return typeof first === 'number' ? first : null;
  }

  private context(node: OnnxNode, floatType: DType, traced: number): OnnxOpContext {
    const attr = (name: string): OnnxAttribute | undefined => node.attributes.get(name);
    const fail = (name: string, want: string): never => {
      throw new Error(`attribute ${name} must be ${want}`);
    };
    const stateByName = this.stateByName;
    return {
      node,
      opset: this.opset,
      training: this.training,
      floatType,
      batch: { declared: this.declaredBatch(), traced },
      value: (o) => (isHost(o) ? hostConstant(o, floatType) : o),
      host: (o, what) => {
        if (o === null) throw new Error(`${what} is missing`);
        if (!isHost(o)) throw new Error(`${what} must be known before running the model (a constant or computed from shapes), but it depends on the input data`);
        return o;
      },
      has: (name) => node.attributes.has(name),
      int: (name, fallback) => {
        const a = attr(name);
        if (a === undefined) return fallback ?? fail(name, 'given');
        return a.kind === 'int' ? a.value : fail(name, 'an integer');
      },
      ints: (name, fallback) => {
        const a = attr(name);
        if (a === undefined) return fallback ?? fail(name, 'given');
        return a.kind === 'ints' ? a.value : fail(name, 'a list of integers');
      },
      float: (name, fallback) => {
        const a = attr(name);
        if (a === undefined) return fallback ?? fail(name, 'given');
        return a.kind === 'float' ? shortestFloat32(a.value) : a.kind === 'int' ? a.value : fail(name, 'a float');
      },
      floats: (name, fallback) => {
        const a = attr(name);
        if (a === undefined) return fallback ?? fail(name, 'given');
        return a.kind === 'floats' ? a.value : fail(name, 'a list of floats');
      },
      string: (name, fallback) => {
        const a = attr(name);
        if (a === undefined) return fallback ?? fail(name, 'given');
        return a.kind === 'string' ? a.value : fail(name, 'a string');
      },
      tensor: (name) => {
        const a = attr(name);
        if (a === undefined) return null;
        return a.kind === 'tensor' ? hostArray(a.value) : fail(name, 'a tensor');
      },
      updateBuffer: (i, v) => {
        const t = stateByName.get(node.inputs[i] ?? '');
        if (t instanceof Buffer) activeTrace()?.updateBuffer(t, v);
      },
    };
  }
}

function checkSupported(g: OnnxGraph, source: string): void {
  const firstNode = new Map<string, string>();
  for (const n of g.nodes) {
    const key = tableKey(n);
    if (!Object.hasOwn(ONNX_OPS, key) && !firstNode.has(key)) firstNode.set(key, n.name || '(unnamed)');
  }
  if (firstNode.size === 0) return;
  const list = [...firstNode].map(([op, node]) => `${op} (node "${node}")`).join(', ');
  throw new OnnxImportError(`${source}: unsupported ONNX op${firstNode.size > 1 ? 's' : ''} ${list}; tessera import supports ${supportedOnnxOps().length} standard ops (see tessera import --help): re-export the model without ${firstNode.size > 1 ? 'them' : 'it'}`);
}

/** which initializers become parameters or buffers (in file order) and which stay host constants */
function classifyInitializers(g: OnnxGraph): { state: Map<string, Parameter | Buffer>; constants: Map<string, HostArray> } {
  const role = new Map<string, 'data' | 'buffer' | 'host'>();
  for (const n of g.nodes) {
    const impl = ONNX_OPS[tableKey(n)];
    n.inputs.forEach((name, i) => {
      if (!g.initializers.has(name)) return;
      const r = impl.bufferInputs?.includes(i) ? 'buffer' : impl.hostInputs?.includes(i) ? 'host' : 'data';
      const prev = role.get(name);
      // buffer wins over data, data over host
      if (prev === undefined || r === 'buffer' || (r === 'data' && prev === 'host')) role.set(name, r);
    });
  }
  const state = new Map<string, Parameter | Buffer>();
  const constants = new Map<string, HostArray>();
  for (const [name, t] of g.initializers) {
    const r = role.get(name);
    if (isFloat(t.dtype) && t.shape.length >= 1 && (r === 'data' || r === 'buffer')) {
      const data = t.data instanceof Float32Array ? t.data : t.data instanceof Float64Array ? Float32Array.from(t.data) : Float32Array.from(hostArray(t).values);
      state.set(name, r === 'buffer' ? new Buffer(data, t.shape, 'float32') : new Parameter(data, t.shape));
    } else constants.set(name, hostArray(t));
  }
  return { state, constants };
}

/** an ONNX name as a state-dict key: letters, digits, `_` and `.` kept, anything else `_` */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.]/g, '_').replace(/\.{2,}/g, '.').replace(/^\.+|\.+$/g, '');
  return s === '' ? 'tensor' : s;
}

/** the shortest decimal that rounds to the same float32 (attributes are float32: 0.1f reads back as 0.1, not 0.100000001) */
function shortestFloat32(v: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(v.toPrecision(digits));
    if (Math.fround(d) === v) return d;
  }
  return v;
}
