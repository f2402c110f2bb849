/**
 * torchvision.ops.StochasticDepth as a module: drops whole residual branches per sample ('row')
 * or for the whole batch ('batch') with probability `p` in training mode.
 *
 * @example
 * const sd = new StochasticDepth(0.2, 'row');
 * sd.p = 0; // what parity checks do (see disableDropout)
 */
import { Value } from '../graph/ir.js';
import { StochasticDepthMode, stochasticDepth } from '../ops/random.js';
import { Module } from './module.js';

export class StochasticDepth extends Module {
  constructor(
    public p: number,
    readonly mode: StochasticDepthMode,
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`StochasticDepth: drop probability has to be between 0 and 1, but got ${p}`);
    if (mode !== 'row' && mode !== 'batch') throw new Error(`StochasticDepth: mode has to be either 'batch' or 'row', but got ${String(mode)}`);
  }

  forward(x: Value): Value {
    return stochasticDepth(x, this.p, this.mode, this.training);
  }
}
