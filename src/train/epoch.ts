/**
 * One epoch of a training run, in phases: the training pass (a batch transform, then one
 * TrainingSession step per batch), the validation and extra evaluations, the metrics line, and
 * the epoch end (checkpoints, metrics.jsonl, plugins). `runEpochs` in trainer.ts calls them.
 */
import { appendFileSync, existsSync } from 'node:fs';
import type { Batch, ImageDataset } from '../data/types.js';
import type { ModelInfo } from '../models/index.js';
import type { TrainingSession } from '../runtime/training-session.js';
import { CheckpointMeta, EpochMetrics, saveCheckpoint } from './checkpoint.js';
import { EvalResult, countCorrect, evaluate } from './evaluate.js';
import { EvaluationView, RunView, TrainPlugin, applyBatchTransforms, runEpochEnd, runExtraEvaluations } from './hooks.js';
import { TrainingDivergedError } from './options.js';
import { balancedAccuracy } from './class-balance.js';
import { EpochProgress, ProgressSink, formatDuration } from './progress.js';
import type { RunFolder } from './run-folder.js';
import { Schedule, epochSteps, totalEpochs } from './schedule.js';
import { checkpointStructure } from './run-model.js';
import type { RunLoaders } from './setup.js';

/** Everything the epoch loop works with, set up by `train`. */
export interface LoopRun extends RunView {
  readonly info: ModelInfo;
  readonly session: TrainingSession;
  readonly schedule: Schedule;
  readonly loaders: RunLoaders;
  readonly valSet: ImageDataset | null;
  readonly optimizerConfig: Readonly<Record<string, string | number | boolean>>;
  readonly version: string;
  readonly plugins: readonly TrainPlugin[];
  readonly folder: RunFolder;
  readonly sink: ProgressSink;
  /** the metrics lines so far (those before a resumed checkpoint included) */
  readonly history: EpochMetrics[];
}

/** The best validation top-1 so far and its epoch. */
export interface Best {
  top1: number | null;
  epoch: number | null;
}

/** Totals of one training pass. */
interface TrainPass {
  readonly started: number;
  readonly progress: EpochProgress;
  lossSum: number;
  correct: number;
  images: number;
  batches: number;
  waitedMs: number;
  readonly skipped: { index: number; reason: string }[];
}

/** Phase "train pass" of epoch `e` (0-based); throws TrainingDivergedError on a NaN or infinite loss. */
export async function trainEpoch(run: LoopRun, e: number): Promise<TrainPass> {
  const steps = epochSteps(run.options, e, run.batchesPerEpoch);
  const progress = new EpochProgress({ epoch: e + 1, epochs: totalEpochs(run.options), batches: steps, sink: run.sink });
  const pass: TrainPass = { started: performance.now(), progress, lossSum: 0, correct: 0, images: 0, batches: 0, waitedMs: 0, skipped: [] };
  const it = run.loaders.train.epoch(e)[Symbol.asyncIterator]();
  try {
    while (pass.batches < steps) {
      const w0 = performance.now();
      const next = await it.next();
      pass.waitedMs += performance.now() - w0;
      if (next.done) break;
      await trainStep(run, e, next.value, pass);
    }
  } finally {
    await it.return?.();
  }
  return pass;
}

async function trainStep(run: LoopRun, e: number, batch: Batch, pass: TrainPass): Promise<void> {
  const { session } = run;
  const lr = run.schedule(e, pass.batches, run.batchesPerEpoch, run.history);
  const step = run.plugins.some((p) => p.transformBatch)
    ? await applyBatchTransforms(run.plugins, { input: batch.input, target: batch.target }, { ...run, epochIndex: e, batchIndex: pass.batches, step: session.stepCount + 1, labels: batch.target, indices: batch.indices }, session.graph.targetShape)
    : batch;
  const { loss, logits } = await session.step(step.input, step.target, lr);
  pass.batches++;
  if (!Number.isFinite(loss)) {
    pass.progress.abort();
    throw new TrainingDivergedError(`the loss is ${loss} at epoch ${e + 1}, batch ${pass.batches}/${run.batchesPerEpoch} (step ${session.stepCount}); training stopped, ${lastGood(run)}`, e + 1, session.stepCount);
  }
  pass.lossSum += loss;
  if (logits) pass.correct += countCorrect(logits, batch.target, run.classes.length, batch.size);
  pass.images += batch.size;
  pass.skipped.push(...batch.skipped);
  pass.progress.update({ batch: pass.batches, images: pass.images, loss: pass.lossSum / pass.batches, correct: logits ? pass.correct : null });
}

function lastGood(run: LoopRun): string {
  const last = run.folder.path('last.safetensors');
  if (!existsSync(last)) return 'no checkpoint was written';
  const h = run.history;
  return `the last good checkpoint is ${last} (epoch ${h.length ? h[h.length - 1].epoch : '?'})`;
}

/** What the evaluations of an epoch found. */
export interface EpochEvaluations {
  readonly val: EvalResult | null;
  readonly fields: Readonly<Record<string, number | null>>;
  readonly summaries: readonly string[];
}

/** Every EpochMetrics field (extra evaluations may not reuse one). */
const METRICS_FIELDS: readonly (keyof EpochMetrics)[] = ['epoch', 'lr', 'trainLoss', 'trainAcc', 'valLoss', 'valTop1', 'valTop5', 'valBalancedAcc', 'valClassRecall', 'imagesPerSecond', 'loaderImagesPerSecond', 'loaderWaitSeconds', 'seconds', 'skipped', 'skippedSamples'];

/** Whether 1-based `epoch` validates: every `--val-interval` epochs and after the last. */
export function validatesAt(opts: { readonly valInterval?: number; readonly epochs: number; readonly cooldownEpochs?: number }, epoch: number): boolean {
  return epoch % (opts.valInterval ?? 1) === 0 || epoch >= totalEpochs(opts);
}

/** Phase "evaluate": validation (when the run validates, and this epoch does), then every plugin's extra evaluation. */
export async function evaluateEpoch(run: LoopRun, epoch: number): Promise<EpochEvaluations> {
  if (!validatesAt(run.options, epoch)) return { val: null, fields: {}, summaries: [] };
  const size = run.transforms.eval.size;
  const evaluateModel: EvaluationView['evaluateModel'] = (model) => {
    if (!run.loaders.val) throw new Error('the run does not validate: no validation loader');
    return evaluate(model, run.loaders.val, { inputShape: [run.options.batchSize, 3, size, size], threads: run.options.threads, numClasses: run.classes.length });
  };
  // a run whose objective is not classification (MAE pre-training) has no top-1 to validate; its plugins evaluate it
  const val = run.loaders.val && classifies(run) ? await evaluateModel(run.model) : null;
  if (!run.plugins.some((p) => p.evaluate)) return { val, fields: {}, summaries: [] };
  const view: EvaluationView = { ...run, epoch, session: run.session, val, valSet: run.valSet, valLoader: run.loaders.val, evaluateModel };
  const extra = await runExtraEvaluations(run.plugins, view, METRICS_FIELDS);
  return { val, ...extra };
}

/** Phase "metrics": the epoch's metrics.jsonl line (extra evaluation fields last); updates `best`. */
export function epochMetrics(run: LoopRun, e: number, pass: TrainPass, trainSeconds: number, evals: EpochEvaluations, best: Best): EpochMetrics {
  const { val } = evals;
  const skipped = [...pass.skipped, ...(val?.skipped ?? [])];
  if (val && (best.top1 === null || val.top1 > best.top1)) {
    best.top1 = val.top1;
    best.epoch = e + 1;
  }
  const metrics: EpochMetrics = {
    epoch: e + 1,
    lr: run.schedule(e, 0, run.batchesPerEpoch, run.history),
    trainLoss: pass.lossSum / pass.batches,
    trainAcc: classifies(run) ? pass.correct / pass.images : null,
    valLoss: val ? val.loss : null,
    valTop1: val ? val.top1 : null,
    valTop5: val ? val.top5 : null,
    valBalancedAcc: val ? balancedAccuracy(val.perClass) : null,
    valClassRecall: val ? val.perClass.map((p) => p.accuracy) : null,
    imagesPerSecond: pass.images / trainSeconds,
    loaderImagesPerSecond: pass.waitedMs > 1 ? pass.images / (pass.waitedMs / 1000) : null,
    loaderWaitSeconds: round(pass.waitedMs / 1000, 3),
    seconds: 0,
    skipped: skipped.length,
    skippedSamples: skipped.slice(0, 20),
  };
  return { ...metrics, ...evals.fields, seconds: round((performance.now() - pass.started) / 1000, 3) };
}

/**
 * Phase "epoch end": `last` (and `best` when this epoch is the best) checkpoints carrying the
 * metrics line (resume rebuilds metrics.jsonl from them), the line appended to metrics.jsonl,
 * the summary printed, then every plugin's `epochEnd`.
 */
export async function endEpoch(run: LoopRun, pass: TrainPass, metrics: EpochMetrics, evals: EpochEvaluations, best: Best): Promise<void> {
  const meta: CheckpointMeta = {
    epoch: metrics.epoch,
    stepCount: run.session.stepCount,
    model: run.info.name,
    numClasses: run.classes.length,
    classes: run.classes,
    transform: run.transforms.eval,
    trainTransform: run.transforms.train,
    bestTop1: best.top1,
    bestEpoch: best.epoch,
    metrics,
    optimizer: run.optimizerConfig,
    seed: run.options.seed,
    version: run.version,
    ...checkpointStructure(run.options),
  };
  saveCheckpoint(run.out, 'last', run.model, run.session.optimizerState(), meta, run.session.emaState());
  run.folder.settle();
  if (evals.val && best.epoch === metrics.epoch) saveCheckpoint(run.out, 'best', run.model, run.session.optimizerState(), meta, run.session.emaState());
  appendFileSync(run.folder.path('metrics.jsonl'), `${JSON.stringify(metrics)}\n`);
  run.history.push(metrics);
  pass.progress.finish(summaryLine(metrics, totalEpochs(run.options), evals.summaries));
  await runEpochEnd(run.plugins, { ...run, epoch: metrics.epoch, session: run.session, metrics, bestEpoch: best.epoch });
}

/** whether the run's step graph classifies (no objective replaced its loss): only then are there accuracies */
const classifies = (run: LoopRun): boolean => run.session.graph.logitsShape.length > 0;

/** `12.34%` */
export const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

function summaryLine(m: EpochMetrics, epochs: number, extra: readonly string[]): string {
  const val = m.valTop1 !== null && m.valLoss !== null && m.valTop5 !== null ? ` | val loss ${m.valLoss.toFixed(4)} top-1 ${pct(m.valTop1)} top-5 ${pct(m.valTop5)}` : '';
  const plugins = extra.map((s) => ` | ${s}`).join('');
  const skip = m.skipped ? ` | ${m.skipped} unreadable sample(s) replaced` : '';
  return `epoch ${m.epoch}/${epochs}: lr ${m.lr.toPrecision(4)} train loss ${m.trainLoss.toFixed(4)}${m.trainAcc === null ? '' : ` acc ${pct(m.trainAcc)}`}${val}${plugins} | ${Math.round(m.imagesPerSecond)} img/s, ${formatDuration(m.seconds)}${skip}`;
}
