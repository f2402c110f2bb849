/**
 * Helpers shared by several model families.
 *
 * @example
 * makeDivisible(32 * 0.75, 8); // 24
 * makeDivisible(1280 * 1.4, 8); // 1792
 * new SqueezeExcitation(64, 16); // torchvision.ops.SqueezeExcitation
 */
import { Value } from '../graph/ir.js';
import { mul } from '../ops/elementwise.js';
import { AdaptiveAvgPool2d, Conv2d, ReLU, Sigmoid } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/**
 * torchvision's `_make_divisible` (from the TensorFlow MobileNet code): rounds `v` to the nearest
 * multiple of `divisor`, at least `minValue` (default `divisor`), never more than 10% below `v`.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let newV = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (newV < 0.9 * v) newV += divisor;
  return newV;
}

/**
 * torchvision.ops.SqueezeExcitation: global average pool, 1x1 conv `fc1` (with bias),
 * `activation` (default ReLU), 1x1 conv `fc2`, `scaleActivation` (default Sigmoid), then scales
 * the input channel-wise. State keys: `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`.
 */
export class SqueezeExcitation extends Module {
  avgpool: AdaptiveAvgPool2d;
  fc1: Conv2d;
  fc2: Conv2d;
  activation: Module;
  scaleActivation: Module;

  constructor(inputChannels: number, squeezeChannels: number, activation: () => Module = () => new ReLU(), scaleActivation: () => Module = () => new Sigmoid()) {
    super();
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc1 = new Conv2d(inputChannels, squeezeChannels, 1);
    this.fc2 = new Conv2d(squeezeChannels, inputChannels, 1);
    this.activation = activation();
    this.scaleActivation = scaleActivation();
  }

  forward(x: Value): Value {
    const scale = this.fc2.call(this.activation.call(this.fc1.call(this.avgpool.call(x))));
    return mul(this.scaleActivation.call(scale), x);
  }
}
