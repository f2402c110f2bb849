/**
 * The building blocks of torchvision's MaxViT (models/maxvit.py), with torchvision's attribute
 * names, hence its `state_dict()` keys:
 * - `MBConv`: pre-norm inverted bottleneck with torchvision.ops.SqueezeExcitation (`proj.*`,
 *   `layers.pre_norm`, `layers.conv_a.{0,1}`, `layers.conv_b.{0,1}`,
 *   `layers.squeeze_excitation.fc1/fc2`, `layers.conv_c`)
 * - `RelativePositionalMultiHeadAttention`: `to_qkv`, `merge`, `relative_position_bias_table`
 *   [(2s−1)², heads] and the int64 buffer `relative_position_index` [s², s²]
 * - `PartitionAttentionLayer`: window ("block") or grid partition, pre-norm attention
 *   (`attn_layer.{0,1}`) and MLP (`mlp_layer.{0,1,3}`), each residual with stochastic depth
 * - `MaxVitLayer` (`layers.MBconv`, `layers.window_attention`, `layers.grid_attention`) and
 *   `MaxVitBlock` (`layers.{i}`)
 *
 * @example
 * const block = new MaxVitBlock({ inChannels: 8, outChannels: 16, squeezeRatio: 0.25, expansionRatio: 4,
 *   normLayer: (c) => new BatchNorm2d(c), activationLayer: () => new GELU(), headDim: 4, mlpRatio: 4,
 *   mlpDropout: 0, attentionDropout: 0, partitionSize: 2, inputGridSize: [8, 8], stochasticDepthProbs: [0] });
 * block.gridSize; // [4, 4]
 */
import { UserError } from '../errors.js';
import { Value } from '../graph/ir.js';
import { add, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { softmax } from '../ops/softmax.js';
import { reshape, split, transpose } from '../ops/shape.js';
import { truncNormal } from '../nn/init.js';
import { AvgPool2d, Conv2d, Dropout, Identity, Linear, SiLU } from '../nn/layers.js';
import { Buffer, Module, ModuleList, Parameter, Sequential, tensorValue } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { SqueezeExcitation } from './common.js';
import { Conv2dNormActivation, NormLayer } from './mobilenetv2.js';
import { relativePositionBias, relativePositionIndex } from './relative-position.js';

/** a height and width */
export type GridSize = readonly [number, number];

/** the output size of a square-kernel convolution (torchvision's `_get_conv_output_shape`) */
export function convOutputSize(input: GridSize, kernelSize: number, stride: number, padding: number): [number, number] {
  const out = (n: number) => Math.floor((n - kernelSize + 2 * padding) / stride) + 1;
  return [out(input[0]), out(input[1])];
}

// ---- MBConv ----------------------------------------------------------------------------------

/** torchvision.models.maxvit.MBConv's arguments */
export interface MBConvOptions {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly expansionRatio: number;
  readonly squeezeRatio: number;
  /** 1 or 2 */
  readonly stride: number;
  readonly activationLayer: () => Module;
  readonly normLayer: NormLayer;
  /** default 0 */
  readonly stochasticDepthProb?: number;
}

/**
 * MaxViT's MBConv: pre-norm, 1x1 expansion, depthwise 3x3 (strided), squeeze-excitation with
 * SiLU on `int(outChannels · squeezeRatio)` channels, 1x1 projection; residual through `proj`
 * (3x3 average pool when strided, then a 1x1 conv with bias) when the shape changes.
 */
export class MBConv extends Module {
  proj: Module;
  stochastic_depth: StochasticDepth;
  layers: Sequential;

  constructor(o: MBConvOptions) {
    super();
    if (o.stride !== 1 && o.stride !== 2) throw new UserError(`MBConv: stride must be 1 or 2, got ${o.stride}`);
    const midChannels = Math.trunc(o.outChannels * o.expansionRatio);
    const squeezeChannels = Math.trunc(o.outChannels * o.squeezeRatio);
    if (midChannels < 1) throw new UserError(`MBConv: int(${o.outChannels} channels · expansionRatio ${o.expansionRatio}) is ${midChannels}; raise expansionRatio`);
    if (squeezeChannels < 1) throw new UserError(`MBConv: int(${o.outChannels} channels · squeezeRatio ${o.squeezeRatio}) is ${squeezeChannels}; raise squeezeRatio`);
    if (o.stride !== 1 || o.inChannels !== o.outChannels) {
      const conv = new Conv2d(o.inChannels, o.outChannels, 1, { bias: true });
      this.proj = o.stride === 2 ? new Sequential(new AvgPool2d(3, { stride: o.stride, padding: 1 }), conv) : new Sequential(conv);
    } else {
      this.proj = new Identity();
    }
    // torchvision uses an Identity for p = 0; StochasticDepth(0) is the same function
    this.stochastic_depth = new StochasticDepth(o.stochasticDepthProb ?? 0, 'row');
    const { activationLayer, normLayer } = o;
    this.layers = Sequential.named([
      ['pre_norm', normLayer(o.inChannels)],
      ['conv_a', new Conv2dNormActivation(o.inChannels, midChannels, { kernelSize: 1, stride: 1, padding: 0, activationLayer, normLayer })],
      ['conv_b', new Conv2dNormActivation(midChannels, midChannels, { kernelSize: 3, stride: o.stride, padding: 1, activationLayer, normLayer, groups: midChannels })],
      ['squeeze_excitation', new SqueezeExcitation(midChannels, squeezeChannels, () => new SiLU())],
      ['conv_c', new Conv2d(midChannels, o.outChannels, 1, { bias: true })],
    ]);
  }

  forward(x: Value): Value {
    return add(this.proj.call(x), this.stochastic_depth.call(this.layers.call(x)));
  }
}

// ---- attention -------------------------------------------------------------------------------

/**
 * Multi-head self-attention over [B, G, P, D] (G independent sequences of P = maxSeqLen
 * positions) with a learned bias per head and relative offset inside the √P × √P window. Keys are
 * scaled by featDim^−½ (torchvision scales by the feature size, not the head size).
 */
export class RelativePositionalMultiHeadAttention extends Module {
  to_qkv: Linear;
  merge: Linear;
  relative_position_bias_table: Parameter;
  relative_position_index: Buffer;
  readonly numHeads: number;
  readonly scaleFactor: number;
  /** the window side √maxSeqLen */
  readonly size: number;

  constructor(
    readonly featDim: number,
    readonly headDim: number,
    readonly maxSeqLen: number,
  ) {
    super();
    if (featDim % headDim !== 0) throw new UserError(`RelativePositionalMultiHeadAttention: feat_dim ${featDim} must be divisible by head_dim ${headDim}`);
    this.numHeads = featDim / headDim;
    this.size = Math.trunc(Math.sqrt(maxSeqLen));
    if (this.size * this.size !== maxSeqLen) throw new UserError(`RelativePositionalMultiHeadAttention: max_seq_len ${maxSeqLen} must be a square`);
    this.to_qkv = new Linear(featDim, this.numHeads * headDim * 3);
    this.scaleFactor = featDim ** -0.5;
    this.merge = new Linear(this.numHeads * headDim, featDim);
    const tableShape = [(2 * this.size - 1) ** 2, this.numHeads];
    this.relative_position_bias_table = new Parameter(truncNormal(tableShape, 0.02), tableShape);
    this.relative_position_index = new Buffer(relativePositionIndex(this.size, this.size), [maxSeqLen, maxSeqLen], 'int64');
  }

  /**
   * torchvision's `get_relative_positional_bias()`: table[index] as [1, heads, P, P]. The index
   * buffer is read at trace time (a loaded checkpoint's index is honoured; training never changes it).
   */
  relativePositionalBias(): Value {
    return relativePositionBias(tensorValue(this.relative_position_bias_table), this.relative_position_index.data, this.maxSeqLen);
  }

  /** x [B, G, P, D] → [B, G, P, D] */
  forward(x: Value): Value {
    if (x.rank !== 4 || x.shape[2] !== this.maxSeqLen || x.shape[3] !== this.featDim) {
      throw new UserError(`RelativePositionalMultiHeadAttention: expected [batch, groups, ${this.maxSeqLen}, ${this.featDim}], got [${x.shape}]`);
    }
    const [b, g, p, d] = x.shape;
    const [h, dh] = [this.numHeads, this.headDim];
    // [B, G, P, 3·H·dh] → three [B, G, H, P, dh]
    const [q, k, v] = split(this.to_qkv.call(x), 3, [h * dh, h * dh, h * dh]).map((t) => transpose(reshape(t, [b, g, p, h, dh]), [0, 1, 3, 2, 4]));
    const scores = matmul(q, transpose(mul(k, this.scaleFactor), [0, 1, 2, 4, 3]));
    const attention = softmax(add(scores, this.relativePositionalBias()), -1);
    const out = reshape(transpose(matmul(attention, v), [0, 1, 3, 2, 4]), [b, g, p, d]);
    return this.merge.call(out);
  }
}

// ---- partitioning ----------------------------------------------------------------------------

/** torchvision's WindowPartition: [B, C, H, W] → [B, (H/p)·(W/p), p·p, C] (p × p tiles) */
export function windowPartition(x: Value, p: number): Value {
  const [b, c, h, w] = x.shape;
  const tiles = transpose(reshape(x, [b, c, h / p, p, w / p, p]), [0, 2, 4, 3, 5, 1]);
  return reshape(tiles, [b, (h / p) * (w / p), p * p, c]);
}

/** torchvision's WindowDepartition: [B, hp·wp, p·p, C] → [B, C, hp·p, wp·p] */
export function windowDepartition(x: Value, p: number, hPartitions: number, wPartitions: number): Value {
  const [b, , , c] = x.shape;
  const tiles = transpose(reshape(x, [b, hPartitions, wPartitions, p, p, c]), [0, 5, 1, 3, 2, 4]);
  return reshape(tiles, [b, c, hPartitions * p, wPartitions * p]);
}

/** torchvision's SwapAxes(-2, -3) on a rank-4 tensor */
const swapGroupsAndPositions = (x: Value): Value => transpose(x, [0, 2, 1, 3]);

export type PartitionType = 'window' | 'grid';

/** torchvision.models.maxvit.PartitionAttentionLayer's arguments */
export interface PartitionAttentionOptions {
  readonly inChannels: number;
  readonly headDim: number;
  readonly partitionSize: number;
  readonly partitionType: PartitionType;
  /** the feature map's size, fixed at construction */
  readonly gridSize: GridSize;
  readonly mlpRatio: number;
  readonly activationLayer: () => Module;
  readonly attentionDropout: number;
  readonly mlpDropout: number;
  readonly stochasticDepthProb: number;
}

/**
 * Attention inside non-overlapping partitions of the feature map: 'window' attends within each
 * partitionSize² tile, 'grid' across a partitionSize² grid spread over the whole map (the tiles'
 * positions swapped with the tile index). Pre-norm attention, then pre-norm MLP, each residual
 * with row stochastic depth.
 */
export class PartitionAttentionLayer extends Module {
  attn_layer: Sequential;
  mlp_layer: Sequential;
  stochastic_dropout: StochasticDepth;
  readonly numHeads: number;
  /** the tile side passed to the partition ops: partitionSize for 'window', the partition count for 'grid' */
  readonly p: number;
  /** partitionSize for 'grid', the partition count for 'window' */
  readonly g: number;
  readonly partitionType: PartitionType;
  readonly gridSize: GridSize;

  constructor(o: PartitionAttentionOptions) {
    super();
    if (o.partitionType !== 'window' && o.partitionType !== 'grid') throw new UserError(`PartitionAttentionLayer: partition_type must be either 'grid' or 'window', got ${JSON.stringify(o.partitionType)}`);
    this.numHeads = Math.trunc(o.inChannels / o.headDim);
    const partitions = Math.trunc(o.gridSize[0] / o.partitionSize);
    [this.p, this.g] = o.partitionType === 'window' ? [o.partitionSize, partitions] : [partitions, o.partitionSize];
    this.partitionType = o.partitionType;
    this.gridSize = [o.gridSize[0], o.gridSize[1]];
    if (!(this.p > 0 && o.gridSize[0] % this.p === 0 && o.gridSize[1] % this.p === 0)) {
      throw new UserError(`PartitionAttentionLayer: grid size must be divisible by partition size; got grid size [${o.gridSize}] and partition size ${this.p}`);
    }
    this.attn_layer = new Sequential(new LayerNorm(o.inChannels), new RelativePositionalMultiHeadAttention(o.inChannels, o.headDim, o.partitionSize ** 2), new Dropout(o.attentionDropout));
    this.mlp_layer = new Sequential(
      new LayerNorm(o.inChannels),
      new Linear(o.inChannels, o.inChannels * o.mlpRatio),
      o.activationLayer(),
      new Linear(o.inChannels * o.mlpRatio, o.inChannels),
      new Dropout(o.mlpDropout),
    );
    this.stochastic_dropout = new StochasticDepth(o.stochasticDepthProb, 'row');
  }

  /** [B, C, H, W] → [B, C, H, W], H × W being the grid size given at construction */
  forward(x: Value): Value {
    const [gh, gw] = this.gridSize;
    if (x.rank !== 4 || x.shape[2] !== gh || x.shape[3] !== gw) throw new UserError(`PartitionAttentionLayer: expected [batch, channels, ${gh}, ${gw}] (the grid size it was built for), got [${x.shape}]`);
    const grid = this.partitionType === 'grid';
    let y = windowPartition(x, this.p);
    if (grid) y = swapGroupsAndPositions(y);
    y = add(y, this.stochastic_dropout.call(this.attn_layer.call(y)));
    y = add(y, this.stochastic_dropout.call(this.mlp_layer.call(y)));
    if (grid) y = swapGroupsAndPositions(y);
    return windowDepartition(y, this.p, gh / this.p, gw / this.p);
  }
}

// ---- layers and blocks -----------------------------------------------------------------------

/** what every MaxViT layer of a block shares */
export interface MaxVitLayerCommon {
  readonly squeezeRatio: number;
  readonly expansionRatio: number;
  readonly normLayer: NormLayer;
  readonly activationLayer: () => Module;
  readonly headDim: number;
  readonly mlpRatio: number;
  readonly mlpDropout: number;
  readonly attentionDropout: number;
  readonly partitionSize: number;
}

/** MBConv, then window attention, then grid attention (attention norms are nn.LayerNorm) */
export class MaxVitLayer extends Module {
  layers: Sequential;

  constructor(o: MaxVitLayerCommon & { inChannels: number; outChannels: number; stride: number; gridSize: GridSize; stochasticDepthProb: number }) {
    super();
    const attention = (partitionType: PartitionType) =>
      new PartitionAttentionLayer({
        inChannels: o.outChannels,
        headDim: o.headDim,
        partitionSize: o.partitionSize,
        partitionType,
        gridSize: o.gridSize,
        mlpRatio: o.mlpRatio,
        activationLayer: o.activationLayer,
        attentionDropout: o.attentionDropout,
        mlpDropout: o.mlpDropout,
        stochasticDepthProb: o.stochasticDepthProb,
      });
    this.layers = Sequential.named([
      ['MBconv', new MBConv({ ...o })],
      ['window_attention', attention('window')],
      ['grid_attention', attention('grid')],
    ]);
  }

  forward(x: Value): Value {
    return this.layers.call(x);
  }
}

/** `stochasticDepthProbs.length` MaxVitLayers, the first with stride 2 (halving inputGridSize) */
export class MaxVitBlock extends Module {
  layers: ModuleList;
  /** the feature map size inside this block */
  readonly gridSize: [number, number];

  constructor(o: MaxVitLayerCommon & { inChannels: number; outChannels: number; inputGridSize: GridSize; stochasticDepthProbs: readonly number[] }) {
    super();
    this.gridSize = convOutputSize(o.inputGridSize, 3, 2, 1);
    this.layers = new ModuleList(
      ...o.stochasticDepthProbs.map(
        (p, i) =>
          new MaxVitLayer({
            ...o,
            inChannels: i === 0 ? o.inChannels : o.outChannels,
            stride: i === 0 ? 2 : 1,
            gridSize: this.gridSize,
            stochasticDepthProb: p,
          }),
      ),
    );
  }

  forward(x: Value): Value {
    for (const [, layer] of this.layers.namedChildren()) x = layer.call(x);
    return x;
  }
}
