/**
 * Run checkpoints: `<run>/last.safetensors` and `<run>/best.safetensors`, each with a readable
 * twin `last.json` / `best.json`.
 *
 * The safetensors file holds the model's state dict under its PyTorch keys, the optimizer state
 * under `optimizer.<param>.<slot>` (e.g. `optimizer.conv1.weight.momentum_buffer`), the weight EMA
 * of a `--model-ema` run under `ema.<key>` (its parameters and float buffers), and string
 * metadata: `format`, `epoch` (epochs completed), `stepCount`, `model`, `numClasses`, `classes`
 * (JSON), `transform` (the evaluation TransformSpec, JSON), `trainTransform`, `bestTop1`,
 * `bestEpoch`, `metrics` (this epoch's metrics.jsonl record, JSON), `optimizer`, `seed`,
 * `version`. The `.json` twin holds the same metadata parsed, plus every tensor's dtype and
 * shape (not the values). Both are written to a temporary file and renamed, the tensors first:
 * the safetensors file is the authority, so a crash never leaves a half-written checkpoint.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import type { HostTensor } from '../graph/ir.js';
import { SafetensorsError, SafetensorsFile, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { FileKind, sniffFileKind } from '../io/sniff.js';
import type { TransformSpec } from '../data/types.js';
import type { Module } from '../nn/module.js';
import type { JsonArgs } from '../models/registry.js';
import { writeFileAtomic } from '../util/files.js';

import { CHECKPOINT_FORMAT, encodeMeta } from './checkpoint-meta.js';

export { CHECKPOINT_FORMAT };
const OPTIMIZER_PREFIX = 'optimizer.';
const EMA_PREFIX = 'ema.';

/** A problem with a checkpoint the user named (missing, foreign, incompatible); the CLI exits 2. */
export class CheckpointError extends UserError {}

/** One line of metrics.jsonl (validation fields are null when the run does not validate). */
export interface EpochMetrics {
  /** 1-based */
  readonly epoch: number;
  /** learning rate of the epoch's first batch */
  readonly lr: number;
  readonly trainLoss: number;
  /** null when the run's objective is not classification (MAE pre-training) */
  readonly trainAcc: number | null;
  readonly valLoss: number | null;
  readonly valTop1: number | null;
  readonly valTop5: number | null;
  /** mean per-class recall on the validation set (see class-balance.ts) */
  readonly valBalancedAcc: number | null;
  /** recall of each class on the validation set (null for a class with no images) */
  readonly valClassRecall: readonly (number | null)[] | null;
  /** training images per second (loading and compute overlapped) */
  readonly imagesPerSecond: number;
  /**
   * training images per second of time spent waiting on the loader: far above `imagesPerSecond`
   * means loading kept ahead of compute; close to it means the epoch was loader-bound (null when
   * the loop never waited measurably)
   */
  readonly loaderImagesPerSecond: number | null;
  /** seconds the training loop waited for batches */
  readonly loaderWaitSeconds: number;
  /** wall-clock seconds of the epoch: training and validation (not the checkpoint writes) */
  readonly seconds: number;
  /** samples that could not be decoded and were replaced */
  readonly skipped: number;
  readonly skippedSamples: readonly { readonly index: number; readonly reason: string }[];
}

/** What a checkpoint says about itself. */
export interface CheckpointMeta {
  /** epochs completed */
  readonly epoch: number;
  readonly stepCount: number;
  readonly model: string;
  readonly numClasses: number;
  readonly classes: readonly string[];
  /** evaluation transform (no augmentation) */
  readonly transform: TransformSpec;
  readonly trainTransform: TransformSpec;
  /** best validation top-1 so far (this epoch included), null without validation */
  readonly bestTop1: number | null;
  readonly bestEpoch: number | null;
  readonly metrics: EpochMetrics | null;
  readonly optimizer: Readonly<Record<string, string | number | boolean>>;
  readonly seed: number;
  readonly version: string;
  /** the builder arguments the model was created with besides numClasses (`--patch-size`: `{ patchSize: 2 }`); absent: none */
  readonly modelArgs?: JsonArgs;
  /** the model carries MAE's linear-probe norm before its classifier (`--linear-probe`: `heads.probe_norm`) */
  readonly linearProbe?: boolean;
}

export interface LoadedCheckpoint {
  readonly path: string;
  readonly meta: CheckpointMeta;
  /** model state dict entries */
  readonly modelState: Map<string, HostTensor>;
  /** optimizer state by `<param>.<slot>` (the TrainingSession's names) */
  readonly optimizerState: Map<string, Float32Array>;
  /** the weight EMA by state-dict key (empty when the run kept none) */
  readonly emaState: Map<string, HostTensor>;
}

/**
 * Writes `<dir>/<name>.safetensors` and `<dir>/<name>.json` atomically.
 *
 * @example
 * saveCheckpoint('runs/a', 'last', model, session.optimizerState(), meta, session.emaState());
 */
export function saveCheckpoint(dir: string, name: string, model: Module, optimizerState: ReadonlyMap<string, Float32Array>, meta: CheckpointMeta, emaState: ReadonlyMap<string, HostTensor> = new Map()): string {
  const tensors: [string, HostTensor][] = [...model.stateDict()];
  for (const [key, data] of optimizerState) tensors.push([`${OPTIMIZER_PREFIX}${key}`, { dtype: 'float32', shape: [data.length], data }]);
  for (const [key, t] of emaState) tensors.push([`${EMA_PREFIX}${key}`, t]);
  const path = join(dir, `${name}.safetensors`);
  writeSafetensors(path, tensors, encodeMeta(meta));
  const readable = {
    format: CHECKPOINT_FORMAT,
    ...meta,
    tensors: Object.fromEntries(tensors.map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }])),
  };
  writeFileAtomic(join(dir, `${name}.json`), `${JSON.stringify(readable, null, 2)}\n`);
  return path;
}


function decodeMeta(path: string, m: Record<string, string>): CheckpointMeta {
  if (m.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${path} is not a Tessera training checkpoint (metadata format ${m.format === undefined ? 'missing' : JSON.stringify(m.format)}, expected ${CHECKPOINT_FORMAT})`);
  }
  const json = (key: string): unknown => {
    try {
      return JSON.parse(m[key] ?? '');
    } catch {
      throw new CheckpointError(`${path}: metadata "${key}" is not valid JSON`);
    }
  };
  const num = (key: string): number => {
    const v = Number(m[key]);
    if (m[key] === undefined || !Number.isFinite(v)) throw new CheckpointError(`${path}: metadata "${key}" is missing or not a number`);
    return v;
  };
  const classes = json('classes');
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw new CheckpointError(`${path}: metadata "classes" is not a list of names`);
  if (typeof m.model !== 'string' || !m.model) throw new CheckpointError(`${path}: metadata "model" is missing`);
  return {
    epoch: num('epoch'),
    stepCount: num('stepCount'),
    model: m.model,
    numClasses: num('numClasses'),
    classes,
    transform: json('transform') as TransformSpec,
    trainTransform: json('trainTransform') as TransformSpec,
    bestTop1: json('bestTop1') as number | null,
    bestEpoch: json('bestEpoch') as number | null,
    metrics: json('metrics') as EpochMetrics | null,
    optimizer: json('optimizer') as Record<string, string | number | boolean>,
    seed: num('seed'),
    version: m.version ?? 'unknown',
    ...(m.modelArgs === undefined ? {} : { modelArgs: jsonObject(path, 'modelArgs', json('modelArgs')) }),
    ...(m.linearProbe === 'true' ? { linearProbe: true } : {}),
  };
}

/** a metadata value that must be a JSON object (`modelArgs`) */
function jsonObject(path: string, key: string, value: unknown): JsonArgs {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointError(`${path}: metadata "${key}" is not a JSON object`);
  return Object.fromEntries(Object.entries(value));
}

/**
 * Reads a checkpoint written by `saveCheckpoint`; throws CheckpointError (or SafetensorsError for
 * a damaged file) with one line naming the file.
 *
 * @example
 * const { meta, modelState } = loadCheckpoint('runs/a/best.safetensors');
 * model.loadStateDict(modelState);
 */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`);
  const file = readCheckpointFile(path);
  const meta = decodeMeta(path, file.metadata);
  const modelState = new Map<string, HostTensor>();
  const optimizerState = new Map<string, Float32Array>();
  const emaState = new Map<string, HostTensor>();
  for (const [key, t] of file.tensors) {
    if (key.startsWith(OPTIMIZER_PREFIX)) {
      if (!(t.data instanceof Float32Array)) throw new SafetensorsError(path, `optimizer state ${key} is ${t.dtype}, expected float32`);
      optimizerState.set(key.slice(OPTIMIZER_PREFIX.length), t.data);
    } else if (key.startsWith(EMA_PREFIX)) {
      if (!(t.data instanceof Float32Array)) throw new SafetensorsError(path, `EMA tensor ${key} is ${t.dtype}, expected float32`);
      emaState.set(key.slice(EMA_PREFIX.length), t);
    } else modelState.set(key, t);
  }
  return { path, meta, modelState, optimizerState, emaState };
}

/** What a foreign model file is, and which command takes it. */
const FOREIGN_FILES: Readonly<Partial<Record<FileKind, string>>> = {
  onnx: 'an ONNX model, not a Tessera training checkpoint; `tessera import` takes ONNX files',
  'torch-zip': 'a PyTorch checkpoint (torch.save), not a Tessera training checkpoint; `tessera convert` turns it into safetensors, `tessera train --pretrained FILE` starts a run from it',
  'torch-legacy': 'a PyTorch checkpoint (legacy torch.save), not a Tessera training checkpoint; `tessera convert` turns it into safetensors, `tessera train --pretrained FILE` starts a run from it',
};

/**
 * Reads a file that should be a training checkpoint (or, where a command allows it, a plain
 * safetensors state dict): an ONNX model or a PyTorch checkpoint is a CheckpointError saying what
 * the file is and which command takes it; a damaged file is a SafetensorsError.
 *
 * @example
 * const { metadata } = readCheckpointFile('runs/a/best.safetensors');
 * // for model.onnx it throws "model.onnx is an ONNX model, not a Tessera training checkpoint; `tessera import` takes ONNX files"
 */
export function readCheckpointFile(path: string): SafetensorsFile {
  const foreign = FOREIGN_FILES[sniffFileKind(path)];
  if (foreign) throw new CheckpointError(`${path} is ${foreign}`);
  return readSafetensors(path);
}

/**
 * The checkpoint file a `--checkpoint`/`--resume` argument names: a file as is, or in a run folder
 * `best.safetensors` (prefer 'best', falling back to last) or `last.safetensors` (prefer 'last').
 *
 * @example
 * resolveCheckpoint('runs/a', 'best'); // 'runs/a/best.safetensors' (or last when the run never validated)
 */
export function resolveCheckpoint(runOrFile: string, prefer: 'best' | 'last'): string {
  let st;
  try {
    st = statSync(runOrFile);
  } catch {
    throw new CheckpointError(`${runOrFile} does not exist (expected a run folder or a .safetensors checkpoint)`);
  }
  if (!st.isDirectory()) return runOrFile;
  const order = prefer === 'best' ? ['best', 'last'] : ['last'];
  for (const name of order) {
    const p = join(runOrFile, `${name}.safetensors`);
    if (existsSync(p)) return p;
  }
  throw new CheckpointError(`${runOrFile} holds no checkpoint (${order.map((n) => `${n}.safetensors`).join(' or ')}); has it finished an epoch? (if not, delete the folder and start again)`);
}

/**
 * Reads a run's config.json (undefined when there is none; CheckpointError when it is not a JSON object).
 *
 * @example
 * readRunConfig('runs/a')?.options; // { model: 'cifar_lenet', epochs: 200, ... }
 */
export function readRunConfig(dir: string): Record<string, unknown> | undefined {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new CheckpointError(`${path} is not a valid run configuration (JSON object)`);
}

/** A `--resume` argument that names no run: missing, not a run folder, or a run without a checkpoint. */
export class NotARunError extends UserError {}

/**
 * What `--resume` names: a run folder (with config.json and last.safetensors) or a checkpoint
 * file (with its folder's config.json when there is one). Throws NotARunError saying what is
 * missing.
 *
 * @example
 * readResumeTarget('runs/a').config?.options; // { model: 'cifar_lenet', ... }
 * readResumeTarget('runs/nope'); // throws "--resume runs/nope: no such run folder or checkpoint"
 */
export function readResumeTarget(arg: string): { runDir: string; config: Record<string, unknown> | undefined } {
  let st;
  try {
    st = statSync(arg);
  } catch {
    throw new NotARunError(`--resume ${arg}: no such run folder or checkpoint; give the --out folder of an earlier tessera train`);
  }
  if (!st.isDirectory()) return { runDir: dirname(arg), config: readRunConfig(dirname(arg)) };
  const config = readRunConfig(arg);
  if (!config) throw new NotARunError(`--resume ${arg}: not a run folder (no config.json); give the --out folder of an earlier tessera train`);
  if (!existsSync(join(arg, 'last.safetensors'))) throw new NotARunError(`--resume ${arg}: the run has no checkpoint (it never finished an epoch); start it again without --resume`);
  return { runDir: arg, config };
}
