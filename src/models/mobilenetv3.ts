/**
 * torchvision's MobileNetV3 (`mobilenet_v3_small`, `mobilenet_v3_large`): same constructor
 * arguments (camelCase), attribute names, hence `state_dict()` keys (`features.1.block.0.0.weight`,
 * `features.1.block.1.fc1.weight`, ..., `classifier.3.weight`), and initialization.
 *
 * An InvertedResidualConfig in JSON is an object with camelCase fields:
 * `{"inputChannels":16,"kernel":3,"expandedChannels":64,"outChannels":24,"useSe":false,"activation":"RE","stride":2,"dilation":1}`
 * (`widthMult`, default 1, scales the channel counts as torchvision's config does).
 * A norm layer in JSON: `{"type":"BatchNorm2d","eps":0.001,"momentum":0.01}`.
 *
 * @example
 * createModel('mobilenet_v3_small', { numClasses: 10 });
 * createFromConstructor('mobilenet_v3_large', { numClasses: 10, widthMult: 0.75, reducedTail: true });
 */
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Dropout, Hardsigmoid, Hardswish, Linear, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { initTorchvisionWeights, makeDivisible, SqueezeExcitation } from './common.js';
import { Conv2dNormActivation, NormLayer } from './mobilenetv2.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, checkArgs, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

/** torchvision's InvertedResidualConfig, after its width-multiplier adjustment */
export interface InvertedResidualConfig {
  readonly inputChannels: number;
  readonly kernel: number;
  readonly expandedChannels: number;
  readonly outChannels: number;
  readonly useSe: boolean;
  /** 'HS' (Hardswish) or 'RE' (ReLU) */
  readonly activation: 'HS' | 'RE';
  readonly stride: number;
  readonly dilation: number;
}

/** InvertedResidualConfig.adjust_channels */
export const adjustChannels = (channels: number, widthMult: number): number => makeDivisible(channels * widthMult, 8);

/** torchvision's InvertedResidualConfig(...): scales the channel counts by `widthMult` */
export function invertedResidualConfig(
  inputChannels: number,
  kernel: number,
  expandedChannels: number,
  outChannels: number,
  useSe: boolean,
  activation: 'HS' | 'RE',
  stride: number,
  dilation: number,
  widthMult = 1,
): InvertedResidualConfig {
  return {
    inputChannels: adjustChannels(inputChannels, widthMult),
    kernel,
    expandedChannels: adjustChannels(expandedChannels, widthMult),
    outChannels: adjustChannels(outChannels, widthMult),
    useSe,
    activation,
    stride,
    dilation,
  };
}

/** expand (1x1) - depthwise - optional squeeze-excitation (Hardsigmoid gate) - project (1x1) */
export class InvertedResidual extends Module {
  readonly useResConnect: boolean;
  block: Sequential;
  readonly outChannels: number;

  constructor(cnf: InvertedResidualConfig, normLayer: NormLayer) {
    super();
    if (!(cnf.stride >= 1 && cnf.stride <= 2)) throw new UserError(`InvertedResidual: illegal stride value ${cnf.stride}`);
    this.useResConnect = cnf.stride === 1 && cnf.inputChannels === cnf.outChannels;
    const activationLayer = cnf.activation === 'HS' ? () => new Hardswish() : () => new ReLU();
    const layers: Module[] = [];
    if (cnf.expandedChannels !== cnf.inputChannels) {
      layers.push(new Conv2dNormActivation(cnf.inputChannels, cnf.expandedChannels, { kernelSize: 1, normLayer, activationLayer }));
    }
    layers.push(
      new Conv2dNormActivation(cnf.expandedChannels, cnf.expandedChannels, {
        kernelSize: cnf.kernel,
        stride: cnf.dilation > 1 ? 1 : cnf.stride,
        dilation: cnf.dilation,
        groups: cnf.expandedChannels,
        normLayer,
        activationLayer,
      }),
    );
    if (cnf.useSe) {
      const squeeze = makeDivisible(Math.floor(cnf.expandedChannels / 4), 8);
      layers.push(new SqueezeExcitation(cnf.expandedChannels, squeeze, () => new ReLU(), () => new Hardsigmoid()));
    }
    layers.push(new Conv2dNormActivation(cnf.expandedChannels, cnf.outChannels, { kernelSize: 1, normLayer, activationLayer: null }));
    this.block = new Sequential(...layers);
    this.outChannels = cnf.outChannels;
  }

  forward(x: Value): Value {
    const y = this.block.call(x);
    return this.useResConnect ? add(y, x) : y;
  }
}

// ---- model -----------------------------------------------------------------------------------

export interface MobileNetV3Options {
  numClasses?: number;
  /** default BatchNorm2d(eps=0.001, momentum=0.01) */
  normLayer?: NormLayer;
  dropout?: number;
}

/** MobileNetV3's default norm layer */
export const mobileNetV3Norm: NormLayer = (c) => new BatchNorm2d(c, { eps: 0.001, momentum: 0.01 });

/** torchvision.models.MobileNetV3 */
export class MobileNetV3 extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(invertedResidualSetting: readonly InvertedResidualConfig[], lastChannel: number, opts: MobileNetV3Options = {}) {
    super();
    if (!invertedResidualSetting.length) throw new UserError('MobileNetV3: the inverted_residual_setting should not be empty');
    const normLayer = opts.normLayer ?? mobileNetV3Norm;
    const first = invertedResidualSetting[0].inputChannels;
    const layers: Module[] = [new Conv2dNormActivation(3, first, { kernelSize: 3, stride: 2, normLayer, activationLayer: () => new Hardswish() })];
    for (const cnf of invertedResidualSetting) layers.push(new InvertedResidual(cnf, normLayer));
    const lastIn = invertedResidualSetting[invertedResidualSetting.length - 1].outChannels;
    const lastOut = 6 * lastIn;
    layers.push(new Conv2dNormActivation(lastIn, lastOut, { kernelSize: 1, normLayer, activationLayer: () => new Hardswish() }));
    this.features = new Sequential(...layers);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.classifier = new Sequential(new Linear(lastOut, lastChannel), new Hardswish(), new Dropout(opts.dropout ?? 0.2), new Linear(lastChannel, opts.numClasses ?? 1000));

    initTorchvisionWeights(this);
  }

  forward(x: Value): Value {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(flatten(x, 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

export type MobileNetV3Arch = 'mobilenet_v3_large' | 'mobilenet_v3_small';

/** torchvision's `_mobilenet_v3_conf`: the block settings and the classifier's hidden width */
export function mobileNetV3Conf(arch: MobileNetV3Arch, widthMult = 1.0, reducedTail = false, dilated = false): { setting: InvertedResidualConfig[]; lastChannel: number } {
  const r = reducedTail ? 2 : 1;
  const d = dilated ? 2 : 1;
  const b = (i: number, k: number, e: number, o: number, se: boolean, act: 'HS' | 'RE', s: number, dil: number) => invertedResidualConfig(i, k, e, o, se, act, s, dil, widthMult);
  const div = (v: number) => Math.floor(v / r);
  if (arch === 'mobilenet_v3_large') {
    return {
      setting: [
        b(16, 3, 16, 16, false, 'RE', 1, 1),
        b(16, 3, 64, 24, false, 'RE', 2, 1), // C1
        b(24, 3, 72, 24, false, 'RE', 1, 1),
        b(24, 5, 72, 40, true, 'RE', 2, 1), // C2
        b(40, 5, 120, 40, true, 'RE', 1, 1),
        b(40, 5, 120, 40, true, 'RE', 1, 1),
        b(40, 3, 240, 80, false, 'HS', 2, 1), // C3
        b(80, 3, 200, 80, false, 'HS', 1, 1),
        b(80, 3, 184, 80, false, 'HS', 1, 1),
        b(80, 3, 184, 80, false, 'HS', 1, 1),
        b(80, 3, 480, 112, true, 'HS', 1, 1),
        b(112, 3, 672, 112, true, 'HS', 1, 1),
        b(112, 5, 672, div(160), true, 'HS', 2, d), // C4
        b(div(160), 5, div(960), div(160), true, 'HS', 1, d),
        b(div(160), 5, div(960), div(160), true, 'HS', 1, d),
      ],
      lastChannel: adjustChannels(div(1280), widthMult), // C5
    };
  }
  return {
    setting: [
      b(16, 3, 16, 16, true, 'RE', 2, 1), // C1
      b(16, 3, 72, 24, false, 'RE', 2, 1), // C2
      b(24, 3, 88, 24, false, 'RE', 1, 1),
      b(24, 5, 96, 40, true, 'HS', 2, 1), // C3
      b(40, 5, 240, 40, true, 'HS', 1, 1),
      b(40, 5, 240, 40, true, 'HS', 1, 1),
      b(40, 5, 120, 48, true, 'HS', 1, 1),
      b(48, 5, 144, 48, true, 'HS', 1, 1),
      b(48, 5, 288, div(96), true, 'HS', 2, d), // C4
      b(div(96), 5, div(576), div(96), true, 'HS', 1, d),
      b(div(96), 5, div(576), div(96), true, 'HS', 1, d),
    ],
    lastChannel: adjustChannels(div(1024), widthMult), // C5
  };
}

/** a torchvision MobileNetV3 `Weights` entry (crop 224, bilinear; the last Linear of `classifier` is the head) */
const weights = (file: string, top1: number, top5: number, resizeSize = 256) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'classifier.3' });

const mobileNetV3Configs: readonly { name: MobileNetV3Arch; pretrained: PretrainedConfig }[] = [
  { name: 'mobilenet_v3_small', pretrained: weights('mobilenet_v3_small-047dcff4.pth', 67.668, 87.402) }, // IMAGENET1K_V1 (only)
  { name: 'mobilenet_v3_large', pretrained: weights('mobilenet_v3_large-5c1a4163.pth', 75.274, 92.566, 232) }, // IMAGENET1K_V2 (DEFAULT; V1 is the original training)
];

// ---- JSON arguments and registration ---------------------------------------------------------

const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v <= 1;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A norm layer from JSON: `{"type":"BatchNorm2d","eps":0.001,"momentum":0.01}` (torchvision's
 * `partial(nn.BatchNorm2d, eps=..., momentum=...)`).
 */
export function normLayerFromJson(v: unknown, what = 'normLayer'): NormLayer {
  if (!isObject(v)) throw new UserError(`argument ${what} must be an object like {"type":"BatchNorm2d","eps":0.001}, got ${JSON.stringify(v)}`);
  checkArgs(what, v, ['type', 'eps', 'momentum']);
  if (v.type !== 'BatchNorm2d') throw new UserError(`argument ${what}.type must be "BatchNorm2d", got ${JSON.stringify(v.type)}`);
  const eps = arg(v, 'eps', 1e-5, isPositive, 'a positive number');
  const momentum = arg(v, 'momentum', 0.1, isProbability, 'a number in [0, 1]');
  return (c) => new BatchNorm2d(c, { eps, momentum });
}

const CONFIG_FIELDS = ['inputChannels', 'kernel', 'expandedChannels', 'outChannels', 'useSe', 'activation', 'stride', 'dilation', 'widthMult'];

function configFromJson(v: unknown, i: number): InvertedResidualConfig {
  const what = `invertedResidualSetting[${i}]`;
  if (!isObject(v)) throw new UserError(`argument ${what} must be an object with fields ${CONFIG_FIELDS.join(', ')}, got ${JSON.stringify(v)}`);
  checkArgs(what, v, CONFIG_FIELDS);
  const need = <T>(key: string, check: (x: unknown) => x is T, desc: string): T => {
    if (v[key] === undefined) throw new UserError(`${what}: field ${key} is required`);
    return arg(v, key, undefined as T, check, desc);
  };
  const isAct = (x: unknown): x is 'HS' | 'RE' => x === 'HS' || x === 'RE';
  const isStride = (x: unknown): x is number => x === 1 || x === 2;
  return invertedResidualConfig(
    need('inputChannels', isPositiveInt, 'a positive integer'),
    need('kernel', isPositiveInt, 'a positive integer'),
    need('expandedChannels', isPositiveInt, 'a positive integer'),
    need('outChannels', isPositiveInt, 'a positive integer'),
    need('useSe', isBool, 'a boolean'),
    need('activation', isAct, '"HS" or "RE"'),
    need('stride', isStride, '1 or 2'),
    arg(v, 'dilation', 1, isPositiveInt, 'a positive integer'),
    arg(v, 'widthMult', 1, isPositive, 'a positive number'),
  );
}

function commonOptions(args: JsonArgs): MobileNetV3Options {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0.2, isProbability, 'a number in [0, 1]'),
    normLayer: args.normLayer === undefined ? undefined : normLayerFromJson(args.normLayer),
  };
}

defineFamily({
  family: 'mobilenetv3',
  source: 'torchvision',
  year: 2019,
  paper: 'Searching for MobileNetV3',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    MobileNetV3: {
      args: ['invertedResidualSetting', 'lastChannel', 'numClasses', 'normLayer', 'dropout'],
      build(args) {
        const setting = args.invertedResidualSetting;
        if (!Array.isArray(setting) || !setting.length) throw new UserError('MobileNetV3: argument invertedResidualSetting is required (a non-empty array of InvertedResidualConfig objects)');
        if (args.lastChannel === undefined) throw new UserError('MobileNetV3: argument lastChannel is required (a positive integer)');
        const lastChannel = arg(args, 'lastChannel', 0, isPositiveInt, 'a positive integer');
        return new MobileNetV3(setting.map(configFromJson), lastChannel, commonOptions(args));
      },
    },
  },
  builderArgs: ['widthMult', 'reducedTail', 'dilated', 'dropout', 'normLayer'],
  configs: mobileNetV3Configs.map(({ name, pretrained }) => ({
    name,
    pretrained,
    build(args) {
      const { setting, lastChannel } = mobileNetV3Conf(
        name,
        arg(args, 'widthMult', 1.0, isPositive, 'a positive number'),
        arg(args, 'reducedTail', false, isBool, 'a boolean'),
        arg(args, 'dilated', false, isBool, 'a boolean'),
      );
      return new MobileNetV3(setting, lastChannel, commonOptions(args));
    },
  })),
});
