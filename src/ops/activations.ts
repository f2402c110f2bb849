/**
 * Activations: ReLU, Clip/ReLU6, LeakyReLU, HardSigmoid and HardSwish as their ONNX ops, GELU
 * (exact erf form, emitted as Erf arithmetic since opset 17 has no Gelu) and SiLU (a composite of
 * Sigmoid and Mul). Tanh and Sigmoid live in elementwise.ts. Gradients at the kinks follow
 * PyTorch's backward kernels.
 */
import { DType, TensorType, Value } from '../graph/ir.js';
import { Emitter, defineOp } from './registry.js';
import { isFloat } from './shape-rules.js';
import { add, cast, emitErf, erf, exp, greater, less, mul, sigmoid, where } from './elementwise.js';

function floatInfer([x]: readonly TensorType[]): TensorType[] {
  if (!isFloat(x.dtype)) throw new Error(`needs a float input, got ${x.dtype}`);
  return [{ shape: x.shape, dtype: x.dtype }];
}

const reluOp = defineOp({
  type: 'Relu',
  infer: floatInfer,
  emit: (e, ins, outs) => e.node('Relu', ins, outs),
  // from the output, so the forward Relu stays fusable into a preceding Conv; dY times the 0/1
  // mask, because ORT's Where took about 4x as long as Greater + Cast + Mul on a training step's maps
  grad: (n, [g], { needs }) => [needs[0] && g ? mul(g, cast(greater(n.outputs[0], 0), g.dtype)) : null],
});

/** max(x, 0) */
export const relu = (x: Value): Value => reluOp([x], {})[0];

const clipOp = defineOp<{ min: number; max: number }>({
  type: 'Clip',
  infer: ([x], { min, max }) => {
    if (!(min < max)) throw new Error(`min ${min} must be below max ${max}`);
    return floatInfer([x]);
  },
  emit: (e, ins, outs, { min, max }, node) => {
    const dtype = node.inputs[0].dtype;
    e.node('Clip', [ins[0], e.scalar(min, dtype), e.scalar(max, dtype)], outs);
  },
  // PyTorch's hardtanh_backward: the gradient passes where min < x < max
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const { min, max } = n.attrs;
    let gx = g;
    if (Number.isFinite(max)) gx = where(less(x, max), gx, 0);
    if (Number.isFinite(min)) gx = where(greater(x, min), gx, 0);
    return [gx];
  },
});

/** min(max(x, min), max); either bound may be infinite */
export const clip = (x: Value, min: number, max: number): Value => clipOp([x], { min, max })[0];

/** min(max(x, 0), 6) */
export const relu6 = (x: Value): Value => clip(x, 0, 6);

const leakyReluOp = defineOp<{ alpha: number }>({
  type: 'LeakyRelu',
  infer: floatInfer,
  emit: (e, ins, outs, { alpha }) => e.node('LeakyRelu', ins, outs, { alpha: { float: alpha } }),
  grad: (n, [g], { needs }) => [needs[0] && g ? where(greater(n.inputs[0], 0), g, mul(g, n.attrs.alpha)) : null],
});

/** x for x > 0, slope·x otherwise (torch default slope 0.01) */
export const leakyRelu = (x: Value, slope = 0.01): Value => leakyReluOp([x], { alpha: slope })[0];

/** x·sigmoid(x), composed from Sigmoid and Mul (ONNX has no SiLU before opset 22's Swish) */
export const silu = (x: Value): Value => mul(x, sigmoid(x));

const geluOp = defineOp({
  type: 'Gelu',
  infer: floatInfer,
  // 0.5·x·(1 + erf(x/√2)), in the order ORT's Gelu fusion matches
  emit: (e, ins, outs, _attrs, node) => {
    const dtype = node.inputs[0].dtype;
    const [d, f, a, m] = [e.tmp('gelu_div'), e.tmp('gelu_erf'), e.tmp('gelu_add'), e.tmp('gelu_mul')];
    e.node('Div', [ins[0], e.scalar(Math.SQRT2, dtype)], [d]);
    emitErf(e, d, f, dtype);
    e.node('Add', [f, e.scalar(1, dtype)], [a]);
    e.node('Mul', [ins[0], a], [m]);
    e.node('Mul', [m, e.scalar(0.5, dtype)], outs);
  },
  // g·(Φ(x) + x·φ(x))
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return [mul(g, add(cdf, mul(x, pdf)))];
  },
});

/** exact (erf) GELU, torch.nn.functional.gelu's default */
export const gelu = (x: Value): Value => geluOp([x], {})[0];

/**
 * relu6(x + 3) / 6 as ONNX HardSigmoid (alpha 1/6, beta 1/2); ORT's HardSigmoid/HardSwish
 * kernels are float32-only: in double, clip(x/6 + 1/2, 0, 1)
 */
function emitHardSigmoid(e: Emitter, x: string, y: string, dtype: DType): void {
  if (dtype !== 'float64') return e.node('HardSigmoid', [x], [y], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } });
  const [scaled, shifted] = [e.tmp('hs'), e.tmp('hs')];
  e.node('Mul', [x, e.scalar(1 / 6, 'float64')], [scaled]);
  e.node('Add', [scaled, e.scalar(0.5, 'float64')], [shifted]);
  e.node('Clip', [shifted, e.scalar(0, 'float64'), e.scalar(1, 'float64')], [y]);
}

const hardsigmoidOp = defineOp({
  type: 'HardSigmoid',
  infer: floatInfer,
  emit: (e, ins, outs, _a, node) => emitHardSigmoid(e, ins[0], outs[0], node.inputs[0].dtype),
  // PyTorch: g/6 where -3 < x < 3, else 0
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    return [where(greater(x, -3), where(less(x, 3), mul(g, 1 / 6), 0), 0)];
  },
});

/** relu6(x + 3) / 6, as torch.nn.functional.hardsigmoid */
export const hardsigmoid = (x: Value): Value => hardsigmoidOp([x], {})[0];

const hardswishOp = defineOp({
  type: 'HardSwish',
  infer: floatInfer,
  // ONNX HardSwish exists from opset 14 (and is float32-only in ORT): otherwise x·hardsigmoid(x)
  emit: (e, ins, outs, _a, node) => {
    const dtype = node.inputs[0].dtype;
    if (dtype !== 'float64' && (e.opset ?? 17) >= 14) return e.node('HardSwish', ins, outs);
    const hs = e.tmp('hardsigmoid');
    emitHardSigmoid(e, ins[0], hs, dtype);
    e.node('Mul', [ins[0], hs], outs);
  },
  // PyTorch's hardswish_backward: 0 for x < -3, g·(2x+3)/6 for x <= 3, else g
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null];
    const x = n.inputs[0];
    const mid = mul(g, add(mul(x, 1 / 3), 0.5));
    return [where(less(x, -3), 0, where(greater(x, 3), g, mid))];
  },
});

/** x·relu6(x + 3) / 6, as torch.nn.functional.hardswish */
export const hardswish = (x: Value): Value => hardswishOp([x], {})[0];
