/**
 * Helpers shared by several model families.
 *
 * @example
 * makeDivisible(32 * 0.75, 8); // 24
 * makeDivisible(1280 * 1.4, 8); // 1792
 */

/**
 * torchvision's `_make_divisible` (from the TensorFlow MobileNet code): rounds `v` to the nearest
 * multiple of `divisor`, at least `minValue` (default `divisor`), never more than 10% below `v`.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let newV = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}
