/**
 * torchvision's MaxVit (`maxvit_t`): same constructor arguments (camelCase), attribute names,
 * hence `state_dict()` keys (`stem.0.0.weight`, `stem.1.0.weight`,
 * `blocks.0.layers.0.layers.MBconv.layers.pre_norm.weight`,
 * `blocks.0.layers.0.layers.window_attention.attn_layer.1.relative_position_bias_table`,
 * `…grid_attention.mlp_layer.3.weight`, `classifier.2.weight` (LayerNorm), `classifier.3.weight`,
 * `classifier.5.weight`), initialization (normal std 0.02 for every Conv2d and Linear, zero biases,
 * BatchNorm 1/0, the bias tables trunc_normal std 0.02) and stochastic depth rates (linear from 0
 * to `stochasticDepthProb` over all layers, numpy.linspace). The blocks: ./maxvit-blocks.ts.
 *
 * In JSON, `inputSize` is a number or [height, width], `normLayer` is written
 * `{"type":"BatchNorm2d","eps":0.001}` (default: BatchNorm2d eps 1e-3 momentum 0.99) and
 * `activationLayer` names a torch.nn activation class (default "GELU").
 *
 * @example
 * createModel('maxvit_t', { numClasses: 10 });
 * createFromConstructor('MaxVit', {
 *   inputSize: 32, stemChannels: 8, partitionSize: 2, blockChannels: [8, 16], blockLayers: [1, 1],
 *   headDim: 4, stochasticDepthProb: 0.1, numClasses: 10,
 * });
 */
import { Value } from '../graph/ir.js';
import { normal } from '../nn/init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, GELU, Hardswish, Linear, ReLU, SiLU, Sigmoid, Tanh } from '../nn/layers.js';
import { Module, ModuleList, Sequential } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { GridSize, MaxVitBlock, convOutputSize } from './maxvit-blocks.js';
import { Conv2dNormActivation, NormLayer } from './mobilenetv2.js';
import { normLayerFromJson } from './mobilenetv3.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt, stochasticDepthArg } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- model -----------------------------------------------------------------------------------

/** torchvision.models.MaxVit's arguments */
export interface MaxVitOptions {
  /** the input image size: every block's feature map must divide into partitions */
  readonly inputSize: number | GridSize;
  readonly stemChannels: number;
  readonly partitionSize: number;
  readonly blockChannels: readonly number[];
  readonly blockLayers: readonly number[];
  readonly headDim: number;
  readonly stochasticDepthProb: number;
  /** the conv layers' norm; default BatchNorm2d(eps 1e-3, momentum 0.99) */
  readonly normLayer?: NormLayer;
  /** default GELU */
  readonly activationLayer?: () => Module;
  /** default 0.25 */
  readonly squeezeRatio?: number;
  /** default 4 */
  readonly expansionRatio?: number;
  /** default 4 */
  readonly mlpRatio?: number;
  /** default 0 */
  readonly mlpDropout?: number;
  /** default 0 */
  readonly attentionDropout?: number;
  /** default 1000 */
  readonly numClasses?: number;
}

/** numpy.linspace(start, stop, num).tolist() */
function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : start + i * step));
}

/** torchvision.models.MaxVit: conv stem, MaxVitBlocks, then pool – LayerNorm – Linear – Tanh – Linear (no bias) */
export class MaxVit extends Module {
  stem: Sequential;
  blocks: ModuleList;
  classifier: Sequential;
  readonly inputSize: GridSize;
  readonly partitionSize: number;

  constructor(o: MaxVitOptions) {
    super();
    const inputSize: GridSize = typeof o.inputSize === 'number' ? [o.inputSize, o.inputSize] : [o.inputSize[0], o.inputSize[1]];
    const { blockChannels, blockLayers, partitionSize } = o;
    if (!blockChannels.length) throw new UserError('MaxVit: blockChannels must not be empty');
    if (blockChannels.length !== blockLayers.length) throw new UserError(`MaxVit: blockChannels (${blockChannels.length} blocks) and blockLayers (${blockLayers.length} blocks) must have the same length`);
    const normLayer = o.normLayer ?? ((c: number) => new BatchNorm2d(c, { eps: 1e-3, momentum: 0.99 }));
    const activationLayer = o.activationLayer ?? (() => new GELU());

    // every block's input (after the stem's stride and its own) must divide into partitions
    const blockSizes: [number, number][] = [];
    let size = convOutputSize(inputSize, 3, 2, 1);
    for (let i = 0; i < blockChannels.length; i++) blockSizes.push((size = convOutputSize(size, 3, 2, 1)));
    blockSizes.forEach((s, i) => {
      if (s[0] % partitionSize !== 0 || s[1] % partitionSize !== 0) {
        const all = blockSizes.map((b) => `[${b}]`).join(', ');
        throw new UserError(`MaxVit: input size [${s}] of block ${i} is not divisible by partition size ${partitionSize}; change partitionSize or inputSize (block input sizes: ${all})`);
      }
    });
    this.inputSize = inputSize;
    this.partitionSize = partitionSize;

    this.stem = new Sequential(
      new Conv2dNormActivation(3, o.stemChannels, { kernelSize: 3, stride: 2, normLayer, activationLayer, bias: false }),
      new Conv2dNormActivation(o.stemChannels, o.stemChannels, { kernelSize: 3, stride: 1, normLayer: null, activationLayer: null, bias: true }),
    );

    const probs = linspace(0, o.stochasticDepthProb, blockLayers.reduce((s, n) => s + n, 0));
    const blocks: MaxVitBlock[] = [];
    let gridSize: GridSize = convOutputSize(inputSize, 3, 2, 1);
    let used = 0;
    blockChannels.forEach((outChannels, i) => {
      const block = new MaxVitBlock({
        inChannels: i === 0 ? o.stemChannels : blockChannels[i - 1],
        outChannels,
        squeezeRatio: o.squeezeRatio ?? 0.25,
        expansionRatio: o.expansionRatio ?? 4,
        normLayer,
        activationLayer,
        headDim: o.headDim,
        mlpRatio: o.mlpRatio ?? 4,
        mlpDropout: o.mlpDropout ?? 0,
        attentionDropout: o.attentionDropout ?? 0,
        partitionSize,
        inputGridSize: gridSize,
        stochasticDepthProbs: probs.slice(used, used + blockLayers[i]),
      });
      blocks.push(block);
      gridSize = block.gridSize;
      used += blockLayers[i];
    });
    this.blocks = new ModuleList(...blocks);

    const last = blockChannels[blockChannels.length - 1];
    this.classifier = new Sequential(new AdaptiveAvgPool2d(1), new Flatten(1), new LayerNorm(last), new Linear(last, last), new Tanh(), new Linear(last, o.numClasses ?? 1000, { bias: false }));

    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d || m instanceof Linear) {
        m.weight.data = normal(m.weight.shape, 0.02);
        m.bias?.data.fill(0);
      } else if (m instanceof BatchNorm2d) {
        m.weight?.data.fill(1);
        m.bias?.data.fill(0);
      }
    }
  }

  forward(x: Value): Value {
    const [h, w] = this.inputSize;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== h || x.shape[3] !== w) throw new UserError(`MaxVit: expected [batch, 3, ${h}, ${w}] (the inputSize it was built for), got [${x.shape}]`);
    let y = this.stem.call(x);
    for (const [, block] of this.blocks.namedChildren()) y = block.call(y);
    return this.classifier.call(y);
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface MaxVitConfig {
  readonly name: string;
  readonly stemChannels: number;
  readonly blockChannels: readonly number[];
  readonly blockLayers: readonly number[];
  readonly headDim: number;
  readonly stochasticDepthProb: number;
  readonly partitionSize: number;
  readonly pretrained: PretrainedConfig;
}

export const maxVitConfigs: readonly MaxVitConfig[] = [
  {
    name: 'maxvit_t',
    stemChannels: 64,
    blockChannels: [64, 128, 256, 512],
    blockLayers: [2, 2, 5, 2],
    headDim: 32,
    stochasticDepthProb: 0.2,
    partitionSize: 7,
    // torchvision's MaxVit_T_Weights.IMAGENET1K_V1
    pretrained: torchvisionWeights({ file: 'maxvit_t-bc5ab103.pth', top1: 83.7, top5: 96.722, cropSize: 224, resizeSize: 224, interpolation: 'bicubic', classifier: 'classifier.5' }),
  },
];

// ---- JSON arguments and registration ---------------------------------------------------------

const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isDropout = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;
const isPositiveIntList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt);
const isSize = (v: unknown): v is number | [number, number] => isPositiveInt(v) || (Array.isArray(v) && v.length === 2 && v.every(isPositiveInt));

/** the torch.nn activation classes `activationLayer` may name */
const ACTIVATIONS: Readonly<Record<string, () => Module>> = {
  GELU: () => new GELU(),
  SiLU: () => new SiLU(),
  ReLU: () => new ReLU(),
  Hardswish: () => new Hardswish(),
  Sigmoid: () => new Sigmoid(),
  Tanh: () => new Tanh(),
};

/** an activation layer from JSON: the torch.nn class name, e.g. "GELU" */
export function activationLayerFromJson(v: unknown, what = 'activationLayer'): () => Module {
  const make = typeof v === 'string' && Object.hasOwn(ACTIVATIONS, v) ? ACTIVATIONS[v] : undefined;
  if (!make) throw new UserError(`argument ${what} must name a torch.nn activation (${Object.keys(ACTIVATIONS).join(', ')}), got ${JSON.stringify(v)}`);
  return make;
}

/** the arguments a builder (`maxvit_t`) leaves to its caller */
const OPTIONAL = ['inputSize', 'normLayer', 'activationLayer', 'squeezeRatio', 'expansionRatio', 'mlpRatio', 'mlpDropout', 'attentionDropout', 'numClasses'] as const;
/** the arguments MaxVit needs */
const REQUIRED = ['inputSize', 'stemChannels', 'partitionSize', 'blockChannels', 'blockLayers', 'headDim', 'stochasticDepthProb'] as const;

type OptionalArgs = Pick<MaxVitOptions, Exclude<(typeof OPTIONAL)[number], 'inputSize'>> & { inputSize: number | GridSize };

function optionalArgs(args: JsonArgs): OptionalArgs {
  return {
    inputSize: arg(args, 'inputSize', 224 as number | [number, number], isSize, 'a positive integer or [height, width]'),
    normLayer: args.normLayer === undefined ? undefined : normLayerFromJson(args.normLayer),
    activationLayer: args.activationLayer === undefined ? undefined : activationLayerFromJson(args.activationLayer),
    squeezeRatio: arg(args, 'squeezeRatio', 0.25, isPositive, 'a positive number'),
    expansionRatio: arg(args, 'expansionRatio', 4, isPositive, 'a positive number'),
    mlpRatio: arg(args, 'mlpRatio', 4, isPositiveInt, 'a positive integer'),
    mlpDropout: arg(args, 'mlpDropout', 0, isDropout, 'a number in [0, 1)'),
    attentionDropout: arg(args, 'attentionDropout', 0, isDropout, 'a number in [0, 1)'),
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
  };
}

defineFamily({
  family: 'maxvit',
  source: 'torchvision',
  year: 2022,
  paper: 'MaxViT: Multi-Axis Vision Transformer',
  inputSize: 224,
  // the feature-map sizes are fixed at construction: the model takes exactly its inputSize
  minInputSize: 224,
  numClasses: 1000,
  constructors: {
    MaxVit: {
      args: [...new Set([...REQUIRED, ...OPTIONAL])],
      build(args) {
        for (const k of REQUIRED) if (args[k] === undefined) throw new UserError(`MaxVit: argument ${k} is required`);
        const list = (k: 'blockChannels' | 'blockLayers') => arg(args, k, [] as number[], isPositiveIntList, 'a non-empty array of positive integers');
        const int = (k: 'stemChannels' | 'partitionSize' | 'headDim') => arg(args, k, 1, isPositiveInt, 'a positive integer');
        return new MaxVit({
          ...optionalArgs(args),
          stemChannels: int('stemChannels'),
          partitionSize: int('partitionSize'),
          blockChannels: list('blockChannels'),
          blockLayers: list('blockLayers'),
          headDim: int('headDim'),
          stochasticDepthProb: stochasticDepthArg(args, 0),
        });
      },
    },
  },
  // stochasticDepthProb besides torchvision's builder kwargs: `tessera train --drop-path` sets it
  builderArgs: [...OPTIONAL.filter((k) => k !== 'numClasses'), 'stochasticDepthProb'],
  configs: maxVitConfigs.map((c) => ({
    name: c.name,
    pretrained: c.pretrained,
    build: (args) =>
      new MaxVit({ ...optionalArgs(args), stemChannels: c.stemChannels, blockChannels: c.blockChannels, blockLayers: c.blockLayers, headDim: c.headDim, stochasticDepthProb: stochasticDepthArg(args, c.stochasticDepthProb), partitionSize: c.partitionSize }),
  })),
});
