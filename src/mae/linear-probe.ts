/**
 * MAE's linear probe (`--linear-probe`; main_linprobe.py): every parameter frozen but the
 * classifier's, and a BatchNorm without affine parameters (eps 1e-6) before it, so only the
 * head learns, on normalised frozen features. For torchvision's ViT the norm sits at
 * `heads.probe_norm` before `heads.head` (the classifier keeps its key).
 *
 * @example
 * const model = linearProbePlugin().model!(createModel('vit_tiny_cifar'), { ...TRAIN_DEFAULTS, model: 'vit_tiny_cifar', data: 'x', out: 'y' }, () => {});
 * [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([k]) => k); // → ['heads.head.weight', 'heads.head.bias']
 */
import { UserError } from '../errors.js';
import { VisionTransformer } from '../models/vit.js';
import { BatchNorm2d, Linear } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import type { TrainPlugin } from '../train/hooks.js';

export function linearProbePlugin(): TrainPlugin {
  return {
    name: 'linear-probe',
    model: (model, options, log) => {
      for (const [, p] of model.namedParameters()) p.requiresGrad = false;
      const head = addProbeNorm(model, options.model);
      head.weight.requiresGrad = true;
      if (head.bias) head.bias.requiresGrad = true;
      log(`linear probe: ${head.weight.data.length + (head.bias?.data.length ?? 0)} trainable parameters (heads.head), the rest frozen; BatchNorm without affine before the head`);
      return model;
    },
  };
}

/**
 * Puts the probe's BatchNorm without affine (eps 1e-6) before a VisionTransformer's classifier:
 * `heads` becomes [probe_norm, head]; returns the classifier. What `--linear-probe` trains, and
 * what `tessera eval`, `predict` and `export` rebuild for a probe's checkpoint
 * (src/train/run-model.ts). `name` is the model's, for the error line.
 *
 * @example
 * const vit = createModel('vit_tiny_cifar');
 * addProbeNorm(vit, 'vit_tiny_cifar').weight.shape; // → [10, 192]
 * [...vit.stateDict().keys()].filter((k) => k.startsWith('heads.')); // → ['heads.probe_norm.running_mean', 'heads.probe_norm.running_var', 'heads.probe_norm.num_batches_tracked', 'heads.head.weight', 'heads.head.bias']
 */
export function addProbeNorm(model: Module, name: string): Linear {
  const head = model instanceof VisionTransformer ? model.heads.at(0) : null;
  if (!(model instanceof VisionTransformer) || !(head instanceof Linear)) throw new UserError(`--linear-probe needs a VisionTransformer with its heads.head classifier; ${name} is not one`);
  model.heads = Sequential.named([
    ['probe_norm', new BatchNorm2d(head.inFeatures, { affine: false, eps: 1e-6 })],
    ['head', head],
  ]);
  return head;
}
