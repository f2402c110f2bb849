/**
 * Training-mode dropout as ONNX Dropout (opset 13), whose mask output the gradient consumes —
 * ORT removes a Dropout whose mask is unused. Evaluation and p = 0 add no node.
 */
import { Value } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { defineOp } from './registry.js';
import { isFloat } from './shape-rules.js';
import { cast, mul } from './elementwise.js';

const dropoutOp = defineOp<{ ratio: number; seed?: number }>({
  type: 'Dropout',
  // inputs: data, training_mode (a bool constant, true)
  infer: ([x], { ratio }) => {
    if (!isFloat(x.dtype)) throw new Error(`needs a float input, got ${x.dtype}`);
    if (!(ratio > 0 && ratio < 1)) throw new Error(`ratio must be in (0, 1), got ${ratio}`);
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: x.shape, dtype: 'bool' },
    ];
  },
  emit: (e, ins, outs, { ratio, seed }) => e.node('Dropout', [ins[0], e.scalar(ratio, 'float32'), ins[1]], outs, { seed }),
  // dX = g·mask/(1−p)
  grad: (n, [g], { needs }) => {
    if (!needs[0] || !g) return [null, null];
    const keep = 1 / (1 - n.attrs.ratio);
    return [mul(g, mul(cast(n.outputs[1], g.dtype), keep)), null];
  },
});

/**
 * Zeroes each element with probability `p` and scales the rest by 1/(1−p) when `training`;
 * returns `x` itself (no node) when not training or p = 0. `seed` fixes ORT's generator.
 */
export function dropout(x: Value, p: number, training: boolean, seed?: number): Value {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const trainingMode = constant(hostTensor('bool', [], [1]));
  return dropoutOp([x, trainingMode], { ratio: p, seed })[0];
}
