/**
 * MaxPool, AveragePool and GlobalAveragePool (2-D, NCHW). MaxPool's gradient scatters dY
 * through the Indices output (a MaxUnpool where the windows are disjoint); AveragePool's is a
 * ConvTranspose with a constant 1/area kernel.
 */
import { Value, sizeOf } from '../graph/ir.js';
import { constant, hostTensor, scalar } from '../graph/constants.js';
import { defineOp } from './registry.js';
import { expectRank, windowOut } from './shape-rules.js';
import { concat, expand, reduceMean, reshape, slice } from './shape.js';
import { div, mul, onnxDtypeCode } from './elementwise.js';
import { convTranspose } from './conv.js';
import { emitConvF64 } from './conv-im2col.js';

export interface PoolAttrs {
  readonly [k: string]: readonly number[] | number | boolean;
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  /** [top, left, bottom, right] */
  readonly pads: readonly number[];
  readonly ceil: boolean;
}

export interface AvgPoolAttrs extends PoolAttrs {
  readonly countIncludePad: boolean;
}

function poolShape(x: readonly number[], a: PoolAttrs): number[] {
  if (a.pads[0] * 2 > a.kernel[0] || a.pads[1] * 2 > a.kernel[1]) throw new Error(`padding [${a.pads}] must be at most half the kernel [${a.kernel}]`);
  return [x[0], x[1], windowOut(x[2], a.kernel[0], a.strides[0], a.pads[0], a.pads[2], 1, a.ceil), windowOut(x[3], a.kernel[1], a.strides[1], a.pads[1], a.pads[3], 1, a.ceil)];
}

const onnxPool = (a: PoolAttrs) => ({ kernel_shape: [...a.kernel], strides: [...a.strides], pads: [...a.pads], ceil_mode: a.ceil ? 1 : 0 });

const maxPoolOp = defineOp<PoolAttrs>({
  type: 'MaxPool',
  infer: ([x], a) => {
    expectRank(x, 4, 'input');
    const shape = poolShape(x.shape, a);
    return [
      { shape, dtype: x.dtype },
      { shape, dtype: 'int64' },
    ];
  },
  emit: (e, ins, outs, a, _n, live) => e.node('MaxPool', ins, live[1] ? outs : [outs[0]], onnxPool(a)),
  // dY goes to each window's argmax; where windows cannot overlap no index repeats, and ORT's
  // MaxUnpool (float32) places dY without ScatterElements' zero-filled copy to add into
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const a = n.attrs;
    const disjoint = a.kernel.every((k, i) => k === a.strides[i]) && a.pads.every((p) => p === 0) && !a.ceil;
    if (disjoint && g.dtype === 'float32') return [maxUnpool(g, n.outputs[1], x.shape, a.kernel)];
    const flat = scatterAdd(sizeOf(x.shape), reshape(n.outputs[1], [g.size]), reshape(g, [g.size]));
    return [reshape(flat, x.shape)];
  },
});

const maxUnpoolOp = defineOp<{ shape: readonly number[]; kernel: readonly number[] }>({
  type: 'MaxUnpool',
  infer: ([v, idx], { shape, kernel }) => {
    expectRank(v, 4, 'values');
    if (v.dtype !== 'float32') throw new Error(`values must be float32 (ORT's MaxUnpool), got ${v.dtype}`);
    if (idx.dtype !== 'int64' || idx.shape.join() !== v.shape.join()) throw new Error(`indices must be int64 [${v.shape}]`);
    if (shape.length !== 4 || shape[0] !== v.shape[0] || shape[1] !== v.shape[1] || [0, 1].some((i) => v.shape[2 + i] * kernel[i] > shape[2 + i])) {
      throw new Error(`output shape [${shape}] cannot hold [${v.shape}] unpooled by [${kernel}]`);
    }
    return [{ shape: [...shape], dtype: v.dtype }];
  },
  emit: (e, [v, idx], outs, { shape, kernel }) => e.node('MaxUnpool', [v, idx, e.ints([...shape])], outs, { kernel_shape: [...kernel], strides: [...kernel] }),
  grad: (n, [g], { needs }) => {
    const [v, idx] = n.inputs;
    return [needs[0] && g ? reshape(gatherElements(reshape(g, [g.size]), reshape(idx, [idx.size])), v.shape) : null, null];
  },
});

/**
 * zeros of `shape` (NCHW) with `values` placed at the flat `indices` a MaxPool with disjoint
 * `kernel`-sized windows returned (ONNX MaxUnpool with its output_shape input; float32): no index
 * may repeat
 */
export const maxUnpool = (values: Value, indices: Value, shape: readonly number[], kernel: readonly number[]): Value => maxUnpoolOp([values, indices], { shape, kernel })[0];

const scatterAddOp = defineOp<{ size: number }>({
  type: 'ScatterAdd',
  infer: ([idx, upd], { size }) => {
    if (idx.dtype !== 'int64' || idx.shape.length !== 1 || upd.shape.length !== 1 || idx.shape[0] !== upd.shape[0]) throw new Error('needs int64 indices [n] and updates [n]');
    return [{ shape: [size], dtype: upd.dtype }];
  },
  emit: (e, [idx, upd], outs, { size }, node) => {
    const zeros = e.tmp('zeros');
    e.node('Expand', [e.scalar(0, node.inputs[1].dtype), e.ints([size])], [zeros]);
    e.node('ScatterElements', [zeros, idx, upd], outs, { axis: 0, reduction: 'add' });
  },
  grad: (n, [g], { needs }) => [null, needs[1] && g ? gatherElements(g, n.inputs[0]) : null],
});

/** zeros[size] with `updates` added at `indices` (1-D ScatterElements, reduction add) */
export const scatterAdd = (size: number, indices: Value, updates: Value): Value => scatterAddOp([indices, updates], { size })[0];

const gatherElementsOp = defineOp({
  type: 'GatherElements',
  infer: ([x, idx]) => {
    if (idx.dtype !== 'int64') throw new Error('indices must be int64');
    return [{ shape: idx.shape, dtype: x.dtype }];
  },
  emit: (e, ins, outs) => e.node('GatherElements', ins, outs, { axis: 0 }),
  grad: (n, [g], { needs }) => [needs[0] && g ? scatterAdd(n.inputs[0].size, n.inputs[1], g) : null, null],
});

/** 1-D gather: x[indices] */
export const gatherElements = (x: Value, indices: Value): Value => gatherElementsOp([x, indices], {})[0];

/** per-output-position divisor of an average pool, as PyTorch computes it */
function poolDivisors(x: readonly number[], out: readonly number[], a: AvgPoolAttrs): number[] {
  const counts: number[] = [];
  const axis = (i: number, o: number) => {
    const start = o * a.strides[i] - a.pads[i];
    const end = Math.min(start + a.kernel[i], x[2 + i] + a.pads[i + 2]);
    return a.countIncludePad ? end - start : Math.min(end, x[2 + i]) - Math.max(start, 0);
  };
  for (let oh = 0; oh < out[2]; oh++) for (let ow = 0; ow < out[3]; ow++) counts.push(axis(0, oh) * axis(1, ow));
  return counts;
}

const avgPoolOp = defineOp<AvgPoolAttrs>({
  type: 'AveragePool',
  infer: ([x], a) => {
    expectRank(x, 4, 'input');
    return [{ shape: poolShape(x.shape, a), dtype: x.dtype }];
  },
  emit: (e, ins, outs, a, node) => {
    const x = node.inputs[0];
    const y = node.outputs[0];
    if (x.dtype !== 'float64') return e.node('AveragePool', ins, outs, { ...onnxPool(a), count_include_pad: a.countIncludePad ? 1 : 0 });
    // ORT's AveragePool is float32-only: a depthwise convolution with a constant kernel. Where the
    // divisors are not all the kernel area (count_include_pad=false with padding, ceil mode), the
    // kernel sums and a Div applies PyTorch's divisors; ceil mode's last window, which overhangs the
    // padded input, gets extra zero padding at the end.
    const c = x.shape[1];
    const area = a.kernel[0] * a.kernel[1];
    const divisors = poolDivisors(x.shape, y.shape, a);
    const uniformArea = divisors.every((d) => d === area);
    const over = [0, 1].map((i) => Math.max(0, a.strides[i] * (y.shape[2 + i] - 1) + a.kernel[i] - (x.shape[2 + i] + a.pads[i] + a.pads[i + 2])));
    const pads = [a.pads[0], a.pads[1], a.pads[2] + over[0], a.pads[3] + over[1]];
    const k = e.tmp('avgk');
    e.node('Expand', [e.scalar(uniformArea ? 1 / area : 1, 'float64'), e.ints([c, 1, a.kernel[0], a.kernel[1]])], [k]);
    const sum = uniformArea ? outs[0] : e.tmp('avgsum');
    emitConvF64(e, ins[0], k, undefined, sum, { x: x.shape, w: [c, 1, ...a.kernel], strides: a.strides, pads, dilations: [1, 1], group: c });
    if (uniformArea) return;
    const [d, d4] = [e.tmp('avgdiv'), e.tmp('avgdiv')];
    e.node('Cast', [e.ints(divisors)], [d], { to: onnxDtypeCode('float64') });
    e.node('Reshape', [d, e.ints([1, 1, y.shape[2], y.shape[3]])], [d4]);
    e.node('Div', [sum, d4], outs);
  },
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const a = n.attrs;
    const c = x.shape[1];
    const divisors = constant(hostTensor(g.dtype, [1, 1, g.shape[2], g.shape[3]], poolDivisors(x.shape, g.shape, a)));
    const ones = constant(hostTensor(g.dtype, [c, 1, ...a.kernel], new Array<number>(c * a.kernel[0] * a.kernel[1]).fill(1)));
    // in ceil mode the last window can overhang the padded input: crop that overhang as extra end
    // padding of the ConvTranspose instead of a (negative, invalid) output_padding
    const pads = [...a.pads];
    const outputPadding = [0, 1].map((i) => {
      const op = x.shape[2 + i] - (a.strides[i] * (g.shape[2 + i] - 1) + a.kernel[i] - a.pads[i] - a.pads[i + 2]);
      if (op < 0) pads[i + 2] -= op;
      return Math.max(op, 0);
    });
    return [convTranspose(div(g, divisors), ones, null, { strides: a.strides, pads, dilations: [1, 1], group: c, outputPadding })];
  },
});

const globalAvgPoolOp = defineOp({
  type: 'GlobalAveragePool',
  infer: ([x]) => {
    if (x.shape.length < 3) throw new Error('input must be [N, C, ...spatial]');
    return [{ shape: x.shape.map((d, i) => (i < 2 ? d : 1)), dtype: x.dtype }];
  },
  emit: (e, ins, outs, _a, node) => {
    const x = node.inputs[0];
    if (x.dtype === 'float64') e.node('ReduceMean', ins, outs, { axes: x.shape.slice(2).map((_, i) => i + 2), keepdims: 1 });
    else e.node('GlobalAveragePool', ins, outs);
  },
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    return [expand(mul(g, scalar(1 / sizeOf(x.shape.slice(2)), g.dtype)), x.shape)];
  },
});

export interface Pool2dOptions {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  ceilMode?: boolean;
}

const pair = (v: number | readonly number[] | undefined, d: readonly number[]): number[] => (v === undefined ? [...d] : typeof v === 'number' ? [v, v] : [...v]);

function poolAttrs(kernel: number | readonly number[], o: Pool2dOptions): PoolAttrs {
  const k = pair(kernel, []);
  const p = pair(o.padding, [0, 0]);
  return { kernel: k, strides: pair(o.stride, k), pads: [p[0], p[1], p[0], p[1]], ceil: o.ceilMode ?? false };
}

/** torch.nn.functional.max_pool2d (stride defaults to the kernel) */
export function maxPool2d(x: Value, kernel: number | readonly number[], opts: Pool2dOptions = {}): Value {
  return maxPoolOp([x], poolAttrs(kernel, opts))[0];
}

/** torch.nn.functional.avg_pool2d (stride defaults to the kernel; count_include_pad defaults to true) */
export function avgPool2d(x: Value, kernel: number | readonly number[], opts: Pool2dOptions & { countIncludePad?: boolean } = {}): Value {
  return avgPoolOp([x], { ...poolAttrs(kernel, opts), countIncludePad: opts.countIncludePad ?? true })[0];
}

/** mean over all spatial positions, keeping them as size-1 dims */
export const globalAvgPool = (x: Value): Value => globalAvgPoolOp([x], {})[0];

/**
 * torch.nn.functional.adaptive_avg_pool2d for any output size: one AveragePool where the output
 * divides the input, otherwise each output cell averages PyTorch's bin
 * [floor(i·n/out), ceil((i+1)·n/out)), separably (rows, then columns) with Slice, ReduceMean and
 * Concat — so an input smaller than the output (1×1 → 6×6) replicates as in PyTorch.
 */
export function adaptiveAvgPool2d(x: Value, size: number | readonly number[]): Value {
  const [oh, ow] = pair(size, []);
  if (oh === 1 && ow === 1) return globalAvgPool(x);
  const [h, w] = [x.shape[2], x.shape[3]];
  if (h === oh && w === ow) return x;
  if (h % oh === 0 && w % ow === 0) return avgPool2d(x, [h / oh, w / ow]);
  return adaptiveAxis(adaptiveAxis(x, 2, oh), 3, ow);
}

/** averages PyTorch's adaptive bins along one spatial axis */
function adaptiveAxis(x: Value, axis: number, out: number): Value {
  const n = x.shape[axis];
  if (n === out) return x;
  const parts: Value[] = [];
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * n) / out);
    const end = Math.ceil(((i + 1) * n) / out);
    const s = slice(x, [axis], [start], [end]);
    parts.push(end - start === 1 ? s : reduceMean(s, [axis], true));
  }
  return concat(parts, axis);
}
