/**
 * A run's model beyond its name and class count: the builder arguments its options give
 * (`--patch-size`, `--drop-path`) and, for its checkpoints, the structure `tessera eval`,
 * `predict`, `export` and the other checkpoint readers rebuild before loading the weights
 * (the builder arguments that change shapes, and the linear probe's norm).
 *
 * @example
 * runModelOptions({ model: 'vit_tiny_cifar', patchSize: 2, dropPath: 0.1 }); // → { args: { patchSize: 2 }, stochasticDepthProb: 0.1 }
 */
import { CreateModelOptions, JsonArgs, builderArguments, modelInfo } from '../models/index.js';
import type { CheckpointMeta } from './checkpoint.js';
import type { TrainOptions } from './options.js';

type ModelFlags = Pick<TrainOptions, 'model'> & Partial<Pick<TrainOptions, 'patchSize' | 'dropPath'>>;

/** The builder arguments of a run's options that its checkpoints record (those that change the weights' shapes); undefined: none. */
export function runModelArgs(opts: ModelFlags): JsonArgs | undefined {
  return opts.patchSize === undefined ? undefined : { patchSize: opts.patchSize };
}

/** createModel's options for a run's model: its builder arguments and drop-path rate. */
export function runModelOptions(opts: ModelFlags): Pick<CreateModelOptions, 'args' | 'stochasticDepthProb'> {
  const args = runModelArgs(opts);
  return { ...(args ? { args } : {}), ...(opts.dropPath === undefined ? {} : { stochasticDepthProb: opts.dropPath }) };
}

/** Checks that the model takes the run's builder arguments and drop-path rate: one UserError line naming the model otherwise. */
export function checkRunModelOptions(opts: ModelFlags): void {
  builderArguments(modelInfo(opts.model), runModelOptions(opts));
}

/** What a run's checkpoints record of its model's structure besides name and class count (CheckpointMeta.modelArgs, .linearProbe). */
export function checkpointStructure(opts: ModelFlags & Pick<TrainOptions, 'linearProbe'>): Pick<CheckpointMeta, 'modelArgs' | 'linearProbe'> {
  const modelArgs = runModelArgs(opts);
  return { ...(modelArgs ? { modelArgs } : {}), ...(opts.linearProbe ? { linearProbe: true } : {}) };
}

export { checkpointModel } from './checkpoint-model.js';
