/**
 * CIFAR-sized Vision Transformers: torchvision's VisionTransformer (src/models/vit.ts: same
 * structure, key names and initialization, so they fine-tune, load and export like every ViT) at
 * 32×32 with 4×4 patches (64 tokens and the class token), at timm's DeiT-Tiny and DeiT-Small
 * widths (`vit_tiny_patch16_224`, `vit_small_patch16_224`: 192 and 384 wide, 12 blocks, 3 and 6
 * heads, MLP ratio 4). `patchSize` is an argument (2 gives 256 tokens; `--patch-size`), and
 * `stochasticDepthProb` timm's drop-path rate (`--drop-path`, default 0); the encoders that
 * `tessera pretrain --method mae` pre-trains (src/mae/).
 *
 * @example
 * createModel('vit_tiny_cifar').parameterCount(); // → 5362762
 * createFromConstructor('vit_tiny_cifar', { patchSize: 2 }).stateDict().get('encoder.pos_embedding')!.shape; // → [1, 257, 192]
 */
import { arg, defineFamily, isNumber, isPositiveInt, stochasticDepthArg } from './registry.js';
import { VisionTransformer, vitLayerIds } from './vit.js';

interface CifarViTConfig {
  readonly name: string;
  readonly numHeads: number;
  readonly hiddenDim: number;
}

const CONFIGS: readonly CifarViTConfig[] = [
  { name: 'vit_tiny_cifar', numHeads: 3, hiddenDim: 192 },
  { name: 'vit_small_cifar', numHeads: 6, hiddenDim: 384 },
];

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v <= 1;

defineFamily({
  family: 'vit',
  source: 'timm',
  year: 2021,
  paper: 'Training data-efficient image transformers & distillation through attention (DeiT widths); ViT at CIFAR size',
  inputSize: 32,
  // the position embedding fixes the image size
  minInputSize: 32,
  numClasses: 10,
  builderArgs: ['imageSize', 'patchSize', 'dropout', 'attentionDropout', 'stochasticDepthProb'],
  layerIds: vitLayerIds,
  configs: CONFIGS.map((c) => ({
    name: c.name,
    notInZoo: "a CIFAR-sized configuration (timm's DeiT widths on torchvision's VisionTransformer); no reference row",
    build: (args) =>
      new VisionTransformer({
        imageSize: arg(args, 'imageSize', 32, isPositiveInt, 'a positive integer'),
        patchSize: arg(args, 'patchSize', 4, isPositiveInt, 'a positive integer'),
        numLayers: 12,
        numHeads: c.numHeads,
        hiddenDim: c.hiddenDim,
        mlpDim: 4 * c.hiddenDim,
        numClasses: args.numClasses,
        dropout: arg(args, 'dropout', 0, isProbability, 'a number between 0 and 1'),
        attentionDropout: arg(args, 'attentionDropout', 0, isProbability, 'a number between 0 and 1'),
        stochasticDepthProb: stochasticDepthArg(args, 0),
      }),
  })),
});
