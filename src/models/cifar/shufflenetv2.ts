/**
 * pytorch-cifar's ShuffleNetV2 (net sizes 0.5, 1, 1.5, 2): stride-1 3x3 stem without max-pool,
 * three stages each opened by a stride-2 down block, 1x1 head conv, 32x32 inputs.
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { avgPool2d } from '../../ops/pool.js';
import { concat, flatten, split } from '../../ops/shape.js';
import { arg, defineFamily, isNumber, isPositiveInt } from '../registry.js';
import { UserError } from '../../errors.js';
import { ShuffleBlock } from './shufflenet.js';

/** Splits the channels at `int(C * ratio)` (pytorch-cifar's SplitBlock). */
function splitChannels(x: Value, ratio: number): [Value, Value] {
  const c = Math.trunc(x.shape[1] * ratio);
  const [a, b] = split(x, 1, [c, x.shape[1] - c]);
  return [a, b];
}

/** stride-1 unit: half the channels pass through, the other half go 1x1 → depthwise 3x3 → 1x1 */
export class BasicBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shuffle: ShuffleBlock;

  constructor(
    inChannels: number,
    readonly splitRatio = 0.5,
  ) {
    super();
    const c = Math.trunc(inChannels * splitRatio);
    this.conv1 = new Conv2d(c, c, 1, { bias: false });
    this.bn1 = new BatchNorm2d(c);
    this.conv2 = new Conv2d(c, c, 3, { padding: 1, groups: c, bias: false });
    this.bn2 = new BatchNorm2d(c);
    this.conv3 = new Conv2d(c, c, 1, { bias: false });
    this.bn3 = new BatchNorm2d(c);
    this.shuffle = new ShuffleBlock(2);
  }

  forward(x: Value): Value {
    const [x1, x2] = splitChannels(x, this.splitRatio);
    let out = relu(this.bn1.call(this.conv1.call(x2)));
    out = this.bn2.call(this.conv2.call(out));
    out = relu(this.bn3.call(this.conv3.call(out)));
    return this.shuffle.call(concat([x1, out], 1));
  }
}

/** stride-2 unit: both branches downsample, their outputs are concatenated and shuffled */
export class DownBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  conv4: Conv2d;
  bn4: BatchNorm2d;
  conv5: Conv2d;
  bn5: BatchNorm2d;
  shuffle: ShuffleBlock;

  constructor(inChannels: number, outChannels: number) {
    super();
    const mid = Math.floor(outChannels / 2);
    // left branch
    this.conv1 = new Conv2d(inChannels, inChannels, 3, { stride: 2, padding: 1, groups: inChannels, bias: false });
    this.bn1 = new BatchNorm2d(inChannels);
    this.conv2 = new Conv2d(inChannels, mid, 1, { bias: false });
    this.bn2 = new BatchNorm2d(mid);
    // right branch
    this.conv3 = new Conv2d(inChannels, mid, 1, { bias: false });
    this.bn3 = new BatchNorm2d(mid);
    this.conv4 = new Conv2d(mid, mid, 3, { stride: 2, padding: 1, groups: mid, bias: false });
    this.bn4 = new BatchNorm2d(mid);
    this.conv5 = new Conv2d(mid, mid, 1, { bias: false });
    this.bn5 = new BatchNorm2d(mid);
    this.shuffle = new ShuffleBlock(2);
  }

  forward(x: Value): Value {
    let left = this.bn1.call(this.conv1.call(x));
    left = relu(this.bn2.call(this.conv2.call(left)));
    let right = relu(this.bn3.call(this.conv3.call(x)));
    right = this.bn4.call(this.conv4.call(right));
    right = relu(this.bn5.call(this.conv5.call(right)));
    return this.shuffle.call(concat([left, right], 1));
  }
}

/** per net size: stage widths plus head width, and the basic blocks per stage */
const SIZES = new Map<number, { outChannels: readonly [number, number, number, number]; numBlocks: readonly [number, number, number] }>([
  [0.5, { outChannels: [48, 96, 192, 1024], numBlocks: [3, 7, 3] }],
  [1, { outChannels: [116, 232, 464, 1024], numBlocks: [3, 7, 3] }],
  [1.5, { outChannels: [176, 352, 704, 1024], numBlocks: [3, 7, 3] }],
  [2, { outChannels: [224, 488, 976, 2048], numBlocks: [3, 7, 3] }],
]);

export const SHUFFLENETV2_SIZES: readonly number[] = [...SIZES.keys()];

/** pytorch-cifar `ShuffleNetV2(net_size)` (10 classes in the reference; `numClasses` overrides) */
export class ShuffleNetV2 extends Module {
  conv1 = new Conv2d(3, 24, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(24);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  linear: Linear;

  constructor(netSize: number, opts: { numClasses?: number } = {}) {
    super();
    const cfg = SIZES.get(netSize);
    if (!cfg) throw new UserError(`ShuffleNetV2: netSize must be one of ${SHUFFLENETV2_SIZES.join(', ')}, got ${netSize}`);
    const { outChannels, numBlocks } = cfg;
    let inChannels = 24;
    const makeLayer = (out: number, blocks: number) => {
      const layer = new Sequential(new DownBlock(inChannels, out));
      for (let i = 0; i < blocks; i++) layer.add(String(i + 1), new BasicBlock(out));
      inChannels = out;
      return layer;
    };
    this.layer1 = makeLayer(outChannels[0], numBlocks[0]);
    this.layer2 = makeLayer(outChannels[1], numBlocks[1]);
    this.layer3 = makeLayer(outChannels[2], numBlocks[2]);
    this.conv2 = new Conv2d(outChannels[2], outChannels[3], 1, { bias: false });
    this.bn2 = new BatchNorm2d(outChannels[3]);
    this.linear = new Linear(outChannels[3], opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer3.call(this.layer2.call(this.layer1.call(out)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'shufflenetv2',
  source: 'pytorch-cifar',
  year: 2018,
  paper: 'ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    ShuffleNetV2: {
      args: ['netSize', 'numClasses'],
      build(args) {
        if (args.netSize === undefined) throw new UserError(`ShuffleNetV2: netSize is required (one of ${SHUFFLENETV2_SIZES.join(', ')})`);
        const netSize = arg(args, 'netSize', 1, isNumber, `one of ${SHUFFLENETV2_SIZES.join(', ')}`);
        return new ShuffleNetV2(netSize, { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') });
      },
    },
  },
  // pytorch-cifar builds these as ShuffleNetV2(net_size), with no function per size
  configBuilders: false,
  configs: SHUFFLENETV2_SIZES.map((size) => ({
    name: `cifar_shufflenetv2_x${size.toFixed(1).replace('.', '_')}`,
    reference: `ShuffleNetV2_${size}`,
    build: (args) => new ShuffleNetV2(size, { numClasses: args.numClasses }),
  })),
});
