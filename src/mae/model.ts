/**
 * MAE's pre-training model (He et al. 2021; facebookresearch/mae `models_mae.py`
 * MaskedAutoencoderViT) around a torchvision VisionTransformer: the encoder keeps the ViT's own
 * modules and key names (`conv_proj`, `class_token`, `encoder.pos_embedding`,
 * `encoder.layers.*`, `encoder.ln`; the head is not part of it), so a pre-training checkpoint
 * fine-tunes like any ViT checkpoint; the decoder has MAE's names (`decoder_embed`, `mask_token`,
 * `decoder_pos_embed`, `decoder_blocks.{i}` as timm Blocks, `decoder_norm`, `decoder_pred`).
 *
 * As in MAE: fixed 2-D sin-cos position embeddings in encoder and decoder (not trained), the
 * encoder sees only the visible patches (`ids_keep`), the decoder appends mask tokens and
 * un-shuffles with `ids_restore`, and the loss is the mean squared error over the masked patches
 * only (`mask` 1), against per-patch normalised pixels with `normPixLoss`. The masking itself is
 * drawn in TypeScript (src/mae/masking.ts) and fed as graph inputs. Initialization is MAE's
 * `initialize_weights` for every part (xavier-uniform Linear weights and patch projection, zero
 * biases, N(0, 0.02) class and mask tokens).
 *
 * @example
 * const mae = new MaskedAutoencoder(createModel('vit_tiny_cifar') as VisionTransformer, { decoderDim: 64, decoderDepth: 1, decoderHeads: 2 });
 * [mae.numPatches, mae.patchDim]; // → [64, 48]
 * [...mae.stateDict().keys()].filter((k) => k.startsWith('decoder_blocks.0.attn')); // → ['decoder_blocks.0.attn.qkv.weight', 'decoder_blocks.0.attn.qkv.bias', 'decoder_blocks.0.attn.proj.weight', 'decoder_blocks.0.attn.proj.bias']
 */
import { Value } from '../graph/ir.js';
import { UserError } from '../errors.js';
import { add, div, mul, sqrt, sub } from '../ops/elementwise.js';
import { concat, expand, reduceMean, reduceSum, reshape, slice, transpose } from '../ops/shape.js';
import { gatherTokens } from '../ops/tokens.js';
import { fans, normal, uniform } from '../nn/init.js';
import { Conv2d, Dropout, GELU, Linear } from '../nn/layers.js';
import { LayerNorm } from '../nn/norm.js';
import { Module, Parameter, Sequential, tensorValue } from '../nn/module.js';
import { Encoder, VisionTransformer, packedSelfAttention } from '../models/vit.js';

/** The decoder's size: MAE's defaults (512 wide, 8 blocks, 16 heads for ViT-B) scaled down by 4 for CIFAR-sized encoders. */
export interface MaeDecoderOptions {
  readonly decoderDim: number;
  readonly decoderDepth: number;
  readonly decoderHeads: number;
}

export const MAE_DECODER_DEFAULTS: MaeDecoderOptions = { decoderDim: 128, decoderDepth: 2, decoderHeads: 4 };

/** The masking of one batch as graph values: ids_keep [N, K], ids_restore [N, L] (int64), mask [N, L] (1 = masked). */
export interface MaskValues {
  readonly idsKeep: Value;
  readonly idsRestore: Value;
  readonly mask: Value;
}

const layerNorm = (dim: number): LayerNorm => new LayerNorm(dim, { eps: 1e-6 });

/** xavier_uniform_ of a weight viewed as [out, in·…] */
function xavierUniform(shape: readonly number[]): Float32Array {
  const { fanIn, fanOut } = fans([shape[0], shape.slice(1).reduce((a, b) => a * b, 1)]);
  return uniform(shape, Math.sqrt(6 / (fanIn + fanOut)));
}

/**
 * MAE's `get_2d_sincos_pos_embed(dim, gridSize, cls_token=True)`: [1 + gridSize², dim], row 0
 * (the class token's) zeros; for the patch at (row i, column j) the first half encodes j and the
 * second half i, each half [sin(p·ω_k), cos(p·ω_k)] with ω_k = 10000^(−k/(dim/4)).
 *
 * @example
 * const pe = sincosPositionEmbedding(8, 2); // 5 rows of 8
 * [pe.length, pe[8 + 1], pe[8 + 3]]; // → [40, 1, 1]
 */
export function sincosPositionEmbedding(dim: number, gridSize: number): Float32Array {
  if (dim % 4 !== 0) throw new UserError(`MAE: the embedding width ${dim} must be a multiple of 4 for the 2-D sin-cos position embedding`);
  const quarter = dim / 4;
  const out = new Float32Array((gridSize * gridSize + 1) * dim);
  const encode = (row: number, offset: number, pos: number) => {
    for (let k = 0; k < quarter; k++) {
      const angle = pos / 10000 ** (k / quarter);
      out[row * dim + offset + k] = Math.sin(angle);
      out[row * dim + offset + quarter + k] = Math.cos(angle);
    }
  };
  for (let i = 0; i < gridSize; i++) {
    for (let j = 0; j < gridSize; j++) {
      const row = 1 + i * gridSize + j;
      encode(row, 0, j);
      encode(row, dim / 2, i);
    }
  }
  return out;
}

/**
 * MAE's `patchify`: images [N, 3, H, W] → [N, L, p·p·3], patches in row-major order, each
 * flattened as (row in patch, column in patch, channel).
 */
export function patchify(imgs: Value, p: number): Value {
  const [n, c, h, w] = imgs.shape;
  const [gh, gw] = [h / p, w / p];
  const x = transpose(reshape(imgs, [n, c, gh, p, gw, p]), [0, 2, 4, 3, 5, 1]);
  return reshape(x, [n, gh * gw, p * p * c]);
}

// ---- the decoder's timm Block ------------------------------------------------------------------

/** timm's Attention (fused `qkv` Linear with bias, `proj`) */
class Attention extends Module {
  qkv: Linear;
  attn_drop = new Dropout(0);
  proj: Linear;

  constructor(
    dim: number,
    readonly numHeads: number,
  ) {
    super();
    if (dim % numHeads !== 0) throw new UserError(`MAE decoder: width ${dim} must be divisible by its ${numHeads} heads`);
    this.qkv = new Linear(dim, 3 * dim);
    this.proj = new Linear(dim, dim);
  }

  forward(x: Value): Value {
    return this.proj.call(packedSelfAttention(this.qkv.call(x), this.numHeads, this.attn_drop));
  }
}

/** timm's Mlp (`fc1`, GELU, `fc2`) */
class Mlp extends Module {
  fc1: Linear;
  act = new GELU();
  fc2: Linear;

  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = new Linear(dim, hidden);
    this.fc2 = new Linear(hidden, dim);
  }

  forward(x: Value): Value {
    return this.fc2.call(this.act.call(this.fc1.call(x)));
  }
}

/** timm's Block as MAE's decoder uses it: pre-norm attention and MLP (ratio 4), each with a residual */
export class DecoderBlock extends Module {
  norm1: LayerNorm;
  attn: Attention;
  norm2: LayerNorm;
  mlp: Mlp;

  constructor(dim: number, numHeads: number) {
    super();
    this.norm1 = layerNorm(dim);
    this.attn = new Attention(dim, numHeads);
    this.norm2 = layerNorm(dim);
    this.mlp = new Mlp(dim, 4 * dim);
  }

  forward(input: Value): Value {
    const x = add(input, this.attn.call(this.norm1.call(input)));
    return add(x, this.mlp.call(this.norm2.call(x)));
  }
}

// ---- the model ---------------------------------------------------------------------------------

/** MaskedAutoencoderViT around a torchvision ViT (see the module comment). */
export class MaskedAutoencoder extends Module {
  conv_proj: Conv2d;
  class_token: Parameter;
  encoder: Encoder;
  decoder_embed: Linear;
  mask_token: Parameter;
  decoder_pos_embed: Parameter;
  decoder_blocks: Sequential;
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  readonly patchSize: number;
  readonly gridSize: number;
  readonly numPatches: number;
  readonly hiddenDim: number;
  readonly decoderDim: number;
  /** values per patch: p·p·3 */
  readonly patchDim: number;

  constructor(vit: VisionTransformer, opts: MaeDecoderOptions = MAE_DECODER_DEFAULTS) {
    super();
    this.conv_proj = vit.conv_proj;
    this.class_token = vit.class_token;
    this.encoder = vit.encoder;
    this.patchSize = vit.patchSize;
    this.gridSize = vit.imageSize / vit.patchSize;
    this.numPatches = this.gridSize ** 2;
    this.hiddenDim = vit.hiddenDim;
    this.decoderDim = opts.decoderDim;
    this.patchDim = this.patchSize ** 2 * 3;
    const tokens = this.numPatches + 1;
    this.decoder_embed = new Linear(this.hiddenDim, opts.decoderDim);
    this.mask_token = new Parameter(normal([1, 1, opts.decoderDim], 0.02), [1, 1, opts.decoderDim]);
    this.decoder_pos_embed = new Parameter(sincosPositionEmbedding(opts.decoderDim, this.gridSize), [1, tokens, opts.decoderDim], false);
    this.decoder_blocks = new Sequential(...Array.from({ length: opts.decoderDepth }, () => new DecoderBlock(opts.decoderDim, opts.decoderHeads)));
    this.decoder_norm = layerNorm(opts.decoderDim);
    this.decoder_pred = new Linear(opts.decoderDim, this.patchDim);
    this.initializeWeights();
  }

  /** MAE's initialize_weights: fixed sin-cos encoder positions, xavier patch projection and Linear weights, zero biases, N(0, 0.02) tokens */
  private initializeWeights(): void {
    const pos = this.encoder.pos_embedding;
    pos.data = sincosPositionEmbedding(this.hiddenDim, this.gridSize);
    pos.requiresGrad = false;
    this.conv_proj.weight.data = xavierUniform(this.conv_proj.weight.shape);
    this.class_token.data = normal(this.class_token.shape, 0.02);
    for (const [, m] of this.namedModules()) {
      if (m instanceof Linear) {
        m.weight.data = xavierUniform(m.weight.shape);
        m.bias?.data.fill(0);
      }
      if (m instanceof LayerNorm) {
        m.weight?.data.fill(1);
        m.bias?.data.fill(0);
      }
    }
    // torch.nn.MultiheadAttention's packed in-projection is a Parameter, not a Linear: MAE's timm qkv is xavier-initialised too
    for (const [key, p] of this.namedParameters()) {
      if (key.endsWith('.in_proj_weight')) p.data = xavierUniform(p.shape);
      if (key.endsWith('.in_proj_bias')) p.data.fill(0);
    }
  }

  /** trained through `loss` (the masking is an input); there is no single-input forward */
  forward(): Value {
    throw new UserError('MaskedAutoencoder has no classifier forward: it is trained through its loss (tessera pretrain --method mae)');
  }

  /** the encoder on the visible patches: images [N, 3, H, W] → latent [N, 1 + K, D] (class token first) */
  forwardEncoder(imgs: Value, idsKeep: Value): Value {
    const [n] = imgs.shape;
    const [l, d] = [this.numPatches, this.hiddenDim];
    const patches = transpose(reshape(this.conv_proj.call(imgs), [n, d, l]), [0, 2, 1]);
    const pos = tensorValue(this.encoder.pos_embedding);
    const visible = gatherTokens(add(patches, slice(pos, [1], [1], [l + 1])), idsKeep);
    const cls = expand(add(tensorValue(this.class_token), slice(pos, [1], [0], [1])), [n, 1, d]);
    return this.encoder.ln.call(this.encoder.layers.call(concat([cls, visible], 1)));
  }

  /** the decoder: latent [N, 1 + K, D] → predicted pixels [N, L, p·p·3] in the original patch order */
  forwardDecoder(latent: Value, idsRestore: Value): Value {
    const [n, kept] = latent.shape;
    const [l, dd] = [this.numPatches, this.decoderDim];
    const x = this.decoder_embed.call(latent);
    const visible = slice(x, [1], [1], [kept]);
    const masked = expand(tensorValue(this.mask_token), [n, l + 1 - kept, dd]);
    const unshuffled = gatherTokens(concat([visible, masked], 1), idsRestore);
    const tokens = add(concat([slice(x, [1], [0], [1]), unshuffled], 1), tensorValue(this.decoder_pos_embed));
    const y = this.decoder_pred.call(this.decoder_norm.call(this.decoder_blocks.call(tokens)));
    return slice(y, [1], [1], [l + 1]);
  }

  /**
   * MAE's forward_loss: the mean over masked patches of the per-patch mean squared error between
   * `pred` and the image's patches (normalised per patch by their mean and unbiased variance with
   * `normPixLoss`, as `target.var(dim=-1)` computes it).
   */
  reconstructionLoss(imgs: Value, pred: Value, mask: Value, normPixLoss: boolean): Value {
    const target = reconstructionTarget(imgs, this.patchSize, normPixLoss);
    const diff = sub(pred, target);
    const perPatch = reduceMean(mul(diff, diff), [2]);
    return div(reduceSum(mul(perPatch, mask), [0, 1]), reduceSum(mask, [0, 1]));
  }

  /** the whole objective on a batch: loss and predicted patches */
  run(imgs: Value, masking: MaskValues, normPixLoss: boolean): { loss: Value; pred: Value } {
    const pred = this.forwardDecoder(this.forwardEncoder(imgs, masking.idsKeep), masking.idsRestore);
    return { loss: this.reconstructionLoss(imgs, pred, masking.mask, normPixLoss), pred };
  }
}

/** the patches the decoder predicts: patchify(imgs), normalised per patch with `normPixLoss` ((x − mean) / √(var + 1e-6), unbiased var) */
export function reconstructionTarget(imgs: Value, patchSize: number, normPixLoss: boolean): Value {
  const target = patchify(imgs, patchSize);
  if (!normPixLoss) return target;
  const count = target.shape[2];
  const centred = sub(target, reduceMean(target, [2], true));
  const variance = div(reduceSum(mul(centred, centred), [2], true), count - 1);
  return div(centred, sqrt(add(variance, 1e-6)));
}
