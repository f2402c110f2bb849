/** Pure shape helpers shared by the op rules. They throw plain messages; `applyOp` adds context. */
import { DType, TensorType } from '../graph/ir.js';

/** numpy/ONNX multidirectional broadcasting of two shapes */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function sameDtype(inputs: readonly TensorType[]): DType {
  const d = inputs[0].dtype;
  for (const t of inputs) if (t.dtype !== d) throw new Error(`dtypes differ: ${inputs.map((i) => i.dtype).join(', ')}`);
  return d;
}

export function expectRank(t: TensorType, rank: number, what: string): void {
  if (t.shape.length !== rank) throw new Error(`${what} must have rank ${rank}, got [${t.shape}]`);
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

/** output length of a windowed op (conv/pool) along one axis */
export function windowOut(size: number, k: number, stride: number, padBegin: number, padEnd: number, dilation: number, ceil = false): number {
  const span = size + padBegin + padEnd - dilation * (k - 1) - 1;
  if (span < 0) throw new Error(`window ${k} (dilation ${dilation}) larger than padded input ${size + padBegin + padEnd}`);
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // ONNX/PyTorch: the last window must start inside the input or left padding
  if (ceil && (out - 1) * stride >= size + padBegin) out -= 1;
  return out;
}
