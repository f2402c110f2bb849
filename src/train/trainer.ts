/**
 * The training loop behind `tessera train`: a run folder, one TrainingSession step per batch,
 * validation every epoch, checkpoints, metrics and exact resumption.
 *
 * Run folder (`out`):
 *   config.json     the resolved configuration (options, model, data, split, transforms, optimizer, version)
 *   metrics.jsonl   one EpochMetrics object per epoch
 *   last.safetensors / last.json, best.safetensors / best.json (see checkpoint.ts)
 *
 * - Training drops the last partial batch of every epoch: the training graph is compiled for a
 *   fixed batch shape. Validation keeps every image (the inference graph has a dynamic batch).
 * - The loader is deterministic per (seed, epoch) and the model is initialized from `seed`, so a
 *   run resumed from `last` after epoch k computes exactly the losses of a run never stopped.
 * - A NaN or infinite loss stops training (TrainingDivergedError) without writing a checkpoint:
 *   `last` stays the last good one.
 * - Test hooks (environment): TESSERA_INJECT_NAN_STEP=N fills the input of global step N
 *   (1-based) with NaN, so the divergence path can be tested; TESSERA_EPOCH_PAUSE_MS=M sleeps M ms
 *   after each epoch's metrics line is written (so a test can kill a run between epochs).
 *
 * @example
 * import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { TRAIN_DEFAULTS } from 'tessera/dist/src/train/trainer.js';
 * // data: 'cifar10' trains on the real thing; here a tiny CIFAR-10 copy (a record: label byte, 3×32×32 pixels)
 * const runs = mkdtempSync(join(tmpdir(), 'tessera-'));
 * const dir = join(runs, 'cifar-10-batches-bin');
 * mkdirSync(dir);
 * writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
 * for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) {
 *   writeFileSync(join(dir, `${name}.bin`), new Uint8Array(4 * 3073));
 * }
 * const result = await train({ ...TRAIN_DEFAULTS, model: 'cifar_lenet', data: dir, epochs: 2, batchSize: 4, threads: 1, out: join(runs, 'lenet') });
 * result.metrics.length; // → 2
 * console.log(result.bestTop1);
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataLoader } from '../data/loader.js';
import { UserError } from '../errors.js';
import { CIFAR10_MEAN, CIFAR10_STD, TransformSpec } from '../data/types.js';
import { createModel, modelInfo } from '../models/index.js';
import { manualSeed } from '../nn/init.js';
import type { Module } from '../nn/module.js';
import { adamw } from '../optim/adamw.js';
import type { OptimizerEmitter } from '../optim/optimizer.js';
import { sgd } from '../optim/sgd.js';
import { InferenceModel } from '../runtime/inference.js';
import { TrainingSession } from '../runtime/training-session.js';
import { CheckpointError, CheckpointMeta, EpochMetrics, LoadedCheckpoint, loadCheckpoint, resolveCheckpoint, saveCheckpoint, writeJsonAtomic } from './checkpoint.js';
import { EpochProgress, ProgressSink, formatDuration } from './progress.js';
import { ScheduleName, defaultMilestones, makeSchedule } from './schedule.js';
import { openSplits } from './subset.js';

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
export class TrainSetupError extends UserError {}

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

export interface TrainResult {
  readonly out: string;
  readonly epochs: number;
  readonly bestTop1: number | null;
  readonly bestEpoch: number | null;
  readonly metrics: readonly EpochMetrics[];
}

export interface TrainHooks {
  /** progress and log lines (default process.stdout) */
  readonly sink?: ProgressSink;
}

/**
 * The transforms pytorch-cifar trains and tests with, at `size` (the crop padding scales with it).
 *
 * @example
 * cifarTransforms(32).train; // { size: 32, randomCrop: { padding: 4 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD }
 */
export function cifarTransforms(size: number): { train: TransformSpec; eval: TransformSpec } {
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
 * Checks that `dir` can hold a run by creating (and removing) a probe file; folders it had to
 * create are removed again, so a failed setup leaves nothing behind. Throws TrainSetupError.
 *
 * @example
 * probeWritable('runs/resnet18'); // throws "cannot write to the output folder runs/resnet18: permission denied"
 */
export function probeWritable(dir: string): void {
  const abs = resolve(dir);
  let created: string | undefined;
  try {
    created = makeDirs(abs);
    const probe = join(abs, `.tessera-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new TrainSetupError(`cannot write to the output folder ${dir}: ${fsReason(e)}`);
  } finally {
    if (created) removeCreated(created, abs);
  }
}

/**
 * `mkdir -p` that returns the first folder it created (undefined when `abs` existed). Node's own
 * recursive mkdirSync can spin forever on some pseudo file systems (/proc), so this walks up to
 * the first existing ancestor and creates each level itself.
 */
function makeDirs(abs: string): string | undefined {
  const missing: string[] = [];
  let d = abs;
  while (!existsSync(d)) {
    missing.push(d);
    const parent = dirname(d);
    if (parent === d) break;
    d = parent;
  }
  missing.reverse();
  for (const m of missing) mkdirSync(m);
  return missing[0];
}

function removeCreated(top: string, leaf: string): void {
  for (let d = leaf; d.length >= top.length; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'permission denied';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'a path component is a file, not a folder';
  if (code === 'ENOENT') return 'it cannot be created there (no such file or directory)';
  if (code === 'ENOSPC') return 'no space left on device';
  return e instanceof Error ? e.message : String(e);
}

/**
 * The optimizer emitter the options ask for.
 *
 * @example
 * makeOptimizer({ optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 }).config.name; // 'sgd'
 */
export function makeOptimizer(opts: Pick<TrainOptions, 'optimizer' | 'momentum' | 'nesterov' | 'weightDecay'>): OptimizerEmitter {
  if (opts.optimizer === 'adamw') return adamw({ weightDecay: opts.weightDecay });
  return sgd({ momentum: opts.momentum, nesterov: opts.nesterov, weightDecay: opts.weightDecay });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Trains (or resumes) a run. Setup mistakes throw TrainSetupError, CheckpointError,
 * DatasetError or UnknownModelError before anything is written; a diverging loss throws
 * TrainingDivergedError.
 */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const sink = hooks.sink ?? process.stdout;
  const log = (line: string) => sink.write(`${line}\n`);
  const info = modelInfo(opts.model);
  const resumePath = opts.resume !== undefined ? resolveCheckpoint(opts.resume, 'last') : undefined;
  const out = opts.out;
  // a folder whose run never finished an epoch (config.json, no checkpoint) holds nothing to keep
  const runExists = existsSync(join(out, 'config.json')) && existsSync(join(out, 'last.safetensors'));
  const resumingHere = resumePath !== undefined && resolve(dirname(resumePath)) === resolve(out);
  if (runExists && !resumingHere) throw new TrainSetupError(`${out} already holds a run (config.json, last.safetensors); continue it with --resume ${out} or choose another --out`);
  probeWritable(out);

  const splits = await openSplits({ data: opts.data, valSplit: opts.valSplit, val: opts.val, cacheDir: opts.cacheDir, offline: opts.offline });
  const classes = splits.classes;
  if (splits.train.length < opts.batchSize) {
    throw new TrainSetupError(`the training set has ${splits.train.length} images, fewer than one batch of ${opts.batchSize} (training drops partial batches); lower --batch-size`);
  }
  const ckpt = resumePath !== undefined ? loadCheckpoint(resumePath) : undefined;
  if (ckpt) checkResumable(ckpt, opts.model, classes);

  manualSeed(opts.seed);
  const model = createModel(opts.model, { numClasses: classes.length, pretrained: ckpt ? undefined : opts.pretrained, onNotice: log });
  if (ckpt) model.loadStateDict(ckpt.modelState);
  const size = info.inputSize;
  const transforms = cifarTransforms(size);
  const optimizer = makeOptimizer(opts);
  const milestones = opts.sched === 'step' ? (opts.milestones ?? defaultMilestones(opts.epochs)) : undefined;
  let schedule;
  try {
    schedule = makeSchedule({ name: opts.sched, lr: opts.lr, epochs: opts.epochs, warmupEpochs: opts.warmupEpochs, milestones });
  } catch (e) {
    throw new TrainSetupError((e as Error).message);
  }

  const trainLoader = new DataLoader(splits.train, { batchSize: opts.batchSize, shuffle: true, seed: opts.seed, dropLast: true, transform: transforms.train, workers: opts.workers });
  const valLoader = splits.val ? new DataLoader(splits.val, { batchSize: opts.batchSize, shuffle: false, seed: opts.seed, dropLast: false, transform: transforms.eval, workers: opts.workers }) : null;
  let session: TrainingSession | undefined;
  try {
    const batches = trainLoader.batchesPerEpoch;
    session = await TrainingSession.create(model, { inputShape: [opts.batchSize, 3, size, size], optimizer, labelSmoothing: opts.labelSmoothing, threads: opts.threads });
    if (ckpt) restoreOptimizer(session, ckpt);

    const version = tesseraVersion();
    const config = {
      tessera: version,
      createdAt: new Date().toISOString(),
      options: {
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
        milestones: opts.milestones ?? null,
        warmupEpochs: opts.warmupEpochs,
        labelSmoothing: opts.labelSmoothing,
        seed: opts.seed,
        threads: opts.threads,
        workers: trainLoader.workers,
        out: opts.out,
        cacheDir: opts.cacheDir ?? null,
        offline: opts.offline ?? false,
        resume: opts.resume ?? null,
        pretrained: opts.pretrained ?? null,
      } satisfies Record<keyof TrainOptions, unknown>,
      model: { name: info.name, family: info.family, inputSize: size, numClasses: classes.length, parameters: model.parameterCount() },
      dataset: { spec: opts.data, train: splits.info.train, classes },
      split: splits.info,
      transform: transforms,
      optimizer: optimizer.config,
      schedule: { name: opts.sched, lr: opts.lr, epochs: opts.epochs, warmupEpochs: opts.warmupEpochs, milestones: milestones ?? null, stepping: opts.sched === 'onecycle' ? 'per iteration' : 'per epoch', warmupStepping: 'per iteration' },
      batchesPerEpoch: batches,
      droppedPerEpoch: splits.train.length - batches * opts.batchSize,
      resumedFrom: ckpt ? { checkpoint: ckpt.path, epoch: ckpt.meta.epoch, stepCount: ckpt.meta.stepCount } : null,
    };
    makeDirs(resolve(out));
    writeJsonAtomic(join(out, 'config.json'), config);
    const history = initMetrics(out, ckpt);

    log(`${info.name}: ${model.parameterCount().toLocaleString('en-US')} parameters, ${classes.length} classes, input ${size}×${size}`);
    log(`data: ${splits.info.trainImages} training images (${batches} batches of ${opts.batchSize} per epoch, ${config.droppedPerEpoch} dropped); ${splits.info.description}`);
    if (ckpt) log(`resuming ${ckpt.path} after epoch ${ckpt.meta.epoch} (step ${ckpt.meta.stepCount})`);
    log(`run folder: ${out}`);

    let bestTop1 = ckpt?.meta.bestTop1 ?? null;
    let bestEpoch = ckpt?.meta.bestEpoch ?? null;
    const startEpoch = ckpt?.meta.epoch ?? 0;
    if (startEpoch >= opts.epochs) log(`the run already finished ${startEpoch} epoch(s); raise --epochs to train more`);
    const nanStep = Number(process.env.TESSERA_INJECT_NAN_STEP ?? 0);
    const pauseMs = Number(process.env.TESSERA_EPOCH_PAUSE_MS ?? 0);
    const lastGood = () => (existsSync(join(out, 'last.safetensors')) ? `the last good checkpoint is ${join(out, 'last.safetensors')} (epoch ${history.length ? history[history.length - 1].epoch : '?'})` : 'no checkpoint was written');

    for (let e = startEpoch; e < opts.epochs; e++) {
      const epoch = e + 1;
      const started = performance.now();
      const progress = new EpochProgress({ epoch, epochs: opts.epochs, batches, sink });
      let lossSum = 0;
      let correct = 0;
      let images = 0;
      let i = 0;
      let waited = 0;
      const skipped: { index: number; reason: string }[] = [];
      const it = trainLoader.epoch(e)[Symbol.asyncIterator]();
      try {
        for (;;) {
          const w0 = performance.now();
          const next = await it.next();
          waited += performance.now() - w0;
          if (next.done) break;
          const batch = next.value;
          if (nanStep > 0 && session.stepCount + 1 === nanStep) batch.input.fill(NaN);
          const { loss, logits } = await session.step(batch.input, batch.target, schedule(e, i, batches));
          i++;
          if (!Number.isFinite(loss)) {
            progress.abort();
            throw new TrainingDivergedError(`the loss is ${loss} at epoch ${epoch}, batch ${i}/${batches} (step ${session.stepCount}); training stopped, ${lastGood()}`, epoch, session.stepCount);
          }
          lossSum += loss;
          correct += countCorrect(logits, batch.target, classes.length, batch.size);
          images += batch.size;
          skipped.push(...batch.skipped);
          progress.update({ batch: i, images, loss: lossSum / i, correct });
        }
      } finally {
        await it.return?.();
      }
      const trainSeconds = (performance.now() - started) / 1000;
      let val: EvalResult | null = null;
      if (valLoader) {
        val = await evaluate(model, valLoader, { inputShape: [opts.batchSize, 3, size, size], threads: opts.threads, numClasses: classes.length });
        skipped.push(...val.skipped);
      }
      if (val && (bestTop1 === null || val.top1 > bestTop1)) {
        bestTop1 = val.top1;
        bestEpoch = epoch;
      }
      const metrics: EpochMetrics = {
        epoch,
        lr: schedule(e, 0, batches),
        trainLoss: lossSum / i,
        trainAcc: correct / images,
        valLoss: val ? val.loss : null,
        valTop1: val ? val.top1 : null,
        valTop5: val ? val.top5 : null,
        imagesPerSecond: images / trainSeconds,
        loaderImagesPerSecond: waited > 1 ? images / (waited / 1000) : null,
        loaderWaitSeconds: round(waited / 1000, 3),
        seconds: 0,
        skipped: skipped.length,
        skippedSamples: skipped.slice(0, 20),
      };
      const meta = (m: EpochMetrics): CheckpointMeta => ({
        epoch,
        stepCount: session!.stepCount,
        model: info.name,
        numClasses: classes.length,
        classes,
        transform: transforms.eval,
        trainTransform: transforms.train,
        bestTop1,
        bestEpoch,
        metrics: m,
        optimizer: optimizer.config,
        seed: opts.seed,
        version,
      });
      // the checkpoints carry the metrics line too (resume rebuilds metrics.jsonl from them)
      const done = { ...metrics, seconds: round((performance.now() - started) / 1000, 3) };
      saveCheckpoint(out, 'last', model, session.optimizerState(), meta(done));
      if (val && bestEpoch === epoch) saveCheckpoint(out, 'best', model, session.optimizerState(), meta(done));
      appendFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify(done)}\n`);
      history.push(done);
      progress.finish(summaryLine(done, opts.epochs, skipped.length));
      if (pauseMs > 0) await sleep(pauseMs);
    }
    if (bestTop1 !== null) log(`done: best val top-1 ${pct(bestTop1)} at epoch ${bestEpoch}; checkpoints in ${out}`);
    else log(`done: checkpoint ${join(out, 'last.safetensors')}`);
    return { out, epochs: opts.epochs, bestTop1, bestEpoch, metrics: history };
  } finally {
    await session?.release();
    await trainLoader.close();
    await valLoader?.close();
  }
}

function checkResumable(ckpt: LoadedCheckpoint, model: string, classes: readonly string[]): void {
  const m = ckpt.meta;
  if (m.model !== model) throw new CheckpointError(`${ckpt.path} was trained as ${m.model}, not ${model}; it cannot be resumed as another model`);
  if (m.numClasses !== classes.length) throw new CheckpointError(`${ckpt.path} has ${m.numClasses} classes but the data has ${classes.length}; resume it with the data it was trained on`);
  const differ = m.classes.findIndex((c, i) => c !== classes[i]);
  if (differ >= 0) throw new CheckpointError(`${ckpt.path} was trained on other classes (class ${differ} is "${m.classes[differ]}" there, "${classes[differ]}" in the data)`);
}

function restoreOptimizer(session: TrainingSession, ckpt: LoadedCheckpoint): void {
  const want = [...session.optimizerState().keys()];
  const missing = want.filter((k) => !ckpt.optimizerState.has(k));
  const extra = [...ckpt.optimizerState.keys()].filter((k) => !want.includes(k));
  if (missing.length || extra.length) {
    throw new CheckpointError(
      `${ckpt.path}: its optimizer state does not fit this optimizer (${ckpt.meta.optimizer.name ?? '?'} there)${missing.length ? `; missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}` : ''}${extra.length ? `; unexpected ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}` : ''}`,
    );
  }
  for (const [k, cur] of session.optimizerState()) {
    if (ckpt.optimizerState.get(k)!.length !== cur.length) throw new CheckpointError(`${ckpt.path}: optimizer state ${k} has ${ckpt.optimizerState.get(k)!.length} values, the model needs ${cur.length}`);
  }
  session.loadOptimizerState(ckpt.optimizerState, ckpt.meta.stepCount);
}

/** metrics.jsonl for this run: empty for a new run; on resume the lines before the checkpoint's epoch plus the checkpoint's own. */
function initMetrics(out: string, ckpt: LoadedCheckpoint | undefined): EpochMetrics[] {
  const path = join(out, 'metrics.jsonl');
  let lines: EpochMetrics[] = [];
  if (ckpt) {
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const m = JSON.parse(line) as EpochMetrics;
          if (m.epoch < ckpt.meta.epoch) lines.push(m);
        } catch {
          // a line cut short by a crash
        }
      }
    }
    if (ckpt.meta.metrics) lines.push(ckpt.meta.metrics);
    lines = lines.filter((m, i) => lines.findIndex((o) => o.epoch === m.epoch) === i).sort((a, b) => a.epoch - b.epoch);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.map((m) => `${JSON.stringify(m)}\n`).join(''));
  renameSync(tmp, path);
  return lines;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

function summaryLine(m: EpochMetrics, epochs: number, skipped: number): string {
  const val = m.valTop1 !== null ? ` | val loss ${m.valLoss!.toFixed(4)} top-1 ${pct(m.valTop1)} top-5 ${pct(m.valTop5!)}` : '';
  const skip = skipped ? ` | ${skipped} unreadable sample(s) replaced` : '';
  return `epoch ${m.epoch}/${epochs}: lr ${m.lr.toPrecision(4)} train loss ${m.trainLoss.toFixed(4)} acc ${pct(m.trainAcc)}${val} | ${Math.round(m.imagesPerSecond)} img/s, ${formatDuration(m.seconds)}${skip}`;
}

/**
 * Top-1 hits of a batch of logits [n, classes] against int64 labels.
 *
 * @example
 * countCorrect(Float32Array.of(0, 1, 2, 0), BigInt64Array.of(1n, 1n), 2, 2); // 1
 */
export function countCorrect(logits: Float32Array, target: BigInt64Array, numClasses: number, n: number): number {
  let hits = 0;
  for (let r = 0; r < n; r++) {
    const row = r * numClasses;
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (logits[row + c] > logits[row + best]) best = c;
    if (best === Number(target[r])) hits++;
  }
  return hits;
}

/** Accuracy figures of one pass over a dataset. */
export interface EvalResult {
  readonly images: number;
  /** mean cross-entropy */
  readonly loss: number;
  readonly top1: number;
  /** top-min(5, classes) accuracy */
  readonly top5: number;
  /** per class: images and top-1 accuracy (NaN-free: null for a class with no images) */
  readonly perClass: readonly { readonly images: number; readonly accuracy: number | null }[];
  /** confusion[true][predicted] */
  readonly confusion: readonly (readonly number[])[];
  readonly skipped: readonly { readonly index: number; readonly reason: string }[];
}

/**
 * Runs `model` (eval mode, current weights) over everything `loader` yields (epoch 0) through a
 * fresh InferenceModel with a dynamic batch, so the last partial batch counts too. Images the
 * loader could not read are listed in `skipped` and left out of every figure (each sample counts
 * once, never the copy that stands in for an unreadable one).
 *
 * @example
 * // six grey 32×32 images labelled 0..5, held in memory (openDataset opens real ones)
 * const testSet: ImageDataset = {
 *   name: 'grey', classes: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'], length: 6,
 *   sample: (i) => ({ label: i, source: { kind: 'pixels', data: new Uint8Array(3 * 32 * 32).fill(128), width: 32, height: 32 } }),
 * };
 * const model = createModel('cifar_lenet');
 * const transform = { size: 32, mean: CIFAR10_MEAN, std: CIFAR10_STD };
 * const r = await evaluate(model, new DataLoader(testSet, { batchSize: 4, shuffle: false, seed: 0, dropLast: false, transform }), { inputShape: [4, 3, 32, 32], numClasses: 10 });
 * // the last, partial batch counts too:
 * r.confusion.flat().reduce((a, b) => a + b); // → 6
 * console.log(r.top1, r.top5);
 */
export async function evaluate(model: Module, loader: DataLoader, opts: { inputShape: readonly number[]; threads?: number; numClasses: number }): Promise<EvalResult> {
  const net = await InferenceModel.create(model, { inputShape: opts.inputShape, dynamicBatch: true, threads: opts.threads });
  const k = Math.min(5, opts.numClasses);
  const C = opts.numClasses;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const perImage = opts.inputShape.slice(1).reduce((a, b) => a * b, 1);
  let images = 0;
  let top1 = 0;
  let topk = 0;
  let lossSum = 0;
  const skipped: { index: number; reason: string }[] = [];
  // the loader fills an unreadable image's slot with a copy of another sample: count each sample once
  const counted = new Uint8Array(loader.dataset.length);
  try {
    for await (const batch of loader.epoch(0)) {
      const n = batch.size;
      const data = batch.input.length === n * perImage ? batch.input : batch.input.subarray(0, n * perImage);
      const out = await net.run({ dtype: 'float32', shape: [n, ...opts.inputShape.slice(1)], data });
      const logits = out.data as Float32Array;
      for (let r = 0; r < n; r++) {
        if (counted[batch.indices[r]]) continue;
        counted[batch.indices[r]] = 1;
        images++;
        const row = r * C;
        const t = Number(batch.target[r]);
        let best = 0;
        let max = -Infinity;
        for (let c = 0; c < C; c++) if (logits[row + c] > max) (max = logits[row + c]), (best = c);
        let sum = 0;
        let above = 0;
        for (let c = 0; c < C; c++) {
          sum += Math.exp(logits[row + c] - max);
          if (logits[row + c] > logits[row + t]) above++;
        }
        lossSum += Math.log(sum) + max - logits[row + t];
        if (best === t) top1++;
        if (above < k) topk++;
        confusion[t][best]++;
      }
      skipped.push(...batch.skipped);
    }
  } finally {
    await net.release();
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { images: total, accuracy: total ? row[c] / total : null };
  });
  return { images, loss: images ? lossSum / images : NaN, top1: images ? top1 / images : 0, top5: images ? topk / images : 0, perClass, confusion, skipped };
}
