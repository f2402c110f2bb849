/**
 * A training run folder without training: `<dir>/best.safetensors` (and its `.json` twin) of a
 * seeded model with non-trivial BatchNorm statistics and counters, for the commands that read
 * runs (export, convert).
 */
import { mkdirSync } from 'node:fs';
import type { HostTensor } from '../src/graph/ir.js';
import { createModel, modelInfo } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { CheckpointMeta, saveCheckpoint } from '../src/train/checkpoint.js';
import { cifarTransforms } from '../src/train/setup.js';

export interface RunCheckpointOptions {
  readonly classes: readonly string[];
  readonly seed?: number;
  /** also store an EMA (the float tensors of the model built with seed + 100) */
  readonly ema?: boolean;
}

/** Writes `dir/best.safetensors` for `modelName`; returns the model whose weights it holds. */
export function writeRunCheckpoint(dir: string, modelName: string, opts: RunCheckpointOptions): Module {
  const seed = opts.seed ?? 1;
  const numClasses = opts.classes.length;
  manualSeed(seed);
  const model = createModel(modelName, { numClasses });
  perturbBuffers(model, seed);
  const t = cifarTransforms(modelInfo(modelName).inputSize);
  const meta: CheckpointMeta = {
    epoch: 3, stepCount: 30, model: modelName, numClasses, classes: opts.classes, transform: t.eval, trainTransform: t.train,
    bestTop1: null, bestEpoch: null, metrics: null, optimizer: { name: 'sgd' }, seed, version: 'test',
  };
  let ema = new Map<string, HostTensor>();
  if (opts.ema) {
    manualSeed(seed + 100);
    ema = new Map([...createModel(modelName, { numClasses }).stateDict()].filter(([, v]) => v.dtype === 'float32'));
  }
  mkdirSync(dir, { recursive: true });
  saveCheckpoint(dir, 'best', model, new Map(), meta, ema);
  return model;
}

/** BatchNorm running statistics away from 0 and 1, num_batches_tracked counted (in place) */
function perturbBuffers(model: Module, seed: number): void {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const [key, t] of model.stateDict()) {
    if (t.data instanceof BigInt64Array) t.data.fill(BigInt(1000 + seed));
    else if (t.data instanceof Float32Array && /running_(mean|var)$/.test(key)) {
      for (let i = 0; i < t.data.length; i++) t.data[i] = key.endsWith('var') ? 0.5 + rand() : rand() - 0.5;
    }
  }
}
