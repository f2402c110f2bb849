/** pytorch-cifar's ResNet18/34/50/101/152 (3x3 stem, no max-pool, 4x4 average pool), 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isNumberArray, isPositiveInt, isString } from '../registry.js';
import { UserError } from '../../errors.js';

const conv3x3 = (inPlanes: number, outPlanes: number, stride = 1) => new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false });

function shortcutFor(inPlanes: number, outPlanes: number, stride: number): Sequential {
  return stride !== 1 || inPlanes !== outPlanes ? new Sequential(new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false }), new BatchNorm2d(outPlanes)) : new Sequential();
}

export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = conv3x3(inPlanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes);
    this.shortcut = shortcutFor(inPlanes, planes, stride);
  }

  forward(x: Value): Value {
    const out = relu(this.bn1.call(this.conv1.call(x)));
    return relu(add(this.bn2.call(this.conv2.call(out)), this.shortcut.call(x)));
  }
}

export class Bottleneck extends Module {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = new Conv2d(inPlanes, planes, 1, { bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = new Conv2d(planes, 4 * planes, 1, { bias: false });
    this.bn3 = new BatchNorm2d(4 * planes);
    this.shortcut = shortcutFor(inPlanes, 4 * planes, stride);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    return relu(add(this.bn3.call(this.conv3.call(out)), this.shortcut.call(x)));
  }
}

export type CifarResNetBlock = typeof BasicBlock | typeof Bottleneck;

/** pytorch-cifar `ResNet(block, num_blocks, num_classes=10)` */
export class ResNet extends Module {
  conv1 = conv3x3(3, 64);
  bn1 = new BatchNorm2d(64);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  linear: Linear;

  constructor(block: CifarResNetBlock, numBlocks: readonly number[], opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = 64;
    const makeLayer = (planes: number, blocks: number, stride: number) => {
      const layer = new Sequential();
      for (let i = 0; i < blocks; i++) {
        layer.add(String(i), new block(inPlanes, planes, i === 0 ? stride : 1));
        inPlanes = planes * block.expansion;
      }
      return layer;
    };
    this.layer1 = makeLayer(64, numBlocks[0], 1);
    this.layer2 = makeLayer(128, numBlocks[1], 2);
    this.layer3 = makeLayer(256, numBlocks[2], 2);
    this.layer4 = makeLayer(512, numBlocks[3], 2);
    this.linear = new Linear(512 * block.expansion, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

const configs: [string, CifarResNetBlock, number[]][] = [
  ['ResNet18', BasicBlock, [2, 2, 2, 2]],
  ['ResNet34', BasicBlock, [3, 4, 6, 3]],
  ['ResNet50', Bottleneck, [3, 4, 6, 3]],
  ['ResNet101', Bottleneck, [3, 4, 23, 3]],
  ['ResNet152', Bottleneck, [3, 8, 36, 3]],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'resnet',
  source: 'pytorch-cifar',
  year: 2015,
  paper: 'Deep Residual Learning for Image Recognition',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    ResNet: {
      args: ['block', 'numBlocks', 'numClasses'],
      build(args) {
        const blockName = arg(args, 'block', 'BasicBlock', isString, '"BasicBlock" or "Bottleneck"');
        const block = blockName === 'Bottleneck' ? Bottleneck : blockName === 'BasicBlock' ? BasicBlock : null;
        if (!block) throw new UserError(`ResNet: block must be "BasicBlock" or "Bottleneck", got "${blockName}"`);
        return new ResNet(block, arg(args, 'numBlocks', [2, 2, 2, 2], isNumberArray, 'an array of 4 numbers'), { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') });
      },
    },
  },
  configs: configs.map(([reference, block, blocks]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new ResNet(block, blocks, { numClasses: args.numClasses }),
  })),
});
