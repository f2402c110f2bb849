/**
 * torchvision's AlexNet (the "one weird trick" variant torchvision ships): same constructor
 * arguments (camelCase), same attribute names, hence the same `state_dict()` keys
 * (`features.0.weight`, ..., `classifier.6.bias`), and the same initialization (PyTorch's layer
 * defaults: torchvision does not re-initialize AlexNet).
 *
 * @example
 * import { AlexNet } from './alexnet.js';
 * const net = new AlexNet({ numClasses: 10 });
 * createModel('alexnet');
 * createFromConstructor('AlexNet', { numClasses: 10, dropout: 0.3 }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { flatten } from '../ops/shape.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { JsonArgs, arg, defineFamily, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- model -----------------------------------------------------------------------------------

export interface AlexNetOptions {
  numClasses?: number;
  dropout?: number;
}

/** torchvision.models.AlexNet */
export class AlexNet extends Module {
  features: Sequential;
  /** AdaptiveAvgPool2d((6, 6)); any output size works (small inputs replicate, as in PyTorch) */
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(opts: AlexNetOptions = {}) {
    super();
    const dropout = opts.dropout ?? 0.5;
    this.features = new Sequential(
      new Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
      new ReLU(),
      new MaxPool2d(3, { stride: 2 }),
      new Conv2d(64, 192, 5, { padding: 2 }),
      new ReLU(),
      new MaxPool2d(3, { stride: 2 }),
      new Conv2d(192, 384, 3, { padding: 1 }),
      new ReLU(),
      new Conv2d(384, 256, 3, { padding: 1 }),
      new ReLU(),
      new Conv2d(256, 256, 3, { padding: 1 }),
      new ReLU(),
      new MaxPool2d(3, { stride: 2 }),
    );
    this.avgpool = new AdaptiveAvgPool2d([6, 6]);
    this.classifier = new Sequential(
      new Dropout(dropout),
      new Linear(256 * 6 * 6, 4096),
      new ReLU(),
      new Dropout(dropout),
      new Linear(4096, 4096),
      new ReLU(),
      new Linear(4096, opts.numClasses ?? 1000),
    );
  }

  forward(x: Value): Value {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(flatten(x, 1));
  }
}

// ---- configs and registration ----------------------------------------------------------------

// torchvision's only (hence DEFAULT) weights, AlexNet_Weights.IMAGENET1K_V1: crop 224, resize 256, bilinear
const alexnetWeights = torchvisionWeights({ file: 'alexnet-owt-7be5be79.pth', top1: 56.522, top5: 79.066, classifier: 'classifier.6' });

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;

function builderOptionsToModel(args: JsonArgs): AlexNet {
  return new AlexNet({
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0.5, isProbability, 'a number in [0, 1)'),
  });
}

defineFamily({
  family: 'alexnet',
  source: 'torchvision',
  year: 2014,
  paper: 'One weird trick for parallelizing convolutional neural networks',
  inputSize: 224,
  numClasses: 1000,
  constructors: { AlexNet: { args: ['numClasses', 'dropout'], build: builderOptionsToModel } },
  builderArgs: ['dropout'],
  configs: [{ name: 'alexnet', pretrained: alexnetWeights, build: builderOptionsToModel }],
});
