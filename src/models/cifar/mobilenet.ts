/** pytorch-cifar's MobileNet (v1): depthwise-separable blocks, stride-1 stem, 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt } from '../registry.js';

/** depthwise 3x3 + BN-ReLU, then pointwise 1x1 + BN-ReLU */
export class Block extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;

  constructor(inPlanes: number, outPlanes: number, stride = 1) {
    super();
    this.conv1 = new Conv2d(inPlanes, inPlanes, 3, { stride, padding: 1, groups: inPlanes, bias: false });
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv2 = new Conv2d(inPlanes, outPlanes, 1, { bias: false });
    this.bn2 = new BatchNorm2d(outPlanes);
  }

  forward(x: Value): Value {
    const out = relu(this.bn1.call(this.conv1.call(x)));
    return relu(this.bn2.call(this.conv2.call(out)));
  }
}

/** [out channels, stride] per block */
const CFG: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/** pytorch-cifar `MobileNet(num_classes=10)` */
export class MobileNet extends Module {
  conv1 = new Conv2d(3, 32, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(32);
  layers = new Sequential();
  linear: Linear;

  constructor(opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = 32;
    for (const [outPlanes, stride] of CFG) {
      this.layers.add(String(this.layers.length), new Block(inPlanes, outPlanes, stride));
      inPlanes = outPlanes;
    }
    this.linear = new Linear(1024, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layers.call(out);
    return this.linear.call(flatten(avgPool2d(out, 2)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'mobilenet',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    MobileNet: { args: ['numClasses'], build: (args) => new MobileNet({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
  },
  configs: [{ name: 'cifar_mobilenet', reference: 'MobileNet', build: (args) => new MobileNet({ numClasses: args.numClasses }) }],
});
