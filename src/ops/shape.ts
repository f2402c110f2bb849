/**
 * Shape ops (Reshape, Transpose, Expand, Concat, Split, Slice, Pad) and reductions
 * (ReduceSum, ReduceMean). Their gradients are the inverse shape op.
 */
import { Value, sizeOf } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { broadcastShapes, normAxis, sameDtype } from './shape-rules.js';
import { mul } from './elementwise.js';
import { scalar } from '../graph/constants.js';

const reshapeOp = defineOp<{ shape: readonly number[] }>({
  type: 'Reshape',
  infer: ([x], { shape }) => {
    if (sizeOf(shape) !== sizeOf(x.shape)) throw new Error(`cannot reshape [${x.shape}] to [${shape}]`);
    return [{ shape, dtype: x.dtype }];
  },
  // a kept leading dimension is written as 0 ("copy"), so graphs exported with a dynamic batch stay valid
  emit: (e, ins, outs, { shape }, node) => e.node('Reshape', [ins[0], e.ints(shape.map((d, i) => (i === 0 && d === node.inputs[0].shape[0] ? 0 : d)))], outs),
  grad: (n, [g], { needs }) => [needs[0] && g ? reshape(g, n.inputs[0].shape) : null],
});

/** Reshape to an explicit shape; one entry may be -1 (inferred). */
export function reshape(x: Value, shape: readonly number[]): Value {
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (resolved.length === x.rank && resolved.every((d, i) => d === x.shape[i])) return x;
  return reshapeOp([x], { shape: resolved })[0];
}

/** torch.flatten(x, startDim) */
export function flatten(x: Value, startDim = 1): Value {
  return reshape(x, [...x.shape.slice(0, startDim), sizeOf(x.shape.slice(startDim))]);
}

const transposeOp = defineOp<{ perm: readonly number[] }>({
  type: 'Transpose',
  infer: ([x], { perm }) => {
    if (perm.length !== x.shape.length || [...perm].sort().some((p, i) => p !== i)) throw new Error(`bad permutation [${perm}]`);
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }];
  },
  emit: (e, ins, outs, { perm }) => e.node('Transpose', ins, outs, { perm }),
  grad: (n, [g], { needs }) => {
    const { perm } = n.attrs;
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [needs[0] && g ? transpose(g, inv) : null];
  },
});

export const transpose = (x: Value, perm: readonly number[]): Value => transposeOp([x], { perm })[0];

const expandOp = defineOp<{ shape: readonly number[] }>({
  type: 'Expand',
  infer: ([x], { shape }) => [{ shape: broadcastShapes(x.shape, shape), dtype: x.dtype }],
  emit: (e, ins, outs, { shape }) => e.node('Expand', [ins[0], e.ints(shape)], outs),
  grad: (n, [g], { needs }) => [needs[0] && g ? sumToShape(g, n.inputs[0].shape) : null],
});

export const expand = (x: Value, shape: readonly number[]): Value => expandOp([x], { shape })[0];

/** Sums a broadcast gradient back to `shape`. */
export function sumToShape(g: Value, shape: readonly number[]): Value {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(axes.length ? reduceSum(g, axes, true) : g, shape);
}

const concatOp = defineOp<{ axis: number }>({
  type: 'Concat',
  infer: (xs, { axis }) => {
    const a = normAxis(axis, xs[0].shape.length);
    const shape = [...xs[0].shape];
    shape[a] = 0;
    for (const x of xs) {
      if (x.shape.length !== shape.length || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) throw new Error(`inputs differ outside axis ${axis}`);
      shape[a] += x.shape[a];
    }
    return [{ shape, dtype: sameDtype(xs) }];
  },
  emit: (e, ins, outs, { axis }) => e.node('Concat', ins, outs, { axis }),
  grad: (n, [g], { needs }) => {
    if (!g) return n.inputs.map(() => null);
    const a = normAxis(n.attrs.axis, g.rank);
    const parts = split(g, a, n.inputs.map((x) => x.shape[a]));
    return parts.map((p, i) => (needs[i] ? p : null));
  },
});

export const concat = (xs: readonly Value[], axis: number): Value => (xs.length === 1 ? xs[0] : concatOp(xs, { axis })[0]);

const splitOp = defineOp<{ axis: number; sizes: readonly number[] }>({
  type: 'Split',
  infer: ([x], { axis, sizes }) => {
    const a = normAxis(axis, x.shape.length);
    if (sizes.reduce((p, s) => p + s, 0) !== x.shape[a]) throw new Error(`split sizes [${sizes}] do not sum to ${x.shape[a]}`);
    return sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === a ? s : d)), dtype: x.dtype }));
  },
  emit: (e, ins, outs, { axis, sizes }) => e.node('Split', [ins[0], e.ints(sizes)], outs, { axis }),
  grad: (n, gs, { needs }) => {
    if (!needs[0] || gs.every((g) => !g)) return [null];
    const parts = gs.map((g, i) => g ?? zerosLike(n.outputs[i]));
    return [concat(parts, n.attrs.axis)];
  },
});

/** torch.split with explicit sizes */
export const split = (x: Value, axis: number, sizes: readonly number[]): Value[] => splitOp([x], { axis, sizes });

function zerosLike(v: Value): Value {
  return expand(scalar(0, v.dtype), v.shape);
}

const sliceOp = defineOp<{ starts: readonly number[]; ends: readonly number[]; axes: readonly number[]; steps: readonly number[] }>({
  type: 'Slice',
  infer: ([x], { starts, ends, axes, steps }) => {
    const shape = [...x.shape];
    axes.forEach((axis, i) => {
      const a = normAxis(axis, x.shape.length);
      if (starts[i] < 0 || ends[i] > x.shape[a] || starts[i] >= ends[i] || steps[i] < 1) throw new Error(`bad slice ${starts[i]}:${ends[i]}:${steps[i]} on axis ${axis} of size ${x.shape[a]}`);
      shape[a] = Math.ceil((ends[i] - starts[i]) / steps[i]);
    });
    return [{ shape, dtype: x.dtype }];
  },
  emit: (e, ins, outs, { starts, ends, axes, steps }) => e.node('Slice', [ins[0], e.ints(starts), e.ints(ends), e.ints(axes), e.ints(steps)], outs),
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const { starts, axes, steps } = n.attrs;
    if (steps.some((s) => s !== 1)) throw new Error('Slice gradient supports step 1 only');
    const pads = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((axis, i) => {
      const a = normAxis(axis, x.rank);
      pads[a] = starts[i];
      pads[a + x.rank] = x.shape[a] - starts[i] - g.shape[a];
    });
    return [pad(g, pads)];
  },
});

/** x[start:end] along each axis (non-negative, in-range bounds; step >= 1) */
export function slice(x: Value, axes: readonly number[], starts: readonly number[], ends: readonly number[], steps?: readonly number[]): Value {
  return sliceOp([x], { starts, ends, axes, steps: steps ?? axes.map(() => 1) })[0];
}

const padOp = defineOp<{ pads: readonly number[]; value: number }>({
  type: 'Pad',
  infer: ([x], { pads }) => {
    if (pads.length !== 2 * x.shape.length || pads.some((p) => p < 0)) throw new Error(`pads [${pads}] must be 2*rank non-negative numbers`);
    return [{ shape: x.shape.map((d, i) => d + pads[i] + pads[i + x.shape.length]), dtype: x.dtype }];
  },
  emit: (e, ins, outs, { pads, value }, node) => e.node('Pad', [ins[0], e.ints(pads), e.scalar(value, node.inputs[0].dtype)], outs, { mode: 'constant' }),
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const { pads } = n.attrs;
    const axes = x.shape.map((_, i) => i).filter((i) => pads[i] || pads[i + x.rank]);
    return [axes.length ? slice(g, axes, axes.map((a) => pads[a]), axes.map((a) => pads[a] + x.shape[a])) : g];
  },
});

/** constant padding; `pads` is ONNX's [begin_0..begin_n, end_0..end_n] */
export const pad = (x: Value, pads: readonly number[], value = 0): Value => padOp([x], { pads, value })[0];

function reduceInfer(x: { shape: readonly number[]; dtype: Value['dtype'] }, axes: readonly number[], keepdims: boolean) {
  const norm = axes.map((a) => normAxis(a, x.shape.length));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  return [{ shape, dtype: x.dtype }];
}

/** gradient of a reduction: reshape to keepdims form, expand to the input */
function unreduce(g: Value, x: Value, axes: readonly number[]): Value {
  const norm = axes.map((a) => normAxis(a, x.rank));
  return expand(reshape(g, x.shape.map((d, i) => (norm.includes(i) ? 1 : d))), x.shape);
}

const reduceSumOp = defineOp<{ axes: readonly number[]; keepdims: boolean }>({
  type: 'ReduceSum',
  infer: ([x], { axes, keepdims }) => reduceInfer(x, axes, keepdims),
  emit: (e, ins, outs, { axes, keepdims }) => e.node('ReduceSum', [ins[0], e.ints(axes)], outs, { keepdims: keepdims ? 1 : 0 }),
  grad: (n, [g], { needs }) => [needs[0] && g ? unreduce(g, n.inputs[0], n.attrs.axes) : null],
});

const reduceMeanOp = defineOp<{ axes: readonly number[]; keepdims: boolean }>({
  type: 'ReduceMean',
  infer: ([x], { axes, keepdims }) => reduceInfer(x, axes, keepdims),
  emit: (e, ins, outs, { axes, keepdims }) => e.node('ReduceMean', [ins[0]], outs, { axes, keepdims: keepdims ? 1 : 0 }),
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const count = n.attrs.axes.reduce((p, a) => p * x.shape[normAxis(a, x.rank)], 1);
    return [unreduce(mul(g, 1 / count), x, n.attrs.axes)];
  },
});

export const reduceSum = (x: Value, axes: readonly number[], keepdims = false): Value => reduceSumOp([x], { axes, keepdims })[0];
export const reduceMean = (x: Value, axes: readonly number[], keepdims = false): Value => reduceMeanOp([x], { axes, keepdims })[0];
