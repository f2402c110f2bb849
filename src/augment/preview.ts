/** What `tessera augment IMAGE... --aa POLICY [--seed N --n K]` draws for each image. */
import type { RgbImage } from '../data/transforms.js';
import { CIFAR10_MEAN } from '../data/types.js';
import { sampleRng } from '../data/worker.js';
import { applyPolicy } from './policy.js';
import { parsePolicy } from './policy-parse.js';

/** A policy preview: a file-name label and draw `draw` of image `imageIndex`. */
export interface PolicyPreview {
  readonly label: string;
  apply(img: RgbImage, imageIndex: number, draw: number): RgbImage;
}

/**
 * Draw `draw` of image `imageIndex` applies the policy with `sampleRng(seed, draw, imageIndex)`:
 * the policy's draws for sample `imageIndex` in epoch `draw` of a run with that seed (the crop
 * and flip before it left out), geometric ops bilinear and timm's fill from CIFAR's mean, as
 * `tessera train` does by default. A bad policy string is a UserError naming `where`.
 *
 * @example
 *   const preview = policyPreview('rand-m9-mstd0.5-inc1', 0, '--aa');
 *   preview.label; // → 'rand-m9-mstd0.5-inc1'
 *   preview.apply({ width: 8, height: 8, data: new Uint8Array(192).fill(50) }, 0, 2).width; // → 8
 */
export function policyPreview(text: string, seed: number, where: string): PolicyPreview {
  const config = parsePolicy(text, where);
  return {
    label: text.replace(/[^A-Za-z0-9._-]/g, '_'),
    apply: (img, imageIndex, draw) => applyPolicy(img, config, sampleRng(seed, draw, imageIndex), { mean: CIFAR10_MEAN }),
  };
}
