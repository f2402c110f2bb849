/**
 * Batch normalization over every axis but the channel axis (1). Training mode normalizes with
 * the batch statistics and also returns them (mean, biased variance) so BatchNorm layers can
 * update their running statistics; eval mode is ONNX BatchNormalization.
 */
import { TensorType, Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { sameDtype } from './shape-rules.js';
import { add, mul, reciprocal, sqrt, sub } from './elementwise.js';
import { reduceSum, reshape } from './shape.js';

interface BnAttrs {
  readonly [k: string]: number;
  readonly eps: number;
}

function checkParams(x: TensorType, params: readonly TensorType[]): number {
  if (x.shape.length < 2) throw new Error('input must be [N, C, ...]');
  const c = x.shape[1];
  for (const p of params) if (p.shape.length !== 1 || p.shape[0] !== c) throw new Error(`parameters must be [${c}], got [${p.shape}]`);
  return c;
}

const reduceAxes = (rank: number) => [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
const channelShape = (x: TensorType) => x.shape.map((d, i) => (i === 1 ? d : 1));
/** elements per channel: the count each batch statistic averages over */
const perChannel = (x: TensorType) => x.shape.reduce((p, d) => p * d, 1) / x.shape[1];

const bnTrainOp = defineOp<BnAttrs>({
  type: 'BatchNormTrain',
  infer: ([x, gamma, beta]) => {
    const c = checkParams(x, [gamma, beta]);
    const dtype = sameDtype([x, gamma, beta]);
    // y, the batch mean, the biased batch variance, and x − mean (kept for the gradient)
    return [
      { shape: x.shape, dtype },
      { shape: [c], dtype },
      { shape: [c], dtype },
      { shape: x.shape, dtype },
    ];
  },
  // σ⁻¹ and γ fold into one per-channel scale, so x̂ is never formed: the centred x is kept for
  // the gradient instead. (ReduceSumSquare of the centred x instead of Mul + ReduceMean measured
  // slower: ORT's ReduceSumSquare took 2.3x ReduceMean's time.)
  emit: (e, [x, gamma, beta], [y, mean, variance, centredOut], { eps }, node) => {
    const xv = node.inputs[0];
    const axes = reduceAxes(xv.rank);
    const cs = e.ints(channelShape(xv));
    const [m, sq, v, ve, sd, inv, g4, b4, scale, scaled] = ['mean', 'sq', 'var', 've', 'sd', 'inv', 'g4', 'b4', 'scale', 'scaled'].map((h) => e.tmp(h));
    const xc = centredOut || e.tmp('xc');
    e.node('ReduceMean', [x], [m], { axes, keepdims: 1 });
    e.node('Sub', [x, m], [xc]);
    e.node('Mul', [xc, xc], [sq]);
    e.node('ReduceMean', [sq], [v], { axes, keepdims: 1 });
    e.node('Add', [v, e.scalar(eps, xv.dtype)], [ve]);
    e.node('Sqrt', [ve], [sd]);
    e.node('Reciprocal', [sd], [inv]);
    e.node('Reshape', [gamma, cs], [g4]);
    e.node('Reshape', [beta, cs], [b4]);
    e.node('Mul', [inv, g4], [scale]);
    e.node('Mul', [xc, scale], [scaled]);
    e.node('Add', [scaled, b4], [y]);
    const flat = e.ints([xv.shape[1]]);
    if (mean) e.node('Reshape', [m, flat], [mean]);
    if (variance) e.node('Reshape', [v, flat], [variance]);
  },
  grad: (n, [g, gMean, gVar], { needs }) => {
    if (gMean || gVar) throw new Error('gradients through batch statistics outputs are not supported');
    if (!g) return [null, null, null];
    const [x, gamma] = n.inputs;
    const [, , variance, centred] = n.outputs;
    const axes = reduceAxes(x.rank);
    const cs = channelShape(x);
    const inv = reciprocal(sqrt(add(variance, n.attrs.eps)));
    const sumG = needs[0] || needs[2] ? reduceSum(g, axes) : null;
    // Σ dY·x̂ = σ⁻¹ · Σ dY·(x − mean)
    const sumGX = needs[0] || needs[1] ? mul(reduceSum(mul(g, centred), axes), inv) : null;
    let dx: Value | null = null;
    if (needs[0]) {
      const m = perChannel(x);
      // dX = γ/σ · (dY − mean(dY) − x̂·mean(x̂·dY)), with x̂·mean(x̂·dY) = (x − mean) · σ⁻¹·mean(x̂·dY)
      const scale = reshape(mul(gamma, inv), cs);
      const meanG = reshape(mul(sumG!, 1 / m), cs);
      const centredScale = reshape(mul(mul(sumGX!, inv), 1 / m), cs);
      dx = mul(sub(sub(g, meanG), mul(centred, centredScale)), scale);
    }
    return [dx, needs[1] ? sumGX : null, needs[2] ? sumG : null];
  },
});

/** Training-mode batch norm: returns [y, batch mean, biased batch variance]. */
export function batchNormTrain(x: Value, gamma: Value, beta: Value, eps: number): [Value, Value, Value] {
  const [y, mean, variance] = bnTrainOp([x, gamma, beta], { eps });
  return [y, mean, variance];
}

const bnEvalOp = defineOp<BnAttrs>({
  type: 'BatchNormalization',
  infer: ([x, gamma, beta, mean, variance]) => {
    checkParams(x, [gamma, beta, mean, variance]);
    return [{ shape: x.shape, dtype: sameDtype([x, gamma, beta, mean, variance]) }];
  },
  emit: (e, ins, outs, { eps }) => e.node('BatchNormalization', ins, outs, { epsilon: { float: eps } }),
  grad: (n, [g], { needs }) => {
    if (!g) return [null, null, null, null, null];
    const [x, gamma, , mean, variance] = n.inputs;
    const axes = reduceAxes(x.rank);
    const cs = channelShape(x);
    const inv = reciprocal(sqrt(add(variance, n.attrs.eps)));
    const dx = needs[0] ? mul(g, reshape(mul(gamma, inv), cs)) : null;
    const dgamma = needs[1] ? reduceSum(mul(g, mul(sub(x, reshape(mean, cs)), reshape(inv, cs))), axes) : null;
    const dbeta = needs[2] ? reduceSum(g, axes) : null;
    return [dx, dgamma, dbeta, null, null];
  },
});

/** Eval-mode batch norm with fixed statistics (gradients flow to x, γ and β). */
export function batchNormEval(x: Value, gamma: Value, beta: Value, mean: Value, variance: Value, eps: number): Value {
  return bnEvalOp([x, gamma, beta, mean, variance], { eps })[0];
}
