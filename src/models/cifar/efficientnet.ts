/**
 * pytorch-cifar's EfficientNetB0: MBConv blocks (expand 1x1, depthwise k x k, squeeze-excitation
 * with swish, project 1x1) on a stride-1 stem, dropout before the classifier, 32x32 inputs.
 *
 * Drop-connect: pytorch-cifar derives each block's rate as `drop_connect_rate * b / blocks` but
 * never advances the block index `b`, so every block's rate is 0 and drop-connect never runs.
 * This port keeps that (exactness); `Block.dropConnectRate` is public for callers who want it.
 * A rate above 0 in training needs a random per-sample mask, which no op in src/ops provides
 * (ONNX Dropout on a ones tensor would be removed by ONNX Runtime, since its mask goes unused),
 * so tracing such a block in training mode throws instead of silently skipping it.
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Dropout, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { silu } from '../../ops/activations.js';
import { add, mul, sigmoid } from '../../ops/elementwise.js';
import { globalAvgPool } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { defineFamily } from '../registry.js';

/** Squeeze-and-excitation with swish: x · σ(se2(swish(se1(mean(x))))) */
export class SE extends Module {
  se1: Conv2d;
  se2: Conv2d;

  constructor(inChannels: number, seChannels: number) {
    super();
    this.se1 = new Conv2d(inChannels, seChannels, 1);
    this.se2 = new Conv2d(seChannels, inChannels, 1);
  }

  forward(x: Value): Value {
    const w = sigmoid(this.se2.call(silu(this.se1.call(globalAvgPool(x)))));
    return mul(x, w);
  }
}

/** expansion + depthwise + squeeze-excitation + pointwise, with an identity skip when shapes allow */
export class Block extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  se: SE;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  readonly hasSkip: boolean;
  /** probability of dropping the residual branch per sample (training only; see the file comment) */
  dropConnectRate: number;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    readonly stride: number,
    readonly expandRatio = 1,
    seRatio = 0,
    dropRate = 0,
  ) {
    super();
    const channels = expandRatio * inChannels;
    // built even at expand ratio 1, where the forward pass skips them (they stay in the state dict)
    this.conv1 = new Conv2d(inChannels, channels, 1, { bias: false });
    this.bn1 = new BatchNorm2d(channels);
    this.conv2 = new Conv2d(channels, channels, kernelSize, { stride, padding: kernelSize === 3 ? 1 : 2, groups: channels, bias: false });
    this.bn2 = new BatchNorm2d(channels);
    this.se = new SE(channels, Math.trunc(inChannels * seRatio));
    this.conv3 = new Conv2d(channels, outChannels, 1, { bias: false });
    this.bn3 = new BatchNorm2d(outChannels);
    this.hasSkip = stride === 1 && inChannels === outChannels;
    this.dropConnectRate = dropRate;
  }

  forward(x: Value): Value {
    // at expand ratio 1 the reference skips conv1/bn1 (they stay in the state dict, unused)
    let out = this.expandRatio === 1 ? x : silu(this.bn1.call(this.conv1.call(x)));
    out = silu(this.bn2.call(this.conv2.call(out)));
    out = this.se.call(out);
    out = this.bn3.call(this.conv3.call(out));
    if (!this.hasSkip) return out;
    if (this.training && this.dropConnectRate > 0) {
      throw new Error(
        `drop-connect at rate ${this.dropConnectRate} needs a random per-sample mask, and src/ops has no random op (e.g. RandomUniformLike); set dropConnectRate to 0 (pytorch-cifar's effective value)`,
      );
    }
    return add(out, x);
  }
}

export interface EfficientNetConfig {
  readonly numBlocks: readonly number[];
  readonly expansion: readonly number[];
  readonly outChannels: readonly number[];
  readonly kernelSize: readonly number[];
  readonly stride: readonly number[];
  readonly dropoutRate: number;
  readonly dropConnectRate: number;
}

/** pytorch-cifar `EfficientNet(cfg, num_classes=10)` */
export class EfficientNet extends Module {
  conv1 = new Conv2d(3, 32, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(32);
  layers = new Sequential();
  dropout: Dropout;
  linear: Linear;

  constructor(
    readonly cfg: EfficientNetConfig,
    opts: { numClasses?: number } = {},
  ) {
    super();
    let inChannels = 32;
    cfg.numBlocks.forEach((blocks, stage) => {
      for (let i = 0; i < blocks; i++) {
        // the reference's schedule multiplies by a block index that stays 0 (see the file comment)
        const dropRate = 0;
        const block = new Block(inChannels, cfg.outChannels[stage], cfg.kernelSize[stage], i === 0 ? cfg.stride[stage] : 1, cfg.expansion[stage], 0.25, dropRate);
        this.layers.add(String(this.layers.length), block);
        inChannels = cfg.outChannels[stage];
      }
    });
    this.dropout = new Dropout(cfg.dropoutRate);
    this.linear = new Linear(cfg.outChannels[cfg.outChannels.length - 1], opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = silu(this.bn1.call(this.conv1.call(x)));
    out = flatten(globalAvgPool(this.layers.call(out)));
    return this.linear.call(this.dropout.call(out));
  }
}

export const EFFICIENTNET_B0: EfficientNetConfig = {
  numBlocks: [1, 2, 2, 3, 3, 4, 1],
  expansion: [1, 6, 6, 6, 6, 6, 6],
  outChannels: [16, 24, 40, 80, 112, 192, 320],
  kernelSize: [3, 3, 5, 3, 5, 5, 3],
  stride: [1, 2, 2, 2, 1, 2, 1],
  dropoutRate: 0.2,
  dropConnectRate: 0.2,
};

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'efficientnet',
  source: 'pytorch-cifar',
  year: 2019,
  paper: 'EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks',
  inputSize: 32,
  numClasses: 10,
  configs: [{ name: 'cifar_efficientnetb0', reference: 'EfficientNetB0', build: (args) => new EfficientNet(EFFICIENTNET_B0, { numClasses: args.numClasses }) }],
});
