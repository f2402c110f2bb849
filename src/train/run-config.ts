/**
 * Phase "config": the run's config.json, the resolved configuration (options, model, data, split,
 * transforms, optimizer, schedule, version) that `--resume` reads its options back from.
 */
import type { ModelInfo } from '../models/index.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import type { TrainOptions } from './options.js';
import { scheduleOptions } from './optimization.js';
import type { RunTransforms } from './setup.js';
import type { Splits } from './subset.js';

/** What config.json records beyond the options. */
export interface RunConfigParts {
  readonly info: ModelInfo;
  readonly parameters: number;
  readonly splits: Splits;
  readonly transforms: RunTransforms;
  readonly optimizer: Readonly<Record<string, string | number | boolean>>;
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
      ...scheduleOptions(opts),
      stepping: opts.sched === 'onecycle' || (opts.schedOnUpdates && (opts.sched === 'cosine' || opts.sched === 'linear')) ? 'per iteration' : 'per epoch',
      warmupStepping: 'per iteration',
    },
    batchesPerEpoch: p.batchesPerEpoch,
    droppedPerEpoch: p.splits.train.length - p.batchesPerEpoch * opts.batchSize,
    resumedFrom: p.ckpt ? { checkpoint: p.ckpt.path, epoch: p.ckpt.meta.epoch, stepCount: p.ckpt.meta.stepCount } : null,
  };
}

/**
 * Every option the run was given, unset ones as null, with the loader's worker count resolved
 * (so a resumed run reads back exactly what this one used).
 */
function configOptions(opts: TrainOptions, workers: number): Record<string, unknown> {
  const given = Object.entries(opts).map(([key, value]: [string, unknown]) => [key, value ?? null]);
  return { ...Object.fromEntries(given), workers };
}
