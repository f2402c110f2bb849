/**
 * `tessera train --model NAME --data DIR|cifar10|cifar100 [options]`: trains a registered model
 * into a run folder (see src/train/trainer.ts), with pytorch-cifar's defaults.
 *
 * Options come from, lowest first: the defaults, a recipe (--recipe; a new run only), the run's
 * config.json (with --resume), a flat YAML file (--config), the command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describeFsError } from '../errors.js';
import { basename, join } from 'node:path';
import { findPretrainedFile, modelInfo } from '../models/index.js';
import { defaultThreads } from '../runtime/ort.js';
import { readResumeTarget, resolveCheckpoint } from '../train/checkpoint.js';
import { SCHEDULES } from '../train/schedule.js';
import { AIRBENCH_VARIANTS } from '../train/airbench-schedule.js';
import { requireAirbenchModel } from '../train/airbench.js';
import { CLIP_MODES } from '../optim/clip.js';
import { parseLrMult } from '../optim/param-groups.js';
import { requireLayerIds } from '../train/optimization.js';
import { checkRunModelOptions } from '../train/run-model.js';
import { recipeFile, recipesHelp } from './recipes.js';
import { policyUsage } from '../augment/policy-parse.js';
import { checkTransformOptions } from '../train/run-transforms.js';
import { TRAIN_DEFAULTS, TrainHooks, TrainOptions, TrainingDivergedError, train } from '../train/trainer.js';
import { CliCommand, CommandLine, Given, OptionTable, UsageError, convertOptions, defineCommand, flagName, givenFromConfig, readCommandLine } from './args.js';

/**
 * How `tessera train` is called. Every option is also a `--config` key (a flat YAML file), except
 * --config and --pretrained themselves; the keys are TrainOptions' (src/train/trainer.ts).
 */
export const TRAIN = defineCommand({
  name: 'train',
  usage: '--model NAME --data DIR|cifar10|cifar100 [options]',
  description: `Trains a model into a run folder: config.json, metrics.jsonl (one line per epoch), checkpoints
last and best (by validation top-1) as .safetensors with a readable .json twin. Defaults are
pytorch-cifar's: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule, batch 128,
random crop (padding 4) + horizontal flip, CIFAR mean/std, the model's input size. Training
drops the last partial batch of every epoch (the training graph has a fixed batch shape).`,
  options: {
    model: { kind: 'string', placeholder: 'NAME', config: true, help: 'a registered model (tessera models)' },
    data: { kind: 'string', placeholder: 'SPEC', config: true, help: 'cifar10, cifar100 or an ImageFolder directory' },
    valSplit: { kind: 'int', min: 1, placeholder: 'N', config: true, help: 'hold out the last N images of every class for validation' },
    val: { kind: 'path', placeholder: 'DIR', config: true, help: 'validate on this ImageFolder' },
    valInterval: { kind: 'int', min: 1, max: 1e6, placeholder: 'N', config: true, help: 'validate every N epochs and after the last (default 1)' },
    epochs: { kind: 'number', above: 0, max: 1e6, default: TRAIN_DEFAULTS.epochs, placeholder: 'N', config: true, help: `epochs (default ${TRAIN_DEFAULTS.epochs}); a fraction ends the last epoch early, e.g. 9.9` },
    batchSize: {
      kind: 'int',
      min: 1,
      max: 1 << 16,
      default: TRAIN_DEFAULTS.batchSize,
      placeholder: 'N',
      config: true,
      help: `images per step (default ${TRAIN_DEFAULTS.batchSize}; the last partial batch of an epoch is dropped)`,
    },
    lr: { kind: 'number', above: 0, default: TRAIN_DEFAULTS.lr, placeholder: 'X', config: true, help: `learning rate (default ${TRAIN_DEFAULTS.lr}; the maximum for onecycle)` },
    momentum: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.momentum, placeholder: 'X', config: true, help: `SGD momentum (default ${TRAIN_DEFAULTS.momentum})` },
    nesterov: { kind: 'boolean', config: true, help: 'Nesterov momentum' },
    weightDecay: { kind: 'number', min: 0, default: TRAIN_DEFAULTS.weightDecay, placeholder: 'X', config: true, help: `weight decay (default ${TRAIN_DEFAULTS.weightDecay})` },
    normWeightDecay: { kind: 'number', min: 0, placeholder: 'X', config: true, help: 'weight decay of BatchNorm/LayerNorm parameters (default --weight-decay)' },
    biasWeightDecay: { kind: 'number', min: 0, placeholder: 'X', config: true, help: 'weight decay of parameters named bias (default --weight-decay; before the norm rule)' },
    lrMult: {
      kind: 'string',
      placeholder: 'P=X,...',
      config: true,
      help: 'learning-rate multipliers by parameter name pattern (a key or module path,\n* any characters; the first match applies), e.g. fc=10,layer1=0.1',
    },
    freeze: { kind: 'string', placeholder: 'P,...', config: true, help: 'parameters not trained, by name pattern, e.g. conv1,bn1,layer1' },
    layerDecay: { kind: 'number', above: 0, max: 1, placeholder: 'X', config: true, help: "layer-wise lr decay (timm's): lr × X^(layers above); ViT, Swin, ConvNeXt" },
    clipGrad: { kind: 'number', above: 0, placeholder: 'X', config: true, help: 'clip gradients to a total L2 norm of X (--clip-mode value: each to ±X)' },
    clipMode: { kind: 'choice', choices: CLIP_MODES, default: TRAIN_DEFAULTS.clipMode, placeholder: 'MODE', config: true, help: 'norm (default: clip_grad_norm_) or value' },
    optimizer: { kind: 'choice', choices: ['sgd', 'adamw'], default: TRAIN_DEFAULTS.optimizer, placeholder: 'NAME', config: true, help: 'sgd (default) or adamw' },
    sched: {
      kind: 'choice',
      choices: SCHEDULES,
      default: TRAIN_DEFAULTS.sched,
      placeholder: 'NAME',
      config: true,
      help: "cosine (default), linear, multistep (or step; default ×0.1 at 50% and 75%),\nonecycle (per iteration), plateau (decays when the val top-1 stalls),\nairbench (per step: --airbench's warmup and linear decay)",
    },
    decayMilestones: { kind: 'list', increasing: true, placeholder: 'E1,E2', config: true, help: 'multistep epochs, e.g. 100,150' },
    decayRate: { kind: 'number', above: 0, max: 1, default: TRAIN_DEFAULTS.decayRate, placeholder: 'X', config: true, help: `multistep and plateau decay factor (default ${TRAIN_DEFAULTS.decayRate})` },
    patienceEpochs: { kind: 'int', min: 0, max: 1e6, default: TRAIN_DEFAULTS.patienceEpochs, placeholder: 'N', config: true, help: `plateau: epochs without a better val top-1 before a decay (default ${TRAIN_DEFAULTS.patienceEpochs})` },
    warmupEpochs: { kind: 'number', min: 0, max: 1e6, default: TRAIN_DEFAULTS.warmupEpochs, placeholder: 'N', config: true, help: 'linear warmup, per iteration (default 0)' },
    warmupLr: { kind: 'number', min: 0, default: TRAIN_DEFAULTS.warmupLr, placeholder: 'X', config: true, help: 'warmup starts at this rate (default 0)' },
    minLr: { kind: 'number', min: 0, default: TRAIN_DEFAULTS.minLr, placeholder: 'X', config: true, help: 'the lowest rate of cosine, linear and plateau (default 0)' },
    cooldownEpochs: { kind: 'int', min: 0, max: 1e6, default: TRAIN_DEFAULTS.cooldownEpochs, placeholder: 'N', config: true, help: 'extra epochs at the final rate after --epochs (default 0)' },
    schedOnUpdates: { kind: 'boolean', config: true, help: 'cosine and linear step per iteration instead of per epoch' },
    trainCropSize: { kind: 'int', min: 1, max: 4096, placeholder: 'N', config: true, help: 'train with RandomResizedCrop at N×N (default: crop + flip at the model input size)' },
    scale: { kind: 'string', placeholder: 'LO,HI', config: true, help: 'RandomResizedCrop area range (default 0.08,1; turns RandomResizedCrop on)' },
    ratio: { kind: 'string', placeholder: 'LO,HI', config: true, help: 'RandomResizedCrop aspect range (default 0.75,1.3333; turns RandomResizedCrop on)' },
    interpolation: { kind: 'choice', choices: ['bilinear', 'bicubic'], default: 'bilinear', placeholder: 'MODE', config: true, help: 'resampling of RandomResizedCrop and the evaluation resize (default bilinear)' },
    valResizeSize: { kind: 'int', min: 1, max: 4096, placeholder: 'N', config: true, help: 'evaluation: resize the shorter side to N before the center crop (default: the crop size)' },
    valCropSize: { kind: 'int', min: 1, max: 4096, placeholder: 'N', config: true, help: 'evaluation: center crop N×N (default: the model input size)' },
    cropPadding: { kind: 'int', min: 0, max: 4096, placeholder: 'N', config: true, help: 'random crop padding (default 4 at 32×32, scaled with the input size)' },
    paddingMode: { kind: 'choice', choices: ['constant', 'reflect'], default: TRAIN_DEFAULTS.paddingMode, placeholder: 'MODE', config: true, help: 'random crop padding: constant (zeros, default) or reflect' },
    flip: { kind: 'choice', choices: ['random', 'alternating', 'none'], default: TRAIN_DEFAULTS.flip, placeholder: 'MODE', config: true, help: "horizontal flip: random (p 0.5, default), alternating (airbench's: a coin per\nimage once, the whole set mirrored on odd epochs) or none" },
    aa: { kind: 'string', placeholder: 'POLICY', config: true, help: `augmentation policy after crop and flip (default none), e.g. ta_wide,\nrand-m9-mstd0.5-inc1, augmix-m3-w3-d-1; one of\n${policyUsage().replace(', ra[', ',\nra[')}` },
    reprob: { kind: 'number', min: 0, max: 1, default: 0, placeholder: 'P', config: true, help: "timm's random erasing: probability per image (default 0: off)" },
    remode: { kind: 'choice', choices: ['const', 'rand', 'pixel'], default: 'pixel', placeholder: 'MODE', config: true, help: 'random erasing fill: const (0), rand (per channel), pixel (default)' },
    recount: { kind: 'int', min: 1, max: 100, default: 1, placeholder: 'N', config: true, help: 'random erasing: at most N boxes per image (default 1)' },
    cutout: { kind: 'int', min: 0, max: 4096, default: 0, placeholder: 'N', config: true, help: "cutout: an N×N square of zeros per training image after normalization,\nwholly inside it (airbench96's 12; default 0: off)" },
    lossReduction: { kind: 'choice', choices: ['mean', 'sum'], default: TRAIN_DEFAULTS.lossReduction, placeholder: 'MODE', config: true, help: "the loss over a batch: mean (default) or sum (airbench's; the rate then acts\non the summed gradient; the logged loss stays the mean)" },
    airbench: { kind: 'choice', choices: AIRBENCH_VARIANTS, placeholder: 'VARIANT', config: true, help: "airbench's mechanics for cifar_airbench94/96 (set by --recipe airbench94):\nwhitening start, lookahead over all state, whitening bias frozen after 3 epochs,\nTTA level 2 after the last epoch; with --sched airbench its rate schedule" },
    labelSmoothing: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.labelSmoothing, placeholder: 'X', config: true, help: 'label smoothing (default 0)' },
    mixup: { kind: 'number', min: 0, default: TRAIN_DEFAULTS.mixup, placeholder: 'A', config: true, help: 'Mixup Beta(A, A); 0 off (default); label smoothing then goes into the mixed targets' },
    cutmix: { kind: 'number', min: 0, default: TRAIN_DEFAULTS.cutmix, placeholder: 'A', config: true, help: 'CutMix Beta(A, A); 0 off (default)' },
    cutmixMinmax: { kind: 'string', placeholder: 'LO,HI', config: true, help: 'CutMix box sides uniform in [LO, HI) of the image sides instead of from λ (turns CutMix on)' },
    mixupProb: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.mixupProb, placeholder: 'P', config: true, help: 'probability of mixing a batch, image or pair (default 1)' },
    mixupSwitchProb: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.mixupSwitchProb, placeholder: 'P', config: true, help: 'probability of CutMix rather than Mixup when both are on (default 0.5)' },
    mixupMode: { kind: 'choice', choices: ['batch', 'pair', 'elem'], default: TRAIN_DEFAULTS.mixupMode, placeholder: 'MODE', config: true, help: 'one λ per batch (default), per pair of images (pair) or per image (elem)' },
    bceLoss: { kind: 'boolean', config: true, help: 'binary cross-entropy with logits on one-hot or mixed targets (timm)' },
    bceTargetThresh: { kind: 'number', min: 0, max: 1, placeholder: 'T', config: true, help: 'with --bce-loss: targets above T become 1, the others 0' },
    focalGamma: { kind: 'number', min: 0, placeholder: 'G', config: true, help: 'softmax focal loss with focusing parameter G (0 is cross-entropy)' },
    classWeights: { kind: 'string', placeholder: 'SPEC', config: true, help: 'per-class loss weights: balanced (n/(k·count)), effective:BETA (Cui et al.),\nor a FILE (JSON array or one number per line, in class order)' },
    sampler: { kind: 'choice', choices: ['balanced', 'sqrt'], placeholder: 'NAME', config: true, help: 'draw each epoch with replacement: balanced (classes equally likely) or\nsqrt (classes ∝ √count)' },
    imbalanceRatio: { kind: 'number', min: 1, placeholder: 'R', config: true, help: 'long-tailed training set (CIFAR-10-LT profile): class i keeps n_max·R^(−i/(k−1))\nimages, the first in dataset order; validation untouched' },
    modelEma: { kind: 'boolean', config: true, help: "keep an exponential moving average of the weights (timm's ModelEmaV3, in the\nstep graph), validated every epoch (valEma* in metrics.jsonl) and checkpointed" },
    modelEmaDecay: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.modelEmaDecay, placeholder: 'D', config: true, help: `EMA decay (default ${TRAIN_DEFAULTS.modelEmaDecay})` },
    modelEmaWarmup: { kind: 'boolean', config: true, help: 'EMA decay warmup: min(D, 1 − (1 + t)^(−2/3)) at step t + 1' },
    lookahead: { kind: 'boolean', config: true, help: 'wrap the optimizer in Lookahead (timm semantics, in the step graph)' },
    lookaheadSteps: { kind: 'int', min: 1, max: 1e6, default: TRAIN_DEFAULTS.lookaheadSteps, placeholder: 'K', config: true, help: `Lookahead: sync the slow weights every K steps (default ${TRAIN_DEFAULTS.lookaheadSteps})` },
    lookaheadAlpha: { kind: 'number', min: 0, max: 1, default: TRAIN_DEFAULTS.lookaheadAlpha, placeholder: 'A', config: true, help: `Lookahead: slow step size (default ${TRAIN_DEFAULTS.lookaheadAlpha})` },
    seed: { kind: 'int', min: 0, max: 2 ** 32 - 1, default: TRAIN_DEFAULTS.seed, placeholder: 'N', config: true, help: 'initialization, shuffling and augmentation seed (default 0)' },
    threads: { kind: 'int', min: 1, max: 1024, default: defaultThreads, placeholder: 'N', config: true, help: 'ONNX Runtime intra-op threads (default: the CPU count or TESSERA_THREADS)' },
    workers: { kind: 'int', min: 0, max: 256, placeholder: 'N', config: true, help: "data loader worker threads (default: the loader's)" },
    out: { kind: 'path', placeholder: 'DIR', config: true, help: 'run folder (default runs/<model>-<date>-<time>)' },
    cacheDir: { kind: 'path', placeholder: 'DIR', config: true, help: 'where cifar10/cifar100 are cached' },
    offline: { kind: 'boolean', config: true, help: 'never download datasets' },
    resume: { kind: 'path', placeholder: 'RUN', config: true, help: "continue a run (folder or checkpoint); options default to the run's" },
    config: { kind: 'path', placeholder: 'FILE.yaml', help: 'flat YAML of the options above (key: value lines); flags override it' },
    recipe: { kind: 'string', placeholder: 'NAME|FILE.yaml', help: 'a named set of options (listed below) or a file like --config; --config and\nflags override it; a new run only (a resumed run keeps its options)' },
    pretrained: {
      kind: 'path',
      placeholder: '[FILE]',
      optionalValue: true,
      help: `start from pretrained weights: FILE (.pth/.pt/.safetensors; torchvision's,
timm's or pytorch-cifar's key names), or without FILE the model's published
weights from the torch hub or Tessera cache; a classifier of another class
count is re-initialised (and says so)`,
    },
    linearProbe: { kind: 'boolean', config: true, help: "train only the classifier on frozen features, behind a BatchNorm without affine\n(MAE's linear probe; ViT models)" },
    dropPath: { kind: 'number', min: 0, max: 1, placeholder: 'RATE', config: true, help: "stochastic depth (timm's drop path) of ConvNeXt, EfficientNet, MaxViT, Swin and\nViT models, rising over depth to RATE (default: the model's own, 0 for most)" },
    patchSize: { kind: 'int', min: 1, max: 1024, placeholder: 'N', config: true, help: 'patch size of the ViTs that take one (vit_tiny_cifar, vit_small_cifar: default 4)' },
    optBetas: { kind: 'string', placeholder: 'B1,B2', config: true, help: "AdamW's betas (timm's --opt-betas; default 0.9,0.999)" },

  },
  notes: () => `exit status: 0 trained, 1 the loss diverged (NaN/inf; the last good checkpoint is kept) or an
internal error, 2 usage or input error

${recipesHelp()}`,
});

/** What `readCommandLine(TRAIN, argv)` returns. */
export type TrainCommandLine = CommandLine<typeof TRAIN.options>;

/**
 * Runs `tessera train`; resolves to the exit status (0 trained, 1 diverged). Usage and input
 * errors are thrown (each a UserError) for `main` to report. `hooks` reach `train` (plugins; tests).
 *
 * @example
 * process.exitCode = await trainCommand(['--model', 'cifar_lenet', '--data', 'cifar10', '--epochs', '2', '--out', 'runs/lenet']);
 * await trainCommand(['--model', 'resnet18', '--data', 'flowers/', '--pretrained', '--epochs', '5']);
 */
export async function trainCommand(argv: readonly string[], hooks: TrainHooks = {}): Promise<number> {
  const parsed = readCommandLine(TRAIN, argv);
  if (!parsed) return 0;
  if (parsed.opts.pretrained !== undefined && parsed.opts.resume !== undefined) {
    throw new UsageError('--pretrained starts a new run from weights, --resume continues a run from its checkpoint: give one of them');
  }
  const opts = resolveOptions(parsed);
  const pretrained = resolvePretrained(parsed.opts.pretrained, opts);
  return runTraining(pretrained === undefined ? opts : { ...opts, pretrained }, hooks);
}

/**
 * Runs the trainer for a command: exit status 0 when it finishes, 1 (and one line) when the
 * loss diverged; every other error goes to `main` (a UserError: one line, exit 2).
 */
export async function runTraining(opts: TrainOptions, hooks?: TrainHooks): Promise<number> {
  try {
    await train(opts, hooks);
    return 0;
  } catch (e) {
    if (e instanceof TrainingDivergedError) {
      process.stderr.write(`tessera: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** `tessera train` as `main` runs it. */
export const command: CliCommand = { declaration: TRAIN, run: trainCommand };

/**
 * The checkpoint file `--pretrained` names, or (given alone: `true`) the model's published
 * weights found in the caches (one line saying where to put them when absent); undefined
 * without the flag.
 */
function resolvePretrained(given: string | true | undefined, opts: TrainOptions): string | undefined {
  if (given === undefined) return undefined;
  if (given === true) return findPretrainedFile(modelInfo(opts.model));
  if (!existsSync(given)) throw new UsageError(`--pretrained ${given}: no such file`);
  // a run folder (a `tessera pretrain` run's encoder, say) means its last checkpoint
  return resolveCheckpoint(given, 'last');
}

/**
 * Merges, lowest first, the defaults, the resumed run's options, the --config file and the flags
 * into TrainOptions; every invalid value is a UsageError naming where it came from (flag or
 * file:line).
 *
 * @example
 * resolveOptions(readCommandLine(TRAIN, ['--model', 'cifar_lenet', '--data', 'cifar10', '--lr', '0.05'])!).lr; // 0.05
 */
export function resolveOptions(parsed: TrainCommandLine): TrainOptions {
  const { resume, config, recipe } = parsed.opts;
  if (recipe !== undefined && resume !== undefined) throw new UsageError('--recipe sets up a new run; a resumed run keeps the options in its config.json (change them with --config or flags)');
  const given = new Map<string, Given>([
    ...(recipe === undefined ? [] : givenFromConfigFile(recipeFile(recipe), '--recipe')),
    ...(resume === undefined ? [] : givenFromRun(resume)),
    ...(config === undefined ? [] : givenFromConfigFile(config, '--config')),
    ...parsed.given,
  ]);
  const { config: _config, pretrained: _pretrained, recipe: _recipe, ...values } = convertOptions(TRAIN.options, given);
  const { model, data } = values;
  if (!model && resume !== undefined) throw new UsageError(`--resume ${resume}: its folder holds no config.json; give --model NAME and --data to resume a bare checkpoint`);
  if (!model) throw new UsageError('tessera train: --model NAME is required (see tessera models)');
  if (!data) throw new UsageError('tessera train: --data is required: cifar10, cifar100 or an ImageFolder directory');
  const o: TrainOptions = { ...values, model, data, out: values.out ?? join('runs', `${model}-${timestamp()}`), cutmixMinmax: parseMinmax(values.cutmixMinmax), recipe: recipeName(recipe, resume), optBetas: parseOptBetas(values.optBetas) };
  if (o.nesterov && (o.optimizer !== 'sgd' || !(o.momentum > 0))) throw new UsageError('--nesterov needs --optimizer sgd and a momentum > 0');
  if (o.decayMilestones && o.sched !== 'multistep' && o.sched !== 'step') throw new UsageError('--decay-milestones applies to --sched multistep only');
  if (o.warmupEpochs > o.epochs) throw new UsageError(`--warmup-epochs ${o.warmupEpochs} is longer than --epochs ${o.epochs}`);
  if ((o.valInterval ?? 1) > 1 && o.sched === 'plateau') throw new UsageError('--sched plateau follows the validation top-1 of every epoch; drop --val-interval');
  if (o.schedOnUpdates && o.sched === 'plateau') throw new UsageError('--sched plateau steps per epoch only (it follows the validation top-1); drop --sched-on-updates');
  if (o.minLr > o.lr) throw new UsageError(`--min-lr ${o.minLr} is above --lr ${o.lr}`);
  if (o.lrMult !== undefined) parseLrMult(o.lrMult, '--lr-mult');
  if (o.layerDecay !== undefined) requireLayerIds(o.model);
  if (o.optBetas && o.optimizer !== 'adamw') throw new UsageError('--opt-betas applies to --optimizer adamw only');
  checkRunModelOptions(o);
  if (o.valSplit !== undefined && o.val !== undefined) throw new UsageError('give either --val-split N or --val DIR, not both');
  if (o.bceLoss && o.focalGamma !== undefined) throw new UsageError('give either --bce-loss or --focal-gamma G, not both');
  if (o.bceTargetThresh !== undefined && !o.bceLoss) throw new UsageError('--bce-target-thresh applies to --bce-loss only');
  if (o.airbench !== undefined && o.modelEma) throw new UsageError('--airbench keeps its lookahead where --model-ema keeps its average: give one of them');
  if (o.sched === 'airbench' && o.warmupEpochs > 0) throw new UsageError('--sched airbench has its own warmup (the --airbench variant\'s); drop --warmup-epochs');
  requireAirbenchModel(o);
  checkTransformOptions(o);
  return o;
}

/** The recipe a run's options came from: `--recipe` (a file's name without .yaml), or when resuming the run's own. */
function recipeName(recipe: string | undefined, resume: string | undefined): string | undefined {
  if (recipe !== undefined) return basename(recipe).replace(/\.ya?ml$/, '');
  const saved: unknown = resume === undefined ? undefined : readResumeTarget(resume).config?.options;
  const name: unknown = typeof saved === 'object' && saved !== null ? Reflect.get(saved, 'recipe') : undefined;
  return typeof name === 'string' ? name : undefined;
}

/** `--cutmix-minmax LO,HI`: two numbers with 0 < LO < HI ≤ 1. */
function parseMinmax(text: string | undefined): readonly [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts.length !== 2 || !(parts[0] > 0 && parts[0] < parts[1] && parts[1] <= 1)) {
    throw new UsageError(`--cutmix-minmax: expected LO,HI with 0 < LO < HI ≤ 1 (e.g. 0.2,0.8), got "${text}"`);
  }
  return [parts[0], parts[1]];
}

/** `--opt-betas B1,B2`: AdamW's two betas, each in [0, 1). */
export function parseOptBetas(text: string | undefined): readonly [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts.length !== 2 || !parts.every((b) => b >= 0 && b < 1)) throw new UsageError(`--opt-betas: expected B1,B2 with each in [0, 1) (e.g. 0.9,0.95), got "${text}"`);
  return [parts[0], parts[1]];
}

/** The options a run (folder or checkpoint) was trained with, from its config.json; its folder is the output. */
/** Options whose config.json key changed: runs saved before the rename resume with their value. */
const FORMER_KEYS: Readonly<Record<string, string>> = { decayMilestones: 'milestones' };

function givenFromRun(resume: string): Map<string, Given> {
  const { runDir, config } = readResumeTarget(resume);
  const saved = config?.options;
  const given = new Map<string, Given>();
  const table: OptionTable = TRAIN.options;
  for (const [key, spec] of Object.entries(table)) {
    if (!spec.config || key === 'out' || key === 'resume' || typeof saved !== 'object' || saved === null) continue;
    const savedKey = Object.hasOwn(saved, key) ? key : FORMER_KEYS[key];
    const v: unknown = savedKey !== undefined && Object.hasOwn(saved, savedKey) ? Reflect.get(saved, savedKey) : undefined;
    const value = Array.isArray(v) ? v.join(',') : v;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') given.set(key, { value, from: `${join(runDir, 'config.json')} ${flagName(key)}` });
  }
  given.set('out', { value: runDir, from: '--resume' });
  return given;
}

/** The options a --config or --recipe file sets. */
function givenFromConfigFile(file: string, flag: '--config' | '--recipe'): Map<string, Given> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${describeFsError(e)}`);
  }
  return givenFromConfig(TRAIN.options, parseFlatYaml(text, file), file);
}

/** One `key: value` of a flat YAML file. */
export interface YamlEntry {
  readonly value: string | number | boolean;
  /** 1-based line number */
  readonly line: number;
}

/**
 * Parses the flat YAML subset --config accepts: `key: value` lines, `#` comments, blank lines and
 * a leading `---`. Values are numbers, true/false, or strings (bare, "double" or 'single'
 * quoted). Anything else (nesting, lists, flow collections, anchors, tags, block scalars, null,
 * duplicate keys) is rejected as a UsageError naming the line.
 *
 * @example
 * parseFlatYaml('model: cifar_lenet  # small\nlr: 5e-2\nnesterov: true\n', 'a.yaml');
 * // Map { 'model' => { value: 'cifar_lenet', line: 1 }, 'lr' => { value: 0.05, line: 2 }, 'nesterov' => { value: true, line: 3 } }
 */
export function parseFlatYaml(text: string, file: string): Map<string, YamlEntry> {
  const out = new Map<string, YamlEntry>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const fail = (what: string): never => {
      throw new UsageError(`${file}:${line}: ${what}`);
    };
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed === '---') {
      if (out.size) fail('only one YAML document is supported');
      return;
    }
    if (/^\s/.test(raw)) fail('indented lines (nested mappings) are not supported; write flat `key: value` lines');
    if (trimmed.startsWith('- ') || trimmed === '-') fail('lists are not supported; write flat `key: value` lines');
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)\s*:(.*)$/.exec(raw.trimEnd());
    if (!m) fail(`expected \`key: value\`, got ${JSON.stringify(trimmed.length > 40 ? `${trimmed.slice(0, 37)}...` : trimmed)}`);
    const [, key, rest] = m!;
    if (rest !== '' && !/^\s/.test(rest)) fail(`put a space after the colon of "${key}:"`);
    const value = parseScalar(rest.trim(), fail);
    if (out.has(key)) fail(`"${key}" is given twice (first on line ${out.get(key)!.line})`);
    out.set(key, { value, line });
  });
  return out;
}

const YAML_NUMBER = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

function parseScalar(text: string, fail: (what: string) => never): string | number | boolean {
  if (text === '' || text.startsWith('#')) fail('a value is missing (nested mappings are not supported)');
  const q = text[0];
  if (q === '"' || q === "'") {
    let end = -1;
    for (let i = 1; i < text.length; i++) {
      if (q === '"' && text[i] === '\\') i++;
      else if (text[i] === q) {
        if (q === "'" && text[i + 1] === "'") i++;
        else {
          end = i;
          break;
        }
      }
    }
    if (end < 0) fail(`unterminated ${q === '"' ? 'double' : 'single'}-quoted string`);
    const after = text.slice(end + 1).trim();
    if (after && !after.startsWith('#')) fail(`unexpected text after the quoted string: ${after}`);
    const body = text.slice(1, end);
    if (q === "'") return body.replace(/''/g, "'");
    try {
      return JSON.parse(`"${body}"`) as string;
    } catch {
      return fail('invalid escape in the double-quoted string');
    }
  }
  const value = text.replace(/\s+#.*$/, '').trim();
  if (/^[[{]/.test(value)) fail('flow lists and mappings ([...], {...}) are not supported; for milestones write 100,150');
  if (/^[&*!|>%@`]/.test(value)) fail(`"${value[0]}" (anchors, aliases, tags, block scalars, reserved characters) is not supported`);
  if (/^(null|Null|NULL|~)$/.test(value)) fail('null is not a value here; leave the line out for the default');
  if (/^(true|True|TRUE)$/.test(value)) return true;
  if (/^(false|False|FALSE)$/.test(value)) return false;
  if (/^(yes|no|on|off|y|n)$/i.test(value)) fail(`"${value}" is ambiguous in YAML; write true or false (or quote it)`);
  if (YAML_NUMBER.test(value)) return Number(value);
  if (/^[-+]?\.(inf|nan)$/i.test(value)) fail(`${value} is not accepted`);
  if (value.includes(': ')) fail('a value may not contain ": " unless quoted');
  return value;
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
