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
  /** `step` schedule milestones (epochs); default half and three quarters of the epochs */
  readonly milestones?: readonly number[];
  readonly warmupEpochs: number;
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
  /** augmentation policy string (timm's --aa; src/augment/policy-parse.ts) */
  readonly aa?: string;
  /** timm's RandomErasing: probability (default 0: off), fill mode (default pixel), most boxes (default 1) */
  readonly reprob?: number;
  readonly remode?: 'const' | 'rand' | 'pixel';
  readonly recount?: number;
  /** RandomResizedCrop at this size (torchvision's --train-crop-size); --scale/--ratio also turn it on */
  readonly trainCropSize?: number;
  /** RandomResizedCrop's area and aspect ranges, `LO,HI` (timm's --scale 0.08,1 and --ratio 0.75,1.3333) */
  readonly scale?: string;
  readonly ratio?: string;
  /** evaluation Resize (shorter side) and CenterCrop sizes (torchvision's --val-resize-size, --val-crop-size) */
  readonly valResizeSize?: number;
  readonly valCropSize?: number;
  /** resampling of RandomResizedCrop and the evaluation resize (default bilinear) */
  readonly interpolation?: 'bilinear' | 'bicubic';
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
