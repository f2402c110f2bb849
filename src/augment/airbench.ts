/**
 * airbench's training augmentation (legacy/airbench94.py's CifarLoader), per image and pure:
 *
 * - alternating flip: each image is mirrored or not once, at random, before training; every odd
 *   epoch then mirrors the whole set, so an image alternates between its two orientations
 *   instead of drawing one each epoch;
 * - translation: the (once-flipped) image is reflect-padded by r (2 for airbench94, 4 for 96)
 *   and cropped back to its size at a shift (dy, dx) drawn uniformly from [−r, r]² each epoch;
 * - in that order: start flip, translation, then the odd-epoch flip of the translated image;
 * - airbench96 then cuts a 12-pixel square out of the normalized image (`cutOut`).
 *
 * airbench works on normalized floats; flipping, reflect padding and cropping only move
 * pixels, so on uint8 images before normalization they give the same result.
 *
 * @example
 * alternatingFlip(true, 0); // → true
 * alternatingFlip(true, 1); // → false
 * const img = { width: 3, height: 2, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6) };
 * reflectTranslate(img, 0, 1, 1).data.subarray(0, 3); // → Uint8Array.of(2, 3, 2)
 */
import { crop, hflip, type RgbImage } from '../data/transforms.js';
import { seedFrom } from '../data/worker.js';
import { Rng } from '../nn/init.js';
import { pad } from './geometry.js';

/** the random stream of the once-per-image flip ('flip') */
const START_FLIP_STREAM = 0x666c6970;

/** Whether image `index` starts mirrored: drawn once per (seed, image), the same in every epoch. */
export function flippedAtStart(seed: number, index: number): boolean {
  return new Rng(seedFrom(START_FLIP_STREAM, seed, index)).next() < 0.5;
}

/** Whether an image that started `startFlipped` is mirrored in 0-based epoch `epoch`: the start flip, inverted on odd epochs. */
export function alternatingFlip(startFlipped: boolean, epoch: number): boolean {
  return startFlipped !== (epoch % 2 === 1);
}

/** A shift (dy, dx), each uniform over the integers in [−radius, radius] (y first, as airbench draws them). */
export function drawTranslation(rng: Rng, radius: number): [number, number] {
  const dy = rng.int(2 * radius + 1) - radius;
  return [dy, rng.int(2 * radius + 1) - radius];
}

/** The image reflect-padded by `radius` and cropped back to its size `dy` rows down and `dx` columns right. */
export function reflectTranslate(img: RgbImage, dy: number, dx: number, radius: number): RgbImage {
  if (Math.abs(dy) > radius || Math.abs(dx) > radius) throw new RangeError(`translation (${dy}, ${dx}) is outside ±${radius}`);
  return crop(pad(img, radius, { mode: 'reflect' }), radius + dy, radius + dx, img.height, img.width);
}

/**
 * airbench96's cutout (DeVries & Taylor's, as airbench draws it): a `size`×`size` square of
 * zeros on the normalized `height`×`width` image at `offset` in `dst`, its top-left corner
 * uniform over the positions that keep it wholly inside the image (top first).
 */
export function cutOut(dst: Float32Array, offset: number, height: number, width: number, size: number, rng: Rng): void {
  if (size > height || size > width) throw new RangeError(`a ${size}×${size} cutout does not fit a ${height}×${width} image`);
  const top = rng.int(height - size + 1);
  const left = rng.int(width - size + 1);
  for (let c = 0; c < 3; c++) {
    for (let y = top; y < top + size; y++) {
      const row = offset + (c * height + y) * width + left;
      dst.fill(0, row, row + size);
    }
  }
}

/** Where an image's augmentation comes from: its start flip, the epoch and this epoch's draws. */
export interface AirbenchDraw {
  readonly startFlipped: boolean;
  readonly epoch: number;
  /** the translation radius (0: none) */
  readonly radius: number;
  /** this epoch's random numbers for the image (its translation) */
  readonly rng: Rng;
}

/** One image's airbench augmentation: start flip, reflect-pad translation, then the odd-epoch flip. */
export function airbenchAugment(img: RgbImage, d: AirbenchDraw): RgbImage {
  const start = d.startFlipped ? hflip(img) : img;
  const [dy, dx] = d.radius > 0 ? drawTranslation(d.rng, d.radius) : [0, 0];
  const moved = d.radius > 0 ? reflectTranslate(start, dy, dx, d.radius) : start;
  return d.epoch % 2 === 1 ? hflip(moved) : moved;
}
