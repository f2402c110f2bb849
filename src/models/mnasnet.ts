/**
 * torchvision's MNASNet (the B1 variant; mnasnet0_5/0_75/1_0/1_3): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys (`layers.0.weight`,
 * `layers.8.0.layers.0.weight`, ..., `classifier.1.bias`), the same BatchNorm momentum (0.0003)
 * and the same initialization (Kaiming-normal fan-out convolutions, BatchNorm 1/0, Linear
 * Kaiming-uniform fan-out with zero bias).
 *
 * @example
 * import { MNASNet } from './mnasnet.js';
 * const net = new MNASNet(0.5, { numClasses: 10 });
 * createModel('mnasnet1_0');
 * createFromConstructor('MNASNet', { alpha: 0.75, numClasses: 10 }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { reduceMean } from '../ops/shape.js';
import { uniform } from '../nn/init.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';
import { initTorchvisionWeights } from './common.js';

/** torchvision's _BN_MOMENTUM (TensorFlow's 0.9997 decay in PyTorch's convention) */
const BN_MOMENTUM = 1 - 0.9997;

// ---- blocks ----------------------------------------------------------------------------------

/** 1x1 expand - depthwise k×k - 1x1 linear project, residual when shapes allow. */
export class MnasInvertedResidual extends Module {
  readonly applyResidual: boolean;
  layers: Sequential;

  constructor(inCh: number, outCh: number, kernelSize: number, stride: number, expansionFactor: number, bnMomentum = 0.1) {
    super();
    if (stride !== 1 && stride !== 2) throw new UserError(`stride should be 1 or 2 instead of ${stride}`);
    if (kernelSize !== 3 && kernelSize !== 5) throw new UserError(`kernel_size should be 3 or 5 instead of ${kernelSize}`);
    const midCh = inCh * expansionFactor;
    this.applyResidual = inCh === outCh && stride === 1;
    this.layers = new Sequential(
      new Conv2d(inCh, midCh, 1, { bias: false }),
      new BatchNorm2d(midCh, { momentum: bnMomentum }),
      new ReLU(),
      new Conv2d(midCh, midCh, kernelSize, { padding: Math.floor(kernelSize / 2), stride, groups: midCh, bias: false }),
      new BatchNorm2d(midCh, { momentum: bnMomentum }),
      new ReLU(),
      new Conv2d(midCh, outCh, 1, { bias: false }),
      new BatchNorm2d(outCh, { momentum: bnMomentum }),
    );
  }

  forward(x: Value): Value {
    const y = this.layers.call(x);
    return this.applyResidual ? add(y, x) : y;
  }
}

/** a stack of `repeats` inverted residuals; only the first changes width and stride */
function stack(inCh: number, outCh: number, kernelSize: number, stride: number, expFactor: number, repeats: number, bnMomentum: number): Sequential {
  if (repeats < 1) throw new UserError(`repeats should be >= 1, instead got ${repeats}`);
  const blocks = [new MnasInvertedResidual(inCh, outCh, kernelSize, stride, expFactor, bnMomentum)];
  for (let i = 1; i < repeats; i++) blocks.push(new MnasInvertedResidual(outCh, outCh, kernelSize, 1, expFactor, bnMomentum));
  return new Sequential(...blocks);
}

/** torchvision's _round_to_multiple_of: rounds up unless the value is within 10% above the lower multiple */
export function roundToMultipleOf(val: number, divisor: number, roundUpBias = 0.9): number {
  if (!(roundUpBias > 0 && roundUpBias < 1)) throw new UserError(`round_up_bias should be greater than 0.0 and smaller than 1.0 instead of ${roundUpBias}`);
  const newVal = Math.max(divisor, Math.floor(Math.trunc(val + divisor / 2) / divisor) * divisor);
  return newVal >= roundUpBias * val ? newVal : newVal + divisor;
}

/** the eight stage widths scaled by `alpha` */
export function mnasDepths(alpha: number): number[] {
  return [32, 16, 24, 40, 80, 96, 192, 320].map((d) => roundToMultipleOf(d * alpha, 8));
}

// ---- model -----------------------------------------------------------------------------------

export interface MNASNetOptions {
  numClasses?: number;
  dropout?: number;
}

/** torchvision.models.MNASNet */
export class MNASNet extends Module {
  readonly alpha: number;
  readonly numClasses: number;
  layers: Sequential;
  classifier: Sequential;

  constructor(alpha: number, opts: MNASNetOptions = {}) {
    super();
    if (!(alpha > 0)) throw new UserError(`alpha should be greater than 0.0 instead of ${alpha}`);
    this.alpha = alpha;
    this.numClasses = opts.numClasses ?? 1000;
    const d = mnasDepths(alpha);
    const bn = (c: number) => new BatchNorm2d(c, { momentum: BN_MOMENTUM });
    this.layers = new Sequential(
      new Conv2d(3, d[0], 3, { padding: 1, stride: 2, bias: false }),
      bn(d[0]),
      new ReLU(),
      new Conv2d(d[0], d[0], 3, { padding: 1, groups: d[0], bias: false }),
      bn(d[0]),
      new ReLU(),
      new Conv2d(d[0], d[1], 1, { bias: false }),
      bn(d[1]),
      stack(d[1], d[2], 3, 2, 3, 3, BN_MOMENTUM),
      stack(d[2], d[3], 5, 2, 3, 3, BN_MOMENTUM),
      stack(d[3], d[4], 5, 2, 6, 3, BN_MOMENTUM),
      stack(d[4], d[5], 3, 1, 6, 2, BN_MOMENTUM),
      stack(d[5], d[6], 5, 2, 6, 4, BN_MOMENTUM),
      stack(d[6], d[7], 3, 1, 6, 1, BN_MOMENTUM),
      new Conv2d(d[7], 1280, 1, { bias: false }),
      bn(1280),
      new ReLU(),
    );
    this.classifier = new Sequential(new Dropout(opts.dropout ?? 0.2), new Linear(1280, this.numClasses));

    // Linear: kaiming_uniform_(mode='fan_out', nonlinearity='sigmoid'): gain 1, bound √(3 / fan_out)
    initTorchvisionWeights(this, (l) => uniform(l.weight.shape, Math.sqrt(3 / l.weight.shape[0])));
  }

  forward(x: Value): Value {
    return this.classifier.call(reduceMean(this.layers.call(x), [2, 3]));
  }
}

// ---- configs ---------------------------------------------------------------------------------

/** a torchvision MNASNet `Weights` entry (crop 224, bilinear; the head is the Linear `classifier.1`) */
const weights = (file: string, top1: number, top5: number, resizeSize = 256) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'classifier.1' });

// each has one weights entry, IMAGENET1K_V1 = DEFAULT; 0_75 and 1_3 were trained later with
// torchvision's newer recipe (resize 232)
export const mnasnetConfigs: readonly { name: string; alpha: number; pretrained: PretrainedConfig }[] = [
  { name: 'mnasnet0_5', alpha: 0.5, pretrained: weights('mnasnet0.5_top1_67.823-3ffadce67e.pth', 67.734, 87.49) },
  { name: 'mnasnet0_75', alpha: 0.75, pretrained: weights('mnasnet0_75-7090bc5f.pth', 71.18, 90.496, 232) },
  { name: 'mnasnet1_0', alpha: 1.0, pretrained: weights('mnasnet1.0_top1_73.512-f206786ef8.pth', 73.456, 91.51) },
  { name: 'mnasnet1_3', alpha: 1.3, pretrained: weights('mnasnet1_3-a4c69d6f.pth', 76.506, 93.522, 232) },
];

// ---- registration ----------------------------------------------------------------------------

const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;

function builderOptions(args: JsonArgs): MNASNetOptions {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0.2, isProbability, 'a number in [0, 1)'),
  };
}

defineFamily({
  family: 'mnasnet',
  source: 'torchvision',
  year: 2018,
  paper: 'MnasNet: Platform-Aware Neural Architecture Search for Mobile',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    MNASNet: {
      args: ['alpha', 'numClasses', 'dropout'],
      build(args) {
        if (args.alpha === undefined) throw new UserError('MNASNet: argument alpha is required (the width multiplier, e.g. 1.0)');
        return new MNASNet(arg(args, 'alpha', 1, isPositive, 'a positive number'), builderOptions(args));
      },
    },
  },
  builderArgs: ['dropout'],
  configs: mnasnetConfigs.map((c) => ({ ...c, build: (args) => new MNASNet(c.alpha, builderOptions(args)) })),
});
