/** pytorch-cifar's MobileNetV2 (stride-1 stem and second stage for 32x32 inputs). */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt } from '../registry.js';

/** expand + depthwise + pointwise */
export class Block extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(
    inPlanes: number,
    outPlanes: number,
    expansion: number,
    readonly stride: number,
  ) {
    super();
    const planes = expansion * inPlanes;
    this.conv1 = new Conv2d(inPlanes, planes, 1, { bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { stride, padding: 1, groups: planes, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = new Conv2d(planes, outPlanes, 1, { bias: false });
    this.bn3 = new BatchNorm2d(outPlanes);
    this.shortcut = stride === 1 && inPlanes !== outPlanes ? new Sequential(new Conv2d(inPlanes, outPlanes, 1, { bias: false }), new BatchNorm2d(outPlanes)) : new Sequential();
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    return this.stride === 1 ? add(out, this.shortcut.call(x)) : out;
  }
}

/** (expansion, out_planes, num_blocks, stride) */
const CFG: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 1],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** pytorch-cifar `MobileNetV2(num_classes=10)` */
export class MobileNetV2 extends Module {
  conv1 = new Conv2d(3, 32, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(32);
  layers = new Sequential();
  conv2 = new Conv2d(320, 1280, 1, { bias: false });
  bn2 = new BatchNorm2d(1280);
  linear: Linear;

  constructor(opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = 32;
    for (const [expansion, outPlanes, blocks, stride] of CFG) {
      for (let i = 0; i < blocks; i++) {
        this.layers.add(String(this.layers.length), new Block(inPlanes, outPlanes, expansion, i === 0 ? stride : 1));
        inPlanes = outPlanes;
      }
    }
    this.linear = new Linear(1280, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(this.layers.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'mobilenetv2',
  source: 'pytorch-cifar',
  year: 2018,
  paper: 'MobileNetV2: Inverted Residuals and Linear Bottlenecks',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    MobileNetV2: { args: ['numClasses'], build: (args) => new MobileNetV2({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
  },
  configs: [{ name: 'cifar_mobilenetv2', reference: 'MobileNetV2', build: (args) => new MobileNetV2({ numClasses: args.numClasses }) }],
});
