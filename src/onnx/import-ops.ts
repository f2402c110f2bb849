/**
 * The ONNX op table of `importOnnx`: one entry per supported ONNX op type, each mapping a node
 * onto IR ops (src/ops) or, where every input is known while tracing, computing it on the host
 * (import-host.ts). This file holds the elementwise, comparison and shape ops;
 * import-ops-nn.ts holds convolution, normalization, pooling, matrix products, softmax and
 * activations; import-op-types.ts the context each entry gets.
 *
 * Entries name the input positions that must be known at trace time (`hostInputs`: shapes,
 * axes, pads, indices) and those holding running statistics (`bufferInputs`); importOnnx
 * decides from them which initializers become parameters, buffers or folded constants.
 */
import { DType, Value, sizeOf } from '../graph/ir.js';
import { abs, add, cast, div, equal, erf, exp, greater, less, log, mul, neg, reciprocal, sqrt, sub, where } from '../ops/elementwise.js';
import { concat, expand, pad, reshape, slice, split, transpose } from '../ops/shape.js';
import { isFloat, normAxis } from '../ops/shape-rules.js';
import {
  HostArray,
  Operand,
  broadcastHost,
  castHost,
  concatHost,
  gatherHost,
  isHost,
  reshapeTarget,
  resolveSlice,
  shapeArray,
  sliceHost,
  squeezeShape,
  transposeHost,
  unsqueezeShape,
  whereHost,
} from './import-host.js';
import { NN_OPS } from './import-ops-nn.js';
import { OnnxOpContext, OnnxOpImpl, intsFrom, need } from './import-op-types.js';
import { dtypeOfOnnxCode } from './read.js';

/** a graph value for `h` in the dtype of `like` (so host scalars meet model tensors in their precision) */
function valueLike(ctx: OnnxOpContext, o: Operand, like: Value): Value {
  if (!isHost(o)) return o;
  return ctx.value(castHost(o, isFloat(like.dtype) && isFloat(o.dtype) ? ctx.floatType : like.dtype));
}

/** both operands as graph values of one dtype */
function valuePair(ctx: OnnxOpContext, a: Operand, b: Operand): [Value, Value] {
  if (isHost(a) && !isHost(b)) return [valueLike(ctx, a, b), b];
  if (!isHost(a) && isHost(b)) return [a, valueLike(ctx, b, a)];
  return [ctx.value(a), ctx.value(b)];
}

const isIntType = (d: DType) => !isFloat(d);

function binary(onHost: (x: number, y: number, intType: boolean) => number, onGraph: (a: Value, b: Value) => Value): OnnxOpImpl {
  return {
    run: (ctx, inputs) => {
      const [a, b] = [need(inputs, 0), need(inputs, 1)];
      if (isHost(a) && isHost(b)) return [broadcastHost(a, b, (x, y) => onHost(x, y, isIntType(a.dtype)))];
      return [onGraph(...valuePair(ctx, a, b))];
    },
  };
}

function comparison(onHost: (x: number, y: number) => boolean, onGraph: (a: Value, b: Value) => Value): OnnxOpImpl {
  return {
    run: (ctx, inputs) => {
      const [a, b] = [need(inputs, 0), need(inputs, 1)];
      if (isHost(a) && isHost(b)) return [broadcastHost(a, b, (x, y) => (onHost(x, y) ? 1 : 0), 'bool')];
      return [onGraph(...valuePair(ctx, a, b))];
    },
  };
}

function unary(onGraph: (x: Value) => Value, onHost?: (x: number) => number): OnnxOpImpl {
  return {
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      if (isHost(x) && onHost) return [{ dtype: x.dtype, shape: x.shape, values: x.values.map(onHost) }];
      return [onGraph(ctx.value(x))];
    },
  };
}

/** a host array or graph value with a new shape (same elements, same order) */
function reshaped(x: Operand, shape: readonly number[]): Operand {
  if (isHost(x)) {
    if (sizeOf(shape) !== x.values.length) throw new Error(`cannot reshape [${x.shape}] to [${shape}]`);
    return { dtype: x.dtype, shape: [...shape], values: x.values };
  }
  return reshape(x, shape);
}

/** Gather along `axis` of a graph value with indices known while tracing: runs of consecutive indices become Slices, joined by Concat */
function gatherValue(x: Value, indices: HostArray, axis: number): Value {
  const a = normAxis(axis, x.rank);
  const dim = x.shape[a];
  const ks = indices.values.map((k) => (k < 0 ? k + dim : k));
  for (const k of ks) if (!(k >= 0 && k < dim)) throw new Error(`index ${k} is out of range for an axis of size ${dim}`);
  const parts: Value[] = [];
  for (let i = 0; i < ks.length; ) {
    let j = i;
    while (j + 1 < ks.length && ks[j + 1] === ks[j] + 1) j++;
    parts.push(ks[i] === 0 && ks[j] === dim - 1 ? x : slice(x, [a], [ks[i]], [ks[j] + 1]));
    i = j + 1;
  }
  if (parts.length === 0) throw new Error('Gather with no indices is not supported');
  return reshape(concat(parts, a), [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)]);
}

function castTarget(ctx: OnnxOpContext): DType {
  const code = ctx.int('to');
  const dtype = dtypeOfOnnxCode(code);
  if (!dtype) throw new Error(`Cast to ONNX data type ${code} is not supported`);
  return dtype;
}

const ELEMENTWISE_OPS: Readonly<Record<string, OnnxOpImpl>> = {
  Add: binary((x, y) => x + y, add),
  Sub: binary((x, y) => x - y, sub),
  Mul: binary((x, y) => x * y, mul),
  Div: binary((x, y, int) => (int ? Math.trunc(x / y) : x / y), div),
  Equal: comparison((x, y) => x === y, equal),
  Less: comparison((x, y) => x < y, less),
  Greater: comparison((x, y) => x > y, greater),
  Neg: unary(neg, (x) => -x),
  Abs: unary(abs, Math.abs),
  Sqrt: unary(sqrt, Math.sqrt),
  Exp: unary(exp, Math.exp),
  Log: unary(log, Math.log),
  Reciprocal: unary(reciprocal, (x) => 1 / x),
  Erf: unary(erf),
  Pow: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const e = ctx.host(need(inputs, 1), 'the exponent');
      if (e.values.length !== 1) throw new Error('Pow needs a scalar exponent');
      const p = e.values[0];
      if (isHost(x)) return [{ dtype: x.dtype, shape: x.shape, values: x.values.map((v) => v ** p) }];
      if (p === 1) return [x];
      if (p === 2) return [mul(x, x)];
      if (p === 3) return [mul(mul(x, x), x)];
      if (p === 0.5) return [sqrt(x)];
      if (p === -1) return [reciprocal(x)];
      throw new Error(`Pow with exponent ${p} is not supported (1, 2, 3, 0.5 and -1 are)`);
    },
  },
  Where: {
    run: (ctx, inputs) => {
      const [c, a, b] = [need(inputs, 0), need(inputs, 1), need(inputs, 2)];
      if (isHost(c) && isHost(a) && isHost(b)) return [whereHost(c, a, b)];
      const [va, vb] = valuePair(ctx, a, b);
      return [where(ctx.value(c), va, vb)];
    },
  },
  Cast: {
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const to = castTarget(ctx);
      if (isHost(x)) return [castHost(x, to)];
      if (isFloat(to)) return [isFloat(x.dtype) ? x : cast(x, ctx.floatType)];
      return [cast(x, to)];
    },
  },
  Identity: { run: (_ctx, inputs) => [need(inputs, 0)] },
};

const SHAPE_OPS: Readonly<Record<string, OnnxOpImpl>> = {
  Shape: {
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const shape = x.shape;
      const start = ctx.int('start', 0);
      const end = ctx.has('end') ? ctx.int('end') : shape.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + shape.length : v, 0), shape.length);
      return [shapeArray(shape.slice(clamp(start), clamp(end)))];
    },
  },
  Size: { run: (_ctx, inputs) => [{ dtype: 'int64', shape: [], values: [sizeOf(need(inputs, 0).shape)] }] },
  Constant: {
    run: (ctx) => {
      const t = ctx.tensor('value');
      if (t) return [t];
      if (ctx.has('value_float')) return [{ dtype: 'float32', shape: [], values: [ctx.float('value_float')] }];
      if (ctx.has('value_floats')) return [{ dtype: 'float32', shape: [ctx.floats('value_floats').length], values: [...ctx.floats('value_floats')] }];
      if (ctx.has('value_int')) return [{ dtype: 'int64', shape: [], values: [ctx.int('value_int')] }];
      if (ctx.has('value_ints')) return [{ dtype: 'int64', shape: [ctx.ints('value_ints').length], values: [...ctx.ints('value_ints')] }];
      throw new Error('Constant has no value attribute tessera can read (value, value_float(s), value_int(s))');
    },
  },
  ConstantOfShape: {
    hostInputs: [0],
    run: (ctx, inputs) => {
      const shape = ctx.host(need(inputs, 0), 'the shape').values;
      const fill = ctx.tensor('value') ?? { dtype: 'float32', shape: [1], values: [0] };
      return [{ dtype: fill.dtype, shape: [...shape], values: new Array<number>(sizeOf(shape)).fill(fill.values[0]) }];
    },
  },
  Range: {
    hostInputs: [0, 1, 2],
    run: (ctx, inputs) => {
      const [start, limit, delta] = [0, 1, 2].map((i) => ctx.host(need(inputs, i), ['start', 'limit', 'delta'][i]));
      const [s, l, d] = [start.values[0], limit.values[0], delta.values[0]];
      const n = Math.max(Math.ceil((l - s) / d), 0);
      return [{ dtype: start.dtype, shape: [n], values: Array.from({ length: n }, (_, i) => s + i * d) }];
    },
  },
  Reshape: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const target = ctx.host(need(inputs, 1), 'the target shape').values;
      const allowZero = ctx.int('allowzero', 0) === 1;
      // a graph exported with a fixed batch B reshapes batch-first tensors to a literal [B, ...]:
      // traced with another batch, that first entry follows the traced batch
      const { declared, traced } = ctx.batch;
      const literalBatch = declared !== null && declared !== traced && target[0] === declared && x.shape[0] === traced;
      return [reshaped(x, reshapeTarget(x.shape, literalBatch ? [traced, ...target.slice(1)] : target, allowZero))];
    },
  },
  Flatten: {
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const rank = x.shape.length;
      const axisAttr = ctx.int('axis', 1);
      const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
      if (axis < 0 || axis > rank) throw new Error(`axis ${axisAttr} out of range for rank ${rank}`);
      return [reshaped(x, [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))])];
    },
  },
  Squeeze: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      return [reshaped(x, squeezeShape(x.shape, intsFrom(ctx, inputs[1], 'axes', 'the axes')))];
    },
  },
  Unsqueeze: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const axes = intsFrom(ctx, inputs[1], 'axes', 'the axes');
      if (!axes) throw new Error('Unsqueeze needs axes');
      return [reshaped(x, unsqueezeShape(x.shape, axes))];
    },
  },
  Transpose: {
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const perm = ctx.ints('perm', x.shape.map((_, i) => x.shape.length - 1 - i));
      return [isHost(x) ? transposeHost(x, perm) : transpose(x, perm)];
    },
  },
  Concat: {
    run: (ctx, inputs) => {
      const parts = inputs.filter((p): p is Operand => p !== null && sizeOf(p.shape) > 0);
      const axis = ctx.int('axis');
      if (parts.length === 0) throw new Error('Concat of nothing');
      if (parts.every(isHost)) return [concatHost(parts.filter(isHost), axis)];
      const like = parts.find((p): p is Value => !isHost(p))!;
      return [concat(parts.map((p) => valueLike(ctx, p, like)), normAxis(axis, like.rank))];
    },
  },
  Split: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const axis = normAxis(ctx.int('axis', 0), x.shape.length);
      const dim = x.shape[axis];
      let sizes = intsFrom(ctx, inputs[1], 'split', 'the split sizes');
      if (!sizes) {
        const n = ctx.has('num_outputs') ? ctx.int('num_outputs') : ctx.node.outputs.length;
        const chunk = Math.ceil(dim / n);
        sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
      }
      if (isHost(x)) {
        let start = 0;
        return sizes.map((s) => {
          const part = sliceHost(x, resolveSlice(x.shape, [start], [start + s], [axis], null));
          start += s;
          return part;
        });
      }
      return split(x, axis, sizes);
    },
  },
  Slice: {
    hostInputs: [1, 2, 3, 4],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const newStyle = ctx.opset >= 10;
      const starts = newStyle ? ctx.host(need(inputs, 1, 'starts'), 'starts').values : ctx.ints('starts');
      const ends = newStyle ? ctx.host(need(inputs, 2, 'ends'), 'ends').values : ctx.ints('ends');
      const axes = newStyle ? (inputs[3] ? ctx.host(inputs[3], 'axes').values : null) : ctx.has('axes') ? ctx.ints('axes') : null;
      const steps = newStyle && inputs[4] ? ctx.host(inputs[4], 'steps').values : null;
      const s = resolveSlice(x.shape, starts, ends, axes, steps);
      if (isHost(x)) return [sliceHost(x, s)];
      if (s.steps.some((st) => st < 0)) throw new Error('Slice with a negative step is not supported on model data');
      if (s.lengths.some((n) => n === 0)) throw new Error('Slice to an empty tensor is not supported on model data');
      const keep = s.axes.map((a, i) => !(s.starts[i] === 0 && s.lengths[i] === x.shape[a]));
      const pick = <T>(list: readonly T[]) => list.filter((_, i) => keep[i]);
      if (!keep.some(Boolean)) return [x];
      const ends2 = s.axes.map((_, i) => s.starts[i] + (s.lengths[i] - 1) * s.steps[i] + 1);
      return [slice(x, pick(s.axes), pick(s.starts), pick(ends2), pick(s.steps))];
    },
  },
  Gather: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const indices = ctx.host(need(inputs, 1), 'the indices');
      const axis = ctx.int('axis', 0);
      return [isHost(x) ? gatherHost(x, indices, axis) : gatherValue(x, indices, axis)];
    },
  },
  Expand: {
    hostInputs: [1],
    run: (ctx, inputs) => {
      const x = need(inputs, 0);
      const shape = ctx.host(need(inputs, 1), 'the shape').values;
      if (isHost(x)) return [broadcastHost(x, { dtype: x.dtype, shape, values: new Array<number>(sizeOf(shape)).fill(0) }, (v) => v)];
      const y = expand(x, shape);
      return [y];
    },
  },
  Pad: {
    hostInputs: [1, 2, 3],
    run: (ctx, inputs) => {
      const x = ctx.value(need(inputs, 0));
      const mode = ctx.string('mode', 'constant');
      if (mode !== 'constant') throw new Error(`Pad mode "${mode}" is not supported (constant only)`);
      let pads = ctx.opset >= 11 ? ctx.host(need(inputs, 1, 'pads'), 'pads').values : ctx.ints('pads');
      const value = ctx.opset >= 11 ? (inputs[2] ? ctx.host(inputs[2], 'the pad value').values[0] : 0) : ctx.float('value', 0);
      if (inputs[3]) {
        const axes = ctx.host(inputs[3], 'the axes').values.map((a) => normAxis(a, x.rank));
        const full = new Array<number>(2 * x.rank).fill(0);
        axes.forEach((a, i) => {
          full[a] = pads[i];
          full[a + x.rank] = pads[i + axes.length];
        });
        pads = full;
      }
      if (pads.some((p) => p < 0)) throw new Error('Pad with negative pads (cropping) is not supported');
      return [pads.every((p) => p === 0) ? x : pad(x, pads, value)];
    },
  },
};

/** Every supported ONNX op type and how it maps onto the IR. */
export const ONNX_OPS: Readonly<Record<string, OnnxOpImpl>> = { ...ELEMENTWISE_OPS, ...SHAPE_OPS, ...NN_OPS };
