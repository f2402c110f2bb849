/**
 * Phase "config": the run's config.json, the resolved configuration (options, model, data, split,
 * transforms, optimizer, schedule, version) that `--resume` reads its options back from.
 */
import type { ModelInfo } from '../models/index.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import type { TrainOptions } from './options.js';
import type { RunTransforms } from './setup.js';
import type { Splits } from './subset.js';

/** What config.json records beyond the options. */
export interface RunConfigParts {
  readonly info: ModelInfo;
  readonly parameters: number;
  readonly splits: Splits;
  readonly transforms: RunTransforms;
  readonly optimizer: Readonly<Record<string, string | number | boolean>>;
  readonly milestones: readonly number[] | undefined;
  readonly batchesPerEpoch: number;
  /** the loader's worker count (the default resolved) */
  readonly workers: number;
  readonly ckpt: LoadedCheckpoint | undefined;
  readonly version: string;
}

/** The config.json object of a run. */
export function runConfig(opts: TrainOptions, p: RunConfigParts) {
  const size = p.info.inputSize;
  return {
    tessera: p.version,
    createdAt: new Date().toISOString(),
    options: configOptions(opts, p.workers),
    model: { name: p.info.name, family: p.info.family, inputSize: size, numClasses: p.splits.classes.length, parameters: p.parameters },
    dataset: { spec: opts.data, train: p.splits.info.train, classes: p.splits.classes },
    split: p.splits.info,
    transform: p.transforms,
    optimizer: p.optimizer,
    schedule: {
      name: opts.sched,
      lr: opts.lr,
      epochs: opts.epochs,
      warmupEpochs: opts.warmupEpochs,
      warmupLr: opts.warmupLr,
      minLr: opts.minLr,
      cooldownEpochs: opts.cooldownEpochs,
      milestones: p.milestones ?? null,
      decayRate: opts.decayRate,
      stepping: opts.sched === 'onecycle' || (opts.schedOnUpdates && (opts.sched === 'cosine' || opts.sched === 'linear')) ? 'per iteration' : 'per epoch',
      warmupStepping: 'per iteration',
    },
    batchesPerEpoch: p.batchesPerEpoch,
    droppedPerEpoch: p.splits.train.length - p.batchesPerEpoch * opts.batchSize,
    resumedFrom: p.ckpt ? { checkpoint: p.ckpt.path, epoch: p.ckpt.meta.epoch, stepCount: p.ckpt.meta.stepCount } : null,
  };
}

/** Every option, unset ones as null (so a resumed run reads back exactly what this one used). */
function configOptions(opts: TrainOptions, workers: number) {
  return {
    model: opts.model,
    data: opts.data,
    valSplit: opts.valSplit ?? null,
    val: opts.val ?? null,
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    lr: opts.lr,
    momentum: opts.momentum,
    nesterov: opts.nesterov,
    weightDecay: opts.weightDecay,
    optimizer: opts.optimizer,
    sched: opts.sched,
    decayMilestones: opts.decayMilestones ?? null,
    decayRate: opts.decayRate,
    patienceEpochs: opts.patienceEpochs,
    warmupEpochs: opts.warmupEpochs,
    warmupLr: opts.warmupLr,
    minLr: opts.minLr,
    cooldownEpochs: opts.cooldownEpochs,
    schedOnUpdates: opts.schedOnUpdates,
    normWeightDecay: opts.normWeightDecay ?? null,
    biasWeightDecay: opts.biasWeightDecay ?? null,
    lrMult: opts.lrMult ?? null,
    freeze: opts.freeze ?? null,
    layerDecay: opts.layerDecay ?? null,
    clipGrad: opts.clipGrad ?? null,
    clipMode: opts.clipMode,
    labelSmoothing: opts.labelSmoothing,
    seed: opts.seed,
    threads: opts.threads,
    workers,
    out: opts.out,
    cacheDir: opts.cacheDir ?? null,
    offline: opts.offline ?? false,
    resume: opts.resume ?? null,
    pretrained: opts.pretrained ?? null,
    mixup: opts.mixup,
    cutmix: opts.cutmix,
    cutmixMinmax: opts.cutmixMinmax ?? null,
    mixupProb: opts.mixupProb,
    mixupSwitchProb: opts.mixupSwitchProb,
    mixupMode: opts.mixupMode,
    bceLoss: opts.bceLoss,
    bceTargetThresh: opts.bceTargetThresh ?? null,
    focalGamma: opts.focalGamma ?? null,
    classWeights: opts.classWeights ?? null,
    sampler: opts.sampler ?? null,
    imbalanceRatio: opts.imbalanceRatio ?? null,
    modelEma: opts.modelEma,
    modelEmaDecay: opts.modelEmaDecay,
    modelEmaWarmup: opts.modelEmaWarmup,
    lookahead: opts.lookahead,
    lookaheadSteps: opts.lookaheadSteps,
    lookaheadAlpha: opts.lookaheadAlpha,
    aa: opts.aa ?? null,
    reprob: opts.reprob ?? 0,
    remode: opts.remode ?? 'pixel',
    recount: opts.recount ?? 1,
    trainCropSize: opts.trainCropSize ?? null,
    scale: opts.scale ?? null,
    ratio: opts.ratio ?? null,
    valResizeSize: opts.valResizeSize ?? null,
    valCropSize: opts.valCropSize ?? null,
    interpolation: opts.interpolation ?? 'bilinear',
  } satisfies Record<keyof TrainOptions, unknown>;
}
