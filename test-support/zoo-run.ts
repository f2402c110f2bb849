/**
 * Every registered config, run for real (the registry-driven run check, split over several test
 * files so Node's runner can run the parts side by side): an ONNX Runtime forward (eval mode,
 * batch 2) at the smallest input the architecture accepts (`ModelInfo.minInputSize`, default 32
 * for pytorch-cifar and 64 for the ImageNet families) must give finite logits of shape [2, 10],
 * and where its size allows (at most TRAIN_MAX_PARAMS parameters) one SGD training step must
 * give a finite loss and move the weights, every one of them staying finite. Counts against
 * zoo_params.json: test/zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelInfo, createModel, listModels } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { sgd } from '../src/optim/sgd.js';
import { randomBatch } from '../src/bench/measure.js';
import { TOO_LARGE_TO_BUILD } from './zoo-counts.js';

/** models up to this many parameters (at 10 classes) also take a training step */
export const TRAIN_MAX_PARAMS = 30e6;
const BATCH = 2;
const CLASSES = 10;

/** the smallest input side the config's architecture accepts */
export function smallInput(info: ModelInfo): number {
  return info.minInputSize ?? (info.source === 'pytorch-cifar' ? 32 : 64);
}

const allFinite = (xs: Float32Array): boolean => xs.every((x) => Number.isFinite(x));

async function checkForward(info: ModelInfo, model: Module, size: number): Promise<void> {
  model.eval();
  const { images } = randomBatch([BATCH, 3, size, size], CLASSES);
  const net = await InferenceModel.create(model, { inputShape: [BATCH, 3, size, size], threads: 1 });
  try {
    const out = await net.run({ dtype: 'float32', shape: [BATCH, 3, size, size], data: images });
    assert.deepEqual(out.shape, [BATCH, CLASSES], `${info.name}: logits shape`);
    assert.ok(allFinite(out.data as Float32Array), `${info.name}: non-finite logits at ${size}x${size}`);
  } finally {
    await net.release();
  }
}

async function checkTrainingStep(info: ModelInfo, model: Module, size: number): Promise<void> {
  model.train();
  const { images, labels } = randomBatch([BATCH, 3, size, size], CLASSES);
  const before = new Map([...model.namedParameters()].map(([k, p]) => [k, Float32Array.from(p.data as Float32Array)]));
  // graph optimization 'basic': the step is the same, and ORT's 'all' passes take most of the
  // session build on graphs as deep as DenseNet-201's backward pass
  const session = await TrainingSession.create(model, { inputShape: [BATCH, 3, size, size], optimizer: sgd({ momentum: 0.9 }), threads: 1, optimization: 'basic' });
  try {
    const { loss } = await session.step(images, labels, 0.01);
    assert.ok(Number.isFinite(loss), `${info.name}: training loss ${loss}`);
    const params = [...model.namedParameters()];
    const moved = params.filter(([k, p]) => (p.data as Float32Array).some((x, i) => x !== before.get(k)![i]));
    assert.ok(moved.length > 0, `${info.name}: no parameter changed after a training step`);
    for (const [k, p] of params) assert.ok(allFinite(p.data as Float32Array), `${info.name}: ${k} not finite after a step`);
  } finally {
    await session.release();
  }
}

/** Registers the run check for part `part` of `parts` of the registry (every parts-th config by name). */
export function registerZooRunTests(part: number, parts: number): void {
  listModels()
    .filter((_, i) => i % parts === part)
    .forEach((info) => {
      const size = smallInput(info);
      // a model too large to build in a test runs as its structure at one block
      const large = Object.hasOwn(TOO_LARGE_TO_BUILD, info.name) ? TOO_LARGE_TO_BUILD[info.name] : undefined;
      const scope = large ? ` (one of its ${large.blocks} blocks: too large to build in a test)` : '';
      test(`${info.name}: forward at ${BATCH}x3x${size}x${size}, and one training step up to ${TRAIN_MAX_PARAMS / 1e6}M parameters${scope}`, async (t) => {
        const model = large ? large.build(1, CLASSES) : createModel(info.name, { numClasses: CLASSES });
        await checkForward(info, model, size);
        const params = model.parameterCount();
        if (params > TRAIN_MAX_PARAMS) t.diagnostic(`${info.name}: ${(params / 1e6).toFixed(1)}M parameters, forward only`);
        else await checkTrainingStep(info, model, size);
      });
    });
}
