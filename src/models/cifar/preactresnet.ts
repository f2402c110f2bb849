/** pytorch-cifar's pre-activation ResNets (BN-ReLU before each conv), PreActResNet18/34/50/101/152, 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isNumberArray, isPositiveInt, isString } from '../registry.js';
import { UserError } from '../../errors.js';

/** a 1x1 projection (no BatchNorm) when the block changes resolution or width, else none (identity) */
function projection(inPlanes: number, outPlanes: number, stride: number): Sequential | null {
  return stride !== 1 || inPlanes !== outPlanes ? new Sequential(new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false })) : null;
}

/** pre-activation BasicBlock: BN-ReLU-conv3x3, BN-ReLU-conv3x3; the projection takes the first pre-activation */
export class PreActBlock extends Module {
  static readonly expansion = 1;
  bn1: BatchNorm2d;
  conv1: Conv2d;
  bn2: BatchNorm2d;
  conv2: Conv2d;
  /** only present (and in the state dict) when the block projects */
  shortcut: Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { padding: 1, bias: false });
    this.shortcut = projection(inPlanes, planes, stride);
  }

  forward(x: Value): Value {
    const pre = relu(this.bn1.call(x));
    const skip = this.shortcut ? this.shortcut.call(pre) : x;
    let out = this.conv1.call(pre);
    out = this.conv2.call(relu(this.bn2.call(out)));
    return add(out, skip);
  }
}

/** pre-activation Bottleneck: 1x1, 3x3 (strided), 1x1 to 4x planes, each after BN-ReLU */
export class PreActBottleneck extends Module {
  static readonly expansion = 4;
  bn1: BatchNorm2d;
  conv1: Conv2d;
  bn2: BatchNorm2d;
  conv2: Conv2d;
  bn3: BatchNorm2d;
  conv3: Conv2d;
  shortcut: Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, planes, 1, { bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false });
    this.bn3 = new BatchNorm2d(planes);
    this.conv3 = new Conv2d(planes, 4 * planes, 1, { bias: false });
    this.shortcut = projection(inPlanes, 4 * planes, stride);
  }

  forward(x: Value): Value {
    const pre = relu(this.bn1.call(x));
    const skip = this.shortcut ? this.shortcut.call(pre) : x;
    let out = this.conv1.call(pre);
    out = this.conv2.call(relu(this.bn2.call(out)));
    out = this.conv3.call(relu(this.bn3.call(out)));
    return add(out, skip);
  }
}

export type PreActResNetBlock = typeof PreActBlock | typeof PreActBottleneck;

/** pytorch-cifar `PreActResNet(block, num_blocks, num_classes=10)`: no stem BN and no final BN-ReLU, as in the reference */
export class PreActResNet extends Module {
  conv1 = new Conv2d(3, 64, 3, { padding: 1, bias: false });
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  linear: Linear;

  constructor(block: PreActResNetBlock, numBlocks: readonly number[], opts: { numClasses?: number } = {}) {
    super();
    if (numBlocks.length !== 4) throw new UserError(`PreActResNet: numBlocks must have 4 entries, got [${numBlocks}]`);
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
    let out = this.conv1.call(x);
    out = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

const configs: [string, PreActResNetBlock, number[]][] = [
  ['PreActResNet18', PreActBlock, [2, 2, 2, 2]],
  ['PreActResNet34', PreActBlock, [3, 4, 6, 3]],
  ['PreActResNet50', PreActBottleneck, [3, 4, 6, 3]],
  ['PreActResNet101', PreActBottleneck, [3, 4, 23, 3]],
  ['PreActResNet152', PreActBottleneck, [3, 8, 36, 3]],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'preactresnet',
  source: 'pytorch-cifar',
  year: 2016,
  paper: 'Identity Mappings in Deep Residual Networks',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    PreActResNet: {
      args: ['block', 'numBlocks', 'numClasses'],
      build(args) {
        const blockName = arg(args, 'block', 'PreActBlock', isString, '"PreActBlock" or "PreActBottleneck"');
        const block = blockName === 'PreActBottleneck' ? PreActBottleneck : blockName === 'PreActBlock' ? PreActBlock : null;
        if (!block) throw new UserError(`PreActResNet: block must be "PreActBlock" or "PreActBottleneck", got "${blockName}"`);
        return new PreActResNet(block, arg(args, 'numBlocks', [2, 2, 2, 2], isNumberArray, 'an array of 4 numbers'), { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') });
      },
    },
  },
  configs: configs.map(([reference, block, blocks]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new PreActResNet(block, blocks, { numClasses: args.numClasses }),
  })),
});
