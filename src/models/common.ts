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
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, ReLU, Sigmoid } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { kaimingNormalFanOut, normal } from '../nn/init.js';

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

/**
 * torchvision's usual initialization loop: every conv kaiming_normal_(mode='fan_out'), BatchNorm
 * weight 1 and bias 0, every Linear by `linearWeight` (default normal(0, 0.01)), biases 0; modules
 * visited in registration order, so random draws follow PyTorch's order.
 *
 * @example
 * initTorchvisionWeights(this, (l) => uniform(l.weight.shape, 1 / Math.sqrt(l.outFeatures)));
 */
export function initTorchvisionWeights(model: Module, linearWeight: (l: Linear) => Float32Array = (l) => normal(l.weight.shape, 0.01)): void {
  for (const [, m] of model.namedModules()) {
    if (m instanceof Conv2d) {
      m.weight.data = kaimingNormalFanOut(m.weight.shape);
      m.bias?.data.fill(0);
    } else if (m instanceof BatchNorm2d) {
      m.weight?.data.fill(1);
      m.bias?.data.fill(0);
    } else if (m instanceof Linear) {
      m.weight.data = linearWeight(m);
      m.bias?.data.fill(0);
    }
  }
}
