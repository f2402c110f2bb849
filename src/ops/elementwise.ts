/**
 * Elementwise arithmetic with ONNX broadcasting, unary math, comparisons and Where.
 * Broadcast gradients are summed back to each input's shape (`sumTo`).
 */
import { DType, Node, TensorType, Value } from '../graph/ir.js';
import { scalar } from '../graph/constants.js';
import { Emitter, defineOp } from './registry.js';
import { broadcastShapes, isFloat, sameDtype } from './shape-rules.js';
import { sumToShape as sumTo } from './shape.js';

type Operand = Value | number;

function binaryInfer(inputs: readonly TensorType[]): TensorType[] {
  return [{ shape: broadcastShapes(inputs[0].shape, inputs[1].shape), dtype: sameDtype(inputs) }];
}

function unaryInfer(inputs: readonly TensorType[]): TensorType[] {
  if (!isFloat(inputs[0].dtype)) throw new Error(`needs a float input, got ${inputs[0].dtype}`);
  return [{ shape: inputs[0].shape, dtype: inputs[0].dtype }];
}

function operands(a: Operand, b: Operand): [Value, Value] {
  const dtype: DType = a instanceof Value ? a.dtype : b instanceof Value ? b.dtype : 'float32';
  return [a instanceof Value ? a : scalar(a, dtype), b instanceof Value ? b : scalar(b, dtype)];
}

const simple = (onnx: string) => (e: Emitter, ins: readonly string[], outs: readonly string[]) => e.node(onnx, ins, outs);

const addOp = defineOp({
  type: 'Add',
  infer: binaryInfer,
  emit: simple('Add'),
  grad: (n, [g], { needs }) => [needs[0] && g ? sumTo(g, n.inputs[0].shape) : null, needs[1] && g ? sumTo(g, n.inputs[1].shape) : null],
});

const subOp = defineOp({
  type: 'Sub',
  infer: binaryInfer,
  emit: simple('Sub'),
  grad: (n, [g], { needs }) => [needs[0] && g ? sumTo(g, n.inputs[0].shape) : null, needs[1] && g ? sumTo(neg(g), n.inputs[1].shape) : null],
});

const mulOp = defineOp({
  type: 'Mul',
  infer: binaryInfer,
  emit: simple('Mul'),
  grad: (n, [g], { needs }) => {
    const [a, b] = n.inputs;
    return [needs[0] && g ? sumTo(mul(g, b), a.shape) : null, needs[1] && g ? sumTo(mul(g, a), b.shape) : null];
  },
});

const divOp = defineOp({
  type: 'Div',
  infer: binaryInfer,
  emit: simple('Div'),
  grad: (n, [g], { needs }) => {
    const [a, b] = n.inputs;
    const y = n.outputs[0];
    return [needs[0] && g ? sumTo(div(g, b), a.shape) : null, needs[1] && g ? sumTo(neg(div(mul(g, y), b)), b.shape) : null];
  },
});

export const add = (a: Operand, b: Operand): Value => addOp(operands(a, b), {})[0];
export const sub = (a: Operand, b: Operand): Value => subOp(operands(a, b), {})[0];
export const mul = (a: Operand, b: Operand): Value => mulOp(operands(a, b), {})[0];
export const div = (a: Operand, b: Operand): Value => divOp(operands(a, b), {})[0];

/**
 * Erf as ONNX nodes. ORT's CPU provider has no double Erf kernel, so float64 graphs evaluate this
 * one function in float32 (relative error about 6e-8, far inside any parity tolerance).
 */
export function emitErf(e: Emitter, x: string, y: string, dtype: DType): void {
  if (dtype !== 'float64') return e.node('Erf', [x], [y]);
  const [x32, y32] = [e.tmp('erf_in'), e.tmp('erf_out')];
  e.node('Cast', [x], [x32], { to: 1 });
  e.node('Erf', [x32], [y32]);
  e.node('Cast', [y32], [y], { to: 11 });
}

function unary(type: string, grad: (n: Node, g: Value) => Value, emit: (e: Emitter, ins: readonly string[], outs: readonly string[], node: Node) => void = simple(type)) {
  const op = defineOp({
    type,
    infer: unaryInfer,
    emit: (e, ins, outs, _a, node) => emit(e, ins, outs, node),
    grad: (n, [g], { needs }) => [needs[0] && g ? grad(n, g) : null],
  });
  return (x: Value): Value => op([x], {})[0];
}

export const neg = unary('Neg', (_n, g) => neg(g));
export const exp = unary('Exp', (n, g) => mul(g, n.outputs[0]));
export const log = unary('Log', (n, g) => div(g, n.inputs[0]));
export const sqrt = unary('Sqrt', (n, g) => div(mul(g, 0.5), n.outputs[0]));
export const reciprocal = unary('Reciprocal', (n, g) => neg(mul(g, mul(n.outputs[0], n.outputs[0]))));
export const tanh = unary('Tanh', (n, g) => mul(g, sub(1, mul(n.outputs[0], n.outputs[0]))));
export const sigmoid = unary('Sigmoid', (n, g) => {
  const y = n.outputs[0];
  return mul(g, mul(y, sub(1, y)));
});
export const erf = unary(
  'Erf',
  (n, g) => {
    const x = n.inputs[0];
    return mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)));
  },
  (e, ins, outs, node) => emitErf(e, ins[0], outs[0], node.inputs[0].dtype),
);
export const abs = unary('Abs', (n, g) => mul(g, sign(n.inputs[0])));

const signOp = defineOp({
  type: 'Sign',
  infer: unaryInfer,
  emit: simple('Sign'),
  grad: () => [null],
});
export const sign = (x: Value): Value => signOp([x], {})[0];

function compare(type: string) {
  const op = defineOp({
    type,
    infer: (inputs) => [{ shape: broadcastShapes(inputs[0].shape, inputs[1].shape), dtype: (sameDtype(inputs), 'bool') }],
    emit: simple(type),
    grad: () => [null, null],
  });
  return (a: Operand, b: Operand): Value => op(operands(a, b), {})[0];
}

export const greater = compare('Greater');
export const less = compare('Less');
export const equal = compare('Equal');

const whereOp = defineOp({
  type: 'Where',
  infer: ([c, a, b]) => {
    if (c.dtype !== 'bool') throw new Error(`condition must be bool, got ${c.dtype}`);
    return [{ shape: broadcastShapes(c.shape, broadcastShapes(a.shape, b.shape)), dtype: sameDtype([a, b]) }];
  },
  emit: simple('Where'),
  grad: (n, [g], { needs }) => {
    const [c, a, b] = n.inputs;
    if (!g) return [null, null, null];
    return [
      null,
      needs[1] ? sumTo(where(c, g, 0), a.shape) : null,
      needs[2] ? sumTo(where(c, 0, g), b.shape) : null,
    ];
  },
});

/** elementwise `cond ? a : b` */
export function where(cond: Value, a: Operand, b: Operand): Value {
  const [va, vb] = operands(a, b);
  return whereOp([cond, va, vb], {})[0];
}

const castOp = defineOp<{ to: DType }>({
  type: 'Cast',
  infer: ([x], { to }) => [{ shape: x.shape, dtype: to }],
  emit: (e, ins, outs, { to }) => e.node('Cast', ins, outs, { to: onnxDtypeCode(to) }),
  grad: (n, [g], { needs }) => [needs[0] && g && isFloat(n.inputs[0].dtype) && isFloat(g.dtype) ? cast(g, n.inputs[0].dtype) : null],
});

export const cast = (x: Value, to: DType): Value => (x.dtype === to ? x : castOp([x], { to })[0]);

/** ONNX TensorProto.DataType code */
export function onnxDtypeCode(d: DType): number {
  switch (d) {
    case 'float32':
      return 1;
    case 'uint8':
      return 2;
    case 'int32':
      return 6;
    case 'int64':
      return 7;
    case 'bool':
      return 9;
    case 'float64':
      return 11;
  }
}
