/**
 * Fine-tuning on a handful of the user's own images, as the web page's "teach" mode runs it (and
 * Node can run it the same way): a new classifier for the user's classes on top of the exported
 * weights, head only or all layers, SGD with momentum on batches drawn with the crop/flip
 * augmentation, every step one run of Tessera's training graph.
 */
import type { HostTensor } from '../graph/ir.js';
import { RgbImage, applyTransform } from '../data/transforms.js';
import type { TransformSpec } from '../data/types.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../nn/init.js';
import { sgd } from '../optim/sgd.js';
import { TrainingSession } from '../runtime/training-session.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { encodeMeta } from '../train/checkpoint-meta.js';
import { checkpointModel } from '../train/checkpoint-model.js';
import { serializeSafetensors } from '../io/safetensors.js';
import type { Preprocessing } from './images.js';

/** Which weights fine-tuning changes. */
export type TeachLayers = 'head' | 'all';

export interface TeachOptions {
  readonly layers: TeachLayers;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly seed?: number;
}

/** One labelled image of the user's. */
export interface TeachSample {
  readonly image: RgbImage;
  readonly label: number;
}

/** The page's model: its registered name and the structure its checkpoint records. */
export type PageModel = Pick<Preprocessing, 'model' | 'modelArgs' | 'linearProbe'>;

/**
 * The page's model with `numClasses` classes (weights not loaded), built as `tessera eval` builds
 * the checkpoint it was exported from.
 *
 * @example
 * pageModel({ model: 'vit_tiny_cifar', modelArgs: { patchSize: 8 } }, 3).stateDict().get('heads.head.weight')!.shape; // → [3, 192]
 */
export function pageModel(model: PageModel, numClasses: number): Module {
  return checkpointModel({ ...model, numClasses });
}

/**
 * The state-dict keys of a model's classifier: those whose shape follows the class count.
 *
 * @example
 * headKeys({ model: 'cifar_lenet' }); // → ['fc3.weight', 'fc3.bias']
 */
export function headKeys(model: PageModel): string[] {
  const a = pageModel(model, 2).stateDict();
  const b = pageModel(model, 3).stateDict();
  return [...a].filter(([k, t]) => b.get(k)?.shape.join() !== t.shape.join()).map(([k]) => k);
}

/**
 * `model` with a fresh classifier for `numClasses` classes and every other tensor from `weights`;
 * with `layers: 'head'` only the classifier trains.
 *
 * @example
 * const net = modelForClasses({ model: 'cifar_lenet' }, createModel('cifar_lenet').stateDict(), 3, 'head');
 * [...net.namedParameters()].filter(([, p]) => p.requiresGrad).length; // → 2
 */
export function modelForClasses(model: PageModel, weights: ReadonlyMap<string, HostTensor>, numClasses: number, layers: TeachLayers): Module {
  const net = pageModel(model, numClasses);
  const head = new Set(headKeys(model));
  net.loadStateDict(new Map([...weights].filter(([k]) => !head.has(k))), { strict: false });
  if (layers === 'head') for (const [k, p] of net.namedParameters()) p.requiresGrad = head.has(k);
  return net;
}

/** The augmentation of teach mode: a random crop of the image padded by an eighth of its size, and a random horizontal flip. */
export function teachTransform(prep: Preprocessing): TransformSpec {
  return { size: prep.size, randomCrop: { padding: Math.max(1, Math.round(prep.size / 8)) }, hflip: true, mean: prep.mean, std: prep.std };
}

/**
 * Runs `opts.steps` SGD steps (momentum 0.9, weight decay 5e-4) on batches of `samples` drawn
 * with replacement, each augmented; `onStep` sees every step's loss. Resolves to the losses.
 */
export async function fineTune(net: Module, samples: readonly TeachSample[], prep: Preprocessing, opts: TeachOptions, onStep?: (step: number, loss: number) => void | Promise<void>): Promise<number[]> {
  if (!samples.length) throw new Error('fine-tuning needs at least one image');
  const S = prep.size;
  const session = await TrainingSession.create(net, { inputShape: [opts.batch, 3, S, S], optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }), loss: { kind: 'ce' } });
  const spec = teachTransform(prep);
  const rng = new Rng(opts.seed ?? 0);
  const input = new Float32Array(opts.batch * 3 * S * S);
  const target = new BigInt64Array(opts.batch);
  const losses: number[] = [];
  try {
    for (let step = 0; step < opts.steps; step++) {
      for (let i = 0; i < opts.batch; i++) {
        const s = samples[Math.floor(rng.next() * samples.length)];
        applyTransform(s.image, spec, rng, input, i * 3 * S * S);
        target[i] = BigInt(s.label);
      }
      const { loss } = await session.step(input, target, opts.lr);
      losses.push(loss);
      await onStep?.(step, loss);
    }
  } finally {
    await session.release();
  }
  return losses;
}

/**
 * A Tessera training checkpoint (what `tessera eval --checkpoint FILE` loads) of a fine-tuned
 * model: its state dict under PyTorch's keys and the metadata naming model, classes and transform.
 */
export function checkpointBytes(net: Module, prep: Preprocessing, classes: readonly string[], steps: number, opts: TeachOptions, heldOutTop1: number | null): Uint8Array {
  const transform: TransformSpec = { size: prep.size, mean: prep.mean, std: prep.std };
  const meta: CheckpointMeta = {
    epoch: 1,
    stepCount: steps,
    model: prep.model,
    ...(prep.modelArgs ? { modelArgs: prep.modelArgs } : {}),
    ...(prep.linearProbe ? { linearProbe: true } : {}),
    numClasses: classes.length,
    classes,
    transform,
    trainTransform: teachTransform(prep),
    bestTop1: heldOutTop1,
    bestEpoch: heldOutTop1 === null ? null : 1,
    metrics: null,
    optimizer: { name: 'sgd', lr: opts.lr, momentum: 0.9, weightDecay: 5e-4, layers: opts.layers, batch: opts.batch },
    seed: opts.seed ?? 0,
    version: 'tessera web page',
  };
  return serializeSafetensors(net.stateDict(), encodeMeta(meta));
}

/**
 * A rough upper bound of the bytes training `paramCount` weights takes in the page: weights,
 * their update and momentum (two sets each), gradients and the graph's copy, plus activations of
 * one batch (a generous 64 floats per input value). Used to refuse a model before it starts.
 *
 * @example
 * trainingBytes(62006, 8, 32) > 62006 * 4 * 6; // → true
 */
export function trainingBytes(paramCount: number, batch: number, size: number): number {
  return 4 * (7 * paramCount + 64 * batch * 3 * size * size);
}

/**
 * Why a model cannot train in a page with `limitBytes` of memory, or null when it fits.
 *
 * @example
 * tooLargeMessage('vit_h_14', 632_000_000, 8, 224, 2 ** 31); // → 'vit_h_14 needs about 18 GB to train in this page, more than the 2.1 GB it can use: export a smaller model'
 */
export function tooLargeMessage(model: string, paramCount: number, batch: number, size: number, limitBytes: number): string | null {
  const need = trainingBytes(paramCount, batch, size);
  if (need <= limitBytes) return null;
  const gb = (b: number) => `${(b / 1e9).toPrecision(2)} GB`;
  return `${model} needs about ${gb(need)} to train in this page, more than the ${gb(limitBytes)} it can use: export a smaller model`;
}
