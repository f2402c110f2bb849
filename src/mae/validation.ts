/**
 * MAE's validation after each pre-training epoch: the reconstruction loss over the validation
 * set (every image masked by its own fixed draw, so epochs compare) and a grid of the first
 * images: original, masked, and the reconstruction with the visible patches pasted back (as MAE's
 * visualisation shows it; with `normPixLoss` the predicted patches are de-normalised with the
 * original patch's mean and variance first).
 */
import type { DataLoader } from '../data/loader.js';
import { Trace, traceWith } from '../nn/trace.js';
import { writeOnnx } from '../onnx/write.js';
import { createSession, ort } from '../runtime/ort.js';
import { MaskedAutoencoder } from './model.js';
import { maskingRng, randomMasking } from './masking.js';

/** A few validation images, each as three 8-bit RGB planes (CHW) of one size. */
export interface ReconstructionGrid {
  readonly size: number;
  /** per image: original, masked, reconstruction (visible patches pasted) */
  readonly rows: readonly (readonly [Uint8Array, Uint8Array, Uint8Array])[];
}

export interface MaeValidation {
  /** mean squared error over the masked patches of every validation image */
  readonly loss: number;
  readonly grid: ReconstructionGrid;
}

export interface MaeValidationOptions {
  readonly maskRatio: number;
  readonly normPixLoss: boolean;
  readonly seed: number;
  readonly batchSize: number;
  readonly threads?: number;
  /** the eval transform's normalisation, to turn inputs back into pixels */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** images in the grid */
  readonly gridImages?: number;
}

/** the fixed masking of validation image `index` (a stream apart from the training steps') */
const validationRng = (seed: number, index: number) => maskingRng(seed ^ 0x5bd1e995, index);

/** Runs the validation (see the module comment); the model's weights are read as they are now. */
export async function validateMae(mae: MaskedAutoencoder, loader: DataLoader, opts: MaeValidationOptions): Promise<MaeValidation> {
  const b = opts.batchSize;
  const size = mae.gridSize * mae.patchSize;
  const [l, p] = [mae.numPatches, mae.patchDim];
  const keep = randomMasking(1, l, opts.maskRatio, validationRng(opts.seed, 0)).keep;
  const session = await createSession(validationGraph(mae, b, keep, opts.normPixLoss), { threads: opts.threads });
  const rows: [Uint8Array, Uint8Array, Uint8Array][] = [];
  let [weighted, masked] = [0, 0];
  try {
    for await (const batch of loader.epoch(0)) {
      const input = new Float32Array(b * 3 * size * size);
      input.set(batch.input.subarray(0, batch.size * 3 * size * size));
      const m = batchMasking(Array.from(batch.indices.subarray(0, batch.size)), b, l, opts);
      const out = await session.run({
        input: new ort.Tensor('float32', input, [b, 3, size, size]),
        ids_keep: new ort.Tensor('int64', m.idsKeep, [b, keep]),
        ids_restore: new ort.Tensor('int64', m.idsRestore, [b, l]),
        mask: new ort.Tensor('float32', m.mask, [b, l]),
      });
      const count = batch.size * (l - keep);
      weighted += Number(out.loss.data[0]) * count;
      masked += count;
      const pred = out.pred.data;
      if (!(pred instanceof Float32Array)) throw new Error('MAE validation: pred is not float32');
      for (let n = 0; n < batch.size && rows.length < (opts.gridImages ?? 8); n++) {
        rows.push(gridRow(mae, input.subarray(n * 3 * size * size, (n + 1) * 3 * size * size), pred.subarray(n * l * p, (n + 1) * l * p), m.mask.subarray(n * l, (n + 1) * l), opts));
      }
    }
  } finally {
    await session.release();
  }
  return { loss: masked ? weighted / masked : NaN, grid: { size, rows } };
}

/** the forward graph: input, ids_keep, ids_restore, mask → loss, pred (eval mode, weights as constants) */
function validationGraph(mae: MaskedAutoencoder, b: number, keep: number, normPixLoss: boolean): Uint8Array {
  const wasTraining = mae.training;
  mae.eval();
  try {
    const trace = new Trace(mae, { weights: 'constants' });
    const g = trace.graph;
    const size = mae.gridSize * mae.patchSize;
    const l = mae.numPatches;
    const { loss, pred } = traceWith(trace, () =>
      mae.run(g.addInput('input', [b, 3, size, size], 'float32'), { idsKeep: g.addInput('ids_keep', [b, keep], 'int64'), idsRestore: g.addInput('ids_restore', [b, l], 'int64'), mask: g.addInput('mask', [b, l], 'float32') }, normPixLoss),
    );
    return writeOnnx(g, [
      { name: 'loss', value: loss },
      { name: 'pred', value: pred },
    ]);
  } finally {
    mae.train(wasTraining);
  }
}

/** each image's own masking; rows past the batch's images (padding) are masked nowhere, so they add nothing to the loss */
function batchMasking(indices: readonly number[], b: number, l: number, opts: MaeValidationOptions) {
  const draws = indices.map((index) => randomMasking(1, l, opts.maskRatio, validationRng(opts.seed, index)));
  const keep = draws[0]?.keep ?? 0;
  const idsKeep = new BigInt64Array(b * keep);
  const idsRestore = new BigInt64Array(b * l);
  const mask = new Float32Array(b * l);
  for (let n = 0; n < b; n++) {
    const d = draws[n] ?? draws[0];
    if (!d) break;
    idsKeep.set(d.idsKeep, n * keep);
    idsRestore.set(d.idsRestore, n * l);
    if (n < draws.length) mask.set(d.mask, n * l);
  }
  return { idsKeep, idsRestore, mask };
}

/** original, masked and reconstructed pixels of one image (CHW uint8) */
function gridRow(mae: MaskedAutoencoder, input: Float32Array, pred: Float32Array, mask: Float32Array, opts: MaeValidationOptions): [Uint8Array, Uint8Array, Uint8Array] {
  const ps = mae.patchSize;
  const g = mae.gridSize;
  const size = g * ps;
  const plane = size * size;
  const toByte = (v: number, c: number) => Math.max(0, Math.min(255, Math.round((v * opts.std[c] + opts.mean[c]) * 255)));
  const [original, masked, recon] = [new Uint8Array(3 * plane), new Uint8Array(3 * plane), new Uint8Array(3 * plane)];
  for (let patch = 0; patch < g * g; patch++) {
    const [gi, gj] = [Math.floor(patch / g), patch % g];
    const at = (py: number, px: number, c: number) => c * plane + (gi * ps + py) * size + gj * ps + px;
    const predicted = patchPixels(pred.subarray(patch * mae.patchDim, (patch + 1) * mae.patchDim), input, at, ps, opts.normPixLoss);
    for (let py = 0; py < ps; py++) {
      for (let px = 0; px < ps; px++) {
        for (let c = 0; c < 3; c++) {
          const i = at(py, px, c);
          original[i] = toByte(input[i], c);
          masked[i] = mask[patch] ? 128 : original[i];
          recon[i] = mask[patch] ? toByte(predicted[(py * ps + px) * 3 + c], c) : original[i];
        }
      }
    }
  }
  return [original, masked, recon];
}

/** a patch's predicted values in input space: as predicted, or de-normalised with the original patch's mean and unbiased variance */
function patchPixels(pred: Float32Array, input: Float32Array, at: (py: number, px: number, c: number) => number, ps: number, normPixLoss: boolean): Float32Array {
  if (!normPixLoss) return pred;
  const values: number[] = [];
  for (let py = 0; py < ps; py++) for (let px = 0; px < ps; px++) for (let c = 0; c < 3; c++) values.push(input[at(py, px, c)]);
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  const scale = Math.sqrt(variance + 1e-6);
  return pred.map((v) => v * scale + mean);
}
