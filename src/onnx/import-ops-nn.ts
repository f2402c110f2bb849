/**
 * The network ops of the `importOnnx` op table (see import-ops.ts): Conv, BatchNormalization,
 * LayerNormalization, Gemm, MatMul, pooling, reductions, Softmax/LogSoftmax, Dropout and the
 * activations. 2-D (NCHW) convolution and pooling only; pooling pads must be symmetric.
 */
import { Value, sizeOf } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { clip, gelu, hardsigmoid, hardswish, leakyRelu, relu } from '../ops/activations.js';
import { batchNormEval, batchNormTrain } from '../ops/batchnorm.js';
import { conv2d } from '../ops/conv.js';
import { dropout } from '../ops/dropout.js';
import { add, mul, sigmoid, tanh } from '../ops/elementwise.js';
import { layerNorm } from '../ops/layernorm.js';
import { gemm, matmul } from '../ops/linalg.js';
import { avgPool2d, globalAvgPool, maxPool2d } from '../ops/pool.js';
import { reduceMean, reduceSum, reshape } from '../ops/shape.js';
import { normAxis } from '../ops/shape-rules.js';
import { logSoftmax, softmax } from '../ops/softmax.js';
import { isHost } from './import-host.js';
import { OnnxOpContext, OnnxOpImpl, intsFrom, need } from './import-op-types.js';

/** an activation on model data */
const activation = (fn: (ctx: OnnxOpContext, x: Value) => Value): OnnxOpImpl => ({
  run: (ctx, inputs) => [fn(ctx, ctx.value(need(inputs, 0)))],
});

/** [top, left, bottom, right] pads of a 2-D window op, from `pads` or `auto_pad` */
function windowPads(ctx: OnnxOpContext, spatial: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): number[] {
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET') return [...ctx.ints('pads', [0, 0, 0, 0])];
  if (autoPad === 'VALID') return [0, 0, 0, 0];
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') throw new Error(`auto_pad "${autoPad}" is not supported`);
  const begin: number[] = [];
  const end: number[] = [];
  spatial.forEach((size, i) => {
    const out = Math.ceil(size / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
    const small = Math.floor(total / 2);
    begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
    end.push(autoPad === 'SAME_UPPER' ? total - small : small);
  });
  return [...begin, ...end];
}

function check2d(x: Value, what: string): void {
  if (x.rank !== 4) throw new Error(`only 2-D ${what} on [N, C, H, W] input is supported, got [${x.shape}]`);
}

/** MaxPool / AveragePool geometry: kernel, strides (default 1), symmetric pads, ceil mode */
function poolGeometry(ctx: OnnxOpContext, x: Value) {
  check2d(x, 'pooling');
  const kernel = ctx.ints('kernel_shape');
  const strides = ctx.ints('strides', [1, 1]);
  if (ctx.ints('dilations', [1, 1]).some((d) => d !== 1)) throw new Error('dilated pooling is not supported');
  const pads = windowPads(ctx, x.shape.slice(2), kernel, strides, [1, 1]);
  if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw new Error(`asymmetric pooling pads [${pads}] are not supported`);
  return { kernel, stride: strides, padding: [pads[0], pads[1]], ceilMode: ctx.int('ceil_mode', 0) === 1 };
}

/** Softmax-like ops: opset 13+ normalizes one axis; before, the input was flattened to 2-D at `axis` (default 1) */
function softmaxLike(fn: (x: Value, axis: number) => Value): OnnxOpImpl {
  return activation((ctx, x) => {
    const axis = normAxis(ctx.int('axis', ctx.opset >= 13 ? -1 : 1), x.rank);
    if (ctx.opset >= 13 || axis === x.rank - 1) return fn(x, axis);
    const flat = reshape(x, [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))]);
    return reshape(fn(flat, 1), x.shape);
  });
}

function reduction(fn: (x: Value, axes: readonly number[], keepdims: boolean) => Value): OnnxOpImpl {
  return {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = ctx.value(need(inputs, 0));
      const axes = intsFrom(ctx, inputs[1], 'axes', 'the axes') ?? [];
      if (axes.length === 0 && ctx.int('noop_with_empty_axes', 0) === 1) return [x];
      const all = axes.length ? axes.map((a) => normAxis(a, x.rank)) : x.shape.map((_, i) => i);
      return [fn(x, all, ctx.int('keepdims', 1) === 1)];
    },
  };
}

/** a float constant of `n` copies of `v` in the traced precision */
const filled = (ctx: OnnxOpContext, n: number, v: number): Value => constant(hostTensor(ctx.floatType, [n], new Array<number>(n).fill(v)));

export const NN_OPS: Readonly<Record<string, OnnxOpImpl>> = {
  Conv: {
    run: (ctx, inputs) => {
      const x = ctx.value(need(inputs, 0));
      const w = ctx.value(need(inputs, 1, 'the weight'));
      check2d(x, 'convolution');
      if (w.rank !== 4) throw new Error(`only 2-D convolution is supported, the weight is [${w.shape}]`);
      const kernel = w.shape.slice(2);
      const strides = ctx.ints('strides', [1, 1]);
      const dilations = ctx.ints('dilations', [1, 1]);
      const pads = windowPads(ctx, x.shape.slice(2), kernel, strides, dilations);
      const b = inputs[2] ? ctx.value(inputs[2]) : null;
      return [conv2d(x, w, b, { strides, pads, dilations, group: ctx.int('group', 1) })];
    },
  },
  BatchNormalization: {
    bufferInputs: [3, 4],
    run: (ctx, inputs) => {
      const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => ctx.value(need(inputs, i)));
      const eps = ctx.float('epsilon', 1e-5);
      if (!ctx.training) return [batchNormEval(x, scale, bias, mean, variance, eps)];
      // ONNX momentum weighs the running value: new = running·m + batch·(1 − m); running_var takes the unbiased batch variance, as PyTorch does
      const m = ctx.float('momentum', 0.9);
      const [y, batchMean, batchVar] = batchNormTrain(x, scale, bias, eps);
      const count = x.size / x.shape[1];
      ctx.updateBuffer(3, add(mul(mean, m), mul(batchMean, 1 - m)));
      ctx.updateBuffer(4, add(mul(variance, m), mul(batchVar, ((1 - m) * count) / Math.max(count - 1, 1))));
      return [y];
    },
  },
  LayerNormalization: {
    run: (ctx, inputs) => {
      const x = ctx.value(need(inputs, 0));
      if (normAxis(ctx.int('axis', -1), x.rank) !== x.rank - 1) throw new Error('LayerNormalization over more than the last axis is not supported');
      const c = x.shape[x.rank - 1];
      const scale = ctx.value(need(inputs, 1, 'the scale'));
      const bias = inputs[2] ? ctx.value(inputs[2]) : filled(ctx, c, 0);
      const flat = (v: Value) => (v.rank === 1 ? v : reshape(v, [c]));
      return [layerNorm(x, flat(scale), flat(bias), ctx.float('epsilon', 1e-5))];
    },
  },
  Gemm: {
    run: (ctx, inputs) => {
      const a = ctx.value(need(inputs, 0));
      const b = ctx.value(need(inputs, 1));
      const alpha = ctx.float('alpha', 1);
      const beta = ctx.float('beta', 1);
      const [transA, transB] = [ctx.int('transA', 0), ctx.int('transB', 0)];
      let c = inputs[2] ? ctx.value(inputs[2]) : null;
      if (c && beta !== 1) c = mul(c, beta);
      if (alpha === 1) return [gemm(a, b, c, transA, transB)];
      const y = mul(gemm(a, b, null, transA, transB), alpha);
      return [c ? add(y, c) : y];
    },
  },
  MatMul: {
    run: (ctx, inputs) => {
      let a = ctx.value(need(inputs, 0));
      let b = ctx.value(need(inputs, 1));
      // numpy semantics for 1-D operands: a vector on the left is a row, on the right a column, and the added axis is dropped again
      const [aVec, bVec] = [a.rank === 1, b.rank === 1];
      if (aVec) a = reshape(a, [1, a.shape[0]]);
      if (bVec) b = reshape(b, [b.shape[0], 1]);
      const y = matmul(a, b);
      const shape = y.shape.filter((_, i) => !(aVec && i === y.rank - 2) && !(bVec && i === y.rank - 1));
      return [reshape(y, shape)];
    },
  },
  GlobalAveragePool: activation((_ctx, x) => globalAvgPool(x)),
  MaxPool: activation((ctx, x) => {
    if (ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '') throw new Error('MaxPool indices output is not supported');
    const g = poolGeometry(ctx, x);
    return maxPool2d(x, g.kernel, { stride: g.stride, padding: g.padding, ceilMode: g.ceilMode });
  }),
  AveragePool: activation((ctx, x) => {
    const g = poolGeometry(ctx, x);
    return avgPool2d(x, g.kernel, { stride: g.stride, padding: g.padding, ceilMode: g.ceilMode, countIncludePad: ctx.int('count_include_pad', 0) === 1 });
  }),
  ReduceMean: reduction(reduceMean),
  ReduceSum: reduction(reduceSum),
  Softmax: softmaxLike(softmax),
  LogSoftmax: softmaxLike(logSoftmax),
  Dropout: {
    hostInputs: [1, 2],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      if (!ctx.training || isHost(x)) return [x];
      const ratio = ctx.opset >= 12 ? (inputs[1] ? ctx.host(inputs[1], 'the ratio').values[0] : 0.5) : ctx.float('ratio', 0.5);
      return [dropout(x, ratio, true)];
    },
  },
  Relu: activation((_ctx, x) => relu(x)),
  LeakyRelu: activation((ctx, x) => leakyRelu(x, ctx.float('alpha', 0.01))),
  Sigmoid: activation((_ctx, x) => sigmoid(x)),
  Tanh: activation((_ctx, x) => tanh(x)),
  HardSwish: activation((_ctx, x) => hardswish(x)),
  HardSigmoid: activation((ctx, x) => {
    const alpha = ctx.float('alpha', 0.2);
    const beta = ctx.float('beta', 0.5);
    // torch's hardsigmoid exports alpha = 1/6 (as float32)
    if (Math.abs(alpha - 1 / 6) < 1e-6 && beta === 0.5) return hardsigmoid(x);
    return clip(add(mul(x, alpha), beta), 0, 1);
  }),
  Clip: {
    hostInputs: [1, 2],
    run: (ctx, inputs) => {
      const x = ctx.value(need(inputs, 0));
      const bound = (i: number, attr: string, fallback: number) => (ctx.opset >= 11 ? (inputs[i] ? ctx.host(inputs[i], attr).values[0] : fallback) : ctx.float(attr, fallback));
      return [clip(x, bound(1, 'min', -Infinity), bound(2, 'max', Infinity))];
    },
  },
  Gelu: activation((ctx, x) => {
    const approximate = ctx.string('approximate', 'none');
    if (approximate !== 'none') throw new Error(`Gelu approximate="${approximate}" is not supported (exact only)`);
    return gelu(x);
  }),
};

