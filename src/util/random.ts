/** The one seeded generator of the project: tests, benchmarks and parameter initialization draw from it. */

/**
 * mulberry32: a small, fast 32-bit generator; the same `seed` gives the same stream of uniform
 * numbers in [0, 1) on every run and platform.
 *
 * @example
 * const rand = mulberry32(42);
 * const a = [rand(), rand()];
 * const again = mulberry32(42);
 * [again(), again()]; // → a
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
