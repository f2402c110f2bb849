/**
 * torchvision's SqueezeNet 1.0 and 1.1: same constructor arguments (camelCase), same attribute
 * names, hence the same `state_dict()` keys (`features.3.squeeze.weight`, ...,
 * `classifier.1.bias`), and the same initialization (Kaiming-uniform convolutions with zero bias;
 * the final convolution N(0, 0.01)).
 *
 * @example
 * import { SqueezeNet } from './squeezenet.js';
 * const net = new SqueezeNet({ version: '1_1', numClasses: 10 });
 * createModel('squeezenet1_1', { numClasses: 10 });
 * createFromConstructor('SqueezeNet', { version: '1_0', numClasses: 10 }, 'torchvision');
 */
import { UserError } from '../errors.js';
import { Value } from '../graph/ir.js';
import { concat, flatten } from '../ops/shape.js';
import { fans, normal, uniform } from '../nn/init.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

/** The Fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated along channels. */
export class Fire extends Module {
  readonly inplanes: number;
  squeeze: Conv2d;
  squeeze_activation: ReLU;
  expand1x1: Conv2d;
  expand1x1_activation: ReLU;
  expand3x3: Conv2d;
  expand3x3_activation: ReLU;

  constructor(inplanes: number, squeezePlanes: number, expand1x1Planes: number, expand3x3Planes: number) {
    super();
    this.inplanes = inplanes;
    this.squeeze = new Conv2d(inplanes, squeezePlanes, 1);
    this.squeeze_activation = new ReLU();
    this.expand1x1 = new Conv2d(squeezePlanes, expand1x1Planes, 1);
    this.expand1x1_activation = new ReLU();
    this.expand3x3 = new Conv2d(squeezePlanes, expand3x3Planes, 3, { padding: 1 });
    this.expand3x3_activation = new ReLU();
  }

  forward(x: Value): Value {
    x = this.squeeze_activation.call(this.squeeze.call(x));
    return concat([this.expand1x1_activation.call(this.expand1x1.call(x)), this.expand3x3_activation.call(this.expand3x3.call(x))], 1);
  }
}

// ---- model -----------------------------------------------------------------------------------

export type SqueezeNetVersion = '1_0' | '1_1';

export interface SqueezeNetOptions {
  version?: SqueezeNetVersion;
  numClasses?: number;
  dropout?: number;
}

/** torchvision.models.SqueezeNet */
export class SqueezeNet extends Module {
  readonly numClasses: number;
  features: Sequential;
  classifier: Sequential;

  constructor(opts: SqueezeNetOptions = {}) {
    super();
    const version = opts.version ?? '1_0';
    this.numClasses = opts.numClasses ?? 1000;
    const pool = () => new MaxPool2d(3, { stride: 2, ceilMode: true });
    if (version === '1_0') {
      this.features = new Sequential(
        new Conv2d(3, 96, 7, { stride: 2 }),
        new ReLU(),
        pool(),
        new Fire(96, 16, 64, 64),
        new Fire(128, 16, 64, 64),
        new Fire(128, 32, 128, 128),
        pool(),
        new Fire(256, 32, 128, 128),
        new Fire(256, 48, 192, 192),
        new Fire(384, 48, 192, 192),
        new Fire(384, 64, 256, 256),
        pool(),
        new Fire(512, 64, 256, 256),
      );
    } else if (version === '1_1') {
      this.features = new Sequential(
        new Conv2d(3, 64, 3, { stride: 2 }),
        new ReLU(),
        pool(),
        new Fire(64, 16, 64, 64),
        new Fire(128, 16, 64, 64),
        pool(),
        new Fire(128, 32, 128, 128),
        new Fire(256, 32, 128, 128),
        pool(),
        new Fire(256, 48, 192, 192),
        new Fire(384, 48, 192, 192),
        new Fire(384, 64, 256, 256),
        new Fire(512, 64, 256, 256),
      );
    } else {
      throw new UserError(`Unsupported SqueezeNet version ${String(version)}: 1_0 or 1_1 expected`);
    }
    const finalConv = new Conv2d(512, this.numClasses, 1);
    this.classifier = new Sequential(new Dropout(opts.dropout ?? 0.5), finalConv, new ReLU(), new AdaptiveAvgPool2d(1));

    for (const [, m] of this.namedModules()) {
      if (!(m instanceof Conv2d)) continue;
      // kaiming_uniform_ with its defaults (a=0, fan_in, leaky_relu): U(±sqrt(6 / fan_in))
      m.weight.data = m === finalConv ? normal(m.weight.shape, 0.01) : uniform(m.weight.shape, Math.sqrt(6 / fans(m.weight.shape).fanIn));
      m.bias?.data.fill(0);
    }
  }

  forward(x: Value): Value {
    return flatten(this.classifier.call(this.features.call(x)), 1);
  }
}

// ---- configs and registration ----------------------------------------------------------------

const PAPER = { year: 2016, paper: 'SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size' };

/** a torchvision SqueezeNet `Weights` entry (crop 224, resize 256, bilinear; the head is the 1x1 conv `classifier.1`) */
const weights = (file: string, top1: number, top5: number) => torchvisionWeights({ file, top1, top5, classifier: 'classifier.1' });

// each has one weights entry, IMAGENET1K_V1 = DEFAULT
export const squeezenetConfigs: readonly { name: string; version: SqueezeNetVersion; year: number; paper: string; pretrained: PretrainedConfig }[] = [
  { name: 'squeezenet1_0', version: '1_0', ...PAPER, pretrained: weights('squeezenet1_0-b66bff10.pth', 58.092, 80.42) },
  { name: 'squeezenet1_1', version: '1_1', ...PAPER, pretrained: weights('squeezenet1_1-b8a52dc0.pth', 58.178, 80.624) },
];

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;
const isVersion = (v: unknown): v is SqueezeNetVersion => v === '1_0' || v === '1_1';

/** the SqueezeNet arguments a builder leaves to its caller */
function builderOptions(args: JsonArgs): SqueezeNetOptions {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0.5, isProbability, 'a number in [0, 1)'),
  };
}

defineFamily({
  family: 'squeezenet',
  source: 'torchvision',
  ...PAPER,
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    SqueezeNet: {
      args: ['version', 'numClasses', 'dropout'],
      build: (args) => new SqueezeNet({ ...builderOptions(args), version: arg(args, 'version', '1_0' as SqueezeNetVersion, isVersion, '"1_0" or "1_1"') }),
    },
  },
  builderArgs: ['dropout'],
  configs: squeezenetConfigs.map((c) => ({ ...c, build: (args) => new SqueezeNet({ ...builderOptions(args), version: c.version }) })),
});
