/**
 * torchvision's ShuffleNetV2 (shufflenet_v2_x0_5/x1_0/x1_5/x2_0): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys (`conv1.0.weight`,
 * `stage2.0.branch1.0.weight`, ..., `fc.bias`), and the same initialization (PyTorch's layer
 * defaults: torchvision re-initializes nothing).
 *
 * @example
 * import { ShuffleNetV2 } from './shufflenetv2.js';
 * const net = new ShuffleNetV2([4, 8, 4], [24, 48, 96, 192, 1024], { numClasses: 10 });
 * createModel('shufflenet_v2_x1_0');
 * createFromConstructor('ShuffleNetV2', { stagesRepeats: [4, 8, 4], stagesOutChannels: [24, 116, 232, 464, 1024] }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { concat, reduceMean, split } from '../ops/shape.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { channelShuffle } from './cifar/shufflenet.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

function depthwiseConv(channels: number, kernelSize: number, stride: number, padding: number): Conv2d {
  return new Conv2d(channels, channels, kernelSize, { stride, padding, groups: channels, bias: false });
}

/**
 * The ShuffleNetV2 unit. Stride 1: half the channels pass through, the other half go through
 * branch2 (1x1 - depthwise 3x3 - 1x1). Stride > 1: branch1 (depthwise 3x3 - 1x1) and branch2
 * both see the whole input. The halves are concatenated and channel-shuffled with 2 groups.
 */
export class InvertedResidual extends Module {
  readonly stride: number;
  /** empty (no state) when stride is 1, like torchvision's `nn.Sequential()` */
  branch1: Sequential;
  branch2: Sequential;

  constructor(inp: number, oup: number, stride: number) {
    super();
    if (!(stride >= 1 && stride <= 3)) throw new UserError(`InvertedResidual: illegal stride value ${stride}`);
    this.stride = stride;
    const branchFeatures = Math.floor(oup / 2);
    if (stride === 1 && inp !== branchFeatures * 2) {
      throw new UserError(`InvertedResidual: invalid combination of stride ${stride}, inp ${inp} and oup ${oup}; with stride 1, inp must equal oup // 2 * 2`);
    }
    this.branch1 =
      stride > 1
        ? new Sequential(
            depthwiseConv(inp, 3, stride, 1),
            new BatchNorm2d(inp),
            new Conv2d(inp, branchFeatures, 1, { bias: false }),
            new BatchNorm2d(branchFeatures),
            new ReLU(),
          )
        : new Sequential();
    this.branch2 = new Sequential(
      new Conv2d(stride > 1 ? inp : branchFeatures, branchFeatures, 1, { bias: false }),
      new BatchNorm2d(branchFeatures),
      new ReLU(),
      depthwiseConv(branchFeatures, 3, stride, 1),
      new BatchNorm2d(branchFeatures),
      new Conv2d(branchFeatures, branchFeatures, 1, { bias: false }),
      new BatchNorm2d(branchFeatures),
      new ReLU(),
    );
  }

  forward(x: Value): Value {
    let out: Value;
    if (this.stride === 1) {
      const c = x.shape[1];
      const half = Math.ceil(c / 2); // torch.chunk(2): the first chunk takes the ceiling
      const [x1, x2] = split(x, 1, [half, c - half]);
      out = concat([x1, this.branch2.call(x2)], 1);
    } else {
      out = concat([this.branch1.call(x), this.branch2.call(x)], 1);
    }
    return channelShuffle(out, 2);
  }
}

// ---- model -----------------------------------------------------------------------------------

/** torchvision.models.ShuffleNetV2 */
export class ShuffleNetV2 extends Module {
  conv1: Sequential;
  maxpool: MaxPool2d;
  stage2: Sequential;
  stage3: Sequential;
  stage4: Sequential;
  conv5: Sequential;
  fc: Linear;

  constructor(stagesRepeats: readonly number[], stagesOutChannels: readonly number[], opts: { numClasses?: number } = {}) {
    super();
    if (stagesRepeats.length !== 3) throw new UserError(`ShuffleNetV2: expected stagesRepeats as list of 3 positive ints, got [${stagesRepeats.join(', ')}]`);
    if (stagesOutChannels.length !== 5) throw new UserError(`ShuffleNetV2: expected stagesOutChannels as list of 5 positive ints, got [${stagesOutChannels.join(', ')}]`);
    let inputChannels = 3;
    let outputChannels = stagesOutChannels[0];
    this.conv1 = new Sequential(new Conv2d(inputChannels, outputChannels, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(outputChannels), new ReLU());
    inputChannels = outputChannels;
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    const stages: Sequential[] = [];
    for (let s = 0; s < 3; s++) {
      outputChannels = stagesOutChannels[s + 1];
      const seq = [new InvertedResidual(inputChannels, outputChannels, 2)];
      for (let i = 0; i < stagesRepeats[s] - 1; i++) seq.push(new InvertedResidual(outputChannels, outputChannels, 1));
      stages.push(new Sequential(...seq));
      inputChannels = outputChannels;
    }
    [this.stage2, this.stage3, this.stage4] = stages;
    outputChannels = stagesOutChannels[4];
    this.conv5 = new Sequential(new Conv2d(inputChannels, outputChannels, 1, { bias: false }), new BatchNorm2d(outputChannels), new ReLU());
    this.fc = new Linear(outputChannels, opts.numClasses ?? 1000);
  }

  forward(x: Value): Value {
    x = this.maxpool.call(this.conv1.call(x));
    x = this.conv5.call(this.stage4.call(this.stage3.call(this.stage2.call(x))));
    return this.fc.call(reduceMean(x, [2, 3])); // global pool
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface ShuffleNetV2Config {
  name: string;
  stagesRepeats: [number, number, number];
  stagesOutChannels: [number, number, number, number, number];
  /** torchvision 0.14's DEFAULT weights for the builder */
  pretrained: PretrainedConfig;
}

/** a torchvision ShuffleNetV2 `Weights` entry (crop 224, bilinear; the head is the Linear `fc`) */
const weights = (file: string, top1: number, top5: number, resizeSize = 256) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'fc' });

// each has one weights entry, IMAGENET1K_V1 = DEFAULT; x1_5 and x2_0 were trained later with
// torchvision's newer recipe (resize 232)
export const shufflenetV2Configs: readonly ShuffleNetV2Config[] = [
  { name: 'shufflenet_v2_x0_5', stagesRepeats: [4, 8, 4], stagesOutChannels: [24, 48, 96, 192, 1024], pretrained: weights('shufflenetv2_x0.5-f707e7126e.pth', 60.552, 81.746) },
  { name: 'shufflenet_v2_x1_0', stagesRepeats: [4, 8, 4], stagesOutChannels: [24, 116, 232, 464, 1024], pretrained: weights('shufflenetv2_x1-5666bf0f80.pth', 69.362, 88.316) },
  { name: 'shufflenet_v2_x1_5', stagesRepeats: [4, 8, 4], stagesOutChannels: [24, 176, 352, 704, 1024], pretrained: weights('shufflenetv2_x1_5-3c479a10.pth', 72.996, 91.086, 232) },
  { name: 'shufflenet_v2_x2_0', stagesRepeats: [4, 8, 4], stagesOutChannels: [24, 244, 488, 976, 2048], pretrained: weights('shufflenetv2_x2_0-8be3c8ee.pth', 76.23, 93.006, 232) },
];

// ---- registration ----------------------------------------------------------------------------

const isIntList = (n: number) => (v: unknown): v is number[] => Array.isArray(v) && v.length === n && v.every(isPositiveInt);
const numClassesArg = (args: JsonArgs) => arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer');

defineFamily({
  family: 'shufflenetv2',
  source: 'torchvision',
  year: 2018,
  paper: 'ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    ShuffleNetV2: {
      args: ['stagesRepeats', 'stagesOutChannels', 'numClasses'],
      build(args) {
        if (args.stagesRepeats === undefined) throw new UserError('ShuffleNetV2: argument stagesRepeats is required (3 repeat counts, e.g. [4, 8, 4])');
        if (args.stagesOutChannels === undefined) throw new UserError('ShuffleNetV2: argument stagesOutChannels is required (5 channel counts, e.g. [24, 116, 232, 464, 1024])');
        const repeats = arg(args, 'stagesRepeats', [], isIntList(3), 'an array of 3 positive integers');
        const channels = arg(args, 'stagesOutChannels', [], isIntList(5), 'an array of 5 positive integers');
        return new ShuffleNetV2(repeats, channels, { numClasses: numClassesArg(args) });
      },
    },
  },
  configs: shufflenetV2Configs.map((c) => ({ ...c, build: (args) => new ShuffleNetV2(c.stagesRepeats, c.stagesOutChannels, { numClasses: args.numClasses }) })),
});
