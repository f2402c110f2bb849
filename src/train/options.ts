/**
 * What a training run is asked to do (`TrainOptions`, pytorch-cifar's defaults) and how it can
 * fail; shared by the trainer's phases (src/train/trainer.ts) and `tessera train`.
 */
import { UserError } from '../errors.js';
import type { ScheduleName } from './schedule.js';
import type { MixupMode } from './mixup.js';
import type { SamplerName } from './class-balance.js';
import type { AirbenchVariant } from './airbench-schedule.js';
import type { PretrainSpec } from '../mae/spec.js';

export interface TrainOptions {
  /** registry name, e.g. 'cifar_resnet18' */
  readonly model: string;
  /** cifar10 | cifar100 | an ImageFolder directory */
  readonly data: string;
  readonly valSplit?: number;
  readonly val?: string;
  /** validate every N epochs and after the last (default 1: every epoch) */
  readonly valInterval?: number;
  /** may be fractional: the last epoch stops after its share of the batches (⌈batches per epoch · epochs⌉ steps in all) */
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
  /** Mixup's Beta α (timm --mixup; 0: off); see mixup.ts */
  readonly mixup: number;
  /** CutMix's Beta α (timm --cutmix; 0: off) */
  readonly cutmix: number;
  /** CutMix box sides as [lo, hi) fractions of the image's (turns CutMix on) */
  readonly cutmixMinmax?: readonly [number, number];
  /** probability of mixing a batch (image, pair) */
  readonly mixupProb: number;
  /** probability of CutMix rather than Mixup when both are on */
  readonly mixupSwitchProb: number;
  readonly mixupMode: MixupMode;
  /** binary cross-entropy with logits instead of cross-entropy (timm --bce-loss) */
  readonly bceLoss: boolean;
  /** BCE targets above it become 1, the others 0 */
  readonly bceTargetThresh?: number;
  /** softmax focal loss with this γ instead of cross-entropy */
  readonly focalGamma?: number;
  /** balanced | effective:BETA | a file of per-class weights; see class-balance.ts */
  readonly classWeights?: string;
  /** weighted sampling with replacement per epoch */
  readonly sampler?: SamplerName;
  /** keep a long-tailed training set: class i keeps n_max·R^(−i/(k−1)) images */
  readonly imbalanceRatio?: number;
  /** keep an EMA of the weights (timm's ModelEmaV3; src/train/ema.ts) */
  readonly modelEma: boolean;
  readonly modelEmaDecay: number;
  readonly modelEmaWarmup: boolean;
  /** wrap the optimizer in Lookahead (src/optim/lookahead.ts) */
  readonly lookahead: boolean;
  readonly lookaheadSteps: number;
  readonly lookaheadAlpha: number;
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
  /** the random crop's padding (torchvision RandomCrop's `padding`; default 4 at 32×32, scaled with the size) */
  readonly cropPadding?: number;
  /** how the random crop pads: zeros (constant) or the mirrored border (reflect) */
  readonly paddingMode: 'constant' | 'reflect';
  /** a cutout×cutout square of zeros per training image, after normalization (airbench96's 12; 0 or absent: off) */
  readonly cutout?: number;
  /** horizontal flip: random (p = 0.5), alternating (airbench's), none */
  readonly flip: 'random' | 'alternating' | 'none';
  /** the loss over a batch: its mean, or its sum (airbench's; the logged loss stays the mean) */
  readonly lossReduction: 'mean' | 'sum';
  /** airbench's own mechanics for its models (src/train/airbench.ts): whitening start, lookahead, frozen whitening bias, TTA */
  readonly airbench?: AirbenchVariant;
  /** the `--recipe` the options started from (kept in config.json for reports; a resumed run keeps its run's) */
  readonly recipe?: string;
  /** AdamW's betas (timm's --opt-betas; default 0.9, 0.999) */
  readonly optBetas?: readonly [number, number];
  /** self-supervised pre-training instead of classification (`tessera pretrain`; src/mae/): labels are ignored, a flat image folder is accepted */
  readonly pretrain?: PretrainSpec;
  /** train only the classifier, on frozen features, behind a BatchNorm without affine (MAE's linear probe; src/mae/linear-probe.ts) */
  readonly linearProbe?: boolean;
  /** timm's --drop-path: the stochastic-depth rate of models that have it (their own default when absent); see src/train/run-model.ts */
  readonly dropPath?: number;
  /** the patch size of a ViT that takes one (vit_*_cifar: 4 by default); kept in checkpoints so eval, predict and export rebuild the model */
  readonly patchSize?: number;
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
  mixup: 0,
  cutmix: 0,
  mixupProb: 1,
  mixupSwitchProb: 0.5,
  mixupMode: 'batch',
  bceLoss: false,
  modelEma: false,
  modelEmaDecay: 0.9998,
  modelEmaWarmup: false,
  lookahead: false,
  lookaheadSteps: 6,
  lookaheadAlpha: 0.5,
  paddingMode: 'constant',
  flip: 'random',
  lossReduction: 'mean',
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
