/** Gamma, Beta and Dirichlet draws from an `Rng`: Mixup/CutMix's λ, AugMix's mixing weights. */
import type { Rng } from '../nn/init.js';

/**
 * One Gamma(shape, 1) draw (Marsaglia and Tsang; shape < 1 through Gamma(shape + 1)·U^(1/shape)).
 *
 * @example
 *   sampleGamma(new Rng(1), 2) > 0; // → true
 */
export function sampleGamma(rng: Rng, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`gamma shape must be a positive number, got ${shape}`);
  if (shape < 1) {
    const boost = Math.pow(1 - rng.next(), 1 / shape); // 1 - U lies in (0, 1]: never 0^(1/shape)
    return sampleGamma(rng, shape + 1) * boost;
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng.next();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * One draw of a Dirichlet distribution with the given concentrations (normalised Gamma draws).
 *
 * @example
 *   const w = sampleDirichlet(new Rng(1), [1, 1, 1]);
 *   Math.abs(w[0] + w[1] + w[2] - 1) < 1e-12; // → true
 */
export function sampleDirichlet(rng: Rng, alphas: readonly number[]): number[] {
  const draws = alphas.map((a) => sampleGamma(rng, a));
  const total = draws.reduce((s, g) => s + g, 0);
  return draws.map((g) => g / total);
}

/**
 * A Beta(a, b) draw, as X/(X+Y) of two Gamma draws.
 *
 * @example
 *   const lam = sampleBeta(new Rng(7), 0.2, 0.2);
 *   lam >= 0 && lam <= 1; // → true
 */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  for (;;) {
    const x = sampleGamma(rng, a);
    const y = sampleGamma(rng, b);
    if (x + y > 0) return x / (x + y);
  }
}
