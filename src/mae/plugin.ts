/**
 * MAE pre-training as a training-run plugin (TrainOptions.pretrain; `tessera pretrain --method
 * mae`): the trainer's own loop, run folder, checkpoints, resume and report, with
 *  - slot 0: the `--model` ViT wrapped in MAE's pre-training model (src/mae/model.ts);
 *  - slot 1: the step graph's loss replaced by MAE's objective, its masking drawn per step from
 *    (seed, step) and fed as graph inputs;
 *  - slot 3: with a validation set, the reconstruction loss over it (`valMaeLoss` in
 *    metrics.jsonl) and a grid of original / masked / reconstructed images in report.html.
 *
 * @example
 * await train({ ...TRAIN_DEFAULTS, model: 'vit_tiny_cifar', data: 'photos/', epochs: 1, out: 'runs/mae',
 *   optimizer: 'adamw', pretrain: { method: 'mae', maskRatio: 0.75, normPixLoss: false, blr: 1.5e-4, ...MAE_DECODER_DEFAULTS } });
 */
import { UserError } from '../errors.js';
import { VisionTransformer } from '../models/vit.js';
import type { Module } from '../nn/module.js';
import type { StepObjective } from '../runtime/step-graph.js';
import type { EpochEvaluation, TrainPlugin } from '../train/hooks.js';
import { writeReportSection } from '../report/sections.js';
import { escapeHtml } from '../report/html.js';
import { MaskedAutoencoder } from './model.js';
import { maskingRng, randomMasking, visiblePatches } from './masking.js';
import type { PretrainSpec } from './spec.js';
import { ReconstructionGrid, validateMae } from './validation.js';

/** The report section's title. */
export const RECONSTRUCTION_SECTION = 'MAE reconstructions';

/** MAE's objective for batches of `batch` images (see the module comment). */
export function maeObjective(mae: MaskedAutoencoder, spec: Pick<PretrainSpec, 'maskRatio' | 'normPixLoss'>, batch: number, seed: number): StepObjective {
  const l = mae.numPatches;
  const keep = visiblePatches(l, spec.maskRatio);
  return {
    description: `MAE reconstruction (mean squared error) of the ${l - keep} masked of ${l} patches${spec.normPixLoss ? ', per-patch normalised pixels' : ''}`,
    inputs: [
      { name: 'ids_keep', shape: [batch, keep], dtype: 'int64' },
      { name: 'ids_restore', shape: [batch, l], dtype: 'int64' },
      { name: 'mask', shape: [batch, l], dtype: 'float32' },
    ],
    loss: (model, input, inputs) => {
      if (!(model instanceof MaskedAutoencoder)) throw new Error(`the MAE objective needs a MaskedAutoencoder, got ${model.constructor.name}`);
      return model.run(input, { idsKeep: inputs.ids_keep, idsRestore: inputs.ids_restore, mask: inputs.mask }, spec.normPixLoss).loss;
    },
    feeds: (step) => {
      const m = randomMasking(batch, l, spec.maskRatio, maskingRng(seed, step));
      return { ids_keep: m.idsKeep, ids_restore: m.idsRestore, mask: m.mask };
    },
  };
}

/** The plugin (see the module comment). */
export function maePlugin(spec: PretrainSpec, seed: number): TrainPlugin {
  let mae: MaskedAutoencoder | null = null;
  const built = (): MaskedAutoencoder => {
    if (!mae) throw new Error('MAE plugin: the model slot has not run');
    return mae;
  };
  return {
    name: 'mae',
    model: (model: Module, options) => {
      if (!(model instanceof VisionTransformer)) throw new UserError(`--method mae pre-trains a VisionTransformer (vit_tiny_cifar, vit_small_cifar, vit_b_16, …); ${options.model} is not one`);
      mae = new MaskedAutoencoder(model, spec);
      return mae;
    },
    sessionOptions: (o) => ({ ...o, objective: maeObjective(built(), spec, o.inputShape[0], seed) }),
    evaluate: async (view): Promise<EpochEvaluation> => {
      if (!view.valLoader) return { fields: {} };
      const { mean, std } = view.transforms.eval;
      const v = await validateMae(built(), view.valLoader, { ...spec, seed, batchSize: view.options.batchSize, threads: view.options.threads, mean, std });
      writeReportSection(view.out, { title: RECONSTRUCTION_SECTION, html: await gridHtml(v.grid, view.epoch, spec) });
      return { fields: { valMaeLoss: v.loss }, summary: `val MAE loss ${v.loss.toFixed(4)}` };
    },
  };
}

/** the grid as one PNG (rows: images; columns: original, masked, reconstruction) with its caption */
async function gridHtml(grid: ReconstructionGrid, epoch: number, spec: PretrainSpec): Promise<string> {
  const sharp = (await import('sharp')).default;
  const { size, rows } = grid;
  const gap = 2;
  const width = 3 * size + 2 * gap;
  const height = rows.length * size + Math.max(0, rows.length - 1) * gap;
  const hwc = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) =>
    row.forEach((chw, col) => {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const o = ((r * (size + gap) + y) * width + col * (size + gap) + x) * 3;
          for (let c = 0; c < 3; c++) hwc[o + c] = chw[c * size * size + y * size + x];
        }
      }
    }),
  );
  const png = rows.length ? await sharp(hwc, { raw: { width, height, channels: 3 } }).png().toBuffer() : null;
  const caption = `after epoch ${epoch}: validation images (rows), original / ${Math.round(spec.maskRatio * 100)}% masked / reconstruction with the visible patches pasted back${spec.normPixLoss ? ' (normalised-pixel predictions de-normalised with each patch’s own mean and variance)' : ''}`;
  const img = png ? `<img src="data:image/png;base64,${png.toString('base64')}" alt="MAE reconstructions" style="width:${width * 3}px;image-rendering:pixelated">` : '<p>no validation images</p>';
  return `<figure>${img}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}
