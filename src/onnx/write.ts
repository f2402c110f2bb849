/**
 * Writes an IR graph as an ONNX ModelProto (opset 17, IR version 8): graph inputs, constants
 * as initializers, each IR node through its op's `emit`, and only the nodes the requested
 * outputs depend on.
 */
import { DType, Graph, HostTensor, Node, Value } from '../graph/ir.js';
import { Emitter, OnnxAttrs, getOp } from '../ops/registry.js';
import { onnxDtypeCode } from '../ops/elementwise.js';
import { ProtoWriter } from './protobuf.js';

export const OPSET = 17;
const IR_VERSION = 8;

export interface GraphOutput {
  readonly name: string;
  readonly value: Value;
}

export interface WriteOptions {
  /** name the first dimension of inputs and outputs "batch" instead of fixing it */
  readonly dynamicBatch?: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly graphName?: string;
}

/** Serializes `graph` computing `outputs` to ONNX bytes. */
export function writeOnnx(graph: Graph, outputs: readonly GraphOutput[], opts: WriteOptions = {}): Uint8Array {
  const live = liveNodes(graph, outputs.map((o) => o.value));
  const names = new Map<Value, string>();
  for (const v of graph.inputs) names.set(v, v.name ?? `input_${v.id}`);
  const nodes: ProtoWriter[] = [];
  const inits: ProtoWriter[] = [];
  const intConsts = new Map<string, string>();
  let tmpCount = 0;
  /** ONNX node names carry the IR node's module path and op, so ORT profiles read like the model */
  let namePrefix = '';

  const addInit = (name: string, t: HostTensor) => inits.push(tensorProto(name, t));
  const emitter: Emitter = {
    node(opType, inputs, outs, attrs = {}) {
      const w = new ProtoWriter();
      for (const i of inputs) w.string(1, i);
      for (const o of outs) w.string(2, o);
      w.string(3, `${namePrefix}${opType}_${nodes.length}`);
      w.string(4, opType);
      writeAttrs(w, attrs);
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
    getOp(node.op).emit(emitter, ins, outs, node.attrs, node, node.outputs.map((o) => used.has(o)));
  }
  // outputs that are not a node's own named output (inputs, constants, duplicates) go through Identity
  namePrefix = 'outputs/';
  for (const o of outputs) {
    if (nameOf(o.value) !== o.name) emitter.node('Identity', [nameOf(o.value)], [o.name]);
  }

  const g = new ProtoWriter();
  for (const n of nodes) g.bytes(1, n.finish());
  g.string(2, opts.graphName ?? 'tessera');
  for (const i of inits) g.bytes(5, i.finish());
  for (const v of graph.inputs) g.bytes(11, valueInfo(names.get(v)!, v.shape, v.dtype, opts.dynamicBatch));
  for (const o of outputs) g.bytes(12, valueInfo(o.name, o.value.shape, o.value.dtype, opts.dynamicBatch));

  const m = new ProtoWriter();
  m.int(1, IR_VERSION);
  m.string(2, 'tessera');
  m.string(3, '0.1.0');
  m.bytes(7, g.finish());
  m.message(8, (w) => w.string(1, '').int(2, OPSET));
  for (const [k, v] of Object.entries(opts.metadata ?? {})) m.message(14, (w) => w.string(1, k).string(2, v));
  return m.finish();
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
      else if (Array.isArray(v)) a.packedInts(8, v as number[]).int(20, 7);
      else if ('float' in v) a.float(2, v.float).int(20, 1);
      else if ('floats' in v) a.packedFloats(7, v.floats).int(20, 6);
    });
  }
}

export function tensorProto(name: string, t: HostTensor): ProtoWriter {
  const w = new ProtoWriter();
  if (t.shape.length) w.packedInts(1, t.shape);
  w.int(2, onnxDtypeCode(t.dtype));
  w.string(8, name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w;
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
