/** pytorch-cifar's VGG11/13/16/19: 3x3 convs with BatchNorm, five 2x2 max-pools, one linear classifier. */
import { Value } from '../../graph/ir.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt, isString } from '../registry.js';
import { UserError } from '../../errors.js';

/** a layer list: a number is a 3x3 conv (+BN+ReLU) with that many channels, 'M' a 2x2 max-pool */
export type VggConfig = readonly (number | 'M')[];

export const VGG_CONFIGS: Readonly<Record<string, VggConfig>> = {
  VGG11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  VGG13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  VGG16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  VGG19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

/** Builds the `features` Sequential: indices run over every conv, BN, ReLU and pool, as in the reference. */
function makeFeatures(cfg: VggConfig): Sequential {
  const features = new Sequential();
  let channels = 3;
  const push = (m: Module) => features.add(String(features.length), m);
  for (const item of cfg) {
    if (item === 'M') {
      push(new MaxPool2d(2, { stride: 2 }));
    } else {
      push(new Conv2d(channels, item, 3, { padding: 1 }));
      push(new BatchNorm2d(item));
      push(new ReLU());
      channels = item;
    }
  }
  push(new AvgPool2d(1, { stride: 1 }));
  return features;
}

/** pytorch-cifar `VGG(vgg_name)`; `numClasses` (default 10) sizes the classifier. */
export class VGG extends Module {
  features: Sequential;
  classifier: Linear;

  constructor(vggName: string, opts: { numClasses?: number } = {}) {
    super();
    const cfg = VGG_CONFIGS[vggName];
    if (!cfg) throw new UserError(`VGG: unknown vggName "${vggName}"; expected one of ${Object.keys(VGG_CONFIGS).join(', ')}`);
    this.features = makeFeatures(cfg);
    this.classifier = new Linear(512, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    return this.classifier.call(flatten(this.features.call(x)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'vgg',
  source: 'pytorch-cifar',
  year: 2014,
  paper: 'Very Deep Convolutional Networks for Large-Scale Image Recognition',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    VGG: {
      args: ['vggName', 'numClasses'],
      build(args) {
        const vggName = arg(args, 'vggName', '', isString, `one of ${Object.keys(VGG_CONFIGS).join(', ')}`);
        if (!vggName) throw new UserError(`VGG: vggName is required (one of ${Object.keys(VGG_CONFIGS).join(', ')})`);
        return new VGG(vggName, { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') });
      },
    },
  },
  // pytorch-cifar has no VGG11() etc.: its configs are VGG('VGG11'), ...
  configBuilders: false,
  configs: Object.keys(VGG_CONFIGS).map((reference) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new VGG(reference, { numClasses: args.numClasses }),
  })),
});
