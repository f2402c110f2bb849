/**
 * torchvision's Swin Transformer V1 (`swin_t`, `swin_s`, `swin_b`) and V2 (`swin_v2_t`,
 * `swin_v2_s`, `swin_v2_b`): same constructor arguments (camelCase), attribute names, hence
 * `state_dict()` keys (`features.0.0.weight` patch embedding, `features.0.2.weight` its LayerNorm,
 * `features.1.0.attn.relative_position_bias_table`, `features.1.0.attn.qkv.weight`,
 * `features.1.0.mlp.0.weight`, `features.2.reduction.weight` patch merging, V2's
 * `features.1.0.attn.logit_scale` / `cpb_mlp.0.weight` / `relative_coords_table`, `norm.weight`,
 * `head.weight`), initialization (every Linear trunc_normal std 0.02 with zero bias) and stochastic
 * depth per block at `stochasticDepthProb · blockIndex / (totalBlocks − 1)`. The blocks live in
 * swin-blocks.ts.
 *
 * In JSON, `block` and `downsampleLayer` are class names: 'SwinTransformerBlock' (default) or
 * 'SwinTransformerBlockV2', 'PatchMerging' (default) or 'PatchMergingV2'. The norm layer is
 * torchvision's default, LayerNorm with eps 1e-5.
 *
 * @example
 * createModel('swin_t', { numClasses: 10 });
 * createFromConstructor('SwinTransformer', {
 *   patchSize: [4, 4], embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: [4, 4],
 *   stochasticDepthProb: 0.1, numClasses: 10, block: 'SwinTransformerBlockV2', downsampleLayer: 'PatchMergingV2',
 * });
 */
import { Value } from '../graph/ir.js';
import { normal } from '../nn/init.js';
import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { Permute } from './convnext.js';
import { NormLayer, PatchMerging, PatchMergingV2, SwinBlockOptions, SwinTransformerBlock, SwinTransformerBlockV2, defaultSwinNorm } from './swin-blocks.js';
import { torchvisionWeights } from './torchvision-weights.js';
import { stagedLayerIds } from './layer-ids.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt, isString, stochasticDepthArg } from './registry.js';
import type { HostTensor } from '../graph/ir.js';
import { ForeignLayout, KeyMapReport, KeyRule, flattenShape, hasPrefix, squareShape } from './key-filters.js';
import { relativePositionIndex } from './relative-position.js';

/** a Swin block class: SwinTransformerBlock or SwinTransformerBlockV2 */
export type SwinBlockClass = new (dim: number, numHeads: number, windowSize: readonly number[], shiftSize: readonly number[], opts?: SwinBlockOptions) => Module;

/** a downsampling class: PatchMerging or PatchMergingV2 */
export type DownsampleClass = new (dim: number, normLayer?: NormLayer) => Module;

export interface SwinTransformerOptions {
  patchSize: readonly number[];
  embedDim: number;
  depths: readonly number[];
  numHeads: readonly number[];
  windowSize: readonly number[];
  /** default 4 */
  mlpRatio?: number;
  /** default 0 */
  dropout?: number;
  /** default 0 */
  attentionDropout?: number;
  /** default 0.1 */
  stochasticDepthProb?: number;
  /** default 1000 */
  numClasses?: number;
  /** default LayerNorm (eps 1e-5) */
  normLayer?: NormLayer;
  /** default SwinTransformerBlock */
  block?: SwinBlockClass;
  /** default PatchMerging */
  downsampleLayer?: DownsampleClass;
}

/** torchvision.models.SwinTransformer: patch embedding, stages of blocks with patch merging between them, norm, pool, head */
export class SwinTransformer extends Module {
  features: Sequential;
  norm: Module;
  permute: Permute;
  avgpool: AdaptiveAvgPool2d;
  flatten: Flatten;
  head: Linear;
  readonly numClasses: number;

  constructor(opts: SwinTransformerOptions) {
    super();
    const { patchSize, embedDim, depths, numHeads, windowSize } = opts;
    if (patchSize.length !== 2) throw new UserError(`SwinTransformer: patchSize must be [height, width], got [${patchSize.join(', ')}]`);
    if (windowSize.length !== 2) throw new UserError(`SwinTransformer: windowSize must be [height, width], got [${windowSize.join(', ')}]`);
    if (!depths.length) throw new UserError('SwinTransformer: depths must name at least one stage');
    if (numHeads.length < depths.length) throw new UserError(`SwinTransformer: numHeads has ${numHeads.length} entries for ${depths.length} stages; give one head count per stage`);
    const totalBlocks = depths.reduce((s, d) => s + d, 0);
    if (totalBlocks <= 1) throw new UserError(`SwinTransformer: float division by zero (stochastic depth needs more than one block; depths [${depths.join(', ')}] have ${totalBlocks})`);
    this.numClasses = opts.numClasses ?? 1000;
    const normLayer = opts.normLayer ?? defaultSwinNorm;
    const block = opts.block ?? SwinTransformerBlock;
    const downsample = opts.downsampleLayer ?? PatchMerging;
    const sdProb = opts.stochasticDepthProb ?? 0.1;

    const layers: Module[] = [new Sequential(new Conv2d(3, embedDim, [patchSize[0], patchSize[1]], { stride: [patchSize[0], patchSize[1]] }), new Permute([0, 2, 3, 1]), normLayer(embedDim))];
    let blockId = 0;
    depths.forEach((depth, stage) => {
      const dim = embedDim * 2 ** stage;
      const blocks: Module[] = [];
      for (let i = 0; i < depth; i++) {
        const shiftSize = windowSize.map((w) => (i % 2 === 0 ? 0 : Math.floor(w / 2)));
        const blockOpts: SwinBlockOptions = { mlpRatio: opts.mlpRatio, dropout: opts.dropout, attentionDropout: opts.attentionDropout, stochasticDepthProb: (sdProb * blockId) / (totalBlocks - 1), normLayer };
        blocks.push(new block(dim, numHeads[stage], windowSize, shiftSize, blockOpts));
        blockId++;
      }
      layers.push(new Sequential(...blocks));
      if (stage < depths.length - 1) layers.push(new downsample(dim, normLayer));
    });
    this.features = new Sequential(...layers);
    const numFeatures = embedDim * 2 ** (depths.length - 1);
    this.norm = normLayer(numFeatures);
    this.permute = new Permute([0, 3, 1, 2]);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.flatten = new Flatten(1);
    this.head = new Linear(numFeatures, this.numClasses);

    for (const [, m] of this.namedModules()) {
      if (m instanceof Linear) {
        // trunc_normal_(std=0.02) with torch's default absolute bounds ±2: no draw is cut
        m.weight.data = normal(m.weight.shape, 0.02);
        m.bias?.data.fill(0);
      }
    }
  }

  forward(x: Value): Value {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new UserError(`SwinTransformer: expected [batch, 3, height, width], got [${x.shape}]`);
    return this.head.call(this.flatten.call(this.avgpool.call(this.permute.call(this.norm.call(this.features.call(x))))));
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface SwinConfig {
  readonly name: string;
  readonly version: 1 | 2;
  readonly embedDim: number;
  readonly depths: readonly number[];
  readonly numHeads: readonly number[];
  readonly window: number;
  readonly stochasticDepthProb: number;
  /** torchvision's IMAGENET1K_V1 weights entry */
  readonly weights: { readonly file: string; readonly crop: number; readonly resize: number; readonly top1: number; readonly top5: number };
}

const TINY = { embedDim: 96, depths: [2, 2, 6, 2], numHeads: [3, 6, 12, 24] };
const SMALL = { embedDim: 96, depths: [2, 2, 18, 2], numHeads: [3, 6, 12, 24] };
const BASE = { embedDim: 128, depths: [2, 2, 18, 2], numHeads: [4, 8, 16, 32] };

export const swinConfigs: readonly SwinConfig[] = [
  { name: 'swin_t', version: 1, ...TINY, window: 7, stochasticDepthProb: 0.2, weights: { file: 'swin_t-704ceda3.pth', crop: 224, resize: 232, top1: 81.474, top5: 95.776 } },
  { name: 'swin_s', version: 1, ...SMALL, window: 7, stochasticDepthProb: 0.3, weights: { file: 'swin_s-5e29d889.pth', crop: 224, resize: 246, top1: 83.196, top5: 96.36 } },
  { name: 'swin_b', version: 1, ...BASE, window: 7, stochasticDepthProb: 0.5, weights: { file: 'swin_b-68c6b09e.pth', crop: 224, resize: 238, top1: 83.582, top5: 96.64 } },
  { name: 'swin_v2_t', version: 2, ...TINY, window: 8, stochasticDepthProb: 0.2, weights: { file: 'swin_v2_t-b137f0e2.pth', crop: 256, resize: 260, top1: 82.072, top5: 96.132 } },
  { name: 'swin_v2_s', version: 2, ...SMALL, window: 8, stochasticDepthProb: 0.3, weights: { file: 'swin_v2_s-637d8ceb.pth', crop: 256, resize: 260, top1: 83.712, top5: 96.816 } },
  { name: 'swin_v2_b', version: 2, ...BASE, window: 8, stochasticDepthProb: 0.5, weights: { file: 'swin_v2_b-781e5279.pth', crop: 256, resize: 272, top1: 84.112, top5: 96.864 } },
];

const PAPERS = {
  1: { year: 2021, paper: 'Swin Transformer: Hierarchical Vision Transformer using Shifted Windows' },
  2: { year: 2022, paper: 'Swin Transformer V2: Scaling Up Capacity and Resolution' },
} as const;

/** the config's torchvision weights entry (ImageClassification preset, bicubic, ImageNet mean/std) */
const pretrainedOf = (c: SwinConfig): PretrainedConfig =>
  torchvisionWeights({ file: c.weights.file, top1: c.weights.top1, top5: c.weights.top5, cropSize: c.weights.crop, resizeSize: c.weights.resize, interpolation: 'bicubic', classifier: 'head' });

// ---- key filter: foreign checkpoints' names ----------------------------------------------------

/** The Swin block rules both timm layouts share. */
const SWIN_BLOCK_RULES: readonly KeyRule[] = [
  { theirs: 'patch_embed.proj.', ours: 'features.0.0.' },
  { theirs: 'patch_embed.norm.', ours: 'features.0.2.' },
  { theirs: 'layers.{s}.blocks.{j}.norm1.', ours: 'features.{2s+1}.{j}.norm1.' },
  { theirs: 'layers.{s}.blocks.{j}.attn.qkv.', ours: 'features.{2s+1}.{j}.attn.qkv.' },
  { theirs: 'layers.{s}.blocks.{j}.attn.proj.', ours: 'features.{2s+1}.{j}.attn.proj.' },
  { theirs: 'layers.{s}.blocks.{j}.attn.relative_position_bias_table', ours: 'features.{2s+1}.{j}.attn.relative_position_bias_table' },
  { theirs: 'layers.{s}.blocks.{j}.attn.relative_position_index', ours: 'features.{2s+1}.{j}.attn.relative_position_index', toOurShape: flattenShape, toTheirShape: squareShape },
  { theirs: 'layers.{s}.blocks.{j}.norm2.', ours: 'features.{2s+1}.{j}.norm2.' },
  { theirs: 'layers.{s}.blocks.{j}.mlp.fc1.', ours: 'features.{2s+1}.{j}.mlp.0.' },
  { theirs: 'layers.{s}.blocks.{j}.mlp.fc2.', ours: 'features.{2s+1}.{j}.mlp.3.' },
  { theirs: 'norm.', ours: 'norm.' },
];

const SWIN_DROP = [{ pattern: /^layers\.\d+\.blocks\.\d+\.attn_mask$/, why: "the shifted-window mask is a constant torchvision's Swin recomputes" }];

const SWIN_TIMM: ForeignLayout = {
  name: 'timm',
  writtenAgainst: 'timm >= 0.9 swin_tiny_patch4_window7_224, swin_small_patch4_window7_224, swin_base_patch4_window7_224, swin_base_patch4_window12_384 (head.fc, downsample at the start of a stage)',
  detect: (keys) => keys.has('patch_embed.proj.weight') && hasPrefix(keys, 'layers.') && !hasPrefix(keys, 'layers.0.downsample.') && !keys.has('head.weight'),
  rules: [
    ...SWIN_BLOCK_RULES,
    { theirs: 'layers.{s}.downsample.', ours: 'features.{2s}.' },
    { theirs: 'head.fc.', ours: 'head.' },
  ],
  drop: SWIN_DROP,
  notStored: /\.attn\.relative_position_index$/,
  complete: addRelativePositionIndex,
};

const SWIN_TIMM_LEGACY: ForeignLayout = {
  name: 'timm<0.9',
  writtenAgainst: 'timm < 0.9 and microsoft/Swin-Transformer swin_tiny_patch4_window7_224.pth … swin_base_patch4_window12_384.pth (head, downsample at the end of a stage, [N, N] relative_position_index)',
  detect: (keys) => keys.has('patch_embed.proj.weight') && hasPrefix(keys, 'layers.'),
  rules: [
    ...SWIN_BLOCK_RULES,
    { theirs: 'layers.{s}.downsample.', ours: 'features.{2s+2}.' },
    { theirs: 'head.', ours: 'head.' },
  ],
  drop: SWIN_DROP,
  complete: addRelativePositionIndex,
};

/** Adds each block's missing `relative_position_index`, its window read off the bias table ((2w−1)² rows). */
function addRelativePositionIndex(tensors: Map<string, HostTensor>, added: KeyMapReport['added']): void {
  for (const [key, table] of [...tensors]) {
    if (!key.endsWith('.attn.relative_position_bias_table')) continue;
    const indexKey = key.replace(/relative_position_bias_table$/, 'relative_position_index');
    if (tensors.has(indexKey)) continue;
    const side = Math.round(Math.sqrt(table.shape[0]));
    if (side * side !== table.shape[0] || side % 2 !== 1) continue;
    const window = (side + 1) / 2;
    const index = relativePositionIndex(window, window);
    tensors.set(indexKey, { dtype: 'int64', shape: [index.length], data: index });
    added.push({ key: indexKey, why: `computed for a ${(side + 1) / 2}×${(side + 1) / 2} window` });
  }
}

// ---- JSON arguments and registration ---------------------------------------------------------

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v <= 1;
const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isPair = (v: unknown): v is number[] => Array.isArray(v) && v.length === 2 && v.every(isPositiveInt);
const isCounts = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((d) => isNumber(d) && Number.isInteger(d) && d >= 0);
const isHeads = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt);

const BLOCKS: Record<string, SwinBlockClass> = { SwinTransformerBlock, SwinTransformerBlockV2 };
const DOWNSAMPLERS: Record<string, DownsampleClass> = { PatchMerging, PatchMergingV2 };

/** a class argument given by its torchvision class name */
function classArg<T>(args: JsonArgs, key: string, table: Record<string, T>, fallback: string): T {
  const names = Object.keys(table);
  const name = arg(args, key, fallback, (v): v is string => isString(v) && names.includes(v), `one of ${names.join(', ')} (a class name)`);
  return table[name];
}

/** what each required argument is, for its error message */
const REQUIRED: Record<'patchSize' | 'embedDim' | 'depths' | 'numHeads' | 'windowSize', string> = {
  patchSize: 'two positive integers [height, width]',
  embedDim: 'a positive integer',
  depths: 'a non-empty array of non-negative integers (blocks per stage)',
  numHeads: 'a non-empty array of positive integers (heads per stage)',
  windowSize: 'two positive integers [height, width]',
};
const OPTIONAL = ['mlpRatio', 'dropout', 'attentionDropout', 'stochasticDepthProb', 'numClasses', 'block', 'downsampleLayer'] as const;

defineFamily({
  family: 'swin',
  source: 'torchvision',
  layerIds: stagedLayerIds,
  ...PAPERS[1],
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    SwinTransformer: {
      args: [...Object.keys(REQUIRED), ...OPTIONAL],
      build(args) {
        for (const [k, what] of Object.entries(REQUIRED)) if (args[k] === undefined) throw new UserError(`SwinTransformer: argument ${k} is required (${what})`);
        return new SwinTransformer({
          patchSize: arg(args, 'patchSize', [], isPair, REQUIRED.patchSize),
          embedDim: arg(args, 'embedDim', 0, isPositiveInt, REQUIRED.embedDim),
          depths: arg(args, 'depths', [], isCounts, REQUIRED.depths),
          numHeads: arg(args, 'numHeads', [], isHeads, REQUIRED.numHeads),
          windowSize: arg(args, 'windowSize', [], isPair, REQUIRED.windowSize),
          mlpRatio: arg(args, 'mlpRatio', 4, isPositive, 'a positive number'),
          dropout: arg(args, 'dropout', 0, isProbability, 'a number in [0, 1]'),
          attentionDropout: arg(args, 'attentionDropout', 0, isProbability, 'a number in [0, 1]'),
          stochasticDepthProb: stochasticDepthArg(args, 0.1),
          numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
          block: classArg(args, 'block', BLOCKS, 'SwinTransformerBlock'),
          downsampleLayer: classArg(args, 'downsampleLayer', DOWNSAMPLERS, 'PatchMerging'),
        });
      },
    },
  },
  builderArgs: ['stochasticDepthProb'],
  configs: swinConfigs.map((c) => ({
    name: c.name,
    inputSize: c.weights.crop,
    ...PAPERS[c.version],
    pretrained: pretrainedOf(c),
    build: (args) =>
      new SwinTransformer({
        patchSize: [4, 4],
        embedDim: c.embedDim,
        depths: c.depths,
        numHeads: c.numHeads,
        windowSize: [c.window, c.window],
        stochasticDepthProb: stochasticDepthArg(args, c.stochasticDepthProb),
        numClasses: args.numClasses,
        block: c.version === 2 ? SwinTransformerBlockV2 : SwinTransformerBlock,
        downsampleLayer: c.version === 2 ? PatchMergingV2 : PatchMerging,
      }),
  })),
  keyFilter: { summary: "timm's and microsoft's Swin names (both downsample conventions) → torchvision's", layouts: [SWIN_TIMM, SWIN_TIMM_LEGACY] },
});
