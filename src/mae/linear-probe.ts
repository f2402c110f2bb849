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
import { Sequential } from '../nn/module.js';
import type { TrainPlugin } from '../train/hooks.js';

export function linearProbePlugin(): TrainPlugin {
  return {
    name: 'linear-probe',
    model: (model, options, log) => {
      const head = model instanceof VisionTransformer ? model.heads.at(0) : null;
      if (!(model instanceof VisionTransformer) || !(head instanceof Linear)) throw new UserError(`--linear-probe needs a VisionTransformer with its heads.head classifier; ${options.model} is not one`);
      for (const [, p] of model.namedParameters()) p.requiresGrad = false;
      head.weight.requiresGrad = true;
      if (head.bias) head.bias.requiresGrad = true;
      model.heads = Sequential.named([
        ['probe_norm', new BatchNorm2d(head.inFeatures, { affine: false, eps: 1e-6 })],
        ['head', head],
      ]);
      log(`linear probe: ${head.weight.data.length + (head.bias?.data.length ?? 0)} trainable parameters (heads.head), the rest frozen; BatchNorm without affine before the head`);
      return model;
    },
  };
}
