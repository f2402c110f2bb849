/**
 * The training loop behind `tessera train`: a run folder, one TrainingSession step per batch,
 * validation every epoch, checkpoints, metrics and exact resumption.
 *
 * Run folder (`out`):
 *   config.json     the resolved configuration (options, model, data, split, transforms, optimizer, version)
 *   metrics.jsonl   one EpochMetrics object per epoch
 *   last.safetensors / last.json, best.safetensors / best.json (see checkpoint.ts)
 *   train.lock      while a run uses the folder (see run-folder.ts)
 *
 * - `train` is a list of named phases: setup (setup.ts: target, splits, model, optimizer,
 *   schedule, loaders, session; resume.ts; run-config.ts), then per epoch (epoch.ts) the train
 *   pass, the evaluations, the metrics line and the epoch end.
 * - Plugins (`TrainHooks.plugins`, see hooks.ts) extend four places: the step graph's options,
 *   each batch before its step, extra evaluations per epoch, and the epoch end. The options' own
 *   plugins (Mixup/CutMix: setup.ts `builtInPlugins`) run before the caller's.
 * - Training drops the last partial batch of every epoch: the training graph is compiled for a
 *   fixed batch shape. Validation keeps every image (the inference graph has a dynamic batch).
 * - The loader is deterministic per (seed, epoch) and the model is initialized from `seed`, so a
 *   run resumed from `last` after epoch k computes exactly the losses of a run never stopped.
 * - A NaN or infinite loss stops training (TrainingDivergedError) without writing a checkpoint:
 *   `last` stays the last good one.
 * - A run that fails before its first checkpoint leaves its folder as it was (run-folder.ts).
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
import { join } from 'node:path';
import type { OptimizerEmitter } from '../optim/optimizer.js';
import type { EpochMetrics, LoadedCheckpoint } from './checkpoint.js';
import { Best, LoopRun, endEpoch, epochMetrics, evaluateEpoch, pct, trainEpoch } from './epoch.js';
import type { RunView, TrainHooks, TrainPlugin } from './hooks.js';
import type { TrainOptions } from './options.js';
import { loadResume, metricsBefore, metricsText } from './resume.js';
import { RunFolder } from './run-folder.js';
import { runConfig } from './run-config.js';
import { Schedule, totalEpochs } from './schedule.js';
import { RunLoaders, RunTarget, buildModel, buildSchedule, builtInPlugins, makeOptimizer, openLoaders, openSession, openTrainData, predecodeTraining, refuseFinishedRun, resolveTarget, tesseraVersion, trainLoss } from './setup.js';
import { LossSpec, describeLoss } from '../runtime/step-graph.js';
import type { Splits } from './subset.js';
import { runTransforms } from './run-transforms.js';
import { whitenFromTraining } from './airbench.js';

export { TRAIN_DEFAULTS, TrainSetupError, TrainingDivergedError } from './options.js';
export type { TrainOptions } from './options.js';
export type { TrainHooks, TrainPlugin } from './hooks.js';
export { cifarTransforms, makeOptimizer, tesseraVersion } from './setup.js';
export { countCorrect, evaluate } from './evaluate.js';
export type { EvalResult } from './evaluate.js';

export interface TrainResult {
  readonly out: string;
  readonly epochs: number;
  readonly bestTop1: number | null;
  readonly bestEpoch: number | null;
  readonly metrics: readonly EpochMetrics[];
}

/**
 * Trains (or resumes) a run. Setup mistakes throw TrainSetupError, CheckpointError,
 * DatasetError, UnknownModelError or RunLockedError and leave the run folder as it was; a
 * diverging loss throws TrainingDivergedError.
 */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const sink = hooks.sink ?? process.stdout;
  const log = (line: string) => sink.write(`${line}\n`);
  const target = resolveTarget(opts);
  const folder = RunFolder.open(opts.out, { writeFile: hooks.writeFile, log });
  try {
    refuseFinishedRun(opts.out, target);
    const result = await setUpAndRun(opts, target, folder, { ...hooks, sink }, log);
    folder.close('done');
    return result;
  } catch (e) {
    folder.close('failed');
    throw e;
  }
}

/** What the setup phases before the session produce. */
interface Prepared {
  readonly target: RunTarget;
  readonly splits: Splits;
  readonly ckpt: LoadedCheckpoint | undefined;
  readonly optimizer: OptimizerEmitter;
  readonly loss: LossSpec;
  readonly schedule: Schedule;
  readonly loaders: RunLoaders;
  readonly view: RunView;
}

/** The setup phases, then the epochs; the session and loaders are released however it ends. */
async function setUpAndRun(opts: TrainOptions, target: RunTarget, folder: RunFolder, hooks: TrainHooks, log: (line: string) => void): Promise<TrainResult> {
  const plugins = [...builtInPlugins(opts), ...(hooks.plugins ?? [])];
  const p = await prepare(opts, target, log, plugins);
  try {
    const { session, options } = await openSession(opts, { model: p.view.model, optimizer: p.optimizer, loss: p.loss, size: p.view.transforms.train.size, ckpt: p.ckpt }, plugins, p.view);
    try {
      const version = tesseraVersion();
      const history = startRun(p, folder, options.optimizer.config, version);
      log(`loss: ${options.objective?.description ?? describeLoss(options.loss ?? p.loss)}`);
      const sink = hooks.sink ?? process.stdout;
      const startEpoch = p.ckpt?.meta.epoch ?? 0;
      // a resumed run with no epoch left decodes nothing
      if (startEpoch < totalEpochs(opts)) await predecodeTraining(p.loaders.train, sink);
      const run: LoopRun = { ...p.view, info: target.info, session, schedule: p.schedule, loaders: p.loaders, valSet: p.splits.val, optimizerConfig: options.optimizer.config, version, plugins, folder, sink, history };
      const best: Best = { top1: p.ckpt?.meta.bestTop1 ?? null, epoch: p.ckpt?.meta.bestEpoch ?? null };
      await runEpochs(run, startEpoch, best);
      return { out: opts.out, epochs: totalEpochs(opts), bestTop1: best.top1, bestEpoch: best.epoch, metrics: history };
    } finally {
      await session.release();
    }
  } finally {
    await p.loaders.close();
  }
}

/** Phases splits, checkpoint, model (whitened with --airbench), optimizer, schedule and loader, in the order that keeps runs reproducible (the model is seeded). */
async function prepare(opts: TrainOptions, target: RunTarget, log: (line: string) => void, plugins: readonly TrainPlugin[]): Promise<Prepared> {
  const splits = await openTrainData(opts);
  const classes = splits.classes;
  const ckpt = loadResume(target.resumePath, opts.model, classes);
  const model = buildModel(opts, classes.length, ckpt, log, plugins);
  const transforms = runTransforms(opts, target.info.inputSize);
  if (opts.airbench && !ckpt) await whitenFromTraining(model, splits.train, transforms.eval, opts, log);
  const optimizer = makeOptimizer(opts);
  const loss = trainLoss(opts, splits.train);
  const schedule = buildSchedule(opts);
  const loaders = openLoaders(opts, splits, transforms);
  const view: RunView = { options: opts, out: opts.out, model, classes, transforms, batchesPerEpoch: loaders.train.batchesPerEpoch, log };
  return { target, splits, ckpt, optimizer, loss, schedule, loaders, view };
}

/**
 * Phases config and metrics: config.json and metrics.jsonl (the lines before a resumed
 * checkpoint) written together, then the run's opening lines; returns the metrics so far.
 */
function startRun(p: Prepared, folder: RunFolder, optimizer: Readonly<Record<string, string | number | boolean>>, version: string): EpochMetrics[] {
  const { options: opts, model, classes, batchesPerEpoch, log } = p.view;
  const { info, resumingHere } = p.target;
  const config = runConfig(opts, { info, parameters: model.parameterCount(), splits: p.splits, transforms: p.view.transforms, optimizer, batchesPerEpoch, workers: p.loaders.train.workers, ckpt: p.ckpt, version });
  const history = metricsBefore(folder.path('metrics.jsonl'), p.ckpt);
  folder.stage('config.json', `${JSON.stringify(config, null, 2)}\n`);
  folder.stage('metrics.jsonl', metricsText(history));
  folder.commit();
  if (resumingHere) folder.settle();

  log(`${info.name}: ${model.parameterCount().toLocaleString('en-US')} parameters, ${classes.length} classes, input ${info.inputSize}×${info.inputSize}`);
  log(`data: ${p.splits.info.trainImages} training images (${batchesPerEpoch} batches of ${opts.batchSize} per epoch, ${config.droppedPerEpoch} dropped); ${p.splits.info.description}`);
  if (p.ckpt) log(`resuming ${p.ckpt.path} after epoch ${p.ckpt.meta.epoch} (step ${p.ckpt.meta.stepCount})`);
  log(`run folder: ${opts.out}`);
  return history;
}

/** The epoch loop: train pass, evaluations, metrics line, epoch end. */
async function runEpochs(run: LoopRun, startEpoch: number, best: Best): Promise<void> {
  const epochs = totalEpochs(run.options);
  if (startEpoch >= epochs) run.log(`the run already finished ${startEpoch} epoch(s); raise --epochs to train more`);
  for (let e = startEpoch; e < epochs; e++) {
    const pass = await trainEpoch(run, e);
    const trainSeconds = (performance.now() - pass.started) / 1000;
    const evals = await evaluateEpoch(run, e + 1);
    const metrics = epochMetrics(run, e, pass, trainSeconds, evals, best);
    await endEpoch(run, pass, metrics, evals, best);
  }
  if (best.top1 !== null) run.log(`done: best val top-1 ${pct(best.top1)} at epoch ${best.epoch}; checkpoints in ${run.out}`);
  else run.log(`done: checkpoint ${join(run.out, 'last.safetensors')}`);
}
