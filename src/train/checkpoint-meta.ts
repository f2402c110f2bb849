/**
 * A run checkpoint's safetensors metadata (format in ./checkpoint.ts), with no file system: the
 * web page writes checkpoints that `tessera eval` loads from the same encoding.
 */
import type { CheckpointMeta } from './checkpoint.js';

export const CHECKPOINT_FORMAT = 'tessera-run-checkpoint/1';

/**
 * The string metadata of a checkpoint that says `meta` about itself.
 *
 * @example
 * encodeMeta(meta).format; // 'tessera-run-checkpoint/1'
 */
export function encodeMeta(meta: CheckpointMeta): Record<string, string> {
  return {
    format: CHECKPOINT_FORMAT,
    epoch: String(meta.epoch),
    stepCount: String(meta.stepCount),
    model: meta.model,
    numClasses: String(meta.numClasses),
    classes: JSON.stringify(meta.classes),
    transform: JSON.stringify(meta.transform),
    trainTransform: JSON.stringify(meta.trainTransform),
    bestTop1: JSON.stringify(meta.bestTop1),
    bestEpoch: JSON.stringify(meta.bestEpoch),
    metrics: JSON.stringify(meta.metrics),
    optimizer: JSON.stringify(meta.optimizer),
    seed: String(meta.seed),
    version: meta.version,
    ...(meta.modelArgs ? { modelArgs: JSON.stringify(meta.modelArgs) } : {}),
    ...(meta.linearProbe ? { linearProbe: 'true' } : {}),
  };
}
