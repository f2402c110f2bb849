/**
 * The measuring code shared by `npm run bench` (bench/train_bench.ts) and `tessera bench`
 * (src/cli/bench.ts): timed step loops, Tessera's training and inference throughput on one fixed
 * random batch, the data loader's throughput on a synthetic in-memory dataset, and the PyTorch
 * reference (bench/torch_bench.py run as a child process).
 *
 * Nothing here prints on its own: progress goes to the `log` callback each function takes.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * const batch = randomBatch([8, 3, 32, 32], 10);
 * const { timing } = await measureTraining(model, { ...batch, inputShape: [8, 3, 32, 32], threads: 1, steps: 2, warmup: 1 });
 * timing.imagesPerSec;
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader } from '../data/loader.js';
import type { ImageDataset, Sample, TransformSpec } from '../data/types.js';
import type { Module } from '../nn/module.js';
import { listModels } from '../models/registry.js';
import { sgd } from '../optim/sgd.js';
import { InferenceModel } from '../runtime/inference.js';
import { TrainingSession } from '../runtime/training-session.js';
import { mulberry32 } from '../util/random.js';

/** Where progress lines go (e.g. console.log, or stderr); `undefined` drops them. */
export type Log = ((line: string) => void) | undefined;

/** A fixed batch: standard normal pixels (like torch.randn) of `shape`, uniform labels in [0, classes). */
export function randomBatch(shape: readonly number[], classes: number, seed = 0): { images: Float32Array; labels: BigInt64Array } {
  const r = mulberry32(seed);
  const images = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < images.length; i += 2) {
    // Box-Muller
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    images[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < images.length) images[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  const labels = new BigInt64Array(shape[0]);
  for (let i = 0; i < labels.length; i++) labels[i] = BigInt(Math.floor(r() * classes));
  return { images, labels };
}

export interface Timing {
  /** measured steps × images per step / measured wall time */
  imagesPerSec: number;
  totalSec: number;
  stepMs: number[];
}

export interface StepCounts {
  readonly steps: number;
  readonly warmup: number;
}

/**
 * Runs `step` `warmup` times untimed, then `steps` times timed; logs one line per step as
 * `[tessera] LABEL warmup|step i/n: X ms`.
 */
export async function timeSteps(label: string, counts: StepCounts & { readonly imagesPerStep: number }, step: () => Promise<unknown>, log?: Log): Promise<Timing> {
  for (let i = 0; i < counts.warmup; i++) {
    const t0 = performance.now();
    await step();
    log?.(`[tessera] ${label} warmup ${i + 1}/${counts.warmup}: ${(performance.now() - t0).toFixed(1)} ms`);
  }
  const stepMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < counts.steps; i++) {
    const t0 = performance.now();
    await step();
    stepMs.push(performance.now() - t0);
    log?.(`[tessera] ${label} step ${i + 1}/${counts.steps}: ${stepMs[i].toFixed(1)} ms`);
  }
  const totalSec = (performance.now() - start) / 1000;
  return { imagesPerSec: (counts.steps * counts.imagesPerStep) / totalSec, totalSec, stepMs };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface EngineBenchOptions extends StepCounts {
  /** [N, C, H, W] */
  readonly inputShape: readonly number[];
  readonly images: Float32Array;
  readonly labels: BigInt64Array;
  /** ORT intra-op threads */
  readonly threads: number;
  readonly log?: Log;
}

export interface TrainingMeasurement {
  timing: Timing;
  /** seconds to trace, export and load the training graph */
  buildSec: number;
  lastLoss: number;
}

const BENCH_WEIGHT_DECAY = 5e-4;

/**
 * Tessera's training throughput: one TrainingSession (cross-entropy, SGD lr 0.1, momentum 0.9,
 * Nesterov, weight decay 5e-4) stepped on the same batch. With `profilePrefix` ORT writes its
 * per-op profile there (ended before the session is released). `frozen` parameters get a rate
 * factor of 0, so the step graph computes no gradient for them.
 */
export async function measureTraining(model: Module, opts: EngineBenchOptions & { readonly profilePrefix?: string; readonly frozen?: readonly string[] }): Promise<TrainingMeasurement> {
  const t0 = performance.now();
  const lrFactor = { name: 'frozen_lr', value: () => 0 };
  const session = await TrainingSession.create(model, {
    inputShape: opts.inputShape,
    optimizer: sgd({ momentum: 0.9, weightDecay: BENCH_WEIGHT_DECAY, nesterov: true }),
    threads: opts.threads,
    profilePrefix: opts.profilePrefix,
    paramGroups: new Map((opts.frozen ?? []).map((key) => [key, { weightDecay: BENCH_WEIGHT_DECAY, lrScale: 1, lrFactor }])),
  });
  const buildSec = (performance.now() - t0) / 1000;
  opts.log?.(`training session built in ${buildSec.toFixed(2)} s`);
  let lastLoss = NaN;
  try {
    const timing = await timeSteps(
      'train',
      { steps: opts.steps, warmup: opts.warmup, imagesPerStep: opts.inputShape[0] },
      async () => {
        lastLoss = (await session.step(opts.images, opts.labels, 0.1)).loss;
      },
      opts.log,
    );
    if (opts.profilePrefix !== undefined) session.session.endProfiling();
    return { timing, buildSec, lastLoss };
  } finally {
    await session.release();
  }
}

export interface InferenceMeasurement {
  timing: Timing;
  /** seconds to export and load the inference graph */
  buildSec: number;
}

/** Tessera's inference throughput: an InferenceModel (eval mode, weights baked in) run on the same batch. */
export async function measureInference(model: Module, opts: Omit<EngineBenchOptions, 'labels'>): Promise<InferenceMeasurement> {
  const t0 = performance.now();
  const net = await InferenceModel.create(model, { inputShape: opts.inputShape, threads: opts.threads });
  const buildSec = (performance.now() - t0) / 1000;
  opts.log?.(`inference model built in ${buildSec.toFixed(2)} s`);
  const input = { dtype: 'float32' as const, shape: [...opts.inputShape], data: opts.images };
  try {
    const timing = await timeSteps('infer', { steps: opts.steps, warmup: opts.warmup, imagesPerStep: opts.inputShape[0] }, () => net.run(input), opts.log);
    return { timing, buildSec };
  } finally {
    await net.release();
  }
}

/**
 * An in-memory pixel dataset of `length` random size×size RGB images. Only `distinct` images
 * exist, all views into one SharedArrayBuffer (which the DataLoader then shares with its workers
 * as is), sample i being image i mod distinct.
 */
export function syntheticPixelDataset(length: number, size: number, classes: number, distinct = 256, seed = 0): ImageDataset {
  const k = Math.max(1, Math.min(length, distinct));
  const bytes = 3 * size * size;
  const data = new Uint8Array(new SharedArrayBuffer(k * bytes));
  const r = mulberry32(seed);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  const labels = Int32Array.from({ length: k }, () => Math.floor(r() * classes));
  const names = Array.from({ length: classes }, (_, c) => `class${c}`);
  return {
    name: `synthetic:${length}x${size}`,
    classes: names,
    length,
    sample(i: number): Sample {
      const j = i % k;
      return { label: labels[j], source: { kind: 'pixels', data: data.subarray(j * bytes, (j + 1) * bytes), width: size, height: size } };
    },
  };
}

export interface LoaderBenchOptions extends StepCounts {
  readonly batchSize: number;
  /** image side of the synthetic dataset */
  readonly size: number;
  readonly classes: number;
  readonly transform: TransformSpec;
  /** loader worker threads (default: the DataLoader's) */
  readonly workers?: number;
  readonly log?: Log;
}

export interface LoaderMeasurement {
  timing: Timing;
  /** the worker threads the loader ran with */
  workers: number;
}

/**
 * The DataLoader's throughput: untimed warmup batches (at least one, so booting the worker
 * threads is never timed), then `steps` timed batches of one shuffled epoch over a synthetic pixel
 * dataset, nothing else running; images/s over the timed batches.
 */
export async function measureLoader(opts: LoaderBenchOptions): Promise<LoaderMeasurement> {
  const warmup = Math.max(1, opts.warmup);
  const dataset = syntheticPixelDataset(opts.batchSize * (opts.steps + warmup), opts.size, opts.classes);
  const loader = new DataLoader(dataset, { batchSize: opts.batchSize, shuffle: true, seed: 0, dropLast: true, transform: opts.transform, workers: opts.workers });
  opts.log?.(`data loader: ${loader.workers} worker thread${loader.workers === 1 ? '' : 's'}, ${loader.batchesPerEpoch} batches of ${opts.batchSize}`);
  try {
    const it = loader.epoch(0)[Symbol.asyncIterator]();
    const timing = await timeSteps(
      'loader',
      { steps: opts.steps, warmup, imagesPerStep: opts.batchSize },
      async () => {
        const r = await it.next();
        if (r.done) throw new Error('the data loader ran out of batches');
      },
      opts.log,
    );
    await it.return?.();
    return { timing, workers: loader.workers };
  } finally {
    await loader.close();
  }
}

// ---------------------------------------------------------------- PyTorch

/** What bench/torch_bench.py prints with --json (`trainImagesPerSec` is null with --no-train). */
export interface TorchResult {
  trainImagesPerSec: number | null;
  inferImagesPerSec: number;
  torch: string;
  threads: number;
  blas: string;
  /** the allocator PyTorch ran with (bench/torch_malloc.py): 'tcmalloc (libtcmalloc_minimal.so.4)', 'glibc' */
  malloc: string;
}

/** PyTorch's memory allocators bench/torch_malloc.py knows (auto: tcmalloc when installed, else glibc) */
export const TORCH_MALLOCS = ['auto', 'tcmalloc', 'jemalloc', 'glibc'] as const;
export type TorchMalloc = (typeof TORCH_MALLOCS)[number];

/** pytorch-cifar models bench/torch_bench.py defines itself, by Tessera name. */
export const TORCH_CIFAR_MODELS: Readonly<Record<string, string>> = { cifar_resnet18: 'resnet18', cifar_lenet: 'lenet', cifar_airbench94: 'airbench94' };

/**
 * The `--model` bench/torch_bench.py runs for a Tessera model: a model it defines
 * (pytorch-cifar's `resnet18`, `lenet`; airbench's `airbench94`), or `tv:NAME` for a torchvision config (torchvision's builder NAME);
 * undefined when there is no counterpart.
 */
export function torchCounterpart(model: string): string | undefined {
  if (Object.hasOwn(TORCH_CIFAR_MODELS, model)) return TORCH_CIFAR_MODELS[model];
  const info = listModels().find((m) => m.name === model);
  return info?.source === 'torchvision' ? `tv:${info.reference}` : undefined;
}

export interface TorchBenchOptions extends StepCounts {
  /** Tessera model name (see `torchCounterpart`) */
  readonly model: string;
  readonly batch: number;
  readonly threads: number;
  /** input height and width */
  readonly size: number;
  /** false: inference only (torch_bench.py --no-train) */
  readonly train: boolean;
  /** the Python to run (e.g. /usr/bin/python3) */
  readonly python: string;
  /** the repository root (holding bench/torch_bench.py) */
  readonly root: string;
  /** PyTorch's memory allocator, torch_bench.py's `--malloc` (auto: tcmalloc when installed, else glibc) */
  readonly malloc?: TorchMalloc;
  /** called with the command line just before PyTorch starts */
  readonly onStart?: (command: string) => void;
}

/**
 * Runs bench/torch_bench.py (synchronously; its progress on stderr streams through) and parses
 * its JSON. `result` is null when the model has no counterpart, Python or torch is missing, or
 * the script failed; `note` then says why.
 */
export function runTorchBench(o: TorchBenchOptions): { result: TorchResult | null; note: string; command: string | null } {
  const torchModel = torchCounterpart(o.model);
  if (!torchModel) return { result: null, note: `no PyTorch counterpart for ${o.model} (bench/torch_bench.py runs ${Object.keys(TORCH_CIFAR_MODELS).join(', ')} and torchvision configs); PyTorch skipped`, command: null };
  const script = join(o.root, 'bench', 'torch_bench.py');
  const pyArgs = [script, '--model', torchModel, '--size', String(o.size), '--batch', String(o.batch), '--threads', String(o.threads), '--steps', String(o.steps), '--warmup', String(o.warmup), ...(o.train ? [] : ['--no-train']), '--malloc', o.malloc ?? 'auto', '--json'];
  const command = `${o.python} bench/torch_bench.py ${pyArgs.slice(1).join(' ')}`;
  if (!existsSync(o.python)) return { result: null, note: `${o.python} not found; PyTorch skipped, Tessera reported alone`, command };
  o.onStart?.(command);
  // progress (stderr) streams through; stdout carries the JSON
  const child = spawnSync(o.python, pyArgs, { cwd: o.root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 16 << 20 });
  if (child.error) return { result: null, note: `could not run ${o.python}: ${child.error.message}; PyTorch skipped`, command };
  if (child.status !== 0) {
    const why = child.status === 1 ? ' (is torch installed for this Python?)' : '';
    return { result: null, note: `torch_bench.py exited with ${child.status ?? child.signal}${why}; PyTorch skipped, Tessera reported alone`, command };
  }
  const line = child.stdout.trim().split('\n').pop() ?? '';
  try {
    const r = JSON.parse(line) as TorchResult;
    if ((o.train && typeof r.trainImagesPerSec !== 'number') || typeof r.inferImagesPerSec !== 'number') throw new Error('missing fields');
    return { result: r, note: '', command };
  } catch (e) {
    return { result: null, note: `could not parse torch_bench.py output (${(e as Error).message}): ${line.slice(0, 200)}`, command };
  }
}
