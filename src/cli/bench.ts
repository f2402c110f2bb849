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
import { CliCommand, defineCommand, readCommandLine } from './args.js';

const PYTHON = '/usr/bin/python3';

/** How `tessera bench` is called: its options, help and checks. */
export const BENCH = defineCommand({
  name: 'bench',
  usage: '--model NAME --batch-size N --threads T [--steps N] [--warmup W] [--inference-only] [--compare-torch] [--json]',
  description: `Measures, one after the other (never concurrently):
  training    images/s of the whole training step (forward, backward, SGD) on one fixed random batch
  inference   images/s of the eval-mode model on the same batch
  loader      images/s the data loader produces: a synthetic in-memory pixel dataset of the model's
              input size, the training transform (random crop, flip, normalize), --batch-size,
              the loader's default worker threads, --warmup (at least 1) + --steps batches
  memory      the process's peak resident set (max RSS), in MB`,
  options: {
    model: { kind: 'string', placeholder: 'NAME', required: true, help: 'a registered model (tessera models)' },
    batchSize: { kind: 'int', min: 1, placeholder: 'N', required: true, help: 'images per step' },
    threads: { kind: 'int', min: 1, placeholder: 'T', required: true, help: 'ONNX Runtime intra-op threads (and torch.set_num_threads)' },
    steps: { kind: 'int', min: 1, default: 20, placeholder: 'N', help: 'measured steps (default 20)' },
    warmup: { kind: 'int', min: 0, default: 3, placeholder: 'W', help: 'untimed steps first (default 3)' },
    inferenceOnly: { kind: 'boolean', help: 'skip the training measurement (trainImagesPerSec is then null)' },
    compareTorch: {
      kind: 'boolean',
      help: `afterwards, run bench/torch_bench.py (${PYTHON}) with the same settings
and print Tessera / PyTorch ratios (models: ${Object.keys(TORCH_CIFAR_MODELS).join(', ')}
and every torchvision config)`,
    },
    json: { kind: 'boolean', help: 'print one JSON object (progress still goes to stderr)' },
  },
  notes: 'exit status: 0 measured, 2 usage error',
});

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
  const parsed = readCommandLine(BENCH, argv);
  if (!parsed) return 0;
  const { model: name, batchSize: batch, threads, steps, warmup, json, compareTorch, inferenceOnly } = parsed.opts;
  const info = modelInfo(name); // an unknown model is a usage error (exit 2)
  const size = info.inputSize;
  const inputShape = [batch, 3, size, size];

  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const out = json ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
  out(`tessera bench: ${info.name}, input [${inputShape.join(', ')}], float32, ${plural(threads, 'thread')}, ${warmup} warmup + ${plural(steps, 'measured step')}`);

  // ---- Tessera: training, then inference, then the loader, one at a time
  const { images, labels } = randomBatch(inputShape, info.numClasses);
  const model = createModel(info.name);
  const bench = { inputShape, images, labels, threads, steps, warmup, log: progress };
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
    const r = runTorchBench({ model: info.name, batch, threads, size, train: !inferenceOnly, steps, warmup, python: PYTHON, root: repoRoot(), onStart: (command) => progress(`running PyTorch: ${command}`) });
    torch = r.result;
    if (!torch) (json ? progress : out)(`PyTorch: ${r.note}`);
    else {
      const trainText = (ours: number, theirs: number | null) => (theirs === null ? '' : `training ${(ours / theirs).toFixed(2)}x, `);
      out(`PyTorch ${torch.torch}: ${torch.trainImagesPerSec === null ? '' : `training ${fmt(torch.trainImagesPerSec)} images/s, `}inference ${fmt(torch.inferImagesPerSec)} images/s (${plural(torch.threads, 'thread')}, malloc: ${torch.malloc})`);
      out(`Tessera / PyTorch: ${train ? trainText(train.timing.imagesPerSec, torch.trainImagesPerSec) : ''}inference ${(infer.timing.imagesPerSec / torch.inferImagesPerSec).toFixed(2)}x`);
    }
  }

  if (json) {
    const report: BenchReport = {
      model: info.name,
      batchSize: batch,
      threads,
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

/** `tessera bench` as `main` runs it. */
export const command: CliCommand = { declaration: BENCH, run: benchCommand };
