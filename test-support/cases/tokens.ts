/**
 * Gradient-check cases for tokens.ts (per-sample token gathers with run-time indices), with their
 * plain-JS forward references. Indices repeat on purpose: the scatter must add them up.
 */
import { gatherTokens, scatterTokens } from '../../src/ops/index.js';
import { GradCase } from '../gradcheck.js';
import { DTYPES, Ref, labels, refCheck } from './common.js';

const [N, L, K, D] = [2, 5, 4, 3];

/** out[n, k, d] = x[n, ids[n, k], d] */
function gatherRef([x, ids]: number[][]): Ref {
  const data: number[] = [];
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) data.push(x[(n * L + ids[n * K + k]) * D + d]);
  return { shape: [N, K, D], data };
}

/** out[n, ids[n, k], d] += src[n, k, d] */
function scatterRef([src, ids]: number[][]): Ref {
  const data = new Array<number>(N * L * D).fill(0);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) data[(n * L + ids[n * K + k]) * D + d] += src[(n * K + k) * D + d];
  return { shape: [N, L, D], data };
}

export const tokenCases: GradCase[] = DTYPES.flatMap((dtype): GradCase[] => [
  {
    op: 'GatherTokens',
    name: `GatherTokens ${K} of ${L} tokens per sample, repeated ids (${dtype})`,
    inputs: [{ shape: [N, L, D], dtype }, { shape: [N, K], dtype: 'int64', gen: labels(L) }],
    build: ([x, ids]) => gatherTokens(x, ids),
    check: refCheck(dtype, gatherRef),
  },
  {
    op: 'ScatterTokens',
    name: `ScatterTokens ${K} tokens into ${L} per sample, repeated ids (${dtype})`,
    inputs: [{ shape: [N, K, D], dtype }, { shape: [N, K], dtype: 'int64', gen: labels(L) }],
    build: ([src, ids]) => scatterTokens(src, ids, L),
    check: refCheck(dtype, scatterRef),
  },
]);
