/**
 * torchvision's ConvNeXt (`convnext_tiny/small/base/large`): same constructor arguments
 * (camelCase), attribute names, hence `state_dict()` keys (`features.0.0.weight` stem conv,
 * `features.0.1.weight` its LayerNorm2d, `features.1.0.layer_scale`, `features.1.0.block.0.weight`
 * depthwise 7x7, `features.1.0.block.2.weight` LayerNorm, `features.1.0.block.3.weight` /
 * `block.5.weight` the MLP, `features.2.0.weight` / `features.2.1.weight` downsampling,
 * `classifier.0.weight` / `classifier.2.weight`), initialization (trunc_normal std 0.02, zero bias
 * for every Conv2d and Linear) and stochastic depth per block at torchvision's linearly increasing
 * rate (`stochasticDepthProb · blockIndex / (totalBlocks − 1)`).
 *
 * In JSON a stage config is `{"inputChannels":96,"outChannels":192,"numLayers":3}` (outChannels
 * null for the last stage: no downsampling after it).
 *
 * @example
 * createModel('convnext_tiny', { numClasses: 10 });
 * createFromConstructor('ConvNeXt', {
 *   blockSetting: [{ inputChannels: 16, outChannels: 32, numLayers: 1 }, { inputChannels: 32, outChannels: null, numLayers: 1 }],
 *   stochasticDepthProb: 0.1, numClasses: 10,
 * });
 */
import { Value } from '../graph/ir.js';
import { add, mul } from '../ops/elementwise.js';
import { transpose } from '../ops/shape.js';
import { truncNormal } from '../nn/init.js';
import { AdaptiveAvgPool2d, Conv2d, Flatten, GELU, Lambda, Linear } from '../nn/layers.js';
import { Module, Parameter, Sequential, tensorValue } from '../nn/module.js';
import { LayerNorm, LayerNorm2d } from '../nn/norm.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { Conv2dNormActivation, NormLayer } from './mobilenetv2.js';
import { UserError } from '../errors.js';
import { PretrainedConfig, arg, checkArgs, defineFamily, isNumber, isPositiveInt, stochasticDepthArg } from './registry.js';
import { ForeignLayout, hasPrefix, squeezePointwise, toChannelScale, toFlatScale } from './key-filters.js';
import { torchvisionWeights } from './torchvision-weights.js';
import { stagedLayerIds } from './layer-ids.js';

/** torchvision's CNBlockConfig */
export interface CNBlockConfig {
  readonly inputChannels: number;
  /** null for the last stage (no downsampling layer after it) */
  readonly outChannels: number | null;
  readonly numLayers: number;
}

export const cnBlockConfig = (inputChannels: number, outChannels: number | null, numLayers: number): CNBlockConfig => ({ inputChannels, outChannels, numLayers });

/** torchvision.ops.misc.Permute */
export class Permute extends Lambda {
  constructor(readonly dims: readonly number[]) {
    super('Permute', (x) => transpose(x, dims));
  }
}

/** depthwise 7x7 - LayerNorm (channels-last) - Linear 4x - GELU - Linear, layer-scaled, stochastic depth on the residual */
export class CNBlock extends Module {
  block: Sequential;
  layer_scale: Parameter;
  stochasticDepth: StochasticDepth;

  constructor(dim: number, layerScale: number, stochasticDepthProb: number, normLayer: NormLayer = (c) => new LayerNorm(c, { eps: 1e-6 })) {
    super();
    this.block = new Sequential(
      new Conv2d(dim, dim, 7, { padding: 3, groups: dim, bias: true }),
      new Permute([0, 2, 3, 1]),
      normLayer(dim),
      new Linear(dim, 4 * dim),
      new GELU(),
      new Linear(4 * dim, dim),
      new Permute([0, 3, 1, 2]),
    );
    this.layer_scale = new Parameter(new Float32Array(dim).fill(layerScale), [dim, 1, 1]);
    this.stochasticDepth = new StochasticDepth(stochasticDepthProb, 'row');
  }

  forward(x: Value): Value {
    const result = mul(tensorValue(this.layer_scale), this.block.call(x));
    return add(this.stochasticDepth.call(result), x);
  }
}

export interface ConvNeXtOptions {
  /** default 0 */
  stochasticDepthProb?: number;
  /** default 1e-6 */
  layerScale?: number;
  /** default 1000 */
  numClasses?: number;
  /** default LayerNorm2d with eps 1e-6 */
  normLayer?: NormLayer;
}

/** torchvision.models.ConvNeXt */
export class ConvNeXt extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(blockSetting: readonly CNBlockConfig[], opts: ConvNeXtOptions = {}) {
    super();
    if (!blockSetting.length) throw new UserError('ConvNeXt: The block_setting should not be empty');
    const normLayer = opts.normLayer ?? ((c: number) => new LayerNorm2d(c, { eps: 1e-6 }));
    const sdProb = opts.stochasticDepthProb ?? 0;
    const layerScale = opts.layerScale ?? 1e-6;
    const layers: Module[] = [new Conv2dNormActivation(3, blockSetting[0].inputChannels, { kernelSize: 4, stride: 4, padding: 0, normLayer, activationLayer: null, bias: true })];

    const totalBlocks = blockSetting.reduce((s, c) => s + c.numLayers, 0);
    if (totalBlocks <= 1 && sdProb !== 0) throw new UserError('ConvNeXt: float division by zero (stochastic depth needs more than one block)');
    let blockId = 0;
    for (const cnf of blockSetting) {
      const stage: Module[] = [];
      for (let i = 0; i < cnf.numLayers; i++) {
        const p = totalBlocks > 1 ? (sdProb * blockId) / (totalBlocks - 1) : 0;
        stage.push(new CNBlock(cnf.inputChannels, layerScale, p));
        blockId++;
      }
      layers.push(new Sequential(...stage));
      if (cnf.outChannels !== null) layers.push(new Sequential(normLayer(cnf.inputChannels), new Conv2d(cnf.inputChannels, cnf.outChannels, 2, { stride: 2 })));
    }
    this.features = new Sequential(...layers);
    this.avgpool = new AdaptiveAvgPool2d(1);
    const last = blockSetting[blockSetting.length - 1];
    const lastChannels = last.outChannels ?? last.inputChannels;
    this.classifier = new Sequential(normLayer(lastChannels), new Flatten(1), new Linear(lastChannels, opts.numClasses ?? 1000));

    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d || m instanceof Linear) {
        m.weight.data = truncNormal(m.weight.shape, 0.02);
        m.bias?.data.fill(0);
      }
    }
  }

  forward(x: Value): Value {
    return this.classifier.call(this.avgpool.call(this.features.call(x)));
  }
}

// ---- configs ---------------------------------------------------------------------------------

const C = cnBlockConfig;

/** a torchvision ConvNeXt `Weights` entry (crop 224, bilinear; the head is the Linear `classifier.2`) */
const weights = (file: string, top1: number, top5: number, resizeSize: number) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'classifier.2' });

// each has one weights entry, IMAGENET1K_V1 = DEFAULT
export const convNeXtConfigs: readonly { name: string; setting: () => CNBlockConfig[]; stochasticDepthProb: number; pretrained: PretrainedConfig }[] = [
  { name: 'convnext_tiny', setting: () => [C(96, 192, 3), C(192, 384, 3), C(384, 768, 9), C(768, null, 3)], stochasticDepthProb: 0.1, pretrained: weights('convnext_tiny-983f1562.pth', 82.52, 96.146, 236) },
  { name: 'convnext_small', setting: () => [C(96, 192, 3), C(192, 384, 3), C(384, 768, 27), C(768, null, 3)], stochasticDepthProb: 0.4, pretrained: weights('convnext_small-0c510722.pth', 83.616, 96.65, 230) },
  { name: 'convnext_base', setting: () => [C(128, 256, 3), C(256, 512, 3), C(512, 1024, 27), C(1024, null, 3)], stochasticDepthProb: 0.5, pretrained: weights('convnext_base-6075fbad.pth', 84.062, 96.87, 232) },
  { name: 'convnext_large', setting: () => [C(192, 384, 3), C(384, 768, 3), C(768, 1536, 27), C(1536, null, 3)], stochasticDepthProb: 0.5, pretrained: weights('convnext_large-ea097f82.pth', 84.414, 96.976, 232) },
];

// ---- key filter: foreign checkpoints' names ----------------------------------------------------

const CONVNEXT_TIMM: ForeignLayout = {
  name: 'timm',
  writtenAgainst: 'timm convnext_tiny, convnext_small, convnext_base, convnext_large (timm 0.6 to 1.0; conv_mlp variants included)',
  detect: (keys) => keys.has('stem.0.weight') || hasPrefix(keys, 'stages.0.blocks.'),
  rules: [
    { theirs: 'stem.0.', ours: 'features.0.0.' },
    { theirs: 'stem.1.', ours: 'features.0.1.' },
    { theirs: 'stages.{s}.downsample.0.', ours: 'features.{2s}.0.' },
    { theirs: 'stages.{s}.downsample.1.', ours: 'features.{2s}.1.' },
    { theirs: 'stages.{s}.blocks.{j}.conv_dw.', ours: 'features.{2s+1}.{j}.block.0.' },
    { theirs: 'stages.{s}.blocks.{j}.norm.', ours: 'features.{2s+1}.{j}.block.2.' },
    { theirs: 'stages.{s}.blocks.{j}.mlp.fc1.', ours: 'features.{2s+1}.{j}.block.3.', toOurShape: squeezePointwise },
    { theirs: 'stages.{s}.blocks.{j}.mlp.fc2.', ours: 'features.{2s+1}.{j}.block.5.', toOurShape: squeezePointwise },
    { theirs: 'stages.{s}.blocks.{j}.gamma', ours: 'features.{2s+1}.{j}.layer_scale', toOurShape: toChannelScale, toTheirShape: toFlatScale },
    { theirs: 'head.norm.', ours: 'classifier.0.' },
    { theirs: 'head.fc.', ours: 'classifier.2.' },
  ],
};

const CONVNEXT_FACEBOOK: ForeignLayout = {
  name: 'facebookresearch',
  writtenAgainst: 'facebookresearch/ConvNeXt convnext_tiny_1k_224_ema.pth … convnext_large_1k_224_ema.pth (the state dict under "model")',
  detect: (keys) => hasPrefix(keys, 'downsample_layers.'),
  rules: [
    { theirs: 'downsample_layers.0.0.', ours: 'features.0.0.' },
    { theirs: 'downsample_layers.0.1.', ours: 'features.0.1.' },
    { theirs: 'downsample_layers.{s}.0.', ours: 'features.{2s}.0.' },
    { theirs: 'downsample_layers.{s}.1.', ours: 'features.{2s}.1.' },
    { theirs: 'stages.{s}.{j}.dwconv.', ours: 'features.{2s+1}.{j}.block.0.' },
    { theirs: 'stages.{s}.{j}.norm.', ours: 'features.{2s+1}.{j}.block.2.' },
    { theirs: 'stages.{s}.{j}.pwconv1.', ours: 'features.{2s+1}.{j}.block.3.' },
    { theirs: 'stages.{s}.{j}.pwconv2.', ours: 'features.{2s+1}.{j}.block.5.' },
    { theirs: 'stages.{s}.{j}.gamma', ours: 'features.{2s+1}.{j}.layer_scale', toOurShape: toChannelScale, toTheirShape: toFlatScale },
    { theirs: 'norm.', ours: 'classifier.0.' },
    { theirs: 'head.', ours: 'classifier.2.' },
  ],
};

// ---- JSON arguments and registration ---------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const STAGE_FIELDS = ['inputChannels', 'outChannels', 'numLayers'];

/** one CNBlockConfig from JSON */
export function cnBlockConfigFromJson(v: unknown, i: number): CNBlockConfig {
  const what = `blockSetting[${i}]`;
  if (!isObject(v)) throw new UserError(`argument ${what} must be an object with fields ${STAGE_FIELDS.join(', ')}, got ${JSON.stringify(v)}`);
  checkArgs(what, v, STAGE_FIELDS);
  for (const k of STAGE_FIELDS) if (v[k] === undefined) throw new UserError(`${what}: field ${k} is required${k === 'outChannels' ? ' (null for the last stage)' : ''}`);
  const isOut = (x: unknown): x is number | null => x === null || isPositiveInt(x);
  return cnBlockConfig(
    arg(v, 'inputChannels', 0, isPositiveInt, 'a positive integer'),
    arg(v, 'outChannels', null as number | null, isOut, 'a positive integer or null'),
    arg(v, 'numLayers', 0, isPositiveInt, 'a positive integer'),
  );
}

defineFamily({
  family: 'convnext',
  source: 'torchvision',
  layerIds: stagedLayerIds,
  year: 2022,
  paper: 'A ConvNet for the 2020s',
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    ConvNeXt: {
      args: ['blockSetting', 'stochasticDepthProb', 'layerScale', 'numClasses'],
      build(args) {
        const setting = args.blockSetting;
        if (!Array.isArray(setting) || !setting.length) throw new UserError('ConvNeXt: argument blockSetting is required (a non-empty array of CNBlockConfig objects)');
        return new ConvNeXt(setting.map(cnBlockConfigFromJson), {
          stochasticDepthProb: stochasticDepthArg(args, 0),
          layerScale: arg(args, 'layerScale', 1e-6, isNumber, 'a number'),
          numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
        });
      },
    },
  },
  builderArgs: ['stochasticDepthProb'],
  configs: convNeXtConfigs.map((c) => ({
    name: c.name,
    pretrained: c.pretrained,
    build: (args) => new ConvNeXt(c.setting(), { numClasses: args.numClasses, stochasticDepthProb: stochasticDepthArg(args, c.stochasticDepthProb) }),
  })),
  keyFilter: { summary: "timm's and facebookresearch's ConvNeXt names → torchvision's (gamma [C] → layer_scale [C,1,1])", layouts: [CONVNEXT_TIMM, CONVNEXT_FACEBOOK] },
});
