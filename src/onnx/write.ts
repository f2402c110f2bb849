/**
 * Writes an IR graph as an ONNX ModelProto (IR version 8, opset 17 unless told one of 13–17):
 * graph inputs, constants as initializers, each IR node through its op's `emit`, and only the
 * nodes the requested outputs depend on. Emitters see the target opset (`Emitter.opset`) and
 * write a decomposition where an ONNX op is newer than it; a node that still needs a newer
 * opset is refused here rather than written into an invalid file.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * const t = new Trace(model, { weights: 'constants' });
 * const logits = traceWith(t, () => model.call(t.graph.addInput('input', [1, 3, 32, 32], 'float32')));
 * const bytes = writeOnnx(t.graph, [{ name: 'logits', value: logits }], { opset: 13, dynamicBatch: true });
 * decodeOnnx(bytes).opset; // → 13
 */
import { DType, Graph, HostTensor, Node, Value } from '../graph/ir.js';
import { UserError } from '../errors.js';
import { Emitter, OnnxAttrs, getOp } from '../ops/registry.js';
import { onnxDtypeCode } from '../ops/elementwise.js';
import { ProtoWriter } from './protobuf.js';
import { ExternalDataOptions, ExternalRef, OnnxFiles, planExternalData, tensorBytes } from './external-data.js';

/** the opset written by default, and the newest Tessera writes */
export const OPSET = 17;
/** the oldest opset Tessera writes (inference graphs: training graphs need 16 for ScatterElements' reduction) */
export const MIN_OPSET = 13;
const IR_VERSION = 8;

/**
 * ONNX ops, and op attributes as `Op.attribute`, that appeared after opset 13, with the opset
 * that introduced them: the writer refuses to put one into an older file.
 */
const INTRODUCED_AFTER_13: Readonly<Record<string, number>> = {
  HardSwish: 14,
  Trilu: 14,
  'Reshape.allowzero': 14,
  'BatchNormalization.training_mode': 14,
  CastLike: 15,
  Bernoulli: 15,
  'Shape.start': 15,
  'Shape.end': 15,
  GridSample: 16,
  'ScatterElements.reduction': 16,
  'ScatterND.reduction': 16,
  LayerNormalization: 17,
};

/** the first opset that has `opType` with these attributes (MIN_OPSET for everything older) */
function introducedIn(opType: string, attrs: OnnxAttrs): number {
  const versions = [INTRODUCED_AFTER_13[opType] ?? MIN_OPSET];
  for (const [name, v] of Object.entries(attrs)) if (v !== undefined) versions.push(INTRODUCED_AFTER_13[`${opType}.${name}`] ?? MIN_OPSET);
  return Math.max(...versions);
}

export interface GraphOutput {
  readonly name: string;
  readonly value: Value;
}

export interface WriteOptions extends ExternalDataOptions {
  /** name the first dimension of inputs and outputs "batch" instead of fixing it */
  readonly dynamicBatch?: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly graphName?: string;
  /** the ONNX opset to write, MIN_OPSET..OPSET (default OPSET) */
  readonly opset?: number;
  /**
   * let float32 convolutions use ONNX Runtime's `com.microsoft.nchwc` kernels with this block size
   * (`Emitter.nchwcBlock`); only for graphs ONNX Runtime runs in-process, never for exported files
   */
  readonly nchwcBlock?: number;
}

/**
 * Serializes `graph` computing `outputs` to ONNX bytes; a model whose initializers exceed the
 * external-data threshold (about 1.8 GB: see src/onnx/external-data.ts) is refused, since one
 * file cannot hold it: write it with `writeOnnxFiles`.
 */
export function writeOnnx(graph: Graph, outputs: readonly GraphOutput[], opts: WriteOptions = {}): Uint8Array {
  return singleFile(writeOnnxFiles(graph, outputs, opts));
}

/** The ModelProto bytes of `files`; a model that needs a side file is refused in one line. */
export function singleFile(files: OnnxFiles): Uint8Array {
  const data = files.externalData;
  if (data) throw new UserError(`the model's weights take ${(data.size / 1e9).toFixed(2)} GB, more than one ONNX file holds (2 GB); write it as a file with its ${data.location} beside it (saveOnnx, tessera export)`);
  return files.model;
}

/**
 * Serializes `graph` computing `outputs` to an ONNX model and, where its initializers exceed
 * `externalDataThreshold`, the external data file its large initializers go to.
 */
export function writeOnnxFiles(graph: Graph, outputs: readonly GraphOutput[], opts: WriteOptions = {}): OnnxFiles {
  const opset = opts.opset ?? OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > OPSET) throw new Error(`writeOnnx: opset ${opset} is not supported; Tessera writes opsets ${MIN_OPSET} to ${OPSET}`);
  const live = liveNodes(graph, outputs.map((o) => o.value));
  const names = new Map<Value, string>();
  for (const v of graph.inputs) names.set(v, v.name ?? `input_${v.id}`);
  const nodes: ProtoWriter[] = [];
  const inits: [string, HostTensor][] = [];
  const intConsts = new Map<string, string>();
  let tmpCount = 0;
  /** ONNX node names carry the IR node's module path and op, so ORT profiles read like the model */
  let namePrefix = '';
  /** the non-default operator domains the nodes use (each gets an opset import, version 1) */
  const domains = new Set<string>();

  const addInit = (name: string, t: HostTensor) => inits.push([name, t]);
  const emitter: Emitter = {
    opset,
    nchwcBlock: opts.nchwcBlock,
    node(opType, inputs, outs, attrs = {}, domain = '') {
      const since = domain ? MIN_OPSET : introducedIn(opType, attrs);
      if (since > opset) throw new Error(`writeOnnx: ${namePrefix}${opType} needs ONNX opset ${since}, the file is opset ${opset}; write it at opset ${since} or later`);
      const w = new ProtoWriter();
      for (const i of inputs) w.string(1, i);
      for (const o of outs) w.string(2, o);
      w.string(3, `${namePrefix}${opType}_${nodes.length}`);
      w.string(4, opType);
      writeAttrs(w, attrs);
      if (domain) {
        w.string(7, domain);
        domains.add(domain);
      }
      nodes.push(w);
    },
    tmp(hint = 't') {
      return `${hint}_${tmpCount++}`;
    },
    ints(values) {
      const key = values.join(',');
      let name = intConsts.get(key);
      if (!name) {
        name = `ints_${intConsts.size}`;
        intConsts.set(key, name);
        addInit(name, { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) });
      }
      return name;
    },
    scalar(value, dtype = 'float32') {
      const name = `scalar_${tmpCount++}`;
      const data = dtype === 'float64' ? Float64Array.of(value) : Float32Array.of(value);
      addInit(name, { dtype: dtype === 'float64' ? 'float64' : 'float32', shape: [], data });
      return name;
    },
  };

  const outputNames = new Map<Value, string>();
  for (const o of outputs) if (o.value.kind === 'node' && !outputNames.has(o.value)) outputNames.set(o.value, o.name);
  const nameOf = (v: Value): string => {
    let n = names.get(v);
    if (n) return n;
    if (v.kind === 'const') {
      n = v.name && !v.name.startsWith('input_') ? v.name : `c${v.id}`;
      addInit(n, v.constData!);
    } else n = outputNames.get(v) ?? `v${v.id}`;
    names.set(v, n);
    return n;
  };

  const used = new Set<Value>(outputs.map((o) => o.value));
  for (const node of live) for (const i of node.inputs) used.add(i);
  for (const node of live) {
    const ins = node.inputs.map(nameOf);
    const outs = node.outputs.map(nameOf);
    namePrefix = `${node.scope || 'model'}/${node.op}/`;
    getOp(node.op).emit(emitter, ins, outs, node, node.outputs.map((o) => used.has(o)));
  }
  // outputs that are not a node's own named output (inputs, constants, duplicates) go through Identity
  namePrefix = 'outputs/';
  for (const o of outputs) {
    if (nameOf(o.value) !== o.name) emitter.node('Identity', [nameOf(o.value)], [o.name]);
  }

  const g = new ProtoWriter();
  for (const n of nodes) g.bytes(1, n.finish());
  g.string(2, opts.graphName ?? 'tessera');
  const external = planExternalData(inits, opts);
  for (const [name, t] of inits) g.bytes(5, tensorProto(name, t, external?.refs.get(name)).finish());
  for (const v of graph.inputs) g.bytes(11, valueInfo(names.get(v)!, v.shape, v.dtype, opts.dynamicBatch));
  for (const o of outputs) g.bytes(12, valueInfo(o.name, o.value.shape, o.value.dtype, opts.dynamicBatch));

  const m = new ProtoWriter();
  m.int(1, IR_VERSION);
  m.string(2, 'tessera');
  m.string(3, '0.1.0');
  m.bytes(7, g.finish());
  m.message(8, (w) => w.string(1, '').int(2, opset));
  for (const domain of domains) m.message(8, (w) => w.string(1, domain).int(2, 1));
  for (const [k, v] of Object.entries(opts.metadata ?? {})) m.message(14, (w) => w.string(1, k).string(2, v));
  return { model: m.finish(), externalData: external?.file ?? null };
}

/** nodes that the outputs depend on, in topological order */
function liveNodes(graph: Graph, outputs: readonly Value[]): Node[] {
  const needed = new Set<Node>();
  const stack = outputs.filter((v) => v.node).map((v) => v.node!);
  while (stack.length) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    needed.add(n);
    for (const i of n.inputs) if (i.node && !needed.has(i.node)) stack.push(i.node);
  }
  return graph.nodes.filter((n) => needed.has(n));
}

function writeAttrs(w: ProtoWriter, attrs: OnnxAttrs): void {
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    w.message(5, (a) => {
      a.string(1, name);
      if (typeof v === 'number') {
        if (!Number.isInteger(v)) throw new Error(`attribute ${name}=${v}: pass floats as { float: x }`);
        a.int(3, v).int(20, 2);
      } else if (typeof v === 'string') a.string(4, v).int(20, 3);
      else if (Array.isArray(v)) a.packedInts(8, v).int(20, 7);
      else if ('float' in v) a.float(2, v.float).int(20, 1);
      else if ('floats' in v) a.packedFloats(7, v.floats).int(20, 6);
    });
  }
}

/** A TensorProto: its data as raw_data, or where `external` says it lies (data_location EXTERNAL, external_data entries). */
export function tensorProto(name: string, t: HostTensor, external?: ExternalRef): ProtoWriter {
  const w = new ProtoWriter();
  if (t.shape.length) w.packedInts(1, t.shape);
  w.int(2, onnxDtypeCode(t.dtype));
  w.string(8, name);
  if (!external) return w.bytes(9, tensorBytes(t));
  for (const [key, value] of [['location', external.location], ['offset', String(external.offset)], ['length', String(external.length)]]) {
    w.message(13, (entry) => entry.string(1, key).string(2, value));
  }
  return w.int(14, 1);
}

function valueInfo(name: string, shape: readonly number[], dtype: DType, dynamicBatch = false): Uint8Array {
  const w = new ProtoWriter();
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, onnxDtypeCode(dtype));
      tt.message(2, (s) => {
        shape.forEach((d, i) => s.message(1, (dim) => (dynamicBatch && i === 0 ? dim.string(2, 'batch') : dim.int(1, d))));
      });
    }),
  );
  return w.finish();
}
