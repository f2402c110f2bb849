/**
 * Layer normalization over the last axis (torch.nn.functional.layer_norm with a 1-D
 * normalized_shape). The op has three outputs, as ONNX LayerNormalization (opset 17): Y, Mean and
 * InvStdDev (both with the last axis kept as 1); the gradient rule uses the saved statistics.
 * Float32 is emitted as ONNX LayerNormalization; float64, and any graph written at an opset
 * below 17 (which has no LayerNormalization), as ReduceMean arithmetic (the parity checks run in
 * double): ORT's CPU LayerNormalization (1.30) has no double-stash kernel (stash_type 11: no
 * implementation), and the default stash_type 1 returns float32 statistics.
 */
import { TensorType, Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { isFloat, sameDtype } from './shape-rules.js';
import { mul, sub } from './elementwise.js';
import { reduceMean, reduceSum, transpose } from './shape.js';

interface LnAttrs {
  readonly [k: string]: number;
  readonly eps: number;
}

const statShape = (x: TensorType) => x.shape.map((d, i) => (i === x.shape.length - 1 ? 1 : d));

const layerNormOp = defineOp<LnAttrs>({
  type: 'LayerNormalization',
  infer: ([x, gamma, beta]) => {
    if (x.shape.length < 1) throw new Error('input must have rank >= 1');
    if (!isFloat(x.dtype)) throw new Error(`needs a float input, got ${x.dtype}`);
    const c = x.shape[x.shape.length - 1];
    for (const p of [gamma, beta]) if (p.shape.length !== 1 || p.shape[0] !== c) throw new Error(`weight and bias must be [${c}], got [${p.shape}]`);
    const dtype = sameDtype([x, gamma, beta]);
    return [
      { shape: x.shape, dtype },
      { shape: statShape(x), dtype },
      { shape: statShape(x), dtype },
    ];
  },
  emit: (e, [x, gamma, beta], [y, meanOut, invOut], { eps }, node, live) => {
    const xv = node.inputs[0];
    if (xv.dtype !== 'float64' && (e.opset ?? 17) >= 17) {
      const outs = [y, live[1] ? meanOut : '', live[2] ? invOut : ''];
      while (outs[outs.length - 1] === '') outs.pop();
      e.node('LayerNormalization', [x, gamma, beta], outs, { axis: -1, epsilon: { float: eps } });
      return;
    }
    // (x − mean) / √(var + eps) · γ + β, statistics over the last axis; InvStdDev only where used
    const m = live[1] ? meanOut : e.tmp('ln_mean');
    const [xc, sq, v, ve, sd, xhat, scaled] = ['ln_xc', 'ln_sq', 'ln_var', 'ln_ve', 'ln_sd', 'ln_xhat', 'ln_scaled'].map((h) => e.tmp(h));
    e.node('ReduceMean', [x], [m], { axes: [-1], keepdims: 1 });
    e.node('Sub', [x, m], [xc]);
    e.node('Mul', [xc, xc], [sq]);
    e.node('ReduceMean', [sq], [v], { axes: [-1], keepdims: 1 });
    e.node('Add', [v, e.scalar(eps, xv.dtype)], [ve]);
    e.node('Sqrt', [ve], [sd]);
    if (live[2]) e.node('Reciprocal', [sd], [invOut]);
    e.node('Div', [xc, sd], [xhat]);
    e.node('Mul', [xhat, gamma], [scaled]);
    e.node('Add', [scaled, beta], [y]);
  },
  grad: (n, [g, gMean, gInv], { needs }) => {
    if (gMean || gInv) throw new Error('gradients through the LayerNormalization statistics outputs are not supported');
    if (!g) return [null, null, null];
    const [x, gamma] = n.inputs;
    const [, mean, inv] = n.outputs;
    const xhat = mul(sub(x, mean), inv);
    const lead = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const sumLead = (v: Value) => (lead.length ? reduceSum(v, lead) : v);
    let dx: Value | null = null;
    if (needs[0]) {
      // dX = σ⁻¹ · (ĝ − mean(ĝ) − x̂·mean(x̂·ĝ)), ĝ = dY·γ, means over the last axis
      const gg = mul(g, gamma);
      const meanG = reduceMean(gg, [-1], true);
      const meanGX = reduceMean(mul(xhat, gg), [-1], true);
      dx = mul(sub(sub(gg, meanG), mul(xhat, meanGX)), inv);
    }
    return [dx, needs[1] ? sumLead(mul(g, xhat)) : null, needs[2] ? sumLead(g) : null];
  },
});

/** layer norm over the last axis with weight and bias of that axis' size */
export function layerNorm(x: Value, weight: Value, bias: Value, eps = 1e-5): Value {
  return layerNormOp([x, weight, bias], { eps })[0];
}

/** channels-first layer norm of [N, C, H, W] over C (torchvision ConvNeXt's LayerNorm2d) */
export function layerNorm2d(x: Value, weight: Value, bias: Value, eps = 1e-5): Value {
  if (x.rank !== 4) throw new Error(`layerNorm2d: input must be [N, C, H, W], got [${x.shape}]`);
  return transpose(layerNorm(transpose(x, [0, 2, 3, 1]), weight, bias, eps), [0, 3, 1, 2]);
}
