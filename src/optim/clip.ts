/**
 * Gradient clipping inside the training graph, before the optimizer's update (timm's
 * `--clip-grad X --clip-mode norm|value`).
 */
import { Value } from '../graph/ir.js';
import { clip } from '../ops/activations.js';
import { add, div, mul, sqrt } from '../ops/elementwise.js';
import { reduceSum } from '../ops/shape.js';

/**
 * `norm`: torch.nn.utils.clip_grad_norm_(max_norm=max): the L2 norm over every gradient together,
 * and each gradient scaled by min(1, max/(norm + 1e-6)). `value`: clip_grad_value_: each element
 * clamped to [−max, max].
 */
export interface GradClip {
  readonly mode: 'norm' | 'value';
  readonly max: number;
}

export const CLIP_MODES: readonly GradClip['mode'][] = ['norm', 'value'];

/**
 * The clipped gradients (a parameter the loss does not reach has none, and counts for nothing
 * in the norm, as in PyTorch).
 *
 * @example
 * const grads = buildStepGraph(createModel('cifar_lenet'), { inputShape: [8, 3, 32, 32], clipGrad: { mode: 'norm', max: 1 } });
 * grads.params.length; // → 10
 */
export function clipGradients(grads: readonly (Value | null)[], c: GradClip): (Value | null)[] {
  if (c.mode === 'value') return grads.map((g) => (g ? clip(g, -c.max, c.max) : g));
  const squares = grads.filter((g): g is Value => g !== null).map((g) => reduceSum(mul(g, g), g.shape.map((_, i) => i)));
  if (!squares.length) return [...grads];
  const total = sqrt(squares.reduce((a, b) => add(a, b)));
  const coef = clip(div(c.max, add(total, 1e-6)), 0, 1);
  return grads.map((g) => (g ? mul(g, coef) : g));
}
