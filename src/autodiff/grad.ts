/**
 * Reverse-mode autodiff over the IR. Walks the nodes between the requested values and the
 * output backwards, asks each op's vector-Jacobian rule for the input gradients that are
 * actually needed, and sums fan-out contributions. Backward nodes are appended to the same
 * graph, so the forward and backward passes become one ONNX model.
 */
import { Node, Value, currentGraph, inScope } from '../graph/ir.js';
import { getOp } from '../ops/registry.js';
import { add } from '../ops/elementwise.js';
import { expand } from '../ops/shape.js';
import { scalar } from '../graph/constants.js';

/**
 * Gradients of `output` with respect to each of `wrt` (null where `output` does not depend on it).
 * `seed` is the incoming gradient (defaults to 1 for a scalar output).
 *
 * @example
 * const g = new Graph();
 * withGraph(g, () => {
 *   const x = g.addInput('x', [3], 'float32');
 *   const y = reduceSum(mul(x, x), [0]);
 *   const [dx] = gradients(y, [x]); // 2x
 * });
 */
export function gradients(output: Value, wrt: readonly Value[], seed?: Value): (Value | null)[] {
  const graph = currentGraph();
  const nodes = graph.nodes.slice();
  // nodes that depend on some wrt value
  const dependsOnWrt = new Set<Value>(wrt);
  const forward = new Set<Node>();
  for (const n of nodes) {
    if (n.inputs.some((i) => dependsOnWrt.has(i))) {
      forward.add(n);
      for (const o of n.outputs) dependsOnWrt.add(o);
    }
  }
  // of those, the ones the output depends on
  const onPath = new Set<Node>();
  const reaches = new Set<Value>([output]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (forward.has(n) && n.outputs.some((o) => reaches.has(o))) {
      onPath.add(n);
      for (const inp of n.inputs) reaches.add(inp);
    }
  }

  const grads = new Map<Value, Value>();
  const start = seed ?? (output.rank === 0 ? scalar(1, output.dtype) : expand(scalar(1, output.dtype), output.shape));
  grads.set(output, start);
  const accumulate = (v: Value, g: Value) => {
    const prev = grads.get(v);
    grads.set(v, prev ? add(prev, g) : g);
  };

  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!onPath.has(n)) continue;
    const gOut = n.outputs.map((o) => grads.get(o) ?? null);
    if (gOut.every((g) => g === null)) continue;
    const needs = n.inputs.map((inp) => dependsOnWrt.has(inp) && reaches.has(inp));
    const gIn = inScope(`${n.scope ? n.scope + '.' : ''}grad`, () => getOp(n.op).grad(n, gOut, { needs }));
    n.inputs.forEach((inp, k) => {
      const g = gIn[k];
      if (g && needs[k]) {
        if (g.shape.length !== inp.shape.length || g.shape.some((d, j) => d !== inp.shape[j])) {
          throw new Error(`gradient rule of ${n.op} returned shape [${g.shape}] for input of shape [${inp.shape}]`);
        }
        accumulate(inp, g);
      }
    });
    for (const o of n.outputs) grads.delete(o);
  }
  return wrt.map((v) => grads.get(v) ?? null);
}
