/**
 * torchvision's MobileNetV2: same constructor arguments (camelCase), same attribute names, hence
 * the same `state_dict()` keys (`features.1.conv.0.0.weight`, ..., `classifier.1.weight`), and
 * the same initialization (Kaiming-normal fan-out convolutions, BatchNorm 1/0, Linear N(0, 0.01)).
 *
 * @example
 * import { MobileNetV2 } from './mobilenetv2.js';
 * const net = new MobileNetV2({ numClasses: 10, widthMult: 0.5 });
 * createModel('mobilenet_v2');
 * createFromConstructor('mobilenet_v2', { numClasses: 10, widthMult: 0.75 });
 */
import { UserError } from '../errors.js';
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import { adaptiveAvgPool2d } from '../ops/pool.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, ReLU6 } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { initTorchvisionWeights, makeDivisible } from './common.js';
import { JsonArgs, arg, defineFamily, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

export type NormLayer = (numFeatures: number) => Module;

const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);

export interface Conv2dNormActivationOptions {
  kernelSize?: number;
  stride?: number;
  /** default (kernelSize - 1) / 2 * dilation */
  padding?: number;
  groups?: number;
  dilation?: number;
  /** null: no normalization layer */
  normLayer?: NormLayer | null;
  /** null: no activation */
  activationLayer?: (() => Module) | null;
  /** default: a bias only when there is no normalization layer */
  bias?: boolean;
}

/** torchvision.ops.Conv2dNormActivation: Sequential(conv, norm, activation) named '0', '1', '2'. */
export class Conv2dNormActivation extends Sequential {
  readonly outChannels: number;

  constructor(inChannels: number, outChannels: number, opts: Conv2dNormActivationOptions = {}) {
    const kernelSize = opts.kernelSize ?? 3;
    const dilation = opts.dilation ?? 1;
    const normLayer = opts.normLayer === undefined ? defaultNorm : opts.normLayer;
    const activation = opts.activationLayer === undefined ? () => new ReLU6() : opts.activationLayer;
    const layers: Module[] = [
      new Conv2d(inChannels, outChannels, kernelSize, {
        stride: opts.stride ?? 1,
        padding: opts.padding ?? Math.floor((kernelSize - 1) / 2) * dilation,
        dilation,
        groups: opts.groups ?? 1,
        bias: opts.bias ?? normLayer === null,
      }),
    ];
    if (normLayer) layers.push(normLayer(outChannels));
    if (activation) layers.push(activation());
    super(...layers);
    this.outChannels = outChannels;
  }
}

// ---- blocks ----------------------------------------------------------------------------------

/** The expand (1x1) - depthwise (3x3) - linear project (1x1) block, residual when shapes allow. */
export class InvertedResidual extends Module {
  readonly stride: number;
  readonly useResConnect: boolean;
  conv: Sequential;
  readonly outChannels: number;

  constructor(inp: number, oup: number, stride: number, expandRatio: number, normLayer: NormLayer = defaultNorm) {
    super();
    if (stride !== 1 && stride !== 2) throw new UserError(`InvertedResidual: stride must be 1 or 2, got ${stride}`);
    this.stride = stride;
    const hidden = Math.round(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const layers: Module[] = [];
    // pointwise expansion
    if (expandRatio !== 1) layers.push(new Conv2dNormActivation(inp, hidden, { kernelSize: 1, normLayer }));
    layers.push(
      // depthwise
      new Conv2dNormActivation(hidden, hidden, { stride, groups: hidden, normLayer }),
      // pointwise linear projection
      new Conv2d(hidden, oup, 1, { bias: false }),
      normLayer(oup),
    );
    this.conv = new Sequential(...layers);
    this.outChannels = oup;
  }

  forward(x: Value): Value {
    const y = this.conv.call(x);
    return this.useResConnect ? add(x, y) : y;
  }
}

// ---- model -----------------------------------------------------------------------------------

/** rows of [t (expansion), c (channels), n (repeats), s (first stride)] */
export type InvertedResidualSetting = readonly (readonly [number, number, number, number])[];

export const defaultInvertedResidualSetting: InvertedResidualSetting = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export interface MobileNetV2Options {
  numClasses?: number;
  widthMult?: number;
  invertedResidualSetting?: InvertedResidualSetting;
  /** round channel counts to a multiple of this (1 turns rounding off) */
  roundNearest?: number;
  normLayer?: NormLayer;
  dropout?: number;
}

/** torchvision.models.MobileNetV2 */
export class MobileNetV2 extends Module {
  readonly lastChannel: number;
  features: Sequential;
  classifier: Sequential;

  constructor(opts: MobileNetV2Options = {}) {
    super();
    const widthMult = opts.widthMult ?? 1.0;
    const roundNearest = opts.roundNearest ?? 8;
    const normLayer = opts.normLayer ?? defaultNorm;
    const setting = opts.invertedResidualSetting ?? defaultInvertedResidualSetting;
    if (setting.length === 0 || setting[0].length !== 4) {
      throw new UserError(`MobileNetV2: invertedResidualSetting must be a non-empty list of [t, c, n, s] rows, got ${JSON.stringify(setting)}`);
    }
    let inputChannel = makeDivisible(32 * widthMult, roundNearest);
    this.lastChannel = makeDivisible(1280 * Math.max(1.0, widthMult), roundNearest);
    const features: Module[] = [new Conv2dNormActivation(3, inputChannel, { stride: 2, normLayer })];
    for (const [t, c, n, s] of setting) {
      const outputChannel = makeDivisible(c * widthMult, roundNearest);
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(inputChannel, outputChannel, i === 0 ? s : 1, t, normLayer));
        inputChannel = outputChannel;
      }
    }
    features.push(new Conv2dNormActivation(inputChannel, this.lastChannel, { kernelSize: 1, normLayer }));
    this.features = new Sequential(...features);
    this.classifier = new Sequential(new Dropout(opts.dropout ?? 0.2), new Linear(this.lastChannel, opts.numClasses ?? 1000));

    initTorchvisionWeights(this);
  }

  forward(x: Value): Value {
    x = adaptiveAvgPool2d(this.features.call(x), [1, 1]);
    return this.classifier.call(flatten(x, 1));
  }
}

// ---- configs and registration ----------------------------------------------------------------

// MobileNet_V2_Weights.IMAGENET1K_V2, torchvision's DEFAULT (its newer recipe; IMAGENET1K_V1, 71.878 top-1 at resize
// 256, is the original training): crop 224, resize 232, bilinear
const mobilenetV2Weights = torchvisionWeights({ file: 'mobilenet_v2-7ebf99e0.pth', top1: 72.154, top5: 90.822, resizeSize: 232, classifier: 'classifier.1' });

const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;
const isSetting = (v: unknown): v is [number, number, number, number][] =>
  Array.isArray(v) && v.length > 0 && v.every((row) => Array.isArray(row) && row.length === 4 && row.every(isPositiveInt));

function fromJson(args: JsonArgs): MobileNetV2 {
  return new MobileNetV2({
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    widthMult: arg(args, 'widthMult', 1.0, isPositive, 'a positive number'),
    invertedResidualSetting: arg(args, 'invertedResidualSetting', defaultInvertedResidualSetting as [number, number, number, number][], isSetting, 'a non-empty array of [t, c, n, s] rows of positive integers'),
    roundNearest: arg(args, 'roundNearest', 8, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0.2, isProbability, 'a number in [0, 1)'),
  });
}

defineFamily({
  family: 'mobilenetv2',
  source: 'torchvision',
  year: 2018,
  paper: 'MobileNetV2: Inverted Residuals and Linear Bottlenecks',
  inputSize: 224,
  numClasses: 1000,
  constructors: { MobileNetV2: { args: ['numClasses', 'widthMult', 'invertedResidualSetting', 'roundNearest', 'dropout'], build: fromJson } },
  builderArgs: ['widthMult', 'invertedResidualSetting', 'roundNearest', 'dropout'],
  configs: [{ name: 'mobilenet_v2', pretrained: mobilenetV2Weights, build: fromJson }],
});
