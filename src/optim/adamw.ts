/** AdamW with PyTorch's exact formulas (decoupled weight decay, bias correction from the step input). */
import { add, div, exp, mul, sqrt, sub } from '../ops/elementwise.js';
import { Hyper, OptimizerEmitter, ParamGroup } from './optimizer.js';
import { Value } from '../graph/ir.js';

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * torch.optim.AdamW: p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
 *
 * @example
 * const opt = adamw({ weightDecay: 0.05 });
 */
export function adamw(opts: AdamWOptions = {}): OptimizerEmitter {
  const [b1, b2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 1e-2;
  return {
    config: { name: 'adamw', beta1: b1, beta2: b2, eps, weightDecay: wd },
    slots: ['exp_avg', 'exp_avg_sq'],
    update(p: Value, g: Value, [m, v]: readonly Value[], { lr, step }: Hyper, group?: ParamGroup) {
      const decay = group?.weightDecay ?? wd;
      const decayed = decay ? mul(p, sub(1, mul(lr, decay))) : p;
      const m2 = add(mul(m, b1), mul(g, 1 - b1));
      const v2 = add(mul(v, b2), mul(mul(g, g), 1 - b2));
      // β^t = exp(t·ln β)
      const bc1 = sub(1, exp(mul(step, Math.log(b1))));
      const bc2 = sub(1, exp(mul(step, Math.log(b2))));
      const denom = add(div(sqrt(v2), sqrt(bc2)), eps);
      const param = sub(decayed, mul(div(lr, bc1), div(m2, denom)));
      return { param, state: [m2, v2] };
    },
  };
}
