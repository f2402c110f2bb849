/**
 * Softmax and LogSoftmax over one axis (ONNX opset-13 semantics: the axis alone is normalized).
 */
import { TensorType, Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { isFloat, normAxis } from './shape-rules.js';
import { exp, mul, sub } from './elementwise.js';
import { reduceSum } from './shape.js';

function softmaxInfer([x]: readonly TensorType[], { axis }: { axis: number }): TensorType[] {
  if (!isFloat(x.dtype)) throw new Error(`needs a float input, got ${x.dtype}`);
  normAxis(axis, x.shape.length);
  return [{ shape: x.shape, dtype: x.dtype }];
}

const softmaxOp = defineOp<{ axis: number }>({
  type: 'Softmax',
  infer: softmaxInfer,
  emit: (e, ins, outs, { axis }) => e.node('Softmax', ins, outs, { axis }),
  // dX = Y·(dY − Σ Y·dY)
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const y = n.outputs[0];
    const gy = mul(g, y);
    return [sub(gy, mul(y, reduceSum(gy, [n.attrs.axis], true)))];
  },
});

const logSoftmaxOp = defineOp<{ axis: number }>({
  type: 'LogSoftmax',
  infer: softmaxInfer,
  emit: (e, ins, outs, { axis }) => e.node('LogSoftmax', ins, outs, { axis }),
  // dX = dY − exp(Y)·Σ dY
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    return [sub(g, mul(exp(n.outputs[0]), reduceSum(g, [n.attrs.axis], true)))];
  },
});

/** softmax along `axis` (default: the last) */
export const softmax = (x: Value, axis = -1): Value => softmaxOp([x], { axis })[0];

/** log(softmax(x)) along `axis` (default: the last), computed stably */
export const logSoftmax = (x: Value, axis = -1): Value => logSoftmaxOp([x], { axis })[0];
