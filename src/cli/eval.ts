/**
 * `tessera eval --checkpoint RUN|FILE --data DIR|cifar10|cifar100 [--split test|train] [--json]`:
 * top-1, top-5, per-class accuracy and the confusion matrix of a trained checkpoint. The
 * checkpoint's metadata names the model, the classes and the evaluation transform.
 */
import { DataLoader } from '../data/loader.js';
import { openDataset } from '../data/open.js';
import { createModel } from '../models/index.js';
import { defaultThreads } from '../runtime/ort.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { EvalResult, evaluate } from '../train/trainer.js';
import { balancedAccuracy } from '../train/class-balance.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';

/** How `tessera eval` is called: its options, help and checks. */
export const EVAL = defineCommand({
  name: 'eval',
  usage: '--checkpoint RUN|FILE --data DIR|cifar10|cifar100 [options]',
  description: `Evaluates a training checkpoint (a run folder means its best.safetensors, else last) on a
dataset: top-1, top-5, balanced accuracy (mean per-class recall), per-class recall and the
confusion matrix. The model, classes and evaluation transform come from the checkpoint.`,
  options: {
    checkpoint: { kind: 'path', placeholder: 'RUN|FILE', required: true, help: 'a run folder or a .safetensors checkpoint written by tessera train' },
    data: { kind: 'string', placeholder: 'SPEC', required: true, help: 'cifar10, cifar100 or a directory (ImageFolder or CIFAR binaries)' },
    split: { kind: 'choice', choices: ['test', 'train'], default: 'test', placeholder: 'test|train', help: 'which split of the data (default test; a plain ImageFolder is used whole)' },
    batchSize: { kind: 'int', min: 1, default: 256, placeholder: 'N', help: 'images per inference run (default 256)' },
    threads: { kind: 'int', min: 1, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime threads (default: the CPU count)' },
    workers: { kind: 'int', min: 0, placeholder: 'N', help: 'data loader worker threads' },
    cacheDir: { kind: 'path', placeholder: 'DIR', help: 'where cifar10/cifar100 are cached' },
    offline: { kind: 'boolean', help: 'never download datasets' },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  notes: 'exit status: 0 evaluated, 2 usage or input error',
});

/**
 * Runs `tessera eval`; resolves to the exit status.
 *
 * @example
 * await evalCommand(['--checkpoint', 'runs/lenet', '--data', 'cifar10', '--json']);
 */
export async function evalCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(EVAL, argv);
  if (!parsed) return 0;
  const { checkpoint: checkpointArg, data, split, batchSize, threads, workers, json } = parsed.opts;
  const ckpt = loadCheckpoint(resolveCheckpoint(checkpointArg, 'best'));
  const { meta } = ckpt;
  const dataset = await openDataset(data, { split, cacheDir: parsed.opts.cacheDir, offline: parsed.opts.offline });
  if (dataset.classes.length !== meta.numClasses) {
    throw new UsageError(`${ckpt.path} has ${meta.numClasses} classes (${meta.model}) but ${dataset.name} has ${dataset.classes.length}; evaluate it on data with the classes it was trained on`);
  }
  const renamed = meta.classes.findIndex((c, i) => c !== dataset.classes[i]);
  if (renamed >= 0) process.stderr.write(`tessera: warning: class ${renamed} is "${meta.classes[renamed]}" in the checkpoint but "${dataset.classes[renamed]}" in the data; labels are compared by index\n`);
  const model = createModel(meta.model, { numClasses: meta.numClasses });
  model.loadStateDict(ckpt.modelState);
  const size = meta.transform.size;
  const loader = new DataLoader(dataset, { batchSize, shuffle: false, seed: 0, dropLast: false, transform: meta.transform, workers });
  let result: EvalResult;
  try {
    result = await evaluate(model, loader, { inputShape: [batchSize, 3, size, size], threads, numClasses: meta.numClasses });
  } finally {
    await loader.close();
  }
  const classes = meta.classes;
  if (json) {
    const out = {
      checkpoint: ckpt.path,
      model: meta.model,
      epoch: meta.epoch,
      data: dataset.name,
      split,
      images: result.images,
      loss: result.loss,
      top1: result.top1,
      top5: result.top5,
      topk: Math.min(5, classes.length),
      balancedAccuracy: balancedAccuracy(result.perClass),
      perClass: result.perClass.map((p, c) => ({ class: classes[c], images: p.images, accuracy: p.accuracy, recall: p.accuracy })),
      confusion: { classes, rows: 'true class', columns: 'predicted class', matrix: result.confusion },
      skipped: result.skipped,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    process.stdout.write(`${formatReport(ckpt.path, meta.model, meta.epoch, dataset.name, split, classes, result)}\n`);
  }
  return 0;
}

/** `tessera eval` as `main` runs it. */
export const command: CliCommand = { declaration: EVAL, run: evalCommand };

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

/** The unreadable images left out of every figure, each with its reason (the first 10; --json has all). */
function skippedLines(skipped: EvalResult['skipped']): string[] {
  if (!skipped.length) return [];
  const more = skipped.length > 10 ? [`  ... and ${skipped.length - 10} more (--json lists them all)`] : [];
  return ['', 'unreadable images (skipped, in none of the figures):', ...skipped.slice(0, 10).map((s) => `  ${s.reason}`), ...more];
}

/**
 * The text report: summary, per-class table and (up to 20 classes) the confusion matrix.
 *
 * @example
 * console.log(formatReport('runs/a/best.safetensors', 'cifar_lenet', 30, 'cifar10:test', 'test', classes, await evaluate(model, loader, opts)));
 */
export function formatReport(path: string, model: string, epoch: number, data: string, split: string, classes: readonly string[], r: EvalResult): string {
  const k = Math.min(5, classes.length);
  const lines = [
    `${path} (${model}, epoch ${epoch}) on ${data} (${split}): ${r.images} images`,
    `top-1 ${pct(r.top1)}  top-${k} ${pct(r.top5)}  balanced accuracy ${pct(balancedAccuracy(r.perClass))}  loss ${r.loss.toFixed(4)}${r.skipped.length ? `  (${r.skipped.length} unreadable image(s) skipped, not counted)` : ''}`,
    ...skippedLines(r.skipped),
    '',
    'per-class accuracy (recall; balanced accuracy is their mean):',
  ];
  const w = Math.max(5, ...classes.map((c) => c.length));
  lines.push(`  ${'class'.padEnd(w)}  ${'images'.padStart(6)}  ${'recall'.padStart(7)}`);
  r.perClass.forEach((p, c) => lines.push(`  ${classes[c].padEnd(w)}  ${String(p.images).padStart(6)}  ${pct(p.accuracy).padStart(7)}`));
  lines.push('');
  if (classes.length > 20) {
    lines.push(`confusion matrix: ${classes.length} classes are too many for a table; use --json`);
  } else {
    lines.push('confusion matrix (rows: true class, columns: predicted):');
    const cell = Math.max(4, ...classes.map((c) => c.length), ...r.confusion.flat().map((n) => String(n).length));
    lines.push(`  ${''.padEnd(w)}  ${classes.map((c) => c.padStart(cell)).join(' ')}`);
    r.confusion.forEach((row, c) => lines.push(`  ${classes[c].padEnd(w)}  ${row.map((n) => String(n).padStart(cell)).join(' ')}`));
  }
  return lines.join('\n');
}
