/**
 * One entry for every policy string: `applyPolicy(img, 'rand-m9-mstd0.5-inc1', rng, opts)` parses
 * the string (once per string) and runs the policy it names.
 */
import type { RgbImage } from '../data/transforms.js';
import { roundHalfEven } from './pixels.js';
import type { Rng } from '../nn/init.js';
import { augMix, autoAugment, randAugment, trivialAugmentWide } from './policies.js';
import { PolicyConfig, parsePolicy } from './policy-parse.js';
import { timmRandAugment } from './timm-rand.js';

/** What the policies need from the pipeline. */
export interface ApplyPolicyOptions {
  /** resampling of the geometric ops (default bilinear, torchvision's reference training) */
  readonly interpolation?: 'nearest' | 'bilinear';
  /** the normalization mean: timm's policies fill with it (×255), torchvision's with 0 */
  readonly mean?: readonly number[];
}

const parsed = new Map<string, PolicyConfig>();

function configOf(policy: string | PolicyConfig): PolicyConfig {
  if (typeof policy !== 'string') return policy;
  let config = parsed.get(policy);
  if (!config) {
    config = parsePolicy(policy);
    if (parsed.size > 64) parsed.clear();
    parsed.set(policy, config);
  }
  return config;
}


/**
 * Applies the policy a string names (or a parsed PolicyConfig) to one image, drawing from `rng`.
 * An unknown string is a UserError listing the valid ones.
 *
 * @example
 *   const img = { width: 32, height: 32, data: new Uint8Array(3 * 32 * 32).fill(90) };
 *   applyPolicy(img, 'ta_wide', new Rng(1)).width; // → 32
 */
export function applyPolicy(img: RgbImage, policy: string | PolicyConfig, rng: Rng, opts: ApplyPolicyOptions = {}): RgbImage {
  const config = configOf(policy);
  const interpolation = opts.interpolation ?? 'bilinear';
  switch (config.kind) {
    case 'autoaugment':
      return autoAugment(img, config.policy, rng, { interpolation });
    case 'randaugment':
      return randAugment(img, config, rng, { interpolation });
    case 'trivialaugment':
      return trivialAugmentWide(img, config, rng, { interpolation });
    case 'augmix':
      return augMix(img, config, rng, { interpolation });
    case 'timm-rand': {
      // timm's img_mean: round(255 · mean), at most 255
      const fill = opts.mean?.map((m) => Math.min(255, roundHalfEven(255 * m)));
      return timmRandAugment(img, config, rng, { interpolation, fill });
    }
  }
}
