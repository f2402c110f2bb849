/**
 * Graph-level BatchNorm folding for inference export: every eval-mode BatchNormalization whose
 * input is a Conv with constant weights (and constant bias, if any), used by nothing else, is
 * replaced by one Conv with the BatchNorm baked into its weight and bias:
 *
 *   s = γ / √(var + ε),  W' = W · s (per output channel),  b' = (b − mean) · s + β
 *
 * The arithmetic is done in float64 and stored in the conv weight's dtype. The original constants
 * are left untouched (new constants are added), so the Module's weights never change.
 */
import { Graph, HostTensor, Node, Value } from '../graph/ir.js';
import { getOp } from '../ops/registry.js';

/** What `foldConvBatchNorms` did. */
export interface FoldResult {
  /** BatchNormalization nodes folded into the preceding Conv */
  readonly folded: number;
  /** BatchNormalization nodes left (no constant Conv directly before them) */
  readonly remaining: number;
}

/** the data of a float constant (float32 or float64), or null where `v` is not one */
function floatConstData(v: Value | undefined): Float32Array | Float64Array | null {
  const data = v && v.kind === 'const' ? v.constData?.data : undefined;
  return data instanceof Float32Array || data instanceof Float64Array ? data : null;
}

/**
 * Rewrites `graph` in place (see the file comment); `outputs` are the values the graph is
 * exported for (a conv output that is itself an output is never folded away).
 *
 * @example
 * const r = foldConvBatchNorms(trace.graph, [logits]); // { folded: 20, remaining: 0 }
 */
export function foldConvBatchNorms(graph: Graph, outputs: readonly Value[]): FoldResult {
  const uses = new Map<Value, number>();
  for (const n of graph.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of outputs) uses.set(o, (uses.get(o) ?? 0) + 1);
  const names = new Set<string>();
  for (const c of graph.consts) if (c.name) names.add(c.name);
  const unique = (base: string) => {
    let n = base;
    for (let i = 1; names.has(n); i++) n = `${base}_${i}`;
    names.add(n);
    return n;
  };

  let folded = 0;
  let remaining = 0;
  const removed = new Set<Node>();
  for (let idx = 0; idx < graph.nodes.length; idx++) {
    const bn = graph.nodes[idx];
    if (bn.op !== 'BatchNormalization') continue;
    const [x, gamma, beta, mean, variance] = bn.inputs;
    const conv = x.node;
    const eps = bn.attrs.eps;
    const w = conv?.inputs[1];
    const b = conv && conv.inputs.length >= 3 ? conv.inputs[2] : null;
    const [g, be, m, vr, wd] = [gamma, beta, mean, variance, w].map(floatConstData);
    const bd = b ? floatConstData(b) : null;
    if (
      !(
        x.kind === 'node' &&
        conv !== null &&
        conv.op === 'Conv' &&
        conv.outputs.length === 1 &&
        uses.get(x) === 1 &&
        typeof eps === 'number' &&
        g && be && m && vr && w && wd &&
        (!b || bd) &&
        w.dtype === x.dtype &&
        bn.outputs[0].dtype === x.dtype
      )
    ) {
      remaining++;
      continue;
    }
    const outC = w.shape[0];
    const per = w.size / outC;
    const Ctor = w.dtype === 'float64' ? Float64Array : Float32Array;
    const nw = new Ctor(w.size);
    const nb = new Ctor(outC);
    for (let c = 0; c < outC; c++) {
      const s = g[c] / Math.sqrt(vr[c] + eps);
      for (let k = c * per; k < (c + 1) * per; k++) nw[k] = wd[k] * s;
      nb[c] = ((bd ? bd[c] : 0) - m[c]) * s + be[c];
    }
    const wt: HostTensor = { dtype: w.dtype, shape: [...w.shape], data: nw };
    const bt: HostTensor = { dtype: w.dtype, shape: [outC], data: nb };
    const base = w.name ? w.name.replace(/\.weight$/, '') : `conv${conv.id}`;
    const wv = graph.addConst(wt, unique(`${base}.bnfolded.weight`));
    const bv = graph.addConst(bt, unique(`${base}.bnfolded.bias`));
    const fused = getOp('Conv').reapply(conv, bn.id, [conv.inputs[0], wv, bv]);
    fused.outputs = bn.outputs;
    // the BatchNorm's output value is now produced by the fused conv
    for (const o of fused.outputs) o.node = fused;
    graph.nodes[idx] = fused;
    removed.add(conv);
    folded++;
  }
  if (removed.size) {
    const kept = graph.nodes.filter((n) => !removed.has(n));
    graph.nodes.length = 0;
    graph.nodes.push(...kept);
  }
  return { folded, remaining };
}
