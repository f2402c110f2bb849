/**
 * The setup phases of a training run, in the order `train` calls them: the target (model,
 * resume checkpoint, run folder), the splits, the model, the optimizer, the schedule, the
 * loaders and the TrainingSession. Each is one function; the resume phases are in resume.ts,
 * the config in run-config.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataLoader } from '../data/loader.js';
import { CIFAR10_MEAN, CIFAR10_STD, ImageDataset, TransformSpec } from '../data/types.js';
import { ModelInfo, createModel, modelInfo } from '../models/index.js';
import { runModelOptions } from './run-model.js';
import { manualSeed } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { adamw } from '../optim/adamw.js';
import type { OptimizerEmitter } from '../optim/optimizer.js';
import { sgd } from '../optim/sgd.js';
import type { LossSpec } from '../runtime/step-graph.js';
import { TrainingSession, TrainingSessionOptions } from '../runtime/training-session.js';
import { LoadedCheckpoint, resolveCheckpoint } from './checkpoint.js';
import { RunView, TrainPlugin, applyModelHooks, applySessionHooks } from './hooks.js';
import { TrainOptions, TrainSetupError } from './options.js';
import { restoreEma, restoreOptimizer } from './resume.js';
import { lookahead } from '../optim/lookahead.js';
import { Schedule, makeSchedule } from './schedule.js';
import { scheduleOptions, stepOptimization } from './optimization.js';
import { Splits, openSplits } from './subset.js';
import { classCounts, classWeightsFor, datasetLabels, longTailedSplits, sampledOrder } from './class-balance.js';
import { mixupPlugin } from './mixup.js';
import { modelEmaPlugin, runEmaOptions } from './ema.js';
import { airbenchPlugin, requireAirbenchModel } from './airbench.js';
import { reportPlugin } from '../report/plugin.js';
import { EpochProgress, ProgressSink } from './progress.js';
import { maePlugin } from '../mae/plugin.js';
import { linearProbePlugin } from '../mae/linear-probe.js';

/** The train and eval transforms of a run. */
export interface RunTransforms {
  readonly train: TransformSpec;
  readonly eval: TransformSpec;
}

/**
 * The transforms pytorch-cifar trains and tests with, at `size` (the crop padding scales with it).
 *
 * @example
 * cifarTransforms(32).train; // { size: 32, randomCrop: { padding: 4 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD }
 */
export function cifarTransforms(size: number): RunTransforms {
  const norm = { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
  return {
    train: { size, randomCrop: { padding: Math.max(1, Math.round((size * 4) / 32)) }, hflip: true, ...norm },
    eval: { size, ...norm },
  };
}

/**
 * Tessera's version, from its package.json ('unknown' when it cannot be found).
 *
 * @example
 * tesseraVersion(); // '0.1.0'
 */
export function tesseraVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'tessera' && pkg.version) return pkg.version;
      } catch {
        // keep looking
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/**
 * Phase "optimizer": the optimizer emitter the options ask for (wrapped in Lookahead with `lookahead`).
 *
 * @example
 * makeOptimizer({ optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 }).config.name; // 'sgd'
 * makeOptimizer({ optimizer: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 5e-4, lookahead: true, lookaheadSteps: 6, lookaheadAlpha: 0.5 }).slots; // ['momentum_buffer', 'lookahead_slow_buff']
 */
export function makeOptimizer(opts: Pick<TrainOptions, 'optimizer' | 'momentum' | 'nesterov' | 'weightDecay'> & Partial<Pick<TrainOptions, 'lookahead' | 'lookaheadSteps' | 'lookaheadAlpha' | 'optBetas'>>): OptimizerEmitter {
  const base = opts.optimizer === 'adamw' ? adamw({ weightDecay: opts.weightDecay, betas: opts.optBetas && [...opts.optBetas] }) : sgd({ momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay });
  return opts.lookahead ? lookahead(base, { k: opts.lookaheadSteps, alpha: opts.lookaheadAlpha }) : base;
}

/** What the options name, resolved before the run folder is touched. */
export interface RunTarget {
  readonly info: ModelInfo;
  /** the checkpoint file to resume from */
  readonly resumePath?: string;
  /** whether the run continues a checkpoint of its own folder */
  readonly resumingHere: boolean;
}

/** Phase "setup", first half: the model and the resume checkpoint exist (UnknownModelError, CheckpointError). */
export function resolveTarget(opts: TrainOptions): RunTarget {
  const info = modelInfo(opts.model);
  requireAirbenchModel(opts);
  const resumePath = opts.resume !== undefined ? resolveCheckpoint(opts.resume, 'last') : undefined;
  const resumingHere = resumePath !== undefined && resolve(dirname(resumePath)) === resolve(opts.out);
  return { info, resumePath, resumingHere };
}

/** Phase "setup", second half (with the folder locked): a new run never overwrites a run that finished an epoch. */
export function refuseFinishedRun(out: string, target: RunTarget): void {
  // a folder whose run never finished an epoch (config.json, no checkpoint) holds nothing to keep
  const runExists = existsSync(join(out, 'config.json')) && existsSync(join(out, 'last.safetensors'));
  if (runExists && !target.resumingHere) throw new TrainSetupError(`${out} already holds a run (config.json, last.safetensors); continue it with --resume ${out} or choose another --out`);
}

/** Phase "splits": the training and validation sets; the training set must fill one batch. */
export async function openTrainData(opts: TrainOptions): Promise<Splits> {
  const opened = await openSplits({ data: opts.data, valSplit: opts.valSplit, val: opts.val, cacheDir: opts.cacheDir, offline: opts.offline, unlabelled: opts.pretrain !== undefined });
  const splits = opts.imbalanceRatio === undefined ? opened : longTailedSplits(opened, opts.imbalanceRatio);
  if (splits.train.length < opts.batchSize) {
    throw new TrainSetupError(`the training set has ${splits.train.length} images, fewer than one batch of ${opts.batchSize} (training drops partial batches); lower --batch-size`);
  }
  if (opts.sched === 'plateau' && !splits.val) throw new TrainSetupError('--sched plateau follows the validation top-1, and this run does not validate; give --val-split N or --val DIR, or another schedule');
  return splits;
}

/** Phase "model": built from `seed` (pretrained weights for a new run), then the checkpoint's weights when resuming. */
export function buildModel(opts: TrainOptions, numClasses: number, ckpt: LoadedCheckpoint | undefined, log: (line: string) => void, plugins: readonly TrainPlugin[] = []): Module {
  manualSeed(opts.seed);
  const model = applyModelHooks(plugins, createModel(opts.model, { numClasses, pretrained: ckpt ? undefined : opts.pretrained, onNotice: log, ...runModelOptions(opts) }), opts, log);
  if (ckpt) model.loadStateDict(ckpt.modelState);
  return model;
}

/** Phase "schedule": the learning rate per (epoch, iteration). */
export function buildSchedule(opts: TrainOptions): Schedule {
  try {
    return makeSchedule(scheduleOptions(opts));
  } catch (e) {
    throw new TrainSetupError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Phase "loss": cross-entropy, binary cross-entropy (`--bce-loss`) or focal loss
 * (`--focal-gamma`), with label smoothing and the `--class-weights` of the training set's counts.
 *
 * @example
 * trainLoss({ ...TRAIN_DEFAULTS, bceLoss: true, bceTargetThresh: 0.2 }, trainSet); // { kind: 'bce', targetThreshold: 0.2, labelSmoothing: 0 }
 */
export function trainLoss(opts: Pick<TrainOptions, 'bceLoss' | 'bceTargetThresh' | 'focalGamma' | 'labelSmoothing' | 'classWeights'> & Partial<Pick<TrainOptions, 'lossReduction'>>, train: ImageDataset): LossSpec {
  const kind = opts.bceLoss ? { kind: 'bce' as const, targetThreshold: opts.bceTargetThresh } : opts.focalGamma !== undefined ? { kind: 'focal' as const, gamma: opts.focalGamma } : { kind: 'ce' as const };
  const classWeights = opts.classWeights === undefined ? undefined : classWeightsFor(opts.classWeights, classCounts(datasetLabels(train), train.classes.length));
  if (opts.lossReduction === 'sum' && classWeights) throw new TrainSetupError('--loss-reduction sum with --class-weights: the weighted sum is not defined here; use the mean');
  return { ...kind, labelSmoothing: opts.labelSmoothing, classWeights, ...(opts.lossReduction === 'sum' ? { reduction: 'sum' as const } : {}) };
}

/**
 * The plugins every run with these options has (before the caller's): Mixup/CutMix when
 * `--mixup`, `--cutmix` or `--cutmix-minmax` asks for it (timm's `mixup_active`), the
 * EMA's validation when `--model-ema` does, airbench's lookahead, whitening-bias freeze and
 * TTA with `--airbench`; last, the run's report.html (src/report/plugin.ts).
 */
export function builtInPlugins(opts: TrainOptions): TrainPlugin[] {
  const mixing = opts.mixup > 0 || opts.cutmix > 0 || opts.cutmixMinmax !== undefined;
  const mixupOptions = { mixupAlpha: opts.mixup, cutmixAlpha: opts.cutmix, cutmixMinmax: opts.cutmixMinmax, prob: opts.mixupProb, switchProb: opts.mixupSwitchProb, mode: opts.mixupMode, labelSmoothing: opts.labelSmoothing };
  const method = [...(opts.pretrain ? [maePlugin(opts.pretrain, opts.seed)] : []), ...(opts.linearProbe ? [linearProbePlugin()] : [])];
  return [...method, ...(opts.modelEma ? [modelEmaPlugin(runEmaOptions(opts))] : []), ...(mixing ? [mixupPlugin(mixupOptions, opts.seed)] : []), ...(opts.airbench ? [airbenchPlugin(opts.airbench)] : []), reportPlugin()];
}

/** The run's loaders. */
export interface RunLoaders {
  readonly train: DataLoader;
  readonly val: DataLoader | null;
  close(): Promise<void>;
}

/** Phase "loader": training batches shuffled per (seed, epoch), the last partial one dropped; validation keeps every image. */
export function openLoaders(opts: TrainOptions, splits: Splits, transforms: RunTransforms): RunLoaders {
  const { sampler } = opts;
  const labels = sampler ? datasetLabels(splits.train) : null;
  const order = sampler && labels ? (epoch: number) => sampledOrder(labels, splits.classes.length, sampler, opts.seed, epoch) : undefined;
  const train = new DataLoader(splits.train, { batchSize: opts.batchSize, shuffle: true, seed: opts.seed, dropLast: true, transform: transforms.train, workers: opts.workers, order });
  const val = splits.val ? new DataLoader(splits.val, { batchSize: opts.batchSize, shuffle: false, seed: opts.seed, dropLast: false, transform: transforms.eval, workers: opts.workers }) : null;
  return {
    train,
    val,
    async close() {
      await train.close();
      await val?.close();
    },
  };
}

/**
 * Phase "decode": the training files decoded into the loader's cache before the first step (when
 * it keeps one; DataLoader.predecode), with progress, so that no epoch decodes beside the training
 * step. Files that fail are counted here and replaced in every epoch.
 */
export async function predecodeTraining(loader: DataLoader, sink: ProgressSink): Promise<void> {
  if (!loader.cachesDecodedFiles) return;
  const images = loader.dataset.length;
  const started = performance.now();
  const progress = new EpochProgress({ epoch: 1, epochs: 1, label: `decoding ${images} training images`, batches: Math.ceil(images / loader.batchSize), sink });
  const { decoded, failed } = await loader.predecode((done) => progress.update({ batch: done, images: Math.min(images, done * loader.batchSize), loss: null, correct: null }));
  const seconds = (performance.now() - started) / 1000;
  const failures = failed.length === 0 ? '' : `; ${failed.length} could not be decoded (e.g. ${failed[0].reason}) and are replaced in every epoch`;
  progress.finish(`decoded ${decoded} training images in ${seconds.toFixed(1)} s (${Math.round(images / seconds)} img/s)${failures}`);
}

/**
 * Phase "session": the step graph built from the options after every plugin's `sessionOptions`
 * (step-graph extras), with the checkpoint's optimizer state when resuming.
 */
export async function openSession(
  opts: TrainOptions,
  base: { model: Module; optimizer: OptimizerEmitter; loss: LossSpec; size: number; ckpt: LoadedCheckpoint | undefined },
  plugins: readonly TrainPlugin[],
  run: RunView,
): Promise<{ session: TrainingSession; options: TrainingSessionOptions }> {
  const initial: TrainingSessionOptions = {
    inputShape: [opts.batchSize, 3, base.size, base.size],
    optimizer: base.optimizer,
    loss: base.loss,
    threads: opts.threads,
    ...stepOptimization(opts, base.model, run.log),
  };
  const options = applySessionHooks(plugins, initial, run);
  const session = await TrainingSession.create(base.model, options);
  try {
    if (base.ckpt) restoreOptimizer(session, base.ckpt);
    if (base.ckpt) restoreEma(session, base.ckpt);
  } catch (e) {
    await session.release();
    throw e;
  }
  return { session, options };
}
