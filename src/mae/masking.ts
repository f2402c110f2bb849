/**
 * MAE's per-sample random masking (`random_masking` in facebookresearch/mae models_mae.py), drawn
 * in TypeScript and fed to the step graph: each sample's L noise values are sorted ascending
 * (`ids_shuffle`), the first K = round(L·(1 − ratio)) stay visible (`ids_keep`), `ids_restore`
 * is the inverse permutation and `mask` is 1 on the L − K masked patches, in the original order.
 * The draws depend only on (seed, step) for training and (seed, image index) for the
 * validation grid, so a resumed run masks exactly as a run never stopped.
 *
 * @example
 * const m = randomMasking(2, 16, 0.75, maskingRng(0, 1));
 * [m.keep, m.idsKeep.length, m.mask.reduce((a, b) => a + b)]; // → [4, 8, 24]
 */
import { UserError } from '../errors.js';
import { mulberry32 } from '../util/random.js';

/** The masking of a batch, as the step graph's inputs take it. */
export interface MaskBatch {
  /** visible patches per sample (K) */
  readonly keep: number;
  /** [N, K] the visible patches of each sample, in shuffle order */
  readonly idsKeep: BigInt64Array;
  /** [N, L] position of each patch in the shuffle (the inverse of ids_shuffle) */
  readonly idsRestore: BigInt64Array;
  /** [N, L] 1 for a masked patch, 0 for a visible one */
  readonly mask: Float32Array;
}

/**
 * The number of visible patches of L at a mask ratio: round(L·(1 − ratio)); a ratio outside
 * (0, 1), or one that leaves no patch visible or none masked, is a UserError line.
 *
 * @example
 * visiblePatches(64, 0.75); // → 16
 */
export function visiblePatches(numPatches: number, ratio: number): number {
  if (!(ratio > 0 && ratio < 1)) throw new UserError(`--mask-ratio must be between 0 and 1 (exclusive), got ${ratio}`);
  const keep = Math.round(numPatches * (1 - ratio));
  if (keep < 1 || keep >= numPatches) throw new UserError(`--mask-ratio ${ratio} leaves ${keep} of ${numPatches} patches visible; MAE needs at least one visible and one masked patch`);
  return keep;
}

/** the generator of a step's (or an image's) masking */
export function maskingRng(seed: number, draw: number): () => number {
  return mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(draw + 1, 0x85ebca6b)) >>> 0);
}

/** Draws the masking of `batch` samples of `numPatches` patches (see the module comment). */
export function randomMasking(batch: number, numPatches: number, ratio: number, rand: () => number): MaskBatch {
  const keep = visiblePatches(numPatches, ratio);
  const idsKeep = new BigInt64Array(batch * keep);
  const idsRestore = new BigInt64Array(batch * numPatches);
  const mask = new Float32Array(batch * numPatches);
  const noise = new Float64Array(numPatches);
  const order = Array.from({ length: numPatches }, (_, i) => i);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < numPatches; i++) noise[i] = rand();
    // argsort (ties by index, as a stable sort breaks them)
    order.sort((a, b) => noise[a] - noise[b] || a - b);
    order.forEach((patch, rank) => {
      idsRestore[n * numPatches + patch] = BigInt(rank);
      mask[n * numPatches + patch] = rank < keep ? 0 : 1;
      if (rank < keep) idsKeep[n * keep + rank] = BigInt(patch);
    });
  }
  return { keep, idsKeep, idsRestore, mask };
}
