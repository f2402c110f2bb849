/**
 * torchvision's EfficientNet (`efficientnet_b0` … `efficientnet_b7`) and EfficientNetV2
 * (`efficientnet_v2_s/m/l`): same constructor arguments (camelCase), attribute names, hence
 * `state_dict()` keys (`features.1.0.block.0.0.weight`, `features.1.0.block.1.fc1.weight`, …,
 * `classifier.1.weight`), initialization, and stochastic depth per block at torchvision's linearly
 * increasing rate (`stochasticDepthProb · blockIndex / totalBlocks`).
 *
 * In JSON a stage config is an object with camelCase fields:
 * `{"type":"FusedMBConvConfig","expandRatio":4,"kernel":3,"stride":2,"inputChannels":24,"outChannels":48,"numLayers":2}`
 * (`type` "MBConvConfig", the default, or "FusedMBConvConfig"; MBConvConfig also takes
 * `widthMult` and `depthMult`, default 1), and a norm layer `{"type":"BatchNorm2d","eps":0.001}`.
 *
 * @example
 * createModel('efficientnet_b0', { numClasses: 10 });
 * createFromConstructor('EfficientNet', {
 *   invertedResidualSetting: [{ type: 'FusedMBConvConfig', expandRatio: 1, kernel: 3, stride: 1, inputChannels: 16, outChannels: 16, numLayers: 1 }],
 *   dropout: 0.2, numClasses: 10, normLayer: { type: 'BatchNorm2d', eps: 0.001 }, lastChannel: 128,
 * });
 */
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import { uniform } from '../nn/init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Dropout, Linear, SiLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { initTorchvisionWeights, makeDivisible, SqueezeExcitation } from './common.js';
import { Conv2dNormActivation, NormLayer } from './mobilenetv2.js';
import { normLayerFromJson } from './mobilenetv3.js';
import { UserError } from '../errors.js';
import { PretrainedConfig, arg, checkArgs, defineFamily, isNumber, isPositiveInt, stochasticDepthArg } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

/** torchvision's MBConvConfig / FusedMBConvConfig, after the width and depth adjustments */
export interface MBConvStageConfig {
  readonly block: 'MBConv' | 'FusedMBConv';
  readonly expandRatio: number;
  readonly kernel: number;
  readonly stride: number;
  readonly inputChannels: number;
  readonly outChannels: number;
  readonly numLayers: number;
}

/** _MBConvConfig.adjust_channels */
export const adjustChannels = (channels: number, widthMult: number, minValue?: number): number => makeDivisible(channels * widthMult, 8, minValue);

/** torchvision's MBConvConfig(...): channels scaled by `widthMult`, layers by `depthMult` (ceil) */
export function mbConvConfig(expandRatio: number, kernel: number, stride: number, inputChannels: number, outChannels: number, numLayers: number, widthMult = 1, depthMult = 1): MBConvStageConfig {
  return {
    block: 'MBConv',
    expandRatio,
    kernel,
    stride,
    inputChannels: adjustChannels(inputChannels, widthMult),
    outChannels: adjustChannels(outChannels, widthMult),
    numLayers: Math.ceil(numLayers * depthMult),
  };
}

/** torchvision's FusedMBConvConfig(...) (no adjustments) */
export function fusedMBConvConfig(expandRatio: number, kernel: number, stride: number, inputChannels: number, outChannels: number, numLayers: number): MBConvStageConfig {
  return { block: 'FusedMBConv', expandRatio, kernel, stride, inputChannels, outChannels, numLayers };
}

const silu = () => new SiLU();

/** expand (1x1) - depthwise - squeeze-excitation (SiLU, Sigmoid gate) - project (1x1), stochastic depth on the residual */
export class MBConv extends Module {
  readonly useResConnect: boolean;
  block: Sequential;
  stochasticDepth: StochasticDepth;
  readonly outChannels: number;

  constructor(cnf: MBConvStageConfig, stochasticDepthProb: number, normLayer: NormLayer) {
    super();
    if (!(cnf.stride >= 1 && cnf.stride <= 2)) throw new UserError(`MBConv: illegal stride value ${cnf.stride}`);
    this.useResConnect = cnf.stride === 1 && cnf.inputChannels === cnf.outChannels;
    const layers: Module[] = [];
    const expanded = adjustChannels(cnf.inputChannels, cnf.expandRatio);
    if (expanded !== cnf.inputChannels) layers.push(new Conv2dNormActivation(cnf.inputChannels, expanded, { kernelSize: 1, normLayer, activationLayer: silu }));
    layers.push(new Conv2dNormActivation(expanded, expanded, { kernelSize: cnf.kernel, stride: cnf.stride, groups: expanded, normLayer, activationLayer: silu }));
    const squeeze = Math.max(1, Math.floor(cnf.inputChannels / 4));
    layers.push(new SqueezeExcitation(expanded, squeeze, silu));
    layers.push(new Conv2dNormActivation(expanded, cnf.outChannels, { kernelSize: 1, normLayer, activationLayer: null }));
    this.block = new Sequential(...layers);
    this.stochasticDepth = new StochasticDepth(stochasticDepthProb, 'row');
    this.outChannels = cnf.outChannels;
  }

  forward(x: Value): Value {
    const y = this.block.call(x);
    return this.useResConnect ? add(this.stochasticDepth.call(y), x) : y;
  }
}

/** EfficientNetV2's fused block: expand (kxk, strided) - project (1x1), or one kxk conv when not expanding */
export class FusedMBConv extends Module {
  readonly useResConnect: boolean;
  block: Sequential;
  stochasticDepth: StochasticDepth;
  readonly outChannels: number;

  constructor(cnf: MBConvStageConfig, stochasticDepthProb: number, normLayer: NormLayer) {
    super();
    if (!(cnf.stride >= 1 && cnf.stride <= 2)) throw new UserError(`FusedMBConv: illegal stride value ${cnf.stride}`);
    this.useResConnect = cnf.stride === 1 && cnf.inputChannels === cnf.outChannels;
    const layers: Module[] = [];
    const expanded = adjustChannels(cnf.inputChannels, cnf.expandRatio);
    if (expanded !== cnf.inputChannels) {
      layers.push(new Conv2dNormActivation(cnf.inputChannels, expanded, { kernelSize: cnf.kernel, stride: cnf.stride, normLayer, activationLayer: silu }));
      layers.push(new Conv2dNormActivation(expanded, cnf.outChannels, { kernelSize: 1, normLayer, activationLayer: null }));
    } else {
      layers.push(new Conv2dNormActivation(cnf.inputChannels, cnf.outChannels, { kernelSize: cnf.kernel, stride: cnf.stride, normLayer, activationLayer: silu }));
    }
    this.block = new Sequential(...layers);
    this.stochasticDepth = new StochasticDepth(stochasticDepthProb, 'row');
    this.outChannels = cnf.outChannels;
  }

  forward(x: Value): Value {
    const y = this.block.call(x);
    return this.useResConnect ? add(this.stochasticDepth.call(y), x) : y;
  }
}

// ---- model -----------------------------------------------------------------------------------

export interface EfficientNetOptions {
  /** the classifier's dropout probability (required by torchvision) */
  dropout: number;
  stochasticDepthProb?: number;
  numClasses?: number;
  /** default BatchNorm2d */
  normLayer?: NormLayer;
  /** channels of the last conv (default 4 × the last stage's output channels) */
  lastChannel?: number | null;
}

/** torchvision.models.EfficientNet */
export class EfficientNet extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(invertedResidualSetting: readonly MBConvStageConfig[], opts: EfficientNetOptions) {
    super();
    if (!invertedResidualSetting.length) throw new UserError('EfficientNet: the inverted_residual_setting should not be empty');
    const normLayer = opts.normLayer ?? ((c: number) => new BatchNorm2d(c));
    const sdProb = opts.stochasticDepthProb ?? 0.2;
    const layers: Module[] = [new Conv2dNormActivation(3, invertedResidualSetting[0].inputChannels, { kernelSize: 3, stride: 2, normLayer, activationLayer: silu })];

    const totalBlocks = invertedResidualSetting.reduce((s, c) => s + c.numLayers, 0);
    let blockId = 0;
    for (const cnf of invertedResidualSetting) {
      const stage: Module[] = [];
      for (let i = 0; i < cnf.numLayers; i++) {
        const blockCnf = i === 0 ? cnf : { ...cnf, inputChannels: cnf.outChannels, stride: 1 };
        const p = (sdProb * blockId) / totalBlocks;
        stage.push(cnf.block === 'FusedMBConv' ? new FusedMBConv(blockCnf, p, normLayer) : new MBConv(blockCnf, p, normLayer));
        blockId++;
      }
      layers.push(new Sequential(...stage));
    }

    const lastIn = invertedResidualSetting[invertedResidualSetting.length - 1].outChannels;
    const lastOut = opts.lastChannel ?? 4 * lastIn;
    layers.push(new Conv2dNormActivation(lastIn, lastOut, { kernelSize: 1, normLayer, activationLayer: silu }));
    this.features = new Sequential(...layers);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.classifier = new Sequential(new Dropout(opts.dropout), new Linear(lastOut, opts.numClasses ?? 1000));

    initTorchvisionWeights(this, (l) => uniform(l.weight.shape, 1 / Math.sqrt(l.outFeatures)));
  }

  forward(x: Value): Value {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(flatten(x, 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

/** torchvision's `_efficientnet_conf` for the B variants */
function efficientNetV1Conf(widthMult: number, depthMult: number): MBConvStageConfig[] {
  const b = (e: number, k: number, s: number, i: number, o: number, n: number) => mbConvConfig(e, k, s, i, o, n, widthMult, depthMult);
  return [b(1, 3, 1, 32, 16, 1), b(6, 3, 2, 16, 24, 2), b(6, 5, 2, 24, 40, 2), b(6, 3, 2, 40, 80, 3), b(6, 5, 1, 80, 112, 3), b(6, 5, 2, 112, 192, 4), b(6, 3, 1, 192, 320, 1)];
}

const F = fusedMBConvConfig;
const M = mbConvConfig;

interface EfficientNetConfig {
  readonly name: string;
  readonly inputSize: number;
  readonly setting: () => MBConvStageConfig[];
  readonly dropout: number;
  readonly lastChannel: number | null;
  readonly normLayer?: NormLayer;
  readonly v2: boolean;
  /** torchvision 0.14's DEFAULT weights for the builder */
  readonly pretrained: PretrainedConfig;
}

/**
 * a torchvision EfficientNet `Weights` entry: file, ImageNet-1K acc@1 and acc@5, the transform's crop and
 * resize sizes and interpolation (the head is the Linear `classifier.1`). The B variants' weights are
 * ports (rwightman's timm B0-B4, lukemelas' B5-B7) evaluated at their own sizes, which for B2 differ
 * from the config's training size.
 */
const weights = (file: string, top1: number, top5: number, cropSize: number, resizeSize: number, interpolation: PretrainedConfig['interpolation'], normalization?: Pick<PretrainedConfig, 'mean' | 'std'>) =>
  torchvisionWeights({ file, top1, top5, cropSize, resizeSize, interpolation, classifier: 'classifier.1', ...normalization });

const bnEps3 = (momentum?: number): NormLayer => (c) => new BatchNorm2d(c, { eps: 0.001, momentum });

const v1 = (name: string, inputSize: number, widthMult: number, depthMult: number, dropout: number, pretrained: PretrainedConfig, normLayer?: NormLayer): EfficientNetConfig => ({
  name,
  inputSize,
  pretrained,
  setting: () => efficientNetV1Conf(widthMult, depthMult),
  dropout,
  lastChannel: null,
  normLayer,
  v2: false,
});

export const efficientNetConfigs: readonly EfficientNetConfig[] = [
  v1('efficientnet_b0', 224, 1.0, 1.0, 0.2, weights('efficientnet_b0_rwightman-3dd342df.pth', 77.692, 93.532, 224, 256, 'bicubic')), // IMAGENET1K_V1 (only)
  v1('efficientnet_b1', 240, 1.0, 1.1, 0.2, weights('efficientnet_b1-c27df63c.pth', 79.838, 94.934, 240, 255, 'bilinear')), // IMAGENET1K_V2 (DEFAULT; V1 is rwightman's port)
  v1('efficientnet_b2', 260, 1.1, 1.2, 0.3, weights('efficientnet_b2_rwightman-bcdf34b7.pth', 80.608, 95.31, 288, 288, 'bicubic')), // IMAGENET1K_V1 (only)
  v1('efficientnet_b3', 300, 1.2, 1.4, 0.3, weights('efficientnet_b3_rwightman-cf984f9c.pth', 82.008, 96.054, 300, 320, 'bicubic')), // IMAGENET1K_V1 (only)
  v1('efficientnet_b4', 380, 1.4, 1.8, 0.4, weights('efficientnet_b4_rwightman-7eb33cd5.pth', 83.384, 96.594, 380, 384, 'bicubic')), // IMAGENET1K_V1 (only)
  v1('efficientnet_b5', 456, 1.6, 2.2, 0.4, weights('efficientnet_b5_lukemelas-b6417697.pth', 83.444, 96.628, 456, 456, 'bicubic'), bnEps3(0.01)), // IMAGENET1K_V1 (only)
  v1('efficientnet_b6', 528, 1.8, 2.6, 0.5, weights('efficientnet_b6_lukemelas-c76e70fd.pth', 84.008, 96.916, 528, 528, 'bicubic'), bnEps3(0.01)), // IMAGENET1K_V1 (only)
  v1('efficientnet_b7', 600, 2.0, 3.1, 0.5, weights('efficientnet_b7_lukemelas-dcc49843.pth', 84.122, 96.908, 600, 600, 'bicubic'), bnEps3(0.01)), // IMAGENET1K_V1 (only)
  {
    name: 'efficientnet_v2_s',
    inputSize: 384,
    setting: () => [F(1, 3, 1, 24, 24, 2), F(4, 3, 2, 24, 48, 4), F(4, 3, 2, 48, 64, 4), M(4, 3, 2, 64, 128, 6), M(6, 3, 1, 128, 160, 9), M(6, 3, 2, 160, 256, 15)],
    dropout: 0.2,
    lastChannel: 1280,
    normLayer: bnEps3(),
    v2: true,
    pretrained: weights('efficientnet_v2_s-dd5fe13b.pth', 84.228, 96.878, 384, 384, 'bilinear'), // IMAGENET1K_V1 (only)
  },
  {
    name: 'efficientnet_v2_m',
    inputSize: 480,
    setting: () => [F(1, 3, 1, 24, 24, 3), F(4, 3, 2, 24, 48, 5), F(4, 3, 2, 48, 80, 5), M(4, 3, 2, 80, 160, 7), M(6, 3, 1, 160, 176, 14), M(6, 3, 2, 176, 304, 18), M(6, 3, 1, 304, 512, 5)],
    dropout: 0.3,
    lastChannel: 1280,
    normLayer: bnEps3(),
    v2: true,
    pretrained: weights('efficientnet_v2_m-dc08266a.pth', 85.112, 97.156, 480, 480, 'bilinear'), // IMAGENET1K_V1 (only)
  },
  {
    name: 'efficientnet_v2_l',
    inputSize: 480,
    setting: () => [F(1, 3, 1, 32, 32, 4), F(4, 3, 2, 32, 64, 7), F(4, 3, 2, 64, 96, 7), M(4, 3, 2, 96, 192, 10), M(6, 3, 1, 192, 224, 19), M(6, 3, 2, 224, 384, 25), M(6, 3, 1, 384, 640, 7)],
    dropout: 0.4,
    lastChannel: 1280,
    normLayer: bnEps3(),
    v2: true,
    // IMAGENET1K_V1 (only), ported from the TensorFlow original, which normalizes with mean = std = 0.5
    pretrained: weights('efficientnet_v2_l-59c71312.pth', 85.808, 97.788, 480, 480, 'bicubic', { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }),
  },
];

// ---- JSON arguments and registration ---------------------------------------------------------

const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v <= 1;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const STAGE_FIELDS = ['type', 'expandRatio', 'kernel', 'stride', 'inputChannels', 'outChannels', 'numLayers'];

/** one stage config from JSON (see the module comment) */
export function stageConfigFromJson(v: unknown, i: number): MBConvStageConfig {
  const what = `invertedResidualSetting[${i}]`;
  if (!isObject(v)) throw new UserError(`argument ${what} must be an object with fields ${STAGE_FIELDS.join(', ')}, got ${JSON.stringify(v)}`);
  const isType = (x: unknown): x is 'MBConvConfig' | 'FusedMBConvConfig' => x === 'MBConvConfig' || x === 'FusedMBConvConfig';
  const type = arg(v, 'type', 'MBConvConfig', isType, '"MBConvConfig" or "FusedMBConvConfig"');
  checkArgs(what, v, type === 'MBConvConfig' ? [...STAGE_FIELDS, 'widthMult', 'depthMult'] : STAGE_FIELDS);
  const need = <T>(key: string, check: (x: unknown) => x is T, desc: string): T => {
    if (v[key] === undefined) throw new UserError(`${what}: field ${key} is required`);
    return arg(v, key, undefined as T, check, desc);
  };
  const isStride = (x: unknown): x is number => x === 1 || x === 2;
  const fields = [
    need('expandRatio', isPositive, 'a positive number'),
    need('kernel', isPositiveInt, 'a positive integer'),
    need('stride', isStride, '1 or 2'),
    need('inputChannels', isPositiveInt, 'a positive integer'),
    need('outChannels', isPositiveInt, 'a positive integer'),
    need('numLayers', isPositiveInt, 'a positive integer'),
  ] as const;
  if (type === 'FusedMBConvConfig') return fusedMBConvConfig(...fields);
  return mbConvConfig(...fields, arg(v, 'widthMult', 1, isPositive, 'a positive number'), arg(v, 'depthMult', 1, isPositive, 'a positive number'));
}

defineFamily({
  family: 'efficientnet',
  source: 'torchvision',
  year: 2019,
  paper: 'EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    EfficientNet: {
      args: ['invertedResidualSetting', 'dropout', 'stochasticDepthProb', 'numClasses', 'normLayer', 'lastChannel'],
      build(args) {
        const setting = args.invertedResidualSetting;
        if (!Array.isArray(setting) || !setting.length) throw new UserError('EfficientNet: argument invertedResidualSetting is required (a non-empty array of MBConvConfig / FusedMBConvConfig objects)');
        if (args.dropout === undefined) throw new UserError('EfficientNet: argument dropout is required (a number in [0, 1])');
        return new EfficientNet(setting.map(stageConfigFromJson), {
          dropout: arg(args, 'dropout', 0.2, isProbability, 'a number in [0, 1]'),
          stochasticDepthProb: stochasticDepthArg(args, 0.2),
          numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
          normLayer: args.normLayer === undefined ? undefined : normLayerFromJson(args.normLayer),
          lastChannel: args.lastChannel === null ? null : arg(args, 'lastChannel', null as number | null, isPositiveInt, 'a positive integer or null'),
        });
      },
    },
  },
  builderArgs: ['stochasticDepthProb'],
  configs: efficientNetConfigs.map((c) => ({
    name: c.name,
    inputSize: c.inputSize,
    pretrained: c.pretrained,
    ...(c.v2 ? { year: 2021, paper: 'EfficientNetV2: Smaller Models and Faster Training' } : {}),
    build: (args) =>
      new EfficientNet(c.setting(), { dropout: c.dropout, lastChannel: c.lastChannel, normLayer: c.normLayer, numClasses: args.numClasses, stochasticDepthProb: stochasticDepthArg(args, 0.2) }),
  })),
});
