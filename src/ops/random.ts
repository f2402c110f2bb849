/**
 * Random masks: `bernoulliMask` (a tensor of 0/1 values, 1 with probability 1 − p) and
 * `stochasticDepth`, torchvision.ops.stochastic_depth on top of it.
 *
 * The mask is RandomUniform → Less(survival) → Cast, all standard opset-17 ops. RandomUniform is
 * non-deterministic, so ORT neither constant-folds it nor merges it away: every run of a session
 * draws a new mask (unless `seed` is given, which fixes the generator's start of each session).
 *
 * @example
 * const g = new Graph();
 * withGraph(g, () => {
 *   const x = g.addInput('x', [8, 16, 4, 4], 'float32');
 *   const y = stochasticDepth(x, 0.2, 'row', true); // x · mask[N,1,1,1] / 0.8
 *   y.shape; // → [8, 16, 4, 4]
 * });
 */
import { DType, Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { isFloat } from './shape-rules.js';
import { div, mul, onnxDtypeCode } from './elementwise.js';

type MaskAttrs = { shape: readonly number[]; p: number; dtype: DType; seed?: number };

const bernoulliMaskOp = defineOp<MaskAttrs>({
  type: 'BernoulliMask',
  // no inputs: the mask's shape and dtype are attributes
  infer: (inputs, { shape, p, dtype }) => {
    if (inputs.length) throw new Error(`takes no inputs, got ${inputs.length}`);
    if (!(p >= 0 && p <= 1)) throw new Error(`drop probability p must be in [0, 1], got ${p}`);
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`shape must be positive integers, got [${shape.join(', ')}]`);
    if (!isFloat(dtype)) throw new Error(`mask dtype must be float, got ${dtype}`);
    return [{ shape, dtype }];
  },
  // keep = U[0, 1) < 1 − p, as a 0/1 float tensor
  emit: (e, _ins, outs, { shape, p, seed }, node) => {
    const [u, keep] = [e.tmp('bernoulli_uniform'), e.tmp('bernoulli_keep')];
    e.node('RandomUniform', [], [u], { shape, dtype: onnxDtypeCode('float32'), low: { float: 0 }, high: { float: 1 }, seed: seed === undefined ? undefined : { float: seed } });
    e.node('Less', [u, e.scalar(1 - p, 'float32')], [keep]);
    e.node('Cast', [keep], outs, { to: onnxDtypeCode(node.outputs[0].dtype) });
  },
  // a random mask has no gradient (and no inputs to give one to)
  grad: (n) => n.inputs.map(() => null),
});

/**
 * A tensor of `shape` whose elements are independently 1 with probability 1 − p and 0 otherwise
 * (torch's `bernoulli_(1 - p)`), freshly drawn on every run.
 */
export function bernoulliMask(shape: readonly number[], p: number, dtype: DType = 'float32', seed?: number): Value {
  return bernoulliMaskOp([], { shape: [...shape], p, dtype, seed })[0];
}

export type StochasticDepthMode = 'row' | 'batch';

/**
 * torchvision.ops.stochastic_depth: in training, zeroes the whole input ('batch') or each sample
 * ('row') with probability p and scales the survivors by 1/(1 − p); returns `x` itself (no node)
 * when not training or p = 0.
 */
export function stochasticDepth(x: Value, p: number, mode: StochasticDepthMode, training: boolean, seed?: number): Value {
  if (!(p >= 0 && p <= 1)) throw new Error(`stochasticDepth: drop probability has to be between 0 and 1, but got ${p}`);
  if (mode !== 'row' && mode !== 'batch') throw new Error(`stochasticDepth: mode has to be either 'batch' or 'row', but got ${String(mode)}`);
  if (!training || p === 0) return x;
  if (mode === 'row' && x.rank === 0) throw new Error("stochasticDepth: mode 'row' needs a batch axis, got a scalar");
  const survival = 1 - p;
  const size = mode === 'row' ? [x.shape[0], ...x.shape.slice(1).map(() => 1)] : x.shape.map(() => 1);
  let noise = bernoulliMask(size, p, x.dtype, seed);
  if (survival > 0) noise = div(noise, survival);
  return mul(x, noise);
}
