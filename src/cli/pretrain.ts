/**
 * `tessera pretrain --method mae --model NAME --data DIR [--mask-ratio 0.75] [--norm-pix-loss]
 * --epochs N --out RUN`: self-supervised pre-training of a ViT encoder on unlabelled images with
 * MAE (src/mae/), through the trainer of `tessera train` (same run folder, progress, checkpoints,
 * `--resume` and report). MAE's recipe: AdamW betas (0.9, 0.95), weight decay 0.05 (none on
 * biases and norms), lr = blr × batch / 256, linear warmup then cosine per iteration,
 * RandomResizedCrop(scale 0.2–1, bicubic) + horizontal flip. Labels are ignored: a class-folder
 * tree or a flat folder of images.
 */
import { defaultThreads } from '../runtime/ort.js';
import { readResumeTarget } from '../train/checkpoint.js';
import { TRAIN_DEFAULTS, TrainOptions } from '../train/trainer.js';
import { parseOptBetas, runTraining } from './train.js';
import { checkRunModelOptions } from '../train/run-model.js';
import { MAE_DECODER_DEFAULTS } from '../mae/model.js';
import type { PretrainSpec } from '../mae/spec.js';
import { CliCommand, CommandLine, Given, OptionTable, UsageError, convertOptions, defineCommand, flagName, readCommandLine } from './args.js';
import { join } from 'node:path';

/** MAE's base learning rate (main_pretrain.py). */
const MAE_BLR = 1.5e-4;

export const PRETRAIN = defineCommand({
  name: 'pretrain',
  usage: '--method mae --model NAME --data DIR --epochs N --out RUN [options]',
  description: `Pre-trains a ViT encoder without labels into a run folder, like tessera train (config.json,
metrics.jsonl, last checkpoint, report.html with reconstructions when --val-split holds images
out). MAE (He et al. 2021): masks --mask-ratio of the patches of every image and learns to
reconstruct them; AdamW betas 0.9, 0.95, weight decay 0.05, lr = --blr × batch / 256, warmup then
cosine, RandomResizedCrop(0.2, 1) + flip. Fine-tune the encoder with
tessera train --model NAME --pretrained RUN.`,
  options: {
    method: { kind: 'choice', choices: ['mae'], default: 'mae', placeholder: 'NAME', config: true, help: 'the pre-training method: mae (default)' },
    model: { kind: 'string', placeholder: 'NAME', config: true, help: 'the ViT to pre-train: vit_tiny_cifar, vit_small_cifar, vit_b_16, …' },
    data: { kind: 'string', placeholder: 'DIR', config: true, help: 'a folder of images: flat, or one subfolder per class (labels ignored); or cifar10' },
    maskRatio: { kind: 'number', default: 0.75, placeholder: 'R', config: true, help: 'fraction of patches masked per image, in (0, 1) (default 0.75)' },
    normPixLoss: { kind: 'boolean', config: true, help: 'reconstruct each patch normalised by its own mean and variance' },
    patchSize: { kind: 'int', min: 1, max: 1024, placeholder: 'N', config: true, help: 'patch size of the ViTs that take one (vit_tiny_cifar, vit_small_cifar: default 4)' },
    optBetas: { kind: 'string', default: '0.9,0.95', placeholder: 'B1,B2', config: true, help: "AdamW's betas (timm's --opt-betas; default MAE's 0.9,0.95)" },
    decoderDim: { kind: 'int', min: 4, max: 4096, default: MAE_DECODER_DEFAULTS.decoderDim, placeholder: 'N', config: true, help: `decoder width (default ${MAE_DECODER_DEFAULTS.decoderDim}; a multiple of 4 and of the heads)` },
    decoderDepth: { kind: 'int', min: 1, max: 64, default: MAE_DECODER_DEFAULTS.decoderDepth, placeholder: 'N', config: true, help: `decoder blocks (default ${MAE_DECODER_DEFAULTS.decoderDepth})` },
    decoderHeads: { kind: 'int', min: 1, max: 256, default: MAE_DECODER_DEFAULTS.decoderHeads, placeholder: 'N', config: true, help: `decoder attention heads (default ${MAE_DECODER_DEFAULTS.decoderHeads})` },
    valSplit: { kind: 'int', min: 1, placeholder: 'N', config: true, help: 'hold out the last N images of every class (of a flat folder: the last N) for the\nreconstruction loss and grid' },
    epochs: { kind: 'number', above: 0, max: 1e6, default: 100, placeholder: 'N', config: true, help: 'epochs (default 100)' },
    batchSize: { kind: 'int', min: 1, max: 1 << 16, default: 128, placeholder: 'N', config: true, help: 'images per step (default 128)' },
    blr: { kind: 'number', above: 0, default: MAE_BLR, placeholder: 'X', config: true, help: `base learning rate: lr = blr × batch / 256 (default ${MAE_BLR})` },
    lr: { kind: 'number', above: 0, placeholder: 'X', config: true, help: 'absolute learning rate (overrides --blr)' },
    warmupEpochs: { kind: 'number', min: 0, max: 1e6, placeholder: 'N', config: true, help: 'linear warmup epochs (default min(5, epochs / 4))' },
    minLr: { kind: 'number', min: 0, default: 0, placeholder: 'X', config: true, help: 'the floor of the cosine (default 0)' },
    weightDecay: { kind: 'number', min: 0, default: 0.05, placeholder: 'X', config: true, help: 'AdamW weight decay, none on biases and norms (default 0.05)' },
    seed: { kind: 'int', min: 0, max: 2 ** 32 - 1, default: 0, placeholder: 'N', config: true, help: 'initialization, shuffling, augmentation and masking seed (default 0)' },
    threads: { kind: 'int', min: 1, max: 1024, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime intra-op threads (default: the CPU count or TESSERA_THREADS)' },
    workers: { kind: 'int', min: 0, max: 256, placeholder: 'N', help: "data loader worker threads (default: the loader's)" },
    out: { kind: 'path', placeholder: 'DIR', help: 'run folder (default runs/mae-<model>-<date>-<time>)' },
    resume: { kind: 'path', placeholder: 'RUN', help: "continue a pre-training run; options default to the run's" },
  },
  notes: 'exit status: 0 trained, 1 the loss diverged (the last good checkpoint is kept) or an internal error, 2 usage or input error',
});

type PretrainCommandLine = CommandLine<typeof PRETRAIN.options>;

/**
 * Runs `tessera pretrain`; resolves to the exit status.
 *
 * @example
 * process.exitCode = await pretrainCommand(['--method', 'mae', '--model', 'vit_tiny_cifar', '--data', 'photos/', '--epochs', '1', '--out', 'runs/mae']);
 */
export async function pretrainCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(PRETRAIN, argv);
  if (!parsed) return 0;
  return runTraining(pretrainOptions(parsed));
}

export const command: CliCommand = { declaration: PRETRAIN, run: pretrainCommand };

/**
 * The trainer's options for a pre-training command line (the resumed run's options first, then
 * the flags); each mistake is one UsageError line.
 */
export function pretrainOptions(parsed: PretrainCommandLine): TrainOptions {
  const resume = parsed.opts.resume;
  const given = new Map<string, Given>([...(resume === undefined ? [] : givenFromRun(resume)), ...parsed.given]);
  const o = convertOptions(PRETRAIN.options, given);
  if (!o.model) throw new UsageError('tessera pretrain: --model NAME is required (a ViT, e.g. vit_tiny_cifar)');
  if (!o.data) throw new UsageError('tessera pretrain: --data DIR is required (a folder of images)');
  if (!(o.maskRatio > 0 && o.maskRatio < 1)) throw new UsageError(`--mask-ratio must be between 0 and 1 (exclusive), got ${o.maskRatio}`);
  if (o.decoderDim % 4 !== 0 || o.decoderDim % o.decoderHeads !== 0) throw new UsageError(`--decoder-dim ${o.decoderDim} must be a multiple of 4 and of --decoder-heads ${o.decoderHeads}`);
  const warmupEpochs = o.warmupEpochs ?? Math.min(5, o.epochs / 4);
  if (warmupEpochs > o.epochs) throw new UsageError(`--warmup-epochs ${warmupEpochs} is longer than --epochs ${o.epochs}`);
  checkRunModelOptions({ model: o.model, patchSize: o.patchSize });
  const pretrain: PretrainSpec = { method: o.method, maskRatio: o.maskRatio, normPixLoss: o.normPixLoss, blr: o.blr, decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: o.decoderHeads };
  return {
    ...TRAIN_DEFAULTS,
    model: o.model,
    data: o.data,
    valSplit: o.valSplit,
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr ?? (o.blr * o.batchSize) / 256,
    optimizer: 'adamw',
    optBetas: parseOptBetas(o.optBetas),
    patchSize: o.patchSize,
    weightDecay: o.weightDecay,
    normWeightDecay: 0,
    biasWeightDecay: 0,
    sched: 'cosine',
    schedOnUpdates: true,
    warmupEpochs,
    minLr: o.minLr,
    scale: '0.2,1',
    interpolation: 'bicubic',
    seed: o.seed,
    threads: o.threads,
    workers: o.workers,
    out: resume !== undefined ? readResumeTarget(resume).runDir : (o.out ?? join('runs', `mae-${o.model}-${timestamp()}`)),
    resume,
    pretrain,
  };
}

/** The options a pre-training run was started with (config.json: the trainer's options and their `pretrain` part). */
function givenFromRun(resume: string): Map<string, Given> {
  const { runDir, config } = readResumeTarget(resume);
  const saved: unknown = config?.options;
  const pretrain: unknown = typeof saved === 'object' && saved !== null ? Reflect.get(saved, 'pretrain') : undefined;
  if (typeof pretrain !== 'object' || pretrain === null) throw new UsageError(`--resume ${resume}: not a pre-training run (its config.json has no pretrain options); continue it with tessera train --resume`);
  const given = new Map<string, Given>();
  const table: OptionTable = PRETRAIN.options;
  for (const [key, spec] of Object.entries(table)) {
    if (!spec.config) continue;
    const source = Object.hasOwn(pretrain, key) ? pretrain : saved;
    const stored: unknown = typeof source === 'object' && source !== null && Object.hasOwn(source, key) ? Reflect.get(source, key) : undefined;
    const value = Array.isArray(stored) ? stored.join(',') : stored;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') given.set(key, { value, from: `${join(runDir, 'config.json')} ${flagName(key)}` });
  }
  return given;
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
