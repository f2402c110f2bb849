/**
 * torchvision's VGG (11/13/16/19, with and without BatchNorm): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys (`features.0.weight`,
 * ..., `classifier.6.bias`), and the same initialization (Kaiming-normal fan-out convolutions with
 * zero bias, BatchNorm 1/0, Linear N(0, 0.01) with zero bias).
 *
 * torchvision's `VGG(features, ...)` takes a built `features` module; from JSON the `VGG`
 * constructor takes `make_layers`'s arguments instead: `cfg` (a letter 'A', 'B', 'D', 'E' or a
 * list of channel counts and 'M') and `batchNorm`.
 *
 * @example
 * import { VGG, makeLayers, vggCfgs } from './vgg.js';
 * const net = new VGG(makeLayers(vggCfgs.A, true), { numClasses: 10 }); // vgg11_bn with 10 classes
 * createModel('vgg16');
 * createFromConstructor('VGG', { cfg: 'D', batchNorm: true, numClasses: 10 }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { flatten } from '../ops/shape.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';
import { initTorchvisionWeights } from './common.js';

// ---- blocks ----------------------------------------------------------------------------------

/** a VGG layer configuration: output channels of each 3x3 convolution, 'M' for a 2x2 max pool */
export type VggCfg = readonly (number | 'M')[];

/** torchvision's `make_layers`: conv3x3 (+ BatchNorm) + ReLU per number, MaxPool2d(2, 2) per 'M' */
export function makeLayers(cfg: VggCfg, batchNorm = false): Sequential {
  const layers: Module[] = [];
  let inChannels = 3;
  for (const v of cfg) {
    if (v === 'M') {
      layers.push(new MaxPool2d(2, { stride: 2 }));
      continue;
    }
    layers.push(new Conv2d(inChannels, v, 3, { padding: 1 }));
    if (batchNorm) layers.push(new BatchNorm2d(v));
    layers.push(new ReLU());
    inChannels = v;
  }
  return new Sequential(...layers);
}

// ---- model -----------------------------------------------------------------------------------

export interface VGGOptions {
  numClasses?: number;
  /** torchvision's re-initialization (default true); false keeps PyTorch's layer defaults */
  initWeights?: boolean;
  dropout?: number;
}

/** torchvision.models.VGG; `features` must end with 512 channels (as `makeLayers` does for every cfg) */
export class VGG extends Module {
  features: Module;
  /** AdaptiveAvgPool2d((7, 7)); any input size works (small inputs replicate, as in PyTorch) */
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(features: Module, opts: VGGOptions = {}) {
    super();
    const dropout = opts.dropout ?? 0.5;
    this.features = features;
    this.avgpool = new AdaptiveAvgPool2d([7, 7]);
    this.classifier = new Sequential(
      new Linear(512 * 7 * 7, 4096),
      new ReLU(),
      new Dropout(dropout),
      new Linear(4096, 4096),
      new ReLU(),
      new Dropout(dropout),
      new Linear(4096, opts.numClasses ?? 1000),
    );
    if (opts.initWeights ?? true) {
      initTorchvisionWeights(this);
    }
  }

  forward(x: Value): Value {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(flatten(x, 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

export const vggCfgs: Readonly<Record<'A' | 'B' | 'D' | 'E', VggCfg>> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

const PAPER = { year: 2014, paper: 'Very Deep Convolutional Networks for Large-Scale Image Recognition' };

/** a torchvision VGG `Weights` entry (crop 224, resize 256, bilinear; the last Linear of `classifier` is the head) */
const weights = (file: string, top1: number, top5: number) => torchvisionWeights({ file, top1, top5, classifier: 'classifier.6' });

// every VGG has one ImageNet-1K weights entry, IMAGENET1K_V1 = DEFAULT (vgg16's IMAGENET1K_FEATURES,
// a features-only port with different normalization and no published accuracy, is not DEFAULT)
export const vggConfigs: readonly { name: string; cfg: keyof typeof vggCfgs; batchNorm: boolean; year: number; paper: string; pretrained: PretrainedConfig }[] = [
  { name: 'vgg11', cfg: 'A', batchNorm: false, ...PAPER, pretrained: weights('vgg11-8a719046.pth', 69.02, 88.628) },
  { name: 'vgg11_bn', cfg: 'A', batchNorm: true, ...PAPER, pretrained: weights('vgg11_bn-6002323d.pth', 70.37, 89.81) },
  { name: 'vgg13', cfg: 'B', batchNorm: false, ...PAPER, pretrained: weights('vgg13-19584684.pth', 69.928, 89.246) },
  { name: 'vgg13_bn', cfg: 'B', batchNorm: true, ...PAPER, pretrained: weights('vgg13_bn-abd245e5.pth', 71.586, 90.374) },
  { name: 'vgg16', cfg: 'D', batchNorm: false, ...PAPER, pretrained: weights('vgg16-397923af.pth', 71.592, 90.382) },
  { name: 'vgg16_bn', cfg: 'D', batchNorm: true, ...PAPER, pretrained: weights('vgg16_bn-6c64b313.pth', 73.36, 91.516) },
  { name: 'vgg19', cfg: 'E', batchNorm: false, ...PAPER, pretrained: weights('vgg19-dcbb9e9d.pth', 72.376, 90.876) },
  { name: 'vgg19_bn', cfg: 'E', batchNorm: true, ...PAPER, pretrained: weights('vgg19_bn-c79401a0.pth', 74.218, 91.842) },
];

// ---- registration ----------------------------------------------------------------------------

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;
const isCfgName = (v: unknown): v is keyof typeof vggCfgs => v === 'A' || v === 'B' || v === 'D' || v === 'E';
const isCfgList = (v: unknown): v is (number | 'M')[] =>
  Array.isArray(v) && v.length > 0 && v.every((e) => e === 'M' || isPositiveInt(e)) && v.filter((e) => e !== 'M').at(-1) === 512;
const isCfg = (v: unknown): v is keyof typeof vggCfgs | (number | 'M')[] => isCfgName(v) || isCfgList(v);

/** the VGG arguments a builder (`vgg16`, ...) leaves to its caller */
function builderOptions(args: JsonArgs): VGGOptions {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    initWeights: arg(args, 'initWeights', true, isBool, 'a boolean'),
    dropout: arg(args, 'dropout', 0.5, isProbability, 'a number in [0, 1)'),
  };
}

defineFamily({
  family: 'vgg',
  source: 'torchvision',
  ...PAPER,
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    VGG: {
      args: ['cfg', 'batchNorm', 'numClasses', 'initWeights', 'dropout'],
      build(args) {
        if (args.cfg === undefined) throw new UserError('VGG: argument cfg is required ("A", "B", "D", "E" or a list of channel counts and "M")');
        const cfg = arg(args, 'cfg', 'A', isCfg, '"A", "B", "D", "E" or a non-empty list of positive integers and "M" whose last number is 512');
        const batchNorm = arg(args, 'batchNorm', false, isBool, 'a boolean');
        return new VGG(makeLayers(typeof cfg === 'string' ? vggCfgs[cfg] : cfg, batchNorm), builderOptions(args));
      },
    },
  },
  builderArgs: ['initWeights', 'dropout'],
  configs: vggConfigs.map((c) => ({ ...c, build: (args) => new VGG(makeLayers(vggCfgs[c.cfg], c.batchNorm), builderOptions(args)) })),
});
