/** pytorch-cifar's ResNeXt29 (three stages of grouped-conv bottlenecks, 1x1 stem, 32x32 inputs). */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isNumber, isNumberArray, isPositiveInt } from '../registry.js';
import { UserError } from '../../errors.js';

/** grouped bottleneck: 1x1 to cardinality·width, grouped 3x3, 1x1 to twice that */
export class Block extends Module {
  static readonly expansion = 2;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(inPlanes: number, cardinality = 32, bottleneckWidth = 4, stride = 1) {
    super();
    const groupWidth = cardinality * bottleneckWidth;
    const outPlanes = Block.expansion * groupWidth;
    this.conv1 = new Conv2d(inPlanes, groupWidth, 1, { bias: false });
    this.bn1 = new BatchNorm2d(groupWidth);
    this.conv2 = new Conv2d(groupWidth, groupWidth, 3, { stride, padding: 1, groups: cardinality, bias: false });
    this.bn2 = new BatchNorm2d(groupWidth);
    this.conv3 = new Conv2d(groupWidth, outPlanes, 1, { bias: false });
    this.bn3 = new BatchNorm2d(outPlanes);
    this.shortcut =
      stride !== 1 || inPlanes !== outPlanes ? new Sequential(new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }), new BatchNorm2d(outPlanes)) : new Sequential();
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    return relu(add(out, this.shortcut.call(x)));
  }
}

/** pytorch-cifar `ResNeXt(num_blocks, cardinality, bottleneck_width, num_classes=10)`; the width doubles after each stage */
export class ResNeXt extends Module {
  conv1 = new Conv2d(3, 64, 1, { bias: false });
  bn1 = new BatchNorm2d(64);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  linear: Linear;

  constructor(numBlocks: readonly number[], cardinality: number, bottleneckWidth: number, opts: { numClasses?: number } = {}) {
    super();
    if (numBlocks.length !== 3) throw new UserError(`ResNeXt: numBlocks must have 3 entries, got [${numBlocks}]`);
    let inPlanes = 64;
    let width = bottleneckWidth;
    const makeLayer = (blocks: number, stride: number) => {
      const layer = new Sequential();
      for (let i = 0; i < blocks; i++) {
        layer.add(String(i), new Block(inPlanes, cardinality, width, i === 0 ? stride : 1));
        inPlanes = Block.expansion * cardinality * width;
      }
      width *= 2;
      return layer;
    };
    this.layer1 = makeLayer(numBlocks[0], 1);
    this.layer2 = makeLayer(numBlocks[1], 2);
    this.layer3 = makeLayer(numBlocks[2], 2);
    this.linear = new Linear(cardinality * bottleneckWidth * 8, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer3.call(this.layer2.call(this.layer1.call(out)));
    return this.linear.call(flatten(avgPool2d(out, 8)));
  }
}

const configs: [string, number, number][] = [
  ['ResNeXt29_2x64d', 2, 64],
  ['ResNeXt29_4x64d', 4, 64],
  ['ResNeXt29_8x64d', 8, 64],
  ['ResNeXt29_32x4d', 32, 4],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'resnext',
  source: 'pytorch-cifar',
  year: 2016,
  paper: 'Aggregated Residual Transformations for Deep Neural Networks',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    ResNeXt: {
      args: ['numBlocks', 'cardinality', 'bottleneckWidth', 'numClasses'],
      build: (args) =>
        new ResNeXt(
          arg(args, 'numBlocks', [3, 3, 3], isNumberArray, 'an array of 3 numbers'),
          arg(args, 'cardinality', 32, isNumber, 'a number'),
          arg(args, 'bottleneckWidth', 4, isNumber, 'a number'),
          { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') },
        ),
    },
  },
  configs: configs.map(([reference, cardinality, width]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new ResNeXt([3, 3, 3], cardinality, width, { numClasses: args.numClasses }),
  })),
});
