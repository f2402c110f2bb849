/**
 * What a training run is asked to do (`TrainOptions`, pytorch-cifar's defaults) and how it can
 * fail; shared by the trainer's phases (src/train/trainer.ts) and `tessera train`.
 */
import { UserError } from '../errors.js';
import type { ScheduleName } from './schedule.js';

export interface TrainOptions {
  /** registry name, e.g. 'cifar_resnet18' */
  readonly model: string;
  /** cifar10 | cifar100 | an ImageFolder directory */
  readonly data: string;
  readonly valSplit?: number;
  readonly val?: string;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly optimizer: 'sgd' | 'adamw';
  readonly sched: ScheduleName;
  /** `multistep` schedule milestones (epochs); default half and three quarters of the epochs */
  readonly decayMilestones?: readonly number[];
  /** `multistep` and `plateau` decay factor */
  readonly decayRate: number;
  /** `plateau`: epochs without a better validation top-1 before a decay */
  readonly patienceEpochs: number;
  readonly warmupEpochs: number;
  /** the rate warmup starts from */
  readonly warmupLr: number;
  /** the floor of cosine, linear and plateau */
  readonly minLr: number;
  /** extra epochs at the schedule's final rate after `epochs` */
  readonly cooldownEpochs: number;
  /** cosine and linear step per iteration instead of per epoch */
  readonly schedOnUpdates: boolean;
  /** weight decay of norm layers' parameters (default: weightDecay) */
  readonly normWeightDecay?: number;
  /** weight decay of parameters named `bias` (default: weightDecay) */
  readonly biasWeightDecay?: number;
  /** learning-rate multipliers, `PATTERN=X,PATTERN=X` (src/optim/param-groups.ts) */
  readonly lrMult?: string;
  /** parameters not trained, `PATTERN,PATTERN` */
  readonly freeze?: string;
  /** timm's layer-wise learning-rate decay (families with a layer-id rule) */
  readonly layerDecay?: number;
  /** gradient clipping threshold (see clipMode) */
  readonly clipGrad?: number;
  readonly clipMode: 'norm' | 'value';
  readonly labelSmoothing: number;
  readonly seed: number;
  /** ONNX Runtime intra-op threads */
  readonly threads: number;
  /** loader worker threads (default: the loader's) */
  readonly workers?: number;
  /** the run folder */
  readonly out: string;
  readonly cacheDir?: string;
  readonly offline?: boolean;
  /** a run folder or checkpoint to continue from */
  readonly resume?: string;
  /** a checkpoint file whose weights start a new run (mapped by the family's key filter; see createModel) */
  readonly pretrained?: string;
}

/** pytorch-cifar's settings (main.py): SGD 0.1, momentum 0.9, weight decay 5e-4, cosine over 200 epochs, batch 128. */
export const TRAIN_DEFAULTS = {
  epochs: 200,
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
  optimizer: 'sgd',
  sched: 'cosine',
  warmupEpochs: 0,
  decayRate: 0.1,
  patienceEpochs: 10,
  warmupLr: 0,
  minLr: 0,
  cooldownEpochs: 0,
  schedOnUpdates: false,
  clipMode: 'norm',
  labelSmoothing: 0,
  seed: 0,
} as const satisfies Partial<TrainOptions>;

/** A mistake in the training setup (output folder, batch size, resume target); the CLI exits 2. */
export class TrainSetupError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'TrainSetupError';
  }
}

/** The loss became NaN or infinite; training stopped and `last` is the last good checkpoint. */
export class TrainingDivergedError extends Error {
  constructor(
    message: string,
    readonly epoch: number,
    readonly step: number,
  ) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}
