/**
 * torchvision's VisionTransformer (`vit_b_16`, `vit_b_32`, `vit_l_16`, `vit_l_32`): same
 * constructor arguments (camelCase), attribute names, hence `state_dict()` keys (`class_token`,
 * `conv_proj.weight`, `encoder.pos_embedding`,
 * `encoder.layers.encoder_layer_0.self_attention.in_proj_weight`, `…mlp.0.weight`, `…mlp.3.weight`,
 * `encoder.ln.weight`, `heads.head.weight`), and initialization. Self-attention is
 * torch.nn.MultiheadAttention (batch_first, packed in-projection) with scaled dot-product
 * attention composed of MatMul / Softmax. `stochasticDepthProb` (not torchvision's: timm's
 * `drop_path_rate`, what MAE fine-tuning uses) drops each block's attention and MLP branches per
 * sample in training, at a rate rising linearly over depth from 0 to it; no parameters, no keys.
 *
 * @example
 * createModel('vit_b_16', { numClasses: 10 });
 * createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64, numClasses: 10 });
 */
import { Value } from '../graph/ir.js';
import { add, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { softmax } from '../ops/softmax.js';
import { pad, reshape, slice, split, transpose } from '../ops/shape.js';
import { fans, normal, uniform } from '../nn/init.js';
import { Conv2d, Dropout, GELU, Linear } from '../nn/layers.js';
import { LayerNorm } from '../nn/norm.js';
import { Module, Parameter, Sequential, tensorValue } from '../nn/module.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { UserError } from '../errors.js';
import { JsonArgs, LayerIds, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt, stochasticDepthArg } from './registry.js';
import { ForeignLayout, hasPrefix } from './key-filters.js';
import { torchvisionWeights } from './torchvision-weights.js';

/** nn.init.xavier_uniform_ */
const xavierUniform = (shape: readonly number[]): Float32Array => {
  const { fanIn, fanOut } = fans(shape);
  return uniform(shape, Math.sqrt(6 / (fanIn + fanOut)));
};

/** torchvision's default norm layer: partial(nn.LayerNorm, eps=1e-6) */
const layerNorm = (dim: number): LayerNorm => new LayerNorm(dim, { eps: 1e-6 });

// ---- attention -------------------------------------------------------------------------------

/**
 * torch.nn.MultiheadAttention(embedDim, numHeads, dropout, batch_first=True) used as
 * self-attention (query = key = value) without masks: state `in_proj_weight` [3D, D],
 * `in_proj_bias` [3D], `out_proj.weight` [D, D], `out_proj.bias` [D], initialized as PyTorch
 * does (xavier_uniform_ in-projection, zero biases, the out-projection's Linear default weight).
 */
export class MultiheadAttention extends Module {
  in_proj_weight: Parameter;
  in_proj_bias: Parameter;
  out_proj: Linear;
  /** dropout on the attention weights (torch's `dropout` argument) */
  attnDropout: Dropout;
  readonly headDim: number;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    dropout = 0,
  ) {
    super();
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim) throw new UserError(`MultiheadAttention: embed_dim ${embedDim} must be divisible by num_heads ${numHeads}`);
    this.in_proj_weight = new Parameter(xavierUniform([3 * embedDim, embedDim]), [3 * embedDim, embedDim]);
    this.in_proj_bias = new Parameter(new Float32Array(3 * embedDim), [3 * embedDim]);
    this.out_proj = new Linear(embedDim, embedDim);
    this.out_proj.bias!.data.fill(0);
    this.attnDropout = new Dropout(dropout);
  }

  /** self-attention over x [N, L, D] (batch first) → [N, L, D] */
  forward(x: Value): Value {
    if (x.rank !== 3 || x.shape[2] !== this.embedDim) throw new UserError(`MultiheadAttention: expected [batch, seq, ${this.embedDim}], got [${x.shape}]`);
    const qkv = add(matmul(x, transpose(tensorValue(this.in_proj_weight), [1, 0])), tensorValue(this.in_proj_bias));
    return this.out_proj.call(packedSelfAttention(qkv, this.numHeads, this.attnDropout));
  }
}

/**
 * Scaled dot-product self-attention of packed projections qkv [N, L, 3D] (q, k, v stacked on the
 * last axis, as torch's `in_proj_weight` and timm's fused `qkv` Linear produce them) → [N, L, D]
 * before the output projection; `attnDropout` acts on the attention weights.
 */
export function packedSelfAttention(qkv: Value, numHeads: number, attnDropout: Dropout): Value {
  const [n, l, d3] = qkv.shape;
  const d = d3 / 3;
  const hd = d / numHeads;
  // [N, L, D] → [N, H, L, hd] per projection
  const [q, k, v] = split(qkv, 2, [d, d, d]).map((t) => transpose(reshape(t, [n, l, numHeads, hd]), [0, 2, 1, 3]));
  // torch scales q by 1/√head_dim before the product
  const scores = matmul(mul(q, 1 / Math.sqrt(hd)), transpose(k, [0, 1, 3, 2]));
  const attn = attnDropout.call(softmax(scores, -1));
  return reshape(transpose(matmul(attn, v), [0, 2, 1, 3]), [n, l, d]);
}

// ---- encoder ---------------------------------------------------------------------------------

/** torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout (keys `0.*` and `3.*`) */
export function mlpBlock(inDim: number, mlpDim: number, dropout: number): Sequential {
  const block = new Sequential(new Linear(inDim, mlpDim), new GELU(), new Dropout(dropout), new Linear(mlpDim, inDim), new Dropout(dropout));
  for (const [, m] of block.namedModules()) {
    if (m instanceof Linear) {
      m.weight.data = xavierUniform(m.weight.shape);
      if (m.bias) m.bias.data = normal(m.bias.shape, 1e-6);
    }
  }
  return block;
}

/**
 * torchvision's EncoderBlock: pre-norm self-attention and MLP, each with a residual; with
 * `dropPath` > 0 each residual branch is dropped per sample in training (timm's Block drop_path)
 */
export class EncoderBlock extends Module {
  ln_1: LayerNorm;
  self_attention: MultiheadAttention;
  dropout: Dropout;
  ln_2: LayerNorm;
  mlp: Sequential;
  /** drop path on both residual branches (a fresh per-sample mask at each); identity in eval */
  drop_path: StochasticDepth;

  constructor(numHeads: number, hiddenDim: number, mlpDim: number, dropout: number, attentionDropout: number, dropPath = 0) {
    super();
    this.ln_1 = layerNorm(hiddenDim);
    this.self_attention = new MultiheadAttention(hiddenDim, numHeads, attentionDropout);
    this.dropout = new Dropout(dropout);
    this.ln_2 = layerNorm(hiddenDim);
    this.mlp = mlpBlock(hiddenDim, mlpDim, dropout);
    this.drop_path = new StochasticDepth(dropPath, 'row');
  }

  forward(input: Value): Value {
    if (input.rank !== 3) throw new UserError(`EncoderBlock: expected (batch_size, seq_length, hidden_dim), got [${input.shape}]`);
    const x = add(this.drop_path.call(this.dropout.call(this.self_attention.call(this.ln_1.call(input)))), input);
    return add(x, this.drop_path.call(this.mlp.call(this.ln_2.call(x))));
  }
}

/**
 * timm's drop-path schedule: block i of `depth` drops at rate · i / (depth − 1), from 0 at the
 * first block to `rate` at the last (torch.linspace(0, rate, depth)).
 *
 * @example
 * dropPathRates(0.1, 3); // → [0, 0.05, 0.1]
 */
export function dropPathRates(rate: number, depth: number): number[] {
  return Array.from({ length: depth }, (_, i) => (depth > 1 ? (rate * i) / (depth - 1) : 0));
}

/** torchvision's Encoder: learned position embedding, dropout, `encoder_layer_{i}` blocks, final LayerNorm */
export class Encoder extends Module {
  pos_embedding: Parameter;
  dropout: Dropout;
  layers: Sequential;
  ln: LayerNorm;

  constructor(seqLength: number, numLayers: number, numHeads: number, hiddenDim: number, mlpDim: number, dropout: number, attentionDropout: number, stochasticDepthProb = 0) {
    super();
    this.pos_embedding = new Parameter(normal([1, seqLength, hiddenDim], 0.02), [1, seqLength, hiddenDim]);
    this.dropout = new Dropout(dropout);
    const rates = dropPathRates(stochasticDepthProb, numLayers);
    this.layers = Sequential.named(rates.map((rate, i): [string, Module] => [`encoder_layer_${i}`, new EncoderBlock(numHeads, hiddenDim, mlpDim, dropout, attentionDropout, rate)]));
    this.ln = layerNorm(hiddenDim);
  }

  forward(input: Value): Value {
    if (input.rank !== 3) throw new UserError(`Encoder: expected (batch_size, seq_length, hidden_dim), got [${input.shape}]`);
    const x = add(input, tensorValue(this.pos_embedding));
    return this.ln.call(this.layers.call(this.dropout.call(x)));
  }
}

// ---- model -----------------------------------------------------------------------------------

export interface VisionTransformerOptions {
  imageSize: number;
  patchSize: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  mlpDim: number;
  dropout?: number;
  attentionDropout?: number;
  /** timm's drop_path_rate: the last block's drop-path rate (see dropPathRates); default 0 */
  stochasticDepthProb?: number;
  numClasses?: number;
}

/** torchvision.models.VisionTransformer (Conv2d patch projection; no representation layer) */
export class VisionTransformer extends Module {
  conv_proj: Conv2d;
  class_token: Parameter;
  encoder: Encoder;
  heads: Sequential;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly hiddenDim: number;
  readonly seqLength: number;

  constructor(opts: VisionTransformerOptions) {
    super();
    const { imageSize, patchSize, hiddenDim } = opts;
    if (imageSize % patchSize !== 0) throw new UserError('VisionTransformer: Input shape indivisible by patch size!');
    this.imageSize = imageSize;
    this.patchSize = patchSize;
    this.hiddenDim = hiddenDim;
    this.conv_proj = new Conv2d(3, hiddenDim, patchSize, { stride: patchSize });
    this.class_token = new Parameter(new Float32Array(hiddenDim), [1, 1, hiddenDim]);
    this.seqLength = (imageSize / patchSize) ** 2 + 1;
    const dropout = opts.dropout ?? 0;
    this.encoder = new Encoder(this.seqLength, opts.numLayers, opts.numHeads, hiddenDim, opts.mlpDim, dropout, opts.attentionDropout ?? 0, opts.stochasticDepthProb ?? 0);
    this.heads = Sequential.named([['head', new Linear(hiddenDim, opts.numClasses ?? 1000)]]);

    // trunc_normal_(std=√(1/fan_in)) with torch's default absolute bounds ±2: with std ≪ 1 no draw is cut
    this.conv_proj.weight.data = normal(this.conv_proj.weight.shape, Math.sqrt(1 / fans(this.conv_proj.weight.shape).fanIn));
    this.conv_proj.bias!.data.fill(0);
    const head = this.heads.at(0) as Linear;
    head.weight.data.fill(0);
    head.bias!.data.fill(0);
  }

  forward(x: Value): Value {
    const [n, c, h, w] = x.shape;
    if (x.rank !== 4 || c !== 3) throw new UserError(`VisionTransformer: expected [batch, 3, ${this.imageSize}, ${this.imageSize}], got [${x.shape}]`);
    if (h !== this.imageSize) throw new UserError(`Wrong image height! Expected ${this.imageSize} but got ${h}!`);
    if (w !== this.imageSize) throw new UserError(`Wrong image width! Expected ${this.imageSize} but got ${w}!`);
    const p = this.patchSize;
    // [N, D, n_h, n_w] → [N, n_h·n_w, D]
    const patches = transpose(reshape(this.conv_proj.call(x), [n, this.hiddenDim, (h / p) * (w / p)]), [0, 2, 1]);
    // the class token before the patches: concat([class_token.expand(n), patches]) written as two
    // zero-paddings added, so that graphs exported with a dynamic batch take any batch size
    const tokens = add(pad(patches, [0, 1, 0, 0, 0, 0]), pad(tensorValue(this.class_token), [0, 0, 0, 0, this.seqLength - 1, 0]));
    const y = this.encoder.call(tokens);
    // x[:, 0]
    return this.heads.call(reshape(slice(y, [1], [0], [1]), [n, this.hiddenDim]));
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface ViTConfig {
  readonly name: string;
  readonly patchSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly hiddenDim: number;
  readonly mlpDim: number;
  /** torchvision 0.14's DEFAULT weights for the builder */
  readonly pretrained: PretrainedConfig;
  /** why zoo_params.json has no row for it (see ConfigDeclaration.notInZoo) */
  readonly notInZoo?: string;
}

/**
 * a torchvision ViT IMAGENET1K_V1 `Weights` entry, the DEFAULT of every config here (trained on
 * ImageNet-1K from scratch; crop 224, bilinear; the head is the Linear `heads.head`). vit_b_16 and
 * vit_l_16 also have SWAG weights (pre-trained on Instagram images), not DEFAULT.
 */
const weights = (file: string, top1: number, top5: number, resizeSize = 256) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'heads.head' });

/**
 * vit_h_14 has no ImageNet-1K-only weights: torchvision 0.14 publishes SWAG's (a trunk
 * pre-trained on Instagram images, under SWAG's non-commercial licence). Its DEFAULT,
 * IMAGENET1K_SWAG_E2E_V1, is fine-tuned at 518 (a 518 model, whose position embedding the 224
 * one cannot load); the entry is IMAGENET1K_SWAG_LINEAR_V1, the frozen trunk with a linear head
 * trained on ImageNet-1K at 224 (resize 224, bicubic), which fits the registered model.
 */
const vitH14SwagLinear: PretrainedConfig = {
  ...torchvisionWeights({ file: 'vit_h_14_lc_swag-c1eb923e.pth', top1: 85.708, top5: 97.73, resizeSize: 224, interpolation: 'bicubic', classifier: 'heads.head' }),
  licence: 'CC-BY-NC-4.0 (facebookresearch/SWAG licence: non-commercial use); trunk pre-trained on Instagram images (SWAG), head trained on ImageNet-1K',
};

export const vitConfigs: readonly ViTConfig[] = [
  { name: 'vit_b_16', patchSize: 16, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072, pretrained: weights('vit_b_16-c867db91.pth', 81.072, 95.318) },
  { name: 'vit_b_32', patchSize: 32, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072, pretrained: weights('vit_b_32-d86f8d99.pth', 75.912, 92.466) },
  { name: 'vit_l_16', patchSize: 16, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096, pretrained: weights('vit_l_16-852ce7e3.pth', 79.662, 94.638, 242) },
  { name: 'vit_l_32', patchSize: 32, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096, pretrained: weights('vit_l_32-c7638314.pth', 76.972, 93.07) },
  {
    name: 'vit_h_14', patchSize: 14, numLayers: 32, numHeads: 16, hiddenDim: 1280, mlpDim: 5120, pretrained: vitH14SwagLinear,
    notInZoo: "../shared/fixtures/zoo_params.json predates it; its counts match torchvision's published num_params (632,045,800 at 1,000 classes, 224) and test/zoo.test.ts extrapolates them from depths 1 and 2 (632M parameters are too many to build in a test)",
  },
];

// ---- key filter: foreign checkpoints' names ----------------------------------------------------

/** MAE's decoder (facebookresearch/mae models_mae.py names): pre-training only, dropped when an encoder is loaded */
const MAE_DECODER = { pattern: /^(decoder_|mask_token$)/, why: "MAE's decoder (pre-training only)" };

const VIT_TIMM: ForeignLayout = {
  name: 'timm',
  writtenAgainst: 'timm vit_base_patch16_224 (also vit_base_patch32_224, vit_large_patch16_224, vit_large_patch32_224), timm 0.6 to 1.0',
  detect: (keys) => keys.has('cls_token') || hasPrefix(keys, 'blocks.'),
  rules: [
    { theirs: 'cls_token', ours: 'class_token' },
    { theirs: 'pos_embed', ours: 'encoder.pos_embedding' },
    { theirs: 'patch_embed.proj.', ours: 'conv_proj.' },
    { theirs: 'blocks.{i}.norm1.', ours: 'encoder.layers.encoder_layer_{i}.ln_1.' },
    { theirs: 'blocks.{i}.attn.qkv.weight', ours: 'encoder.layers.encoder_layer_{i}.self_attention.in_proj_weight' },
    { theirs: 'blocks.{i}.attn.qkv.bias', ours: 'encoder.layers.encoder_layer_{i}.self_attention.in_proj_bias' },
    { theirs: 'blocks.{i}.attn.proj.', ours: 'encoder.layers.encoder_layer_{i}.self_attention.out_proj.' },
    { theirs: 'blocks.{i}.norm2.', ours: 'encoder.layers.encoder_layer_{i}.ln_2.' },
    { theirs: 'blocks.{i}.mlp.fc1.', ours: 'encoder.layers.encoder_layer_{i}.mlp.0.' },
    { theirs: 'blocks.{i}.mlp.fc2.', ours: 'encoder.layers.encoder_layer_{i}.mlp.3.' },
    { theirs: 'norm.', ours: 'encoder.ln.' },
    { theirs: 'head.', ours: 'heads.head.' },
  ],
  drop: [MAE_DECODER],
};

/**
 * A `tessera pretrain --method mae` run's checkpoint (src/mae/model.ts): the encoder in our names
 * beside MAE's decoder (`decoder_embed`, `mask_token`, `decoder_pos_embed`, `decoder_blocks`,
 * `decoder_norm`, `decoder_pred`), which fine-tuning drops; it has no head.
 */
const VIT_MAE: ForeignLayout = {
  name: 'mae',
  writtenAgainst: 'tessera pretrain --method mae run checkpoints (decoder names of facebookresearch/mae models_mae.py)',
  detect: (keys) => keys.has('decoder_pred.weight') && keys.has('conv_proj.weight'),
  rules: [],
  drop: [MAE_DECODER],
};

// ---- registration ----------------------------------------------------------------------------

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v <= 1;

/** the arguments a builder (`vit_b_16`, ...) leaves to its caller */
function builderOptions(args: JsonArgs): Pick<VisionTransformerOptions, 'imageSize' | 'numClasses' | 'dropout' | 'attentionDropout' | 'stochasticDepthProb'> {
  return {
    imageSize: arg(args, 'imageSize', 224, isPositiveInt, 'a positive integer'),
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    dropout: arg(args, 'dropout', 0, isProbability, 'a number between 0 and 1'),
    attentionDropout: arg(args, 'attentionDropout', 0, isProbability, 'a number between 0 and 1'),
    stochasticDepthProb: stochasticDepthArg(args, 0),
  };
}

const required = ['imageSize', 'patchSize', 'numLayers', 'numHeads', 'hiddenDim', 'mlpDim'] as const;

/**
 * Layer ids for `--layer-decay` (timm's VisionTransformer groups in torchvision's names): the
 * class token, patch projection and position embedding are layer 0, `encoder_layer_N` is layer
 * N + 1, the final norm and the head the last.
 *
 * @example
 * const ids = vitLayerIds(createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64 }));
 * [ids.numLayers, ids.layerId('class_token'), ids.layerId('encoder.layers.encoder_layer_1.mlp.0.weight'), ids.layerId('heads.head.bias')]; // → [4, 0, 2, 3]
 */
export function vitLayerIds(model: Module): LayerIds {
  const layers = [...model.namedModules()].find(([path]) => path === 'encoder.layers')?.[1];
  if (!layers) throw new Error(`${model.constructor.name}: vitLayerIds needs "encoder.layers"`);
  const last = layers.namedChildren().length + 1;
  return {
    numLayers: last + 1,
    layerId(key) {
      if (key === 'class_token' || key === 'encoder.pos_embedding' || key.startsWith('conv_proj.')) return 0;
      const block = /^encoder\.layers\.encoder_layer_(\d+)\./.exec(key);
      return block ? Number(block[1]) + 1 : last;
    },
  };
}

defineFamily({
  family: 'vit',
  source: 'torchvision',
  year: 2020,
  paper: 'An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale',
  inputSize: 224,
  // the position embedding fixes the image size
  minInputSize: 224,
  numClasses: 1000,
  constructors: {
    VisionTransformer: {
      args: [...required, 'numClasses', 'dropout', 'attentionDropout', 'stochasticDepthProb'],
      build(args) {
        for (const k of required) if (args[k] === undefined) throw new UserError(`VisionTransformer: argument ${k} is required (a positive integer)`);
        const int = (k: (typeof required)[number]) => arg(args, k, 1, isPositiveInt, 'a positive integer');
        return new VisionTransformer({
          ...builderOptions(args),
          imageSize: int('imageSize'),
          patchSize: int('patchSize'),
          numLayers: int('numLayers'),
          numHeads: int('numHeads'),
          hiddenDim: int('hiddenDim'),
          mlpDim: int('mlpDim'),
        });
      },
    },
  },
  builderArgs: ['imageSize', 'dropout', 'attentionDropout', 'stochasticDepthProb'],
  layerIds: vitLayerIds,
  configs: vitConfigs.map((c) => ({
    name: c.name,
    pretrained: c.pretrained,
    notInZoo: c.notInZoo,
    build: (args) => new VisionTransformer({ ...builderOptions(args), patchSize: c.patchSize, numLayers: c.numLayers, numHeads: c.numHeads, hiddenDim: c.hiddenDim, mlpDim: c.mlpDim }),
  })),
  keyFilter: { summary: "timm's VisionTransformer names → torchvision's; MAE's decoder dropped", layouts: [VIT_TIMM, VIT_MAE] },
});
