/** Seeded random numbers and PyTorch's default initializers. */
import { mulberry32 } from '../util/random.js';

/** A seedable PRNG (mulberry32) with uniform and normal draws. */
export class Rng {
  private readonly uniform01: () => number;
  private spare: number | null = null;

  constructor(seed = 0) {
    this.uniform01 = mulberry32(seed);
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.uniform01();
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = this.next() || 1e-12;
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

let globalRng = new Rng(0);

/** Seeds the generator used for parameter initialization (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

export function initRng(): Rng {
  return globalRng;
}

/** fan_in and fan_out as torch.nn.init computes them */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((p, d) => p * d, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: shape[0] * receptive };
}

export function uniform(shape: readonly number[], bound: number): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = globalRng.uniform(-bound, bound);
  return out;
}

export function normal(shape: readonly number[], std: number, mean = 0): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * globalRng.normal();
  return out;
}

/** truncated normal in [mean - 2std, mean + 2std] (timm/torchvision's trunc_normal_ with default bounds) */
export function truncNormal(shape: readonly number[], std: number): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = globalRng.normal();
    while (Math.abs(v) > 2);
    out[i] = v * std;
  }
  return out;
}

/** kaiming_normal_(mode='fan_out', nonlinearity='relu'), torchvision's conv init */
export function kaimingNormalFanOut(shape: readonly number[]): Float32Array {
  return normal(shape, Math.sqrt(2 / fans(shape).fanOut));
}

/** PyTorch's default Conv/Linear weight init: kaiming_uniform_(a=√5), i.e. U(±1/√fan_in) */
export function defaultWeight(shape: readonly number[]): Float32Array {
  return uniform(shape, 1 / Math.sqrt(fans(shape).fanIn));
}
