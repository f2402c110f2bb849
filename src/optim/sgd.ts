/** SGD with PyTorch's exact formulas: coupled weight decay, momentum, dampening, Nesterov. */
import { add, equal, mul, sub, where } from '../ops/elementwise.js';
import { Hyper, OptimizerEmitter, ParamGroup } from './optimizer.js';
import { Value } from '../graph/ir.js';

export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * torch.optim.SGD: d = g + wd·p; buf = μ·buf + (1−τ)·d (buf = d on the first step);
 * d = nesterov ? d + μ·buf : buf; p = p − lr·d.
 *
 * @example
 * const opt = sgd({ momentum: 0.9, weightDecay: 5e-4, nesterov: true });
 */
export function sgd(opts: SgdOptions = {}): OptimizerEmitter {
  const momentum = opts.momentum ?? 0;
  const dampening = opts.dampening ?? 0;
  const wd = opts.weightDecay ?? 0;
  const nesterov = opts.nesterov ?? false;
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
  return {
    config: { name: 'sgd', momentum, dampening, weightDecay: wd, nesterov },
    slots: momentum ? ['momentum_buffer'] : [],
    update(p: Value, g: Value, state: readonly Value[], { lr, step }: Hyper, group?: ParamGroup) {
      const decay = group?.weightDecay ?? wd;
      let d = decay ? add(g, mul(p, decay)) : g;
      const newState: Value[] = [];
      if (momentum) {
        const buf = state[0];
        let next = add(mul(buf, momentum), dampening ? mul(d, 1 - dampening) : d);
        // PyTorch starts the buffer at d itself (undamped) on the first step
        if (dampening) next = where(equal(step, 1), d, next);
        newState.push(next);
        d = nesterov ? add(d, mul(next, momentum)) : next;
      }
      return { param: sub(p, mul(d, lr)), state: newState };
    },
  };
}
