/**
 * The places a training run can be extended without editing the loop (src/train/trainer.ts).
 * A `TrainPlugin` fills any of five slots; plugins run in the order given, each seeing the
 * previous one's result:
 *
 * 0. `model`: replaces the model built from `--model` before a resumed checkpoint's weights are
 *    loaded into it (MAE's pre-training model around the encoder, the linear probe's head).
 * 1. `sessionOptions` (step-graph extras): adjusts the TrainingSession options (soft targets,
 *    class weights, a wrapped optimizer emitter for clipping, parameter groups or EMA) before
 *    the step graph is built. Called once per run, also when resuming.
 * 2. `transformBatch` (batch level): replaces a batch's images and targets right before the
 *    step: mixup, cutmix. Targets may become soft (float32 [n × classes]); the step graph must
 *    then be built with `target: 'soft'` through slot 1.
 * 3. `evaluate` (extra evaluations): runs after the epoch's validation and returns fields added
 *    to the metrics line (metrics.jsonl and the checkpoints' copy): EMA weights, TTA.
 * 4. `epochEnd`: runs after the epoch's checkpoints and metrics line are written: reports,
 *    extra files.
 *
 * @example
 * const seenEpochs: number[] = [];
 * const plugin: TrainPlugin = {
 *   name: 'count',
 *   evaluate: ({ epoch }) => ({ fields: { doubled: 2 * epoch } }),
 *   epochEnd: ({ epoch }) => void seenEpochs.push(epoch),
 * };
 * await train({ ...TRAIN_DEFAULTS, model: 'cifar_lenet', data: 'cifar10', epochs: 2, out: 'runs/a' }, { plugins: [plugin] });
 */
import type { DataLoader } from '../data/loader.js';
import type { ImageDataset, TransformSpec } from '../data/types.js';
import type { Module } from '../nn/module.js';
import type { TrainingSession, TrainingSessionOptions } from '../runtime/training-session.js';
import type { EpochMetrics } from './checkpoint.js';
import type { EvalResult } from './evaluate.js';
import type { TrainOptions } from './options.js';
import type { ProgressSink } from './progress.js';
import type { FileWriter } from './run-folder.js';

/** The images and targets one step trains on. */
export interface StepBatch {
  /** [n, 3, size, size] normalized images */
  readonly input: Float32Array;
  /** int64 labels [n], or soft targets float32 [n × classes] */
  readonly target: BigInt64Array | Float32Array;
}

/** What every hook can see of the run. */
export interface RunView {
  readonly options: TrainOptions;
  /** the run folder */
  readonly out: string;
  readonly model: Module;
  readonly classes: readonly string[];
  readonly transforms: { readonly train: TransformSpec; readonly eval: TransformSpec };
  readonly batchesPerEpoch: number;
  readonly log: (line: string) => void;
}

/** The step a batch transform prepares. */
export interface StepView extends RunView {
  /** 0-based epoch */
  readonly epochIndex: number;
  /** 0-based batch of the epoch */
  readonly batchIndex: number;
  /** 1-based global step this batch feeds */
  readonly step: number;
  /** the loader's int64 labels (accuracy is counted against these) */
  readonly labels: BigInt64Array;
  /** dataset indices of the batch's samples */
  readonly indices: Int32Array;
}

/** The epoch an extra evaluation runs in (after validation). */
export interface EvaluationView extends RunView {
  /** 1-based */
  readonly epoch: number;
  readonly session: TrainingSession;
  /** this epoch's validation (null when the run does not validate) */
  readonly val: EvalResult | null;
  readonly valSet: ImageDataset | null;
  readonly valLoader: DataLoader | null;
  /** the run's validation pass (same loader, batch, threads) over another model, e.g. EMA weights */
  readonly evaluateModel: (model: Module) => Promise<EvalResult>;
}

/** Fields an extra evaluation adds to the metrics line, and its part of the printed summary. */
export interface EpochEvaluation {
  readonly fields: Readonly<Record<string, number | null>>;
  /** appended to the epoch's summary line after ` | ` */
  readonly summary?: string;
}

/** The epoch that just ended (its checkpoints and metrics line are written). */
export interface EpochEndView extends RunView {
  /** 1-based */
  readonly epoch: number;
  readonly session: TrainingSession;
  /** the line written to metrics.jsonl (extra fields included) */
  readonly metrics: EpochMetrics;
  readonly bestEpoch: number | null;
}

/** One extension of a training run; every slot is optional (see the module comment). */
export interface TrainPlugin {
  /** names the plugin in errors */
  readonly name: string;
  /**
   * slot 0 (the model): replaces the model built from `--model` (seeded, pretrained weights
   * loaded) before a resumed checkpoint's weights are loaded into it: MAE's pre-training model
   * around the encoder, the linear probe's frozen encoder
   */
  readonly model?: (model: Module, options: TrainOptions, log: (line: string) => void) => Module;
  readonly sessionOptions?: (options: TrainingSessionOptions, run: RunView) => TrainingSessionOptions;
  readonly transformBatch?: (batch: StepBatch, step: StepView) => StepBatch | Promise<StepBatch>;
  readonly evaluate?: (epoch: EvaluationView) => EpochEvaluation | Promise<EpochEvaluation>;
  readonly epochEnd?: (epoch: EpochEndView) => void | Promise<void>;
}

/** What a caller of `train` can plug in besides the options. */
export interface TrainHooks {
  /** progress and log lines (default process.stdout) */
  readonly sink?: ProgressSink;
  readonly plugins?: readonly TrainPlugin[];
  /** writes the run folder's own files (lock, config.json, metrics.jsonl); tests inject failures */
  readonly writeFile?: FileWriter;
}

/** Slot 0: the model after every plugin's `model`. */
export function applyModelHooks(plugins: readonly TrainPlugin[], model: Module, options: TrainOptions, log: (line: string) => void): Module {
  return plugins.reduce((m, p) => (p.model ? p.model(m, options, log) : m), model);
}

/** Slot 1: the session options after every plugin's `sessionOptions`. */
export function applySessionHooks(plugins: readonly TrainPlugin[], options: TrainingSessionOptions, run: RunView): TrainingSessionOptions {
  return plugins.reduce((o, p) => (p.sessionOptions ? p.sessionOptions(o, run) : o), options);
}

/**
 * Slot 2: the batch after every plugin's `transformBatch`, checked against the step graph's
 * target (int64 [n] or float32 [n × classes]).
 */
export async function applyBatchTransforms(plugins: readonly TrainPlugin[], batch: StepBatch, step: StepView, targetShape: readonly number[]): Promise<StepBatch> {
  let b = batch;
  for (const p of plugins) {
    if (!p.transformBatch) continue;
    b = await p.transformBatch(b, step);
    const want = targetShape.reduce((x, y) => x * y, 1);
    const soft = targetShape.length === 2;
    if (b.input.length !== batch.input.length || b.target.length !== want || (b.target instanceof Float32Array) !== soft) {
      const got = `${b.target instanceof Float32Array ? 'float32' : 'int64'} targets of ${b.target.length} values and ${b.input.length} input values`;
      throw new Error(`plugin "${p.name}": transformBatch returned ${got}; the step graph takes ${batch.input.length} input values and ${soft ? 'float32' : 'int64'} targets [${targetShape.join(', ')}]`);
    }
  }
  return b;
}

/** Slot 3: every plugin's extra evaluation, merged; a field may not shadow a metrics field or another plugin's. */
export async function runExtraEvaluations(plugins: readonly TrainPlugin[], view: EvaluationView, taken: readonly string[]): Promise<{ fields: Record<string, number | null>; summaries: string[] }> {
  const fields: Record<string, number | null> = {};
  const summaries: string[] = [];
  for (const p of plugins) {
    if (!p.evaluate) continue;
    const r = await p.evaluate(view);
    for (const [k, v] of Object.entries(r.fields)) {
      if (taken.includes(k) || Object.hasOwn(fields, k)) throw new Error(`plugin "${p.name}": the metrics field "${k}" is already taken`);
      fields[k] = v;
    }
    if (r.summary) summaries.push(r.summary);
  }
  return { fields, summaries };
}

/** Slot 4: every plugin's `epochEnd`, in order. */
export async function runEpochEnd(plugins: readonly TrainPlugin[], view: EpochEndView): Promise<void> {
  for (const p of plugins) await p.epochEnd?.(view);
}
