/**
 * `tessera predict --checkpoint RUN|FILE IMAGE... [--topk 5] [--json]`: the most probable classes
 * of each image (softmax probabilities). Images are decoded with sharp and resized, cropped and
 * normalized exactly as the loader prepares evaluation batches (the checkpoint's transform).
 */
import { checkpointModel } from '../train/run-model.js';
import { writeEvalImage } from '../data/eval-image.js';
import { InferenceModel } from '../runtime/inference.js';
import { defaultThreads } from '../runtime/ort.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { checkpointWeights } from '../train/ema.js';
import { softmax } from '../train/test-time.js';
import { CliCommand, defineCommand, readCommandLine } from './args.js';

/** How `tessera predict` is called: its options, help and checks. */
export const PREDICT = defineCommand({
  name: 'predict',
  usage: '--checkpoint RUN|FILE IMAGE... [options]',
  description: `Classifies images with a training checkpoint (a run folder means its best.safetensors, else
last): prints the top-k classes of each image with their softmax probabilities.`,
  positionals: { name: 'IMAGE', min: 1 },
  options: {
    checkpoint: { kind: 'path', placeholder: 'RUN|FILE', required: true, help: 'a run folder or a .safetensors checkpoint written by tessera train' },
    ema: { kind: 'boolean', help: "classify with the checkpoint's EMA weights (a run trained with --model-ema)" },
    topk: { kind: 'int', min: 1, default: 5, placeholder: 'K', help: 'classes per image (default 5, at most the number of classes)' },
    threads: { kind: 'int', min: 1, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime threads (default: the CPU count)' },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  notes: 'exit status: 0 classified, 2 usage or input error (an unreadable image included)',
});

export interface Prediction {
  readonly image: string;
  readonly top: readonly { readonly class: string; readonly index: number; readonly probability: number }[];
}

export { softmax };

/** What `classifyImages` returns: the checkpoint used and every image's top classes. */
export interface Classified {
  readonly checkpoint: string;
  readonly model: string;
  readonly epoch: number;
  /** classes per image: the asked k, at most the number of classes */
  readonly topk: number;
  /** the checkpoint's classes, in index order */
  readonly classes: readonly string[];
  readonly predictions: readonly Prediction[];
}

/** How `classifyImages` runs. */
export interface ClassifyOptions {
  readonly topk: number;
  readonly threads: number;
  /** the checkpoint's EMA weights */
  readonly ema?: boolean;
}

/**
 * Runs `tessera predict`; resolves to the exit status.
 *
 * @example
 * await predictCommand(['--checkpoint', 'runs/lenet', 'cat.jpg', '--topk', '3']);
 */
export async function predictCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(PREDICT, argv);
  if (!parsed) return 0;
  const { checkpoint, topk, threads, json, ema } = parsed.opts;
  const classified = await classifyImages(checkpoint, parsed.positionals, { topk, threads, ema });
  const { checkpoint: path, model, epoch, topk: k, predictions } = classified;
  process.stdout.write(`${json ? JSON.stringify({ checkpoint: path, model, epoch, topk: k, predictions }) : formatPredictions(classified)}\n`);
  return 0;
}

/**
 * The top-k classes of each image by a training checkpoint (a run folder means its best, else
 * last), the images prepared as the loader prepares evaluation batches.
 *
 * @example
 * const { predictions } = await classifyImages('runs/quickstart', ['examples/images/cat.jpg'], { topk: 3, threads: 2 });
 */
export async function classifyImages(checkpointArg: string, images: readonly string[], options: ClassifyOptions): Promise<Classified> {
  const ckpt = loadCheckpoint(resolveCheckpoint(checkpointArg, 'best'));
  const weights = checkpointWeights(ckpt, options.ema ?? false);
  const { meta } = ckpt;
  const spec = meta.transform;
  const S = spec.size;
  const per = 3 * S * S;
  const input = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) await writeEvalImage(images[i], spec, input, i * per);
  const model = checkpointModel(meta);
  model.loadStateDict(weights);
  const net = await InferenceModel.create(model, { inputShape: [images.length, 3, S, S], threads: options.threads });
  let logits: Float32Array;
  try {
    logits = (await net.run({ dtype: 'float32', shape: [images.length, 3, S, S], data: input })).data as Float32Array;
  } finally {
    await net.release();
  }
  const C = meta.numClasses;
  const k = Math.min(options.topk, C);
  const predictions: Prediction[] = images.map((image, i) => {
    const p = softmax(logits.subarray(i * C, (i + 1) * C));
    const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b).slice(0, k);
    return { image, top: order.map((c) => ({ class: meta.classes[c] ?? String(c), index: c, probability: p[c] })) };
  });
  return { checkpoint: ckpt.path, model: meta.model, epoch: meta.epoch, topk: k, classes: meta.classes, predictions };
}

/**
 * The text `tessera predict` prints: each image, then its classes with their probabilities
 * (class names padded to the longest of the checkpoint's).
 *
 * @example
 * formatPredictions({ classes: ['cat', 'dog'], predictions: [{ image: 'cat.jpg', top: [{ class: 'cat', index: 0, probability: 0.5 }] }] });
 * // 'cat.jpg\n  cat     50.00%'
 */
export function formatPredictions({ classes, predictions }: Pick<Classified, 'classes' | 'predictions'>): string {
  const w = Math.max(...classes.map((c) => c.length), 5);
  const lines: string[] = [];
  for (const p of predictions) {
    lines.push(p.image);
    for (const t of p.top) lines.push(`  ${t.class.padEnd(w)}  ${(100 * t.probability).toFixed(2).padStart(6)}%`);
  }
  return lines.join('\n');
}

/** `tessera predict` as `main` runs it. */
export const command: CliCommand = { declaration: PREDICT, run: predictCommand };
