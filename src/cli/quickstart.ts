/**
 * `tessera quickstart [--out DIR] [--epochs N]`: Tessera's main job end to end, offline, in about
 * a minute on two cores. It trains LeNet on the CIFAR-10 sample that ships in
 * examples/cifar10-sample/ (train/: 300 JPEGs per class; test/: 100 per class, disjoint; see
 * examples/README.md) with `tessera train`, evaluates the last checkpoint on test/ with
 * `tessera eval`, classifies the three images of examples/images/ with `tessera predict`'s code,
 * writes quickstart.json (accuracy and predictions) into the run folder and prints the next
 * commands.
 *
 * The run folder (default runs/quickstart) is rerun cleanly: an earlier quickstart's folder is
 * replaced; any other folder that is not empty is refused with one line.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { defaultThreads } from '../runtime/ort.js';
import { loadCheckpoint, readRunConfig } from '../train/checkpoint.js';
import { CliCommand, defineCommand, readCommandLine } from './args.js';
import { evalCommand } from './eval.js';
import { COMMANDS } from './main.js';
import { Classified, classifyImages, formatPredictions } from './predict.js';
import { trainCommand } from './train.js';

/** examples/ of the installed package (beside dist/) */
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

/**
 * The model and training options of the quick start: of LeNet, a small ResNet-style airbench94
 * and LeNet's learning rate, batch and label smoothing, the best top-1 in about a minute on two
 * cores (README "Install and quick start" has the measurements).
 */
export const QUICKSTART_RECIPE = { model: 'cifar_lenet', epochs: 60, batchSize: 64, lr: 0.05, labelSmoothing: 0.1 } as const;

/** The file quickstart writes into its run folder; it also marks the folder as a quickstart's. */
export const QUICKSTART_FILE = 'quickstart.json';

/** How `tessera quickstart` is called: its options, help and checks. */
export const QUICKSTART = defineCommand({
  name: 'quickstart',
  usage: '[--out DIR] [--epochs N]',
  description: `Trains ${QUICKSTART_RECIPE.model} on the CIFAR-10 sample shipped in examples/cifar10-sample/ (offline,
about a minute on two cores), evaluates it on the sample's test/ folder, classifies the three
images of examples/images/ and prints the next commands. The run folder gets what tessera train
writes (config.json, metrics.jsonl, checkpoints) and quickstart.json (test accuracy, predictions).
An earlier quickstart's folder is replaced.`,
  options: {
    out: { kind: 'path', default: join('runs', 'quickstart'), placeholder: 'DIR', help: 'run folder (default runs/quickstart)' },
    epochs: { kind: 'int', min: 1, max: 10_000, default: QUICKSTART_RECIPE.epochs, placeholder: 'N', help: `epochs (default ${QUICKSTART_RECIPE.epochs})` },
    sample: {
      kind: 'path',
      default: join(EXAMPLES, 'cifar10-sample'),
      placeholder: 'DIR',
      help: 'a folder with train/ and test/ ImageFolders of the same classes\n(default: the bundled CIFAR-10 sample)',
    },
    threads: { kind: 'int', min: 1, max: 1024, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime threads (default: the CPU count or TESSERA_THREADS)' },
  },
  notes: 'exit status: 0 done, 1 the loss diverged or an internal error, 2 usage or input error',
});

/** What quickstart.json holds. */
export interface QuickstartSummary {
  readonly model: string;
  readonly epochs: number;
  readonly sample: string;
  /** top-1 of the last checkpoint on the sample's test/ folder */
  readonly testTop1: number | null;
  readonly testImages: number;
  readonly classes: readonly string[];
  readonly predictions: Classified['predictions'];
}

/**
 * Runs `tessera quickstart`; resolves to the exit status.
 *
 * @example
 * process.exitCode = await quickstartCommand(['--epochs', '2', '--out', 'runs/qs']);
 */
export async function quickstartCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(QUICKSTART, argv);
  if (!parsed) return 0;
  const { out, epochs, sample, threads } = parsed.opts;
  const { train, test } = sampleFolders(sample);
  const images = bundledImages();
  clearOutFolder(out);

  const { model, batchSize, lr, labelSmoothing } = QUICKSTART_RECIPE;
  const recipe = ['--batch-size', String(batchSize), '--lr', String(lr), '--label-smoothing', String(labelSmoothing)];
  const trained = await trainCommand(['--model', model, '--data', train, '--val', test, '--epochs', String(epochs), ...recipe, '--threads', String(threads), '--out', out]);
  if (trained !== 0) return trained;

  const last = join(out, 'last.safetensors');
  process.stdout.write(`\nevaluation of the last checkpoint on the test sample:\n`);
  const evaluated = await evalCommand(['--checkpoint', last, '--data', test, '--threads', String(threads)]);
  if (evaluated !== 0) return evaluated;

  const classified = await classifyImages(last, images.map((f) => shortPath(f)), { topk: 3, threads });
  process.stdout.write(`\nthe three bundled images, top-3 classes:\n${formatPredictions(classified)}\n`);

  const metrics = loadCheckpoint(last).meta.metrics;
  const summary: QuickstartSummary = { model, epochs, sample: shortPath(sample), testTop1: metrics?.valTop1 ?? null, testImages: countImages(test), classes: classified.classes, predictions: classified.predictions };
  writeFileSync(join(out, QUICKSTART_FILE), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`\n${nextSteps(out, summary)}\n`);
  return 0;
}

/** `tessera quickstart` as `main` runs it. */
export const command: CliCommand = { declaration: QUICKSTART, run: quickstartCommand };

/** The sample's train/ and test/ folders; one line when either is missing. */
function sampleFolders(sample: string): { train: string; test: string } {
  const train = join(sample, 'train');
  const test = join(sample, 'test');
  for (const dir of [train, test]) {
    if (!existsSync(dir)) throw new UserError(`tessera quickstart: ${shortPath(dir)} does not exist; --sample needs a folder with train/ and test/ ImageFolders (the bundled one is examples/cifar10-sample)`);
  }
  return { train, test };
}

/** examples/images/*.jpg, in name order */
function bundledImages(): string[] {
  const dir = join(EXAMPLES, 'images');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort() : [];
  if (!files.length) throw new UserError(`tessera quickstart: no images in ${shortPath(dir)}; the package's examples/ folder is incomplete (reinstall or check out examples/ again)`);
  return files.map((f) => join(dir, f));
}

/**
 * Makes `out` ready for a fresh run: absent or empty is fine, an earlier quickstart's folder (it
 * holds quickstart.json, or its config.json trained on a cifar10-sample) is removed, anything
 * else is refused.
 */
function clearOutFolder(out: string): void {
  if (!existsSync(out) || readdirSync(out).length === 0) return;
  if (!isQuickstartFolder(out)) {
    throw new UserError(`tessera quickstart: ${out} is not empty and is not a quickstart run folder; give another --out or remove it`);
  }
  rmSync(out, { recursive: true, force: true });
}

function isQuickstartFolder(out: string): boolean {
  if (existsSync(join(out, QUICKSTART_FILE))) return true;
  let options: unknown;
  try {
    options = readRunConfig(out)?.options;
  } catch {
    return false; // a config.json that is no run's
  }
  const data: unknown = typeof options === 'object' && options !== null ? Reflect.get(options, 'data') : undefined;
  return typeof data === 'string' && /cifar10-sample[\\/]train$/.test(data);
}

/** image files in the class folders of an ImageFolder */
function countImages(folder: string): number {
  return readdirSync(folder, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .reduce((n, d) => n + readdirSync(join(folder, d.name)).length, 0);
}

/** a path relative to the working directory when it lies below it, else absolute */
function shortPath(path: string): string {
  const r = relative(process.cwd(), resolve(path));
  return r.startsWith('..') || r === '' ? resolve(path) : r;
}

/** The closing lines: the result and what to run next. */
function nextSteps(out: string, s: QuickstartSummary): string {
  const top1 = s.testTop1 === null ? 'not measured' : `${(100 * s.testTop1).toFixed(1)}%`;
  const report = join(out, 'report.html');
  const lines = [
    `done: ${s.model} after ${s.epochs} epoch${s.epochs === 1 ? '' : 's'} classifies ${top1} of the ${s.testImages} test images right (${s.classes.length} classes: chance is ${(100 / s.classes.length).toFixed(0)}%).`,
    `run folder: ${out}${existsSync(report) ? ` (open ${report} for the curves and the confusion matrix)` : ''}`,
    '',
    'next:',
    '  # the full CIFAR-10 benchmark (downloads CIFAR-10, 170 MB, once; hours on a CPU)',
    '  npx tessera train --model cifar_resnet18 --data cifar10 --epochs 200 --out runs/resnet18',
    "  # fine-tune ImageNet weights on your own images (one folder per class; --pretrained takes torchvision's",
    '  # file from the torch hub cache, or says where to put it)',
    '  npx tessera train --model resnet18 --pretrained --data path/to/your-folder --val-split 50 --epochs 5 --out runs/mine',
    '  # export the quick start model as ONNX for inference',
    `  npx tessera export --checkpoint ${out} --out quickstart.onnx`,
  ];
  if (Object.hasOwn(COMMANDS, 'report')) lines.push('  # compare runs in one page', `  npx tessera report ${out} runs/resnet18 --out compare.html`);
  return lines.join('\n');
}
