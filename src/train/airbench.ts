/**
 * airbench's own mechanics in a Tessera run (`--airbench airbench94`, set by `--recipe
 * airbench94`), for the models built for them (cifar_airbench94, cifar_airbench96). The rest of
 * airbench's recipe is ordinary options in recipes/airbench94.yaml (batch 1024, 9.9 epochs,
 * Nesterov SGD with its decoupled hyperparameters, BatchNorm biases at 64× the rate, label
 * smoothing 0.2 summed over the batch, `--sched airbench`, alternating flip, reflect translate).
 *
 * - normalization with airbench's CIFAR-10 mean and std (run-transforms.ts);
 * - whitening: before the first step of a new run the whitening conv is set from 5,000 evenly
 *   spaced training images (normalized, not augmented; src/models/cifar/whitening.ts);
 * - lookahead over every float tensor of the state dict, BatchNorm statistics included: after
 *   every 5th step the average moves to the weights with decay 0.95⁵·(step/total)³ and the
 *   weights restart from it, and after the last step the weights become the average; it runs in
 *   the step graph as an EMA (StepEma with `buffers` and `copy`), so checkpoints carry it;
 * - the whitening conv's bias trains in the first 3 epochs only (a per-step rate factor of 0
 *   after them, which freezes it: from then on the step graph computes no gradient through the
 *   whitening conv, as PyTorch's airbench does with `requires_grad = False`);
 * - after the last epoch the validation set is also classified with airbench's TTA level 2
 *   (mirror and one-pixel reflect shifts, logits weighted; airbench-tta.ts): `valTtaTop1`.
 *
 * @example
 * const plugin = airbenchPlugin('airbench94');
 * plugin.name; // → 'airbench'
 */
import { DataLoader } from '../data/loader.js';
import type { ImageDataset, TransformSpec } from '../data/types.js';
import { modelInfo } from '../models/index.js';
import { initWhitening, whiteningIndices } from '../models/cifar/whitening.js';
import type { Module } from '../nn/module.js';
import type { ParamGroup } from '../optim/optimizer.js';
import { InferenceModel } from '../runtime/inference.js';
import type { StepEma } from '../runtime/step-graph.js';
import type { TrainingSessionOptions } from '../runtime/training-session.js';
import { AirbenchTtaLevel, airbenchTtaViews, applyAirbenchView, combineViewLogits } from './airbench-tta.js';
import { AirbenchVariant, LOOKAHEAD_EVERY, WHITEN_BIAS_EPOCHS, lookaheadDecay } from './airbench-schedule.js';
import type { EvalResult } from './evaluate.js';
import type { EpochEvaluation, EvaluationView, RunView, TrainPlugin } from './hooks.js';
import { TrainOptions, TrainSetupError } from './options.js';
import { totalEpochs } from './schedule.js';
import { subset } from './subset.js';
import { ProbabilityTally, softmax } from './test-time.js';

/** airbench's CIFAR-10 normalization (its `CIFAR_MEAN`, `CIFAR_STD`). */
export const AIRBENCH_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const AIRBENCH_STD = [0.247, 0.2435, 0.2616] as const;

/** the whitening conv's bias, by state-dict key */
const WHITEN_BIAS = '0.bias';
/** the graph input of the whitening bias's rate factor */
const WHITEN_BIAS_LR_INPUT = 'whiten_bias_lr';
/** the TTA level of the final evaluation */
const FINAL_TTA_LEVEL: AirbenchTtaLevel = 2;

/**
 * A TrainSetupError unless `--airbench` is given with a model built for it (its family's source
 * is airbench).
 *
 * @example
 * requireAirbenchModel({ model: 'cifar_airbench94', airbench: 'airbench94' }); // passes
 * requireAirbenchModel({ model: 'resnet50', airbench: 'airbench94' }); // throws: --airbench airbench94 (…) fits cifar_airbench94 and cifar_airbench96; resnet50 is …
 */
export function requireAirbenchModel(opts: Pick<TrainOptions, 'model' | 'airbench'>): void {
  if (opts.airbench === undefined) return;
  const info = modelInfo(opts.model);
  if (info.source === 'airbench') return;
  throw new TrainSetupError(
    `--airbench ${opts.airbench} (recipe ${opts.airbench}: whitening conv, frozen BatchNorm scales, lookahead over its state) fits cifar_airbench94 and cifar_airbench96; ${opts.model} is a ${info.family} model from ${info.source}: use --model cifar_airbench94, or another recipe for ${opts.model}`,
  );
}

/** The step graph's lookahead (see the module comment): EMA weight 1 − decay on every 5th step, weights restarting from it then and after the last step. */
export function airbenchLookahead(totalSteps: number): StepEma {
  return {
    buffers: true,
    weight: (step) => (step % LOOKAHEAD_EVERY === 0 ? 1 - lookaheadDecay(step, totalSteps) : 0),
    copy: (step) => (step % LOOKAHEAD_EVERY === 0 || step >= totalSteps ? 1 : 0),
  };
}

/** The parameter groups with the whitening bias's rate factor: 1 in the first 3 epochs, 0 after. */
function withWhitenBiasFreeze(groups: ReadonlyMap<string, ParamGroup> | undefined, model: Module, weightDecay: number, batchesPerEpoch: number): Map<string, ParamGroup> {
  const out = new Map(groups ?? []);
  const known = [...model.namedParameters()].some(([key, p]) => key === WHITEN_BIAS && p.requiresGrad);
  if (!known) throw new TrainSetupError(`--airbench: the model has no trainable whitening bias ${WHITEN_BIAS}`);
  const lrFactor = { name: WHITEN_BIAS_LR_INPUT, value: (step: number) => (Math.floor((step - 1) / batchesPerEpoch) < WHITEN_BIAS_EPOCHS ? 1 : 0) };
  out.set(WHITEN_BIAS, { ...(groups?.get(WHITEN_BIAS) ?? { weightDecay, lrScale: 1 }), lrFactor });
  return out;
}

/**
 * Phase "whitening" of a new `--airbench` run: the whitening conv from the training images
 * `whiteningIndices` picks, transformed by `spec` (the evaluation transform: normalization only);
 * fewer than 5,000 images says so in `log` and uses them all.
 */
export async function whitenFromTraining(model: Module, train: ImageDataset, spec: TransformSpec, opts: { readonly workers?: number; readonly seed: number }, log: (line: string) => void): Promise<void> {
  const indices = Int32Array.from(whiteningIndices(train.length));
  const images = subset(train, indices, `${train.name} (whitening)`);
  const loader = new DataLoader(images, { batchSize: Math.min(500, indices.length), shuffle: false, seed: opts.seed, dropLast: false, transform: spec, workers: opts.workers });
  const per = 3 * spec.size * spec.size;
  const data = new Float32Array(indices.length * per);
  let n = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      data.set(batch.input.subarray(0, batch.size * per), n * per);
      n += batch.size;
    }
  } finally {
    await loader.close();
  }
  const started = performance.now();
  initWhitening(model, { shape: [n, 3, spec.size, spec.size], data: data.subarray(0, n * per) }, { onNotice: log });
  log(`whitening: the first conv from the 2×2 patches of ${Math.min(n, indices.length)} training images (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

/**
 * Classifies everything `loader` yields with airbench's TTA at `level`: each view's logits
 * weighted and summed, the accuracy taken from them (the loss from their softmax).
 */
export async function evaluateAirbenchTta(model: Module, loader: DataLoader, opts: { readonly size: number; readonly numClasses: number; readonly threads?: number; readonly level: AirbenchTtaLevel }): Promise<EvalResult> {
  const { size, numClasses: C } = opts;
  const views = airbenchTtaViews(opts.level);
  const net = await InferenceModel.create(model, { inputShape: [1, 3, size, size], dynamicBatch: true, threads: opts.threads });
  try {
    const tally = new ProbabilityTally(C);
    const skipped: EvalResult['skipped'][number][] = [];
    for await (const batch of loader.epoch(0)) {
      const n = batch.size;
      const shifted = new Float32Array(n * 3 * size * size);
      const logits: Float32Array[] = [];
      for (const view of views) {
        applyAirbenchView(batch.input, n, 3, size, view, shifted);
        const out = (await net.run({ dtype: 'float32', shape: [n, 3, size, size], data: shifted })).data;
        if (!(out instanceof Float32Array)) throw new Error('airbench TTA: the model did not return float32 logits');
        logits.push(Float32Array.from(out));
      }
      const combined = combineViewLogits(logits, views);
      for (let r = 0; r < n; r++) tally.add(softmax(combined.subarray(r * C, (r + 1) * C)), Number(batch.target[r]));
      skipped.push(...batch.skipped);
    }
    return tally.result(skipped);
  } finally {
    await net.release();
  }
}

/** The airbench plugin: lookahead and the whitening-bias freeze in the step graph, the TTA evaluation after the last epoch. */
export function airbenchPlugin(variant: AirbenchVariant): TrainPlugin {
  return {
    name: 'airbench',
    sessionOptions: (options: TrainingSessionOptions, run: RunView): TrainingSessionOptions => {
      const total = Math.ceil(run.batchesPerEpoch * run.options.epochs);
      const paramGroups = withWhitenBiasFreeze(options.paramGroups, run.model, run.options.weightDecay, run.batchesPerEpoch);
      return { ...options, ema: airbenchLookahead(total), paramGroups };
    },
    evaluate: async (view: EvaluationView): Promise<EpochEvaluation> => {
      if (view.epoch < totalEpochs(view.options) || !view.valLoader) return { fields: {} };
      const r = await evaluateAirbenchTta(view.model, view.valLoader, { size: view.transforms.eval.size, numClasses: view.classes.length, threads: view.options.threads, level: FINAL_TTA_LEVEL });
      return { fields: { valTtaTop1: r.top1, valTtaLoss: r.loss }, summary: `${variant} TTA top-1 ${(100 * r.top1).toFixed(2)}%` };
    },
  };
}
