/**
 * The random parameters of torchvision's RandomResizedCrop and ColorJitter, drawn from an `Rng` with
 * torchvision's formulas and draw order (torch's own generator cannot be reproduced: the draws
 * differ, the logic is the same), and ColorJitter's application.
 */
import type { RgbImage } from '../data/transforms.js';
import type { Rng } from '../nn/init.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation } from './color.js';
import { roundHalfEven } from './pixels.js';

/** A crop window: top-left corner and size, in pixels. */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

function checkRange(name: string, range: readonly [number, number], positive: boolean): void {
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi || (positive ? lo <= 0 : lo < 0)) {
    throw new RangeError(`${name} must be [min, max] with ${positive ? '0 <' : '0 ≤'} min ≤ max, got ${JSON.stringify(range)}`);
  }
}

/**
 * `RandomResizedCrop.get_params(img, scale, ratio)`: up to 10 tries of an area fraction uniform in
 * `scale` and an aspect ratio (w/h) log-uniform in `ratio`, sides rounded half to even; the first
 * window that fits gets a uniform position (top, then left). When none fits: the centred window of
 * the whole image clamped to the ratio range.
 *
 * @example
 * augment.randomResizedCropParams(32, 32, [1, 1], [1, 1], new Rng(0)); // → { top: 0, left: 0, height: 32, width: 32 }
 */
export function randomResizedCropParams(height: number, width: number, scale: readonly [number, number], ratio: readonly [number, number], rng: Rng): CropBox {
  checkRange('scale', scale, false);
  checkRange('ratio', ratio, true);
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let [w, h] = [width, height];
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** ColorJitter's ranges: one number v means [max(0, 1 − v), 1 + v] ([−v, v] for hue), or [min, max]. */
export interface ColorJitterRanges {
  readonly brightness?: number | readonly [number, number];
  readonly contrast?: number | readonly [number, number];
  readonly saturation?: number | readonly [number, number];
  /** within [−0.5, 0.5] */
  readonly hue?: number | readonly [number, number];
}

/** The drawn factors (absent: that adjustment is off) and the order of the four adjustments (0 brightness, 1 contrast, 2 saturation, 3 hue). */
export interface ColorJitterParams {
  readonly order: readonly number[];
  readonly factors: { readonly brightness?: number; readonly contrast?: number; readonly saturation?: number; readonly hue?: number };
}

/** `ColorJitter._check_input`: the [min, max] of one range, or undefined when it changes nothing. */
function jitterRange(name: string, value: number | readonly [number, number] | undefined, hue: boolean): readonly [number, number] | undefined {
  if (value === undefined) return undefined;
  const center = hue ? 0 : 1;
  let range: [number, number];
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new RangeError(`ColorJitter ${name} must be non-negative, got ${value}`);
    range = [hue ? -value : Math.max(0, 1 - value), center + value];
  } else {
    range = [value[0], value[1]];
  }
  const [lo, hi] = hue ? [-0.5, 0.5] : [0, Infinity];
  if (!(lo <= range[0] && range[0] <= range[1] && range[1] <= hi)) throw new RangeError(`ColorJitter ${name} must lie in [${lo}, ${hi}] with min ≤ max, got ${JSON.stringify(range)}`);
  return range[0] === center && range[1] === center ? undefined : range;
}

/**
 * `ColorJitter.get_params`: a random order of the four adjustments (a Fisher–Yates permutation),
 * then one uniform factor per active range, in torchvision's order (brightness, contrast,
 * saturation, hue).
 *
 * @example
 * augment.colorJitterParams({ brightness: 0.4 }, new Rng(1)).factors.brightness! >= 0.6; // → true
 */
export function colorJitterParams(ranges: ColorJitterRanges, rng: Rng): ColorJitterParams {
  const active = {
    brightness: jitterRange('brightness', ranges.brightness, false),
    contrast: jitterRange('contrast', ranges.contrast, false),
    saturation: jitterRange('saturation', ranges.saturation, false),
    hue: jitterRange('hue', ranges.hue, true),
  };
  const order = [0, 1, 2, 3];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const draw = (range: readonly [number, number] | undefined) => (range === undefined ? undefined : rng.uniform(range[0], range[1]));
  const brightness = draw(active.brightness);
  const contrast = draw(active.contrast);
  const saturation = draw(active.saturation);
  const hue = draw(active.hue);
  return { order, factors: { brightness, contrast, saturation, hue } };
}

/**
 * ColorJitter's forward with drawn parameters: the adjustments in `params.order`, each skipped when
 * its factor is absent.
 *
 * @example
 * const img = { width: 1, height: 1, data: Uint8Array.of(10, 20, 30) };
 * augment.colorJitter(img, { order: [0, 1, 2, 3], factors: { brightness: 2 } }).data; // → Uint8Array.of(20, 40, 60)
 */
export function colorJitter(img: RgbImage, params: ColorJitterParams): RgbImage {
  const { brightness, contrast, saturation, hue } = params.factors;
  const steps: readonly ((x: RgbImage) => RgbImage)[] = [
    (x) => (brightness === undefined ? x : adjustBrightness(x, brightness)),
    (x) => (contrast === undefined ? x : adjustContrast(x, contrast)),
    (x) => (saturation === undefined ? x : adjustSaturation(x, saturation)),
    (x) => (hue === undefined ? x : adjustHue(x, hue)),
  ];
  if ([...params.order].sort().join() !== '0,1,2,3') throw new RangeError(`ColorJitter order must be a permutation of 0..3, got ${JSON.stringify(params.order)}`);
  const copy: RgbImage = { width: img.width, height: img.height, data: img.data.slice() };
  return params.order.reduce((x, k) => steps[k](x), copy);
}
