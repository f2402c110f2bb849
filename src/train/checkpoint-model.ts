/**
 * The model a checkpoint's weights fit, from its metadata alone: browser-safe (the zoo's registry,
 * not the Node module that registers it), so the page builds what `tessera eval` builds.
 */
import { addProbeNorm } from '../mae/linear-probe.js';
import { createModel } from '../models/registry.js';
import type { Module } from '../nn/module.js';
import type { CheckpointMeta } from './checkpoint.js';

/**
 * The model a run checkpoint's weights fit (weights not loaded): its config with the class count
 * and builder arguments the checkpoint records, the linear probe's norm where it had one.
 *
 * @example
 * checkpointModel({ model: 'vit_tiny_cifar', numClasses: 2, modelArgs: { patchSize: 8 }, linearProbe: true }).stateDict().get('encoder.pos_embedding')!.shape; // → [1, 17, 192]
 */
export function checkpointModel(meta: Pick<CheckpointMeta, 'model' | 'numClasses' | 'modelArgs' | 'linearProbe'>): Module {
  const model = createModel(meta.model, { numClasses: meta.numClasses, args: meta.modelArgs });
  if (meta.linearProbe) addProbeNorm(model, meta.model);
  return model;
}
