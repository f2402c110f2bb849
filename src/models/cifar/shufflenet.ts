/**
 * pytorch-cifar's ShuffleNet (v1): ShuffleNetG2 and ShuffleNetG3, 1x1 stem, three stages of
 * grouped-pointwise bottlenecks with channel shuffle, 32x32 inputs.
 *
 * pytorch-cifar computes the bottleneck width as `out_planes / 4`, a float under Python 3, which
 * `nn.Conv2d` rejects: the reference fails to build on current Python. This port uses integer
 * division (`out_planes // 4`), the evident intent; every width in both configs divides by 4, so
 * the result is what the original code computed under Python 2.
 */
import { Value } from '../../graph/ir.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { concat, flatten, reshape, transpose } from '../../ops/shape.js';
import { defineFamily } from '../registry.js';

/** Channel shuffle: [N, C, H, W] viewed as [N, g, C/g, H, W], groups and channels swapped, flattened back. */
export function channelShuffle(x: Value, groups: number): Value {
  const [n, c, h, w] = x.shape;
  if (c % groups) throw new Error(`channel shuffle: ${c} channels do not divide into ${groups} groups`);
  return reshape(transpose(reshape(x, [n, groups, c / groups, h, w]), [0, 2, 1, 3, 4]), [n, c, h, w]);
}

/** A parameter-free channel-shuffle module (pytorch-cifar's ShuffleBlock). */
export class ShuffleBlock extends Module {
  constructor(readonly groups: number) {
    super();
  }

  forward(x: Value): Value {
    return channelShuffle(x, this.groups);
  }
}

/** grouped 1x1 → shuffle → depthwise 3x3 → grouped 1x1; stride 2 concatenates an average-pooled shortcut */
export class Bottleneck extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  shuffle1: ShuffleBlock;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(
    inPlanes: number,
    outPlanes: number,
    readonly stride: number,
    groups: number,
  ) {
    super();
    const midPlanes = Math.floor(outPlanes / 4);
    // the first block after the 24-channel stem uses an ungrouped 1x1
    const g = inPlanes === 24 ? 1 : groups;
    this.conv1 = new Conv2d(inPlanes, midPlanes, 1, { groups: g, bias: false });
    this.bn1 = new BatchNorm2d(midPlanes);
    this.shuffle1 = new ShuffleBlock(g);
    this.conv2 = new Conv2d(midPlanes, midPlanes, 3, { stride, padding: 1, groups: midPlanes, bias: false });
    this.bn2 = new BatchNorm2d(midPlanes);
    this.conv3 = new Conv2d(midPlanes, outPlanes, 1, { groups, bias: false });
    this.bn3 = new BatchNorm2d(outPlanes);
    this.shortcut = stride === 2 ? new Sequential(new AvgPool2d(3, { stride: 2, padding: 1 })) : new Sequential();
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.shuffle1.call(out);
    out = relu(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const res = this.shortcut.call(x);
    return relu(this.stride === 2 ? concat([out, res], 1) : add(out, res));
  }
}

export interface ShuffleNetConfig {
  /** output channels of the three stages */
  readonly outPlanes: readonly [number, number, number];
  readonly numBlocks: readonly [number, number, number];
  readonly groups: number;
}

/** pytorch-cifar `ShuffleNet(cfg)` (10 classes in the reference; `numClasses` overrides) */
export class ShuffleNet extends Module {
  conv1 = new Conv2d(3, 24, 1, { bias: false });
  bn1 = new BatchNorm2d(24);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  linear: Linear;

  constructor(cfg: ShuffleNetConfig, opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = 24;
    const makeLayer = (outPlanes: number, blocks: number) => {
      const layer = new Sequential();
      for (let i = 0; i < blocks; i++) {
        // the first block concatenates its input, so its own branch supplies the rest
        const catPlanes = i === 0 ? inPlanes : 0;
        layer.add(String(i), new Bottleneck(inPlanes, outPlanes - catPlanes, i === 0 ? 2 : 1, cfg.groups));
        inPlanes = outPlanes;
      }
      return layer;
    };
    this.layer1 = makeLayer(cfg.outPlanes[0], cfg.numBlocks[0]);
    this.layer2 = makeLayer(cfg.outPlanes[1], cfg.numBlocks[1]);
    this.layer3 = makeLayer(cfg.outPlanes[2], cfg.numBlocks[2]);
    this.linear = new Linear(cfg.outPlanes[2], opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer3.call(this.layer2.call(this.layer1.call(out)));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

const configs: [string, ShuffleNetConfig][] = [
  ['ShuffleNetG2', { outPlanes: [200, 400, 800], numBlocks: [4, 8, 4], groups: 2 }],
  ['ShuffleNetG3', { outPlanes: [240, 480, 960], numBlocks: [4, 8, 4], groups: 3 }],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'shufflenet',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices',
  inputSize: 32,
  numClasses: 10,
  configs: configs.map(([reference, cfg]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    notInZoo: 'the reference computes channel counts with float division and fails on current Python, so zoo_params.json has no row',
    build: (args) => new ShuffleNet(cfg, { numClasses: args.numClasses }),
  })),
});
