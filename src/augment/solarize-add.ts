/**
 * timm's `solarize_add` (one of its RandAugment ops; torchvision has no such op): every channel
 * value below `threshold` gets `addition` added, clipped at 255.
 */
import type { RgbImage } from '../data/transforms.js';

/**
 * Adds `addition` to the values below `threshold` (default 128), clipping at 255, as timm's
 * `solarize_add` lookup table does.
 *
 * @example
 *   solarizeAdd({ width: 1, height: 1, data: Uint8Array.of(10, 127, 128) }, 100).data; // → Uint8Array.of(110, 227, 128)
 */
export function solarizeAdd(img: RgbImage, addition: number, threshold = 128): RgbImage {
  if (!Number.isInteger(addition) || addition < 0) throw new RangeError(`solarizeAdd addition must be a whole number ≥ 0, got ${addition}`);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v < threshold ? Math.min(255, v + addition) : v;
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = lut[img.data[i]];
  return { width: img.width, height: img.height, data };
}
