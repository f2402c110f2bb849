/**
 * timm's RandomErasing (`--reprob`, `--remode`, `--recount`), applied to one normalised float
 * image (CHW) after normalisation, as timm's loader does: with probability `prob`, erase 1 to
 * `count` boxes (the number uniform in that range), each of area uniform in [0.02, 1/3] of the
 * image divided by the number of boxes and aspect ratio log-uniform in [0.3, 1/0.3], up to ten
 * tries per box for one that fits; a box is filled with 0 (`const`: the mean colour), one normal
 * value per channel (`rand`) or one per pixel (`pixel`). Draws, in order: the probability coin,
 * the count (only when `count` > 1), then per try the area, the aspect, and for a box that fits
 * its top, its left and its values.
 */
import { roundHalfEven } from './pixels.js';
import type { RandomErasingSpec } from '../data/types.js';
import type { Rng } from '../nn/init.js';

/** One erased box, in pixels. */
export interface ErasedBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

const MIN_AREA = 0.02;
const MAX_AREA = 1 / 3;
const LOG_ASPECT: readonly [number, number] = [Math.log(0.3), Math.log(1 / 0.3)];


/** Python's random.randint(lo, hi): a whole number in [lo, hi], both included. */
const randint = (rng: Rng, lo: number, hi: number) => lo + rng.int(hi - lo + 1);

/**
 * Erases boxes of the `height`×`width` float image at `data[offset ..]` (3 planes) in place, as
 * timm's RandomErasing does, and returns the boxes erased (none when the coin says no).
 *
 * @example
 *   const img = new Float32Array(3 * 32 * 32).fill(1);
 *   const boxes = randomErase(img, 0, 32, 32, { prob: 1, mode: 'const', count: 1 }, new Rng(3));
 *   boxes.length; // → 1
 */
export function randomErase(data: Float32Array, offset: number, height: number, width: number, spec: RandomErasingSpec, rng: Rng): ErasedBox[] {
  if (rng.next() >= spec.prob) return []; // timm: random() > p skips; >= keeps p = 0 from ever erasing
  const area = height * width;
  const count = spec.count > 1 ? randint(rng, 1, spec.count) : spec.count;
  const boxes: ErasedBox[] = [];
  for (let b = 0; b < count; b++) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const target = (rng.uniform(MIN_AREA, MAX_AREA) * area) / count;
      const aspect = Math.exp(rng.uniform(LOG_ASPECT[0], LOG_ASPECT[1]));
      const h = roundHalfEven(Math.sqrt(target * aspect));
      const w = roundHalfEven(Math.sqrt(target / aspect));
      if (w < width && h < height) {
        const box = { top: randint(rng, 0, height - h), left: randint(rng, 0, width - w), height: h, width: w };
        fillBox(data, offset, height, width, box, spec.mode, rng);
        boxes.push(box);
        break;
      }
    }
  }
  return boxes;
}

/** Fills one box of every channel: zeros, a normal value per channel, or one per pixel (CHW order). */
function fillBox(data: Float32Array, offset: number, height: number, width: number, box: ErasedBox, mode: RandomErasingSpec['mode'], rng: Rng): void {
  for (let c = 0; c < 3; c++) {
    const channelValue = mode === 'rand' ? rng.normal() : 0;
    for (let y = box.top; y < box.top + box.height; y++) {
      const row = offset + (c * height + y) * width;
      for (let x = box.left; x < box.left + box.width; x++) data[row + x] = mode === 'pixel' ? rng.normal() : channelValue;
    }
  }
}
