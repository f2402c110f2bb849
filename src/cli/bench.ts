/**
 * `tessera bench --model NAME --batch-size N --threads T [--steps N] [--warmup W] [--compare-torch] [--json]`:
 * Tessera's training, inference and data-loading throughput (images/s) on one model, and the
 * process's peak memory. Training and inference step on one fixed random batch (the engine, not
 * the data); the loader is measured on its own afterwards (a synthetic in-memory pixel dataset of
 * the model's input size, the training transform, its default workers), so nothing competes.
 * `--compare-torch` then runs bench/torch_bench.py under /usr/bin/python3 with the same model,
 * batch, threads and steps, and prints the ratios. The measuring code is src/bench/measure.ts,
 * shared with `npm run bench`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_CIFAR_MODELS, type TorchResult, measureInference, measureLoader, measureTraining, randomBatch, runTorchBench } from '../bench/measure.js';
import { createModel, modelInfo } from '../models/index.js';
import { cifarTransforms } from '../train/trainer.js';
import { FlagSpec, UsageError, boolFlag, parseArgs, stringFlag } from './args.js';
import { intFlag } from './eval.js';

const FLAGS: Record<string, FlagSpec> = {
  model: { type: 'string' },
  'batch-size': { type: 'string' },
  threads: { type: 'string' },
  steps: { type: 'string' },
  warmup: { type: 'string' },
  'compare-torch': { type: 'boolean' },
  'inference-only': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
};

const PYTHON = '/usr/bin/python3';

/** Usage text of `tessera bench`. */
export const BENCH_USAGE = `usage: tessera bench --model NAME --batch-size N --threads T [--steps N] [--warmup W] [--inference-only] [--compare-torch] [--json]

Measures, one after the other (never concurrently):
  training    images/s of the whole training step (forward, backward, SGD) on one fixed random batch
  inference   images/s of the eval-mode model on the same batch
  loader      images/s the data loader produces: a synthetic in-memory pixel dataset of the model's
              input size, the training transform (random crop, flip, normalize), --batch-size,
              the loader's default worker threads, --warmup (at least 1) + --steps batches
  memory      the process's peak resident set (max RSS), in MB

options:
  --model NAME        a registered model (tessera models)
  --batch-size N      images per step
  --threads T         ONNX Runtime intra-op threads (and torch.set_num_threads)
  --steps N           measured steps (default 20)
  --warmup W          untimed steps first (default 3)
  --inference-only    skip the training measurement (trainImagesPerSec is then null)
  --compare-torch     afterwards, run bench/torch_bench.py (${PYTHON}) with the same settings
                      and print Tessera / PyTorch ratios (models: ${Object.keys(TORCH_CIFAR_MODELS).join(', ')}
                      and every torchvision config)
  --json              print one JSON object (progress still goes to stderr)
  -h, --help          show this help

exit status: 0 measured, 2 usage error`;

/** What `tessera bench --json` prints. */
export interface BenchReport {
  model: string;
  batchSize: number;
  threads: number;
  /** null with --inference-only */
  trainImagesPerSec: number | null;
  inferImagesPerSec: number;
  loaderImagesPerSec: number;
  peakRssMB: number;
  torch: { trainImagesPerSec: number | null; inferImagesPerSec: number } | null;
}

/** The folder holding bench/torch_bench.py: the nearest above this file (cwd when none). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'bench', 'torch_bench.py'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

const fmt = (x: number): string => x.toFixed(1);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Runs `tessera bench`; resolves to the exit status. Usage errors (and an unknown model) are
 * thrown for `main` to report as one line.
 *
 * @example
 * await benchCommand(['--model', 'cifar_lenet', '--batch-size', '8', '--threads', '1', '--steps', '2', '--json']);
 */
export async function benchCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS, 'tessera bench');
  if (boolFlag(args, 'help')) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`tessera bench: unexpected argument ${args.positionals[0]} (see tessera bench --help)`);
  const name = stringFlag(args, 'model');
  const batchSize = intFlag(args, 'batch-size', undefined);
  const threads = intFlag(args, 'threads', undefined);
  const steps = intFlag(args, 'steps', 20)!;
  const warmup = intFlag(args, 'warmup', 3, 0)!;
  const missing = [name === undefined && '--model NAME', batchSize === undefined && '--batch-size N', threads === undefined && '--threads T'].filter(Boolean);
  if (missing.length) throw new UsageError(`tessera bench: missing ${missing.join(', ')} (see tessera bench --help)`);
  const json = boolFlag(args, 'json');
  const compareTorch = boolFlag(args, 'compare-torch');
  const inferenceOnly = boolFlag(args, 'inference-only');
  const info = modelInfo(name!); // an unknown model is a usage error (exit 2)
  const batch = batchSize!;
  const size = info.inputSize;
  const inputShape = [batch, 3, size, size];

  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const out = json ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
  out(`tessera bench: ${info.name}, input [${inputShape.join(', ')}], float32, ${plural(threads!, 'thread')}, ${warmup} warmup + ${plural(steps, 'measured step')}`);

  // ---- Tessera: training, then inference, then the loader, one at a time
  const { images, labels } = randomBatch(inputShape, info.numClasses);
  const model = createModel(info.name);
  const bench = { inputShape, images, labels, threads: threads!, steps, warmup, log: progress };
  const train = inferenceOnly ? null : await measureTraining(model, bench);
  const infer = await measureInference(model, bench);
  const loader = await measureLoader({ batchSize: batch, size, classes: info.numClasses, transform: cifarTransforms(size).train, steps, warmup, log: progress });
  const peakRssMB = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

  if (train) out(`training    ${fmt(train.timing.imagesPerSec).padStart(10)} images/s  (session built in ${train.buildSec.toFixed(2)} s)`);
  out(`inference   ${fmt(infer.timing.imagesPerSec).padStart(10)} images/s  (model built in ${infer.buildSec.toFixed(2)} s)`);
  out(`loader      ${fmt(loader.timing.imagesPerSec).padStart(10)} images/s  (${plural(loader.workers, 'worker thread')}; random crop + flip + normalize)`);
  out(`peak memory ${fmt(peakRssMB).padStart(10)} MB        (max RSS of this process)`);

  // ---- PyTorch, strictly after Tessera
  let torch: TorchResult | null = null;
  if (compareTorch) {
    const r = runTorchBench({ model: info.name, batch, threads: threads!, size, train: !inferenceOnly, steps, warmup, python: PYTHON, root: repoRoot(), onStart: (command) => progress(`running PyTorch: ${command}`) });
    torch = r.result;
    if (!torch) (json ? progress : out)(`PyTorch: ${r.note}`);
    else {
      const trainText = (ours: number, theirs: number | null) => (theirs === null ? '' : `training ${(ours / theirs).toFixed(2)}x, `);
      out(`PyTorch ${torch.torch}: ${torch.trainImagesPerSec === null ? '' : `training ${fmt(torch.trainImagesPerSec)} images/s, `}inference ${fmt(torch.inferImagesPerSec)} images/s (${plural(torch.threads, 'thread')})`);
      out(`Tessera / PyTorch: ${train ? trainText(train.timing.imagesPerSec, torch.trainImagesPerSec) : ''}inference ${(infer.timing.imagesPerSec / torch.inferImagesPerSec).toFixed(2)}x`);
    }
  }

  if (json) {
    const report: BenchReport = {
      model: info.name,
      batchSize: batch,
      threads: threads!,
      trainImagesPerSec: train ? train.timing.imagesPerSec : null,
      inferImagesPerSec: infer.timing.imagesPerSec,
      loaderImagesPerSec: loader.timing.imagesPerSec,
      peakRssMB,
      torch: torch ? { trainImagesPerSec: torch.trainImagesPerSec, inferImagesPerSec: torch.inferImagesPerSec } : null,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
  return 0;
}
