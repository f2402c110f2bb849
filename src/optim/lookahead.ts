/**
 * Lookahead (Zhang et al. 2019, "k steps forward, 1 step back") as timm's `Lookahead` wrapper
 * runs it, inside the training graph: the base optimizer updates the fast weights every step;
 * every k-th step the slow weights move α of the way to the fast ones and the fast weights
 * restart from them. The slow weights are optimizer state (`lookahead_slow_buff`, timm's name),
 * so checkpoints carry them and a resumed run continues exactly.
 */
import type { Value } from '../graph/ir.js';
import { add, equal, greater, mul, sub, where } from '../ops/elementwise.js';
import type { Hyper, OptimizerEmitter, ParamGroup } from './optimizer.js';

export interface LookaheadOptions {
  /** sync every k steps (timm's default 6) */
  readonly k?: number;
  /** slow step size α in [0, 1] (timm's default 0.5) */
  readonly alpha?: number;
}

/** timm's defaults. */
export const LOOKAHEAD_DEFAULTS = { k: 6, alpha: 0.5 } as const;

/** The per-step graph input that is 1 on a sync step (step % k = 0), else 0. */
export const LOOKAHEAD_SYNC_INPUT = 'lookahead_sync';

/**
 * Wraps `base` with Lookahead. On a sync step (step % k = 0, 1-based):
 * slow ← slow + α·(fast − slow), fast ← slow. As in timm, the slow weights are created at the
 * first sync as a copy of the fast weights, so that sync leaves the weights as they are.
 *
 * @example
 * const opt = lookahead(sgd({ momentum: 0.9 }), { k: 5, alpha: 0.5 });
 * opt.slots; // → ['momentum_buffer', 'lookahead_slow_buff']
 * opt.scalars?.[0].value(10); // → 1
 * opt.scalars?.[0].value(11); // → 0
 */
export function lookahead(base: OptimizerEmitter, opts: LookaheadOptions = {}): OptimizerEmitter {
  const k = opts.k ?? LOOKAHEAD_DEFAULTS.k;
  const alpha = opts.alpha ?? LOOKAHEAD_DEFAULTS.alpha;
  if (!Number.isInteger(k) || k < 1) throw new Error(`lookahead: k must be a whole number ≥ 1, got ${k}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`lookahead: alpha must be in [0, 1], got ${alpha}`);
  const own = base.slots.length;
  return {
    config: { ...base.config, lookaheadK: k, lookaheadAlpha: alpha },
    slots: [...base.slots, 'lookahead_slow_buff'],
    scalars: [...(base.scalars ?? []), { name: LOOKAHEAD_SYNC_INPUT, value: (step) => (step % k === 0 ? 1 : 0) }],
    update(p: Value, g: Value, state: readonly Value[], hyper: Hyper, group?: ParamGroup) {
      const inner = base.update(p, g, state.slice(0, own), hyper, group);
      const fast = inner.param;
      const slow = state[own];
      const sync = greater(hyper.scalars[LOOKAHEAD_SYNC_INPUT], 0.5);
      const slowBefore = where(equal(hyper.step, k), fast, slow);
      const slowNext = where(sync, add(slowBefore, mul(sub(fast, slowBefore), alpha)), slow);
      return { param: where(sync, slowNext, fast), state: [...inner.state, slowNext] };
    },
  };
}
