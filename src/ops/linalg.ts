/** MatMul (batched, broadcasting) and Gemm (2-D, optional transposes and bias). */
import { Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { broadcastShapes, sameDtype } from './shape-rules.js';
import { sumToShape, transpose } from './shape.js';

const matMulOp = defineOp({
  type: 'MatMul',
  infer: ([a, b]) => {
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error('operands must have rank >= 2');
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) throw new Error(`inner dimensions differ: ${k} vs ${k2}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return [{ shape: [...batch, m, n], dtype: sameDtype([a, b]) }];
  },
  macs: (n) => n.outputs[0].size * n.inputs[0].shape[n.inputs[0].rank - 1],
  emit: (e, ins, outs) => e.node('MatMul', ins, outs),
  grad: (n, [g], { needs }) => {
    if (!g) return [null, null];
    const [a, b] = n.inputs;
    return [needs[0] ? sumToShape(matmul(g, swapLast(b)), a.shape) : null, needs[1] ? sumToShape(matmul(swapLast(a), g), b.shape) : null];
  },
});

function swapLast(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transpose(x, perm);
}

/** numpy-style batched matrix product (both operands rank >= 2) */
export const matmul = (a: Value, b: Value): Value => matMulOp([a, b], {})[0];

interface GemmAttrs {
  readonly [k: string]: number;
  readonly transA: number;
  readonly transB: number;
}

const gemmOp = defineOp<GemmAttrs>({
  type: 'Gemm',
  infer: ([a, b, c], { transA, transB }) => {
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error('operands must be 2-D');
    const [m, k] = transA ? [a.shape[1], a.shape[0]] : a.shape;
    const [k2, n] = transB ? [b.shape[1], b.shape[0]] : b.shape;
    if (k !== k2) throw new Error(`inner dimensions differ: ${k} vs ${k2}`);
    if (c) broadcastShapes([m, n], c.shape);
    return [{ shape: [m, n], dtype: sameDtype(c ? [a, b, c] : [a, b]) }];
  },
  macs: (n) => n.outputs[0].size * (n.attrs.transA ? n.inputs[0].shape[0] : n.inputs[0].shape[1]),
  emit: (e, ins, outs, { transA, transB }) => e.node('Gemm', ins, outs, { transA, transB }),
  grad: (n, [g], { needs }) => {
    if (!g) return n.inputs.map(() => null);
    const [a, b, c] = n.inputs;
    const { transA, transB } = n.attrs;
    // y = A'·B' with A' = op(A), B' = op(B)
    const da = !needs[0] ? null : transA ? gemm(b, g, null, transB, 1) : gemm(g, b, null, 0, 1 - transB);
    const db = !needs[1] ? null : transB ? gemm(g, a, null, 1, transA) : gemm(a, g, null, 1 - transA, 0);
    const dc = c && needs[2] ? sumToShape(g, c.shape) : null;
    return c ? [da, db, dc] : [da, db];
  },
});

/** ONNX Gemm with alpha = beta = 1: op(a)·op(b) + c */
export function gemm(a: Value, b: Value, c: Value | null, transA = 0, transB = 0): Value {
  return gemmOp(c ? [a, b, c] : [a, b], { transA, transB })[0];
}
