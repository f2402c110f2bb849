/** Gradient-check cases for layernorm.ts (LayerNormalization over the last axis, and the channels-first helper). */
import { layerNorm, layerNorm2d } from '../../src/ops/index.js';
import { GradCase, uniform } from '../gradcheck.js';
import { DTYPES, Ref, refCheck } from './common.js';

/** layer norm over the last axis (size `c`), optionally channels-first [N, C, H, W] */
function layerNormRef(x: number[], xs: readonly number[], gamma: number[], beta: number[], eps: number, channelsFirst = false): Ref {
  const out = new Array<number>(x.length);
  const c = channelsFirst ? xs[1] : xs[xs.length - 1];
  const inner = channelsFirst ? xs[2] * xs[3] : 1;
  const groups = x.length / c;
  for (let gi = 0; gi < groups; gi++) {
    const base = channelsFirst ? Math.floor(gi / inner) * c * inner + (gi % inner) : gi * c;
    const idx = (k: number) => base + k * inner;
    let m = 0;
    for (let k = 0; k < c; k++) m += x[idx(k)] / c;
    let v = 0;
    for (let k = 0; k < c; k++) v += (x[idx(k)] - m) ** 2 / c;
    const inv = 1 / Math.sqrt(v + eps);
    for (let k = 0; k < c; k++) out[idx(k)] = (x[idx(k)] - m) * inv * gamma[k] + beta[k];
  }
  return { shape: [...xs], data: out };
}

const LN_EPS = 1e-5;

export const layerNormCases: GradCase[] = DTYPES.flatMap((dtype): GradCase[] => [
  ...[
    [4, 6],
    [2, 3, 5],
    [7],
  ].map(
    (xs): GradCase => ({
      op: 'LayerNormalization',
      name: `LayerNormalization [${xs}] (${dtype})`,
      inputs: [{ shape: xs, dtype }, { shape: [xs[xs.length - 1]], dtype, gen: uniform(0.5, 2) }, { shape: [xs[xs.length - 1]], dtype }],
      build: ([x, g, b]) => layerNorm(x, g, b, LN_EPS),
      check: refCheck(dtype, ([x, g, b]) => layerNormRef(x, xs, g, b, LN_EPS)),
    }),
  ),
  {
    op: 'LayerNormalization',
    name: `layerNorm2d (channels-first) [2,4,3,3] eps 1e-6 (${dtype})`,
    inputs: [{ shape: [2, 4, 3, 3], dtype }, { shape: [4], dtype, gen: uniform(0.5, 2) }, { shape: [4], dtype }],
    build: ([x, g, b]) => layerNorm2d(x, g, b, 1e-6),
    check: refCheck(dtype, ([x, g, b]) => layerNormRef(x, [2, 4, 3, 3], g, b, 1e-6, true)),
  },
]);
