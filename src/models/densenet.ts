/**
 * torchvision's DenseNet-BC family (densenet121/161/169/201): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys
 * (`features.denseblock1.denselayer1.norm1.weight`, ..., `classifier.bias`), and the same
 * initialization (Kaiming-normal fan-in convolutions, BatchNorm 1/0, default Linear weight with
 * zero bias). `memoryEfficient` (gradient checkpointing) changes no result and is ignored.
 *
 * @example
 * import { DenseNet } from './densenet.js';
 * const net = new DenseNet({ growthRate: 8, blockConfig: [2, 2, 2, 2], numInitFeatures: 16, bnSize: 2, numClasses: 10 });
 * createModel('densenet121');
 * createFromConstructor('DenseNet', { growthRate: 12, blockConfig: [6, 12, 24, 16] }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { relu } from '../ops/activations.js';
import { dropout } from '../ops/dropout.js';
import { adaptiveAvgPool2d } from '../ops/pool.js';
import { concat, flatten } from '../ops/shape.js';
import { fans, normal } from '../nn/init.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

/**
 * BN-ReLU-1x1 conv (to bnSize·growthRate) - BN-ReLU-3x3 conv (to growthRate). Takes the
 * concatenation of every earlier feature map of its block (torchvision concatenates inside the
 * layer; the result is the same).
 */
export class DenseLayer extends Module {
  norm1: BatchNorm2d;
  relu1: ReLU;
  conv1: Conv2d;
  norm2: BatchNorm2d;
  relu2: ReLU;
  conv2: Conv2d;
  readonly dropRate: number;

  constructor(numInputFeatures: number, growthRate: number, bnSize: number, dropRate: number) {
    super();
    this.norm1 = new BatchNorm2d(numInputFeatures);
    this.relu1 = new ReLU();
    this.conv1 = new Conv2d(numInputFeatures, bnSize * growthRate, 1, { bias: false });
    this.norm2 = new BatchNorm2d(bnSize * growthRate);
    this.relu2 = new ReLU();
    this.conv2 = new Conv2d(bnSize * growthRate, growthRate, 3, { padding: 1, bias: false });
    this.dropRate = dropRate;
  }

  forward(x: Value): Value {
    const bottleneck = this.conv1.call(this.relu1.call(this.norm1.call(x)));
    const out = this.conv2.call(this.relu2.call(this.norm2.call(bottleneck)));
    return this.dropRate > 0 ? dropout(out, this.dropRate, this.training) : out;
  }
}

/** `numLayers` dense layers named denselayer1..N; outputs the input and every layer's features, concatenated */
export class DenseBlock extends Module {
  private readonly layers: DenseLayer[] = [];

  constructor(numLayers: number, numInputFeatures: number, bnSize: number, growthRate: number, dropRate: number) {
    super();
    for (let i = 0; i < numLayers; i++) {
      const layer = new DenseLayer(numInputFeatures + i * growthRate, growthRate, bnSize, dropRate);
      this.addModule(`denselayer${i + 1}`, layer);
      this.layers.push(layer);
    }
  }

  forward(x: Value): Value {
    const features = [x];
    // concat keeps the array it is given as the node's inputs: pass a copy, never the growing list
    for (const layer of this.layers) features.push(layer.call(concat([...features], 1)));
    return concat([...features], 1);
  }
}

/** BN-ReLU-1x1 conv-2x2 average pool between dense blocks (children norm, relu, conv, pool) */
export function transition(numInputFeatures: number, numOutputFeatures: number): Sequential {
  return Sequential.named([
    ['norm', new BatchNorm2d(numInputFeatures)],
    ['relu', new ReLU()],
    ['conv', new Conv2d(numInputFeatures, numOutputFeatures, 1, { bias: false })],
    ['pool', new AvgPool2d(2, { stride: 2 })],
  ]);
}

// ---- model -----------------------------------------------------------------------------------

export interface DenseNetOptions {
  growthRate?: number;
  /** layers per dense block (torchvision: 4 entries; any non-empty list builds) */
  blockConfig?: readonly number[];
  numInitFeatures?: number;
  bnSize?: number;
  dropRate?: number;
  numClasses?: number;
  /** gradient checkpointing in torchvision; accepted and ignored */
  memoryEfficient?: boolean;
}

/** torchvision.models.DenseNet */
export class DenseNet extends Module {
  features: Sequential;
  classifier: Linear;

  constructor(opts: DenseNetOptions = {}) {
    super();
    const growthRate = opts.growthRate ?? 32;
    const blockConfig = opts.blockConfig ?? [6, 12, 24, 16];
    const numInitFeatures = opts.numInitFeatures ?? 64;
    const bnSize = opts.bnSize ?? 4;
    const dropRate = opts.dropRate ?? 0;
    this.features = Sequential.named([
      ['conv0', new Conv2d(3, numInitFeatures, 7, { stride: 2, padding: 3, bias: false })],
      ['norm0', new BatchNorm2d(numInitFeatures)],
      ['relu0', new ReLU()],
      ['pool0', new MaxPool2d(3, { stride: 2, padding: 1 })],
    ]);
    let numFeatures = numInitFeatures;
    blockConfig.forEach((numLayers, i) => {
      this.features.add(`denseblock${i + 1}`, new DenseBlock(numLayers, numFeatures, bnSize, growthRate, dropRate));
      numFeatures += numLayers * growthRate;
      if (i !== blockConfig.length - 1) {
        this.features.add(`transition${i + 1}`, transition(numFeatures, Math.floor(numFeatures / 2)));
        numFeatures = Math.floor(numFeatures / 2);
      }
    });
    this.features.add('norm5', new BatchNorm2d(numFeatures));
    this.classifier = new Linear(numFeatures, opts.numClasses ?? 1000);

    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) m.weight.data = normal(m.weight.shape, Math.sqrt(2 / fans(m.weight.shape).fanIn));
      else if (m instanceof BatchNorm2d) {
        m.weight?.data.fill(1);
        m.bias?.data.fill(0);
      } else if (m instanceof Linear) m.bias?.data.fill(0);
    }
  }

  forward(x: Value): Value {
    const out = adaptiveAvgPool2d(relu(this.features.call(x)), [1, 1]);
    return this.classifier.call(flatten(out, 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface DenseNetConfig {
  name: string;
  growthRate: number;
  blockConfig: [number, number, number, number];
  numInitFeatures: number;
  /** torchvision 0.14's DEFAULT weights for the builder */
  pretrained: PretrainedConfig;
}

/** a torchvision DenseNet `Weights` entry (crop 224, resize 256, bilinear; the head is the Linear `classifier`) */
const weights = (file: string, top1: number, top5: number) => torchvisionWeights({ file, top1, top5, classifier: 'classifier' });

// each has one weights entry, IMAGENET1K_V1 = DEFAULT (its files use the old key names `norm.1`,
// `conv.1`, ... that torchvision renames to `norm1`, `conv1` when loading)
export const densenetConfigs: readonly DenseNetConfig[] = [
  { name: 'densenet121', growthRate: 32, blockConfig: [6, 12, 24, 16], numInitFeatures: 64, pretrained: weights('densenet121-a639ec97.pth', 74.434, 91.972) },
  { name: 'densenet161', growthRate: 48, blockConfig: [6, 12, 36, 24], numInitFeatures: 96, pretrained: weights('densenet161-8d451a50.pth', 77.138, 93.56) },
  { name: 'densenet169', growthRate: 32, blockConfig: [6, 12, 32, 32], numInitFeatures: 64, pretrained: weights('densenet169-b2777c0a.pth', 75.6, 92.806) },
  { name: 'densenet201', growthRate: 32, blockConfig: [6, 12, 48, 32], numInitFeatures: 64, pretrained: weights('densenet201-c1103571.pth', 76.896, 93.37) },
];

// ---- registration ----------------------------------------------------------------------------

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;
const isBlockConfig = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt);

/** the DenseNet arguments a builder (`densenet121`, ...) leaves to its caller */
function builderOptions(args: JsonArgs): DenseNetOptions {
  return {
    bnSize: arg(args, 'bnSize', 4, isPositiveInt, 'a positive integer'),
    dropRate: arg(args, 'dropRate', 0, isProbability, 'a number in [0, 1)'),
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    memoryEfficient: arg(args, 'memoryEfficient', false, isBool, 'a boolean'),
  };
}

defineFamily({
  family: 'densenet',
  source: 'torchvision',
  year: 2016,
  paper: 'Densely Connected Convolutional Networks',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    DenseNet: {
      args: ['growthRate', 'blockConfig', 'numInitFeatures', 'bnSize', 'dropRate', 'numClasses', 'memoryEfficient'],
      build: (args) =>
        new DenseNet({
          ...builderOptions(args),
          growthRate: arg(args, 'growthRate', 32, isPositiveInt, 'a positive integer'),
          blockConfig: arg(args, 'blockConfig', [6, 12, 24, 16], isBlockConfig, 'a non-empty array of positive integers'),
          numInitFeatures: arg(args, 'numInitFeatures', 64, isPositiveInt, 'a positive integer'),
        }),
    },
  },
  builderArgs: ['bnSize', 'dropRate', 'memoryEfficient'],
  configs: densenetConfigs.map((c) => ({
    ...c,
    build: (args) => new DenseNet({ ...builderOptions(args), growthRate: c.growthRate, blockConfig: c.blockConfig, numInitFeatures: c.numInitFeatures }),
  })),
});
