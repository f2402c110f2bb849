/**
 * Host-side tensors for `importOnnx`: what the IR's static shapes let the importer fold while
 * tracing. Shape arithmetic in exported graphs (Shape → Gather → Unsqueeze → Concat → Reshape,
 * ConstantOfShape, Range, Equal/Where on constants, Constant nodes) is evaluated here on plain
 * numbers, from the traced input's actual shape, so the batch size is whatever the trace uses.
 * int64 values are held as JS numbers (exact below 2^53; larger ones, such as INT64_MAX slice
 * ends, only ever act as "to the end").
 */
import { DType, HostTensor, Value, sizeOf } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { broadcastShapes, isFloat, normAxis } from '../ops/shape-rules.js';

/** A tensor known while tracing. */
export interface HostArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

/** What an ONNX value is while tracing: a graph value, or a host array folded at trace time. */
export type Operand = Value | HostArray;

export const isHost = (o: Operand): o is HostArray => !(o instanceof Value);

/** A host array from a decoded initializer or attribute tensor. */
export function hostArray(t: HostTensor): HostArray {
  const values: number[] = new Array<number>(t.data.length);
  const d = t.data;
  if (d instanceof BigInt64Array) for (let i = 0; i < d.length; i++) values[i] = Number(d[i]);
  else for (let i = 0; i < d.length; i++) values[i] = d[i];
  return { dtype: t.dtype, shape: [...t.shape], values };
}

/** The int64 [rank] array of a shape (ONNX Shape). */
export const shapeArray = (shape: readonly number[]): HostArray => ({ dtype: 'int64', shape: [shape.length], values: [...shape] });

/** A graph constant holding `h`; float arrays take `floatType` (the traced model's precision). */
export function hostConstant(h: HostArray, floatType: DType): Value {
  return constant(hostTensor(isFloat(h.dtype) ? floatType : h.dtype, h.shape, h.values));
}

/** Converts values to `dtype` as ONNX Cast does (floats truncate toward zero into integers). */
export function castHost(h: HostArray, dtype: DType): HostArray {
  const conv = isFloat(dtype) ? (v: number) => v : dtype === 'bool' ? (v: number) => (v ? 1 : 0) : (v: number) => Math.trunc(v);
  return { dtype, shape: h.shape, values: h.values.map(conv) };
}

/** Elementwise `fn` over broadcast operands; the result has `dtype` (default: a's). */
export function broadcastHost(a: HostArray, b: HostArray, fn: (x: number, y: number) => number, dtype: DType = a.dtype): HostArray {
  const shape = broadcastShapes(a.shape, b.shape);
  const ia = indexer(a.shape, shape);
  const ib = indexer(b.shape, shape);
  const n = sizeOf(shape);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = fn(a.values[ia(i)], b.values[ib(i)]);
  return { dtype, shape, values };
}

/** flat index into a tensor of `from` shape for flat index `i` of the broadcast `to` shape */
function indexer(from: readonly number[], to: readonly number[]): (i: number) => number {
  if (sizeOf(from) === sizeOf(to)) return (i) => i;
  const lead = to.length - from.length;
  const strides: number[] = new Array<number>(to.length).fill(0);
  let s = 1;
  for (let k = from.length - 1; k >= 0; k--) {
    strides[k + lead] = from[k] === 1 ? 0 : s;
    s *= from[k];
  }
  return (i) => {
    let off = 0;
    for (let k = to.length - 1; k >= 0; k--) {
      off += (i % to[k]) * strides[k];
      i = Math.floor(i / to[k]);
    }
    return off;
  };
}

/** `cond ? a : b` elementwise, broadcasting all three */
export function whereHost(cond: HostArray, a: HostArray, b: HostArray): HostArray {
  const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape));
  const [ic, ia, ib] = [cond, a, b].map((h) => indexer(h.shape, shape));
  const values = Array.from({ length: sizeOf(shape) }, (_, i) => (cond.values[ic(i)] ? a.values[ia(i)] : b.values[ib(i)]));
  return { dtype: a.dtype, shape, values };
}

/** ONNX Gather along `axis` (negative indices count from the end) */
export function gatherHost(data: HostArray, indices: HostArray, axis: number): HostArray {
  const a = normAxis(axis, data.shape.length);
  const outer = sizeOf(data.shape.slice(0, a));
  const inner = sizeOf(data.shape.slice(a + 1));
  const dim = data.shape[a];
  const values: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const raw of indices.values) {
      const k = raw < 0 ? raw + dim : raw;
      if (k < 0 || k >= dim) throw new Error(`Gather index ${raw} is out of range for an axis of size ${dim}`);
      const base = (o * dim + k) * inner;
      for (let j = 0; j < inner; j++) values.push(data.values[base + j]);
    }
  }
  return { dtype: data.dtype, shape: [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)], values };
}

/** concatenation along `axis` */
export function concatHost(parts: readonly HostArray[], axis: number): HostArray {
  const rank = parts[0].shape.length;
  const a = normAxis(axis, rank);
  const outer = sizeOf(parts[0].shape.slice(0, a));
  const values: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const chunk = sizeOf(p.shape.slice(a));
      for (let j = 0; j < chunk; j++) values.push(p.values[o * chunk + j]);
    }
  }
  const shape = [...parts[0].shape];
  shape[a] = parts.reduce((s, p) => s + p.shape[a], 0);
  return { dtype: parts[0].dtype, shape, values };
}

/** A slice resolved against a shape: per axis, start and step (step may be negative) and the length. */
export interface ResolvedSlice {
  readonly axes: number[];
  readonly starts: number[];
  readonly steps: number[];
  readonly lengths: number[];
}

/** ONNX Slice bounds (negative counts from the end; out-of-range bounds clamp) resolved against `shape` */
export function resolveSlice(shape: readonly number[], starts: readonly number[], ends: readonly number[], axes: readonly number[] | null, steps: readonly number[] | null): ResolvedSlice {
  const r: ResolvedSlice = { axes: [], starts: [], steps: [], lengths: [] };
  starts.forEach((s, i) => {
    const a = normAxis(axes ? axes[i] : i, shape.length);
    const step = steps ? steps[i] : 1;
    if (step === 0) throw new Error('Slice step must not be 0');
    const dim = shape[a];
    const norm = (v: number) => (v < 0 ? v + dim : v);
    let start: number;
    let end: number;
    if (step > 0) {
      start = Math.min(Math.max(norm(s), 0), dim);
      end = Math.min(Math.max(norm(ends[i]), 0), dim);
    } else {
      start = Math.min(Math.max(norm(s), -1), dim - 1);
      end = Math.min(Math.max(norm(ends[i]), -1), dim - 1);
    }
    const length = Math.max(0, Math.ceil((end - start) / step));
    r.axes.push(a);
    r.starts.push(start);
    r.steps.push(step);
    r.lengths.push(length);
  });
  return r;
}

/** a resolved slice of a host array */
export function sliceHost(h: HostArray, s: ResolvedSlice): HostArray {
  const shape = [...h.shape];
  s.axes.forEach((a, i) => (shape[a] = s.lengths[i]));
  const n = sizeOf(shape);
  const inStrides = stridesOf(h.shape);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let k = shape.length - 1; k >= 0; k--) {
      let idx = rem % shape[k];
      rem = Math.floor(rem / shape[k]);
      const j = s.axes.indexOf(k);
      if (j >= 0) idx = s.starts[j] + idx * s.steps[j];
      off += idx * inStrides[k];
    }
    values[i] = h.values[off];
  }
  return { dtype: h.dtype, shape, values };
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let k = shape.length - 2; k >= 0; k--) strides[k] = strides[k + 1] * shape[k + 1];
  return strides;
}

/** ONNX Reshape's target: 0 copies the input's dimension (unless `allowZero`), one -1 is inferred */
export function reshapeTarget(inShape: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const shape = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const total = sizeOf(inShape);
  const out = shape.map((d) => (d === -1 ? total / known : d));
  if (sizeOf(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`cannot reshape [${inShape}] to [${target}]`);
  return out;
}

/** axes (negative allowed) of the result where Unsqueeze inserts size-1 dimensions */
export function unsqueezeShape(shape: readonly number[], axes: readonly number[]): number[] {
  const rank = shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : shape[k++]);
  return out;
}

/** the shape Squeeze leaves: listed axes (all size-1 axes when none are listed) removed */
export function squeezeShape(shape: readonly number[], axes: readonly number[] | null): number[] {
  const norm = axes ? axes.map((a) => normAxis(a, shape.length)) : shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  for (const a of norm) if (shape[a] !== 1) throw new Error(`cannot squeeze axis ${a} of size ${shape[a]}`);
  return shape.filter((_, i) => !norm.includes(i));
}

/** Transpose of a host array */
export function transposeHost(h: HostArray, perm: readonly number[]): HostArray {
  const shape = perm.map((p) => h.shape[p]);
  const inStrides = stridesOf(h.shape);
  const n = sizeOf(shape);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let k = shape.length - 1; k >= 0; k--) {
      off += (rem % shape[k]) * inStrides[perm[k]];
      rem = Math.floor(rem / shape[k]);
    }
    values[i] = h.values[off];
  }
  return { dtype: h.dtype, shape, values };
}
