/**
 * `tessera eval --checkpoint RUN|FILE --data DIR|cifar10|cifar100 [--split test|train] [--json]`:
 * top-1, top-5, per-class accuracy and the confusion matrix of a trained checkpoint. The
 * checkpoint's metadata names the model, the classes and the evaluation transform. `--ema`
 * evaluates its EMA weights, `--tta` averages the softmax of several views of every image, and
 * several `--checkpoint`s make an ensemble (weighted mean of their softmax probabilities, each
 * member's own figures reported beside it); see src/train/test-time.ts.
 */
import { DataLoader } from '../data/loader.js';
import { openDataset } from '../data/open.js';
import type { ImageDataset } from '../data/types.js';
import { checkpointModel } from '../train/run-model.js';
import type { Module } from '../nn/module.js';
import { defaultThreads } from '../runtime/ort.js';
import { LoadedCheckpoint, loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { checkpointWeights } from '../train/ema.js';
import { EnsembleResult, TTA_MODES, ensembleWeights, evaluateEnsemble, ttaViews } from '../train/test-time.js';
import { EvalResult, evaluate } from '../train/trainer.js';
import { balancedAccuracy } from '../train/class-balance.js';
import { holdOutPerClass } from '../train/subset.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';
import { evaluationSections, evaluationSnapshot } from '../report/evaluation.js';
import { page } from '../report/html.js';
import { writeFileAtomic } from '../util/files.js';

/** How `tessera eval` is called: its options, help and checks. */
export const EVAL = defineCommand({
  name: 'eval',
  usage: '--checkpoint RUN|FILE --data DIR|cifar10|cifar100 [options]',
  description: `Evaluates a training checkpoint (a run folder means its best.safetensors, else last) on a
dataset: top-1, top-5, balanced accuracy (mean per-class recall), per-class recall and the
confusion matrix. The model, classes and evaluation transform come from the checkpoint.`,
  options: {
    checkpoint: {
      kind: 'paths',
      placeholder: 'RUN|FILE',
      required: true,
      help: 'a run folder or a .safetensors checkpoint written by tessera train; give it\nseveral times to evaluate an ensemble (mean softmax probabilities)',
    },
    ema: { kind: 'boolean', help: "evaluate the checkpoints' EMA weights (runs trained with --model-ema)" },
    tta: {
      kind: 'choice',
      choices: TTA_MODES,
      default: 'none',
      placeholder: 'MODE',
      help: 'test-time augmentation, mean softmax over views: flip (2 views), flip-translate\n(+ shifts of 2 pixels: 6), 5crop (FiveCrop of the zero-padded image: 5); default none',
    },
    ensembleWeights: { kind: 'string', placeholder: 'W1,W2,...', help: 'ensemble weights, one per --checkpoint (default equal; normalized to sum 1)' },
    data: { kind: 'string', placeholder: 'SPEC', required: true, help: 'cifar10, cifar100 or a directory (ImageFolder or CIFAR binaries)' },
    split: { kind: 'choice', choices: ['test', 'train'], default: 'test', placeholder: 'test|train', help: 'which split of the data (default test; a plain ImageFolder is used whole)' },
    valSplit: {
      kind: 'int',
      min: 1,
      placeholder: 'N',
      help: "evaluate only the last N images of every class: the slice tessera train --val-split N\nheld out of the same data",
    },
    batchSize: { kind: 'int', min: 1, default: 256, placeholder: 'N', help: 'images per inference run (default 256)' },
    threads: { kind: 'int', min: 1, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime threads (default: the CPU count)' },
    workers: { kind: 'int', min: 0, placeholder: 'N', help: 'data loader worker threads' },
    cacheDir: { kind: 'path', placeholder: 'DIR', help: 'where cifar10/cifar100 are cached' },
    offline: { kind: 'boolean', help: 'never download datasets' },
    json: { kind: 'boolean', help: 'print one JSON object' },
    html: { kind: 'path', placeholder: 'FILE', help: 'also write the evaluation as a self-contained HTML page (confusion matrix,\nper-class accuracy, thumbnails of misclassified images)' },
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
  const { checkpoint: checkpointArgs, data, split, batchSize, threads, workers, json, ema, tta } = parsed.opts;
  const ckpts = checkpointArgs.map((arg) => loadCheckpoint(resolveCheckpoint(arg, 'best')));
  const weights = ensembleWeights(parsed.opts.ensembleWeights, ckpts.length);
  checkMembers(ckpts);
  const models = ckpts.map((c) => loadModel(c, ema));
  const ckpt = ckpts[0];
  const { meta } = ckpt;
  const opened = await openDataset(data, { split, cacheDir: parsed.opts.cacheDir, offline: parsed.opts.offline });
  const dataset = parsed.opts.valSplit === undefined ? opened : holdOutPerClass(opened, parsed.opts.valSplit).val;
  checkData(ckpt, dataset);
  const size = meta.transform.size;
  const loader = new DataLoader(dataset, { batchSize, shuffle: false, seed: 0, dropLast: false, transform: meta.transform, workers });
  let result: EvalResult;
  let ensemble: EnsembleResult | null = null;
  try {
    if (ckpts.length === 1 && tta === 'none') result = await evaluate(models[0], loader, { inputShape: [batchSize, 3, size, size], threads, numClasses: meta.numClasses });
    else {
      const members = models.map((model, i) => ({ model, weight: weights[i] }));
      ensemble = await evaluateEnsemble(members, loader, { size, numClasses: meta.numClasses, threads, views: ttaViews(tta, cropPadding(ckpt)), fill: blackPixel(meta.transform) });
      result = ensemble.ensemble;
    }
  } finally {
    await loader.close();
  }
  const classes = meta.classes;
  if (parsed.opts.html !== undefined) await writeEvaluationPage(parsed.opts.html, `${ckpt.path} (${meta.model}, epoch ${meta.epoch}) on ${dataset.name} (${split})`, result, dataset);
  const memberFigures = ensemble && ckpts.length > 1 ? ensemble.members.map((r, i) => ({ checkpoint: ckpts[i].path, model: ckpts[i].meta.model, epoch: ckpts[i].meta.epoch, weight: weights[i], images: r.images, loss: r.loss, top1: r.top1, top5: r.top5 })) : null;
  if (json) {
    const out = {
      checkpoint: ckpt.path,
      ema,
      tta: tta === 'none' ? null : tta,
      ...(memberFigures ? { members: memberFigures } : {}),
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
    const what = `${ema ? ' EMA weights' : ''}${tta === 'none' ? '' : `, TTA ${tta} (${ttaViews(tta, cropPadding(ckpt)).length} views)`}`;
    if (!memberFigures) process.stdout.write(`${formatReport(`${ckpt.path}${what}`, meta.model, meta.epoch, dataset.name, split, classes, result)}\n`);
    else {
      const lines = [`ensemble of ${ckpts.length} checkpoints${what}:`, ...memberFigures.map((m) => `  ${m.checkpoint} (${m.model}, epoch ${m.epoch})  weight ${m.weight.toFixed(3)}  top-1 ${pct(m.top1)}  top-${Math.min(5, classes.length)} ${pct(m.top5)}  loss ${m.loss.toFixed(4)}`), ''];
      const models = [...new Set(memberFigures.map((m) => m.model))].join(', ');
      const epochs = memberFigures.map((m) => m.epoch).join(', ');
      process.stdout.write(`${lines.join('\n')}\n${formatReport('ensemble', models, epochs, dataset.name, split, classes, result)}\n`);
    }
  }
  return 0;
}

/** `--html FILE`: the evaluation page (thumbnails need the per-image predictions of a single model's pass). */
async function writeEvaluationPage(file: string, title: string, result: EvalResult, dataset: ImageDataset): Promise<void> {
  const snapshot = await evaluationSnapshot(result, dataset);
  writeFileAtomic(file, page('Tessera evaluation', title, await evaluationSections(snapshot, 'evaluation')));
  process.stderr.write(`wrote ${file}\n`);
}

/** the checkpoint's model with its weights (the EMA's with `ema`) */
function loadModel(ckpt: LoadedCheckpoint, ema: boolean): Module {
  const model = checkpointModel(ckpt.meta);
  model.loadStateDict(checkpointWeights(ckpt, ema));
  return model;
}

/** an ensemble's members classify the same classes from the same evaluation transform */
function checkMembers(ckpts: readonly LoadedCheckpoint[]): void {
  const [first, ...rest] = ckpts;
  for (const c of rest) {
    if (c.meta.numClasses !== first.meta.numClasses) throw new UsageError(`${c.path} has ${c.meta.numClasses} classes, ${first.path} ${first.meta.numClasses}; an ensemble's checkpoints must classify the same classes`);
    if (JSON.stringify(c.meta.transform) !== JSON.stringify(first.meta.transform)) {
      throw new UsageError(`${c.path} evaluates with another transform than ${first.path} (size ${c.meta.transform.size} vs ${first.meta.transform.size}, or mean/std); an ensemble's checkpoints must share it`);
    }
  }
}

/** the data has the checkpoint's class count (a renamed class is a warning) */
function checkData(ckpt: LoadedCheckpoint, dataset: ImageDataset): void {
  const { meta } = ckpt;
  if (dataset.classes.length !== meta.numClasses) {
    throw new UsageError(`${ckpt.path} has ${meta.numClasses} classes (${meta.model}) but ${dataset.name} has ${dataset.classes.length}; evaluate it on data with the classes it was trained on`);
  }
  const renamed = meta.classes.findIndex((c, i) => c !== dataset.classes[i]);
  if (renamed >= 0) process.stderr.write(`tessera: warning: class ${renamed} is "${meta.classes[renamed]}" in the checkpoint but "${dataset.classes[renamed]}" in the data; labels are compared by index\n`);
}

/** 5crop's padding: the training crop's, else size/8 (4 at 32×32) */
export function cropPadding(ckpt: LoadedCheckpoint): number {
  return ckpt.meta.trainTransform.randomCrop?.padding ?? Math.max(1, Math.round(ckpt.meta.transform.size / 8));
}

/** a black pixel after the checkpoint's normalization, per channel */
export function blackPixel(t: { readonly mean: readonly number[]; readonly std: readonly number[] }): number[] {
  return t.mean.map((m, c) => -m / t.std[c]);
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
export function formatReport(path: string, model: string, epoch: number | string, data: string, split: string, classes: readonly string[], r: EvalResult): string {
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
