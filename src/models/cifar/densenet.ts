/** pytorch-cifar's DenseNets (DenseNet121/161/169/201 and the small densenet_cifar), 3x3 stem, 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { avgPool2d } from '../../ops/pool.js';
import { concat, flatten } from '../../ops/shape.js';
import { arg, defineFamily, isNumber, isNumberArray, isPositiveInt, isString } from '../registry.js';
import { UserError } from '../../errors.js';

/** BN-ReLU-conv1x1 (to 4·growth) then BN-ReLU-conv3x3 (to growth); the new maps go in front of the input's */
export class Bottleneck extends Module {
  bn1: BatchNorm2d;
  conv1: Conv2d;
  bn2: BatchNorm2d;
  conv2: Conv2d;

  constructor(inPlanes: number, growthRate: number) {
    super();
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, 4 * growthRate, 1, { bias: false });
    this.bn2 = new BatchNorm2d(4 * growthRate);
    this.conv2 = new Conv2d(4 * growthRate, growthRate, 3, { padding: 1, bias: false });
  }

  forward(x: Value): Value {
    let out = this.conv1.call(relu(this.bn1.call(x)));
    out = this.conv2.call(relu(this.bn2.call(out)));
    return concat([out, x], 1);
  }
}

/** BN-ReLU-conv1x1, then 2x2 average pooling */
export class Transition extends Module {
  bn: BatchNorm2d;
  conv: Conv2d;

  constructor(inPlanes: number, outPlanes: number) {
    super();
    this.bn = new BatchNorm2d(inPlanes);
    this.conv = new Conv2d(inPlanes, outPlanes, 1, { bias: false });
  }

  forward(x: Value): Value {
    return avgPool2d(this.conv.call(relu(this.bn.call(x))), 2);
  }
}

export interface DenseNetOptions {
  growthRate?: number;
  reduction?: number;
  numClasses?: number;
}

/** pytorch-cifar `DenseNet(Bottleneck, nblocks, growth_rate=12, reduction=0.5, num_classes=10)` */
export class DenseNet extends Module {
  conv1: Conv2d;
  dense1: Sequential;
  trans1: Transition;
  dense2: Sequential;
  trans2: Transition;
  dense3: Sequential;
  trans3: Transition;
  dense4: Sequential;
  bn: BatchNorm2d;
  linear: Linear;

  constructor(nblocks: readonly number[], opts: DenseNetOptions = {}) {
    super();
    if (nblocks.length !== 4) throw new UserError(`DenseNet: nblocks must have 4 entries, got [${nblocks}]`);
    const growth = opts.growthRate ?? 12;
    const reduction = opts.reduction ?? 0.5;
    let planes = 2 * growth;
    const denseLayers = (n: number) => {
      const layers = new Sequential();
      for (let i = 0; i < n; i++) layers.add(String(i), new Bottleneck(planes + i * growth, growth));
      planes += n * growth;
      return layers;
    };
    const transition = () => {
      const out = Math.floor(planes * reduction);
      const t = new Transition(planes, out);
      planes = out;
      return t;
    };
    this.conv1 = new Conv2d(3, planes, 3, { padding: 1, bias: false });
    this.dense1 = denseLayers(nblocks[0]);
    this.trans1 = transition();
    this.dense2 = denseLayers(nblocks[1]);
    this.trans2 = transition();
    this.dense3 = denseLayers(nblocks[2]);
    this.trans3 = transition();
    this.dense4 = denseLayers(nblocks[3]);
    this.bn = new BatchNorm2d(planes);
    this.linear = new Linear(planes, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = this.conv1.call(x);
    out = this.trans1.call(this.dense1.call(out));
    out = this.trans2.call(this.dense2.call(out));
    out = this.trans3.call(this.dense3.call(out));
    out = this.dense4.call(out);
    out = avgPool2d(relu(this.bn.call(out)), 4);
    return this.linear.call(flatten(out));
  }
}

const configs: [string, number[], number][] = [
  ['DenseNet121', [6, 12, 24, 16], 32],
  ['DenseNet161', [6, 12, 36, 24], 48],
  ['DenseNet169', [6, 12, 32, 32], 32],
  ['DenseNet201', [6, 12, 48, 32], 32],
  ['densenet_cifar', [6, 12, 24, 16], 12],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'densenet',
  source: 'pytorch-cifar',
  year: 2016,
  paper: 'Densely Connected Convolutional Networks',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    DenseNet: {
      args: ['block', 'nblocks', 'growthRate', 'reduction', 'numClasses'],
      build(args) {
        const block = arg(args, 'block', 'Bottleneck', isString, '"Bottleneck"');
        if (block !== 'Bottleneck') throw new UserError(`DenseNet: block must be "Bottleneck", got "${block}"`);
        return new DenseNet(arg(args, 'nblocks', [6, 12, 24, 16], isNumberArray, 'an array of 4 numbers'), {
          growthRate: arg(args, 'growthRate', 12, isNumber, 'a number'),
          reduction: arg(args, 'reduction', 0.5, isNumber, 'a number'),
          numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer'),
        });
      },
    },
  },
  configs: configs.map(([reference, nblocks, growthRate]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new DenseNet(nblocks, { growthRate, numClasses: args.numClasses }),
  })),
});
