/**
 * torchvision's ResNet family (ResNet, ResNeXt, Wide ResNet): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys, and the same
 * initialization (Kaiming-normal fan-out convolutions, BatchNorm 1/0, default Linear).
 *
 * @example
 * import { ResNet, Bottleneck } from './resnet.js';
 * const net = new ResNet(Bottleneck, [3, 4, 6, 3], { numClasses: 10 }); // resnet50 with 10 classes
 * [...net.stateDict().keys()].slice(0, 2); // ['conv1.weight', 'bn1.weight']
 * createModel('resnext50_32x4d');
 * createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: 10 });
 */
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import { kaimingNormalFanOut } from '../nn/init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module, Parameter, Sequential } from '../nn/module.js';
import { UserError } from '../errors.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

/** builds the normalization layer for a channel count (torchvision's `norm_layer`) */
export type NormLayer = (numFeatures: number) => Module;

const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);

/** 3x3 convolution with padding, no bias */
function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, bias: false, dilation });
}

/** 1x1 convolution, no bias */
function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

// ---- blocks ----------------------------------------------------------------------------------

/** The two-3x3-conv residual block of ResNet-18/34. */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: Module;
  relu: ReLU;
  conv2: Conv2d;
  bn2: Module;
  /** null registers no child, like torchvision's `downsample=None` */
  downsample: Module | null;
  readonly stride: number;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Module | null = null, groups = 1, baseWidth = 64, dilation = 1, normLayer: NormLayer = defaultNorm) {
    super();
    if (groups !== 1 || baseWidth !== 64) throw new UserError('BasicBlock only supports groups=1 and widthPerGroup=64');
    if (dilation > 1) throw new UserError('dilation > 1 is not supported in BasicBlock');
    this.conv1 = conv3x3(inplanes, planes, stride);
    this.bn1 = normLayer(planes);
    this.relu = new ReLU();
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = normLayer(planes);
    this.downsample = downsample;
    this.stride = stride;
  }

  forward(x: Value): Value {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.bn2.call(this.conv2.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(add(out, identity));
  }
}

/**
 * The 1x1-3x3-1x1 bottleneck block (expansion 4) of ResNet-50 and up. As torchvision's
 * "ResNet v1.5", the stride sits on the 3x3 convolution.
 */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: Module;
  conv2: Conv2d;
  bn2: Module;
  conv3: Conv2d;
  bn3: Module;
  relu: ReLU;
  downsample: Module | null;
  readonly stride: number;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Module | null = null, groups = 1, baseWidth = 64, dilation = 1, normLayer: NormLayer = defaultNorm) {
    super();
    const width = Math.trunc(planes * (baseWidth / 64)) * groups;
    this.conv1 = conv1x1(inplanes, width);
    this.bn1 = normLayer(width);
    this.conv2 = conv3x3(width, width, stride, groups, dilation);
    this.bn2 = normLayer(width);
    this.conv3 = conv1x1(width, planes * Bottleneck.expansion);
    this.bn3 = normLayer(planes * Bottleneck.expansion);
    this.relu = new ReLU();
    this.downsample = downsample;
    this.stride = stride;
  }

  forward(x: Value): Value {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(add(out, identity));
  }
}

export type ResNetBlock = typeof BasicBlock | typeof Bottleneck;

// ---- model -----------------------------------------------------------------------------------

export interface ResNetOptions {
  numClasses?: number;
  /** zero the last BatchNorm weight of every block, so each residual branch starts at zero */
  zeroInitResidual?: boolean;
  groups?: number;
  widthPerGroup?: number;
  /** replace the stride-2 of layer2..layer4 with dilation */
  replaceStrideWithDilation?: readonly [boolean, boolean, boolean];
  normLayer?: NormLayer;
}

/** torchvision.models.ResNet */
export class ResNet extends Module {
  private readonly normLayer: NormLayer;
  private inplanes = 64;
  private dilation = 1;
  readonly groups: number;
  readonly baseWidth: number;
  conv1: Conv2d;
  bn1: Module;
  relu: ReLU;
  maxpool: MaxPool2d;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(block: ResNetBlock, layers: readonly number[], opts: ResNetOptions = {}) {
    super();
    if (layers.length !== 4) throw new UserError(`ResNet: layers must have 4 entries, got [${layers.join(', ')}]`);
    const dil = opts.replaceStrideWithDilation ?? [false, false, false];
    if (dil.length !== 3) throw new UserError(`ResNet: replaceStrideWithDilation must have 3 entries, got [${dil.join(', ')}]`);
    this.normLayer = opts.normLayer ?? defaultNorm;
    this.groups = opts.groups ?? 1;
    this.baseWidth = opts.widthPerGroup ?? 64;
    this.conv1 = new Conv2d(3, this.inplanes, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = this.normLayer(this.inplanes);
    this.relu = new ReLU();
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    this.layer1 = this.makeLayer(block, 64, layers[0]);
    this.layer2 = this.makeLayer(block, 128, layers[1], 2, dil[0]);
    this.layer3 = this.makeLayer(block, 256, layers[2], 2, dil[1]);
    this.layer4 = this.makeLayer(block, 512, layers[3], 2, dil[2]);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(512 * block.expansion, opts.numClasses ?? 1000);

    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) m.weight.data = kaimingNormalFanOut(m.weight.shape);
      else if (m instanceof BatchNorm2d) {
        m.weight?.data.fill(1);
        m.bias?.data.fill(0);
      }
    }
    if (opts.zeroInitResidual) {
      for (const [, m] of this.namedModules()) {
        const last = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
        const w = last && (last as { weight?: unknown }).weight;
        if (w instanceof Parameter) w.data.fill(0);
      }
    }
  }

  private makeLayer(block: ResNetBlock, planes: number, blocks: number, stride = 1, dilate = false): Sequential {
    let downsample: Module | null = null;
    const previousDilation = this.dilation;
    if (dilate) {
      this.dilation *= stride;
      stride = 1;
    }
    if (stride !== 1 || this.inplanes !== planes * block.expansion) {
      downsample = new Sequential(conv1x1(this.inplanes, planes * block.expansion, stride), this.normLayer(planes * block.expansion));
    }
    const out = [new block(this.inplanes, planes, stride, downsample, this.groups, this.baseWidth, previousDilation, this.normLayer)];
    this.inplanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) out.push(new block(this.inplanes, planes, 1, null, this.groups, this.baseWidth, this.dilation, this.normLayer));
    return new Sequential(...out);
  }

  forward(x: Value): Value {
    x = this.maxpool.call(this.relu.call(this.bn1.call(this.conv1.call(x))));
    x = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(x))));
    return this.fc.call(flatten(this.avgpool.call(x), 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface ResNetConfig {
  name: string;
  block: ResNetBlock;
  layers: [number, number, number, number];
  groups?: number;
  widthPerGroup?: number;
  year: number;
  paper: string;
  /** torchvision 0.14's DEFAULT weights for the builder */
  pretrained: PretrainedConfig;
}

const RESNET = { year: 2015, paper: 'Deep Residual Learning for Image Recognition' };
const RESNEXT = { year: 2016, paper: 'Aggregated Residual Transformations for Deep Neural Networks' };
const WIDE = { year: 2016, paper: 'Wide Residual Networks' };

/** a torchvision ResNet `Weights` entry: file, ImageNet-1K acc@1 and acc@5, resize size (crop 224, bilinear) */
const weights = (file: string, top1: number, top5: number, resizeSize = 256) => torchvisionWeights({ file, top1, top5, resizeSize, classifier: 'fc' });

// torchvision has V1 (the original training) and V2 (its newer recipe, resize 232) weights for most
// configs and marks V2 DEFAULT; resnet18/34 have only V1, resnext101_64x4d only a V1 trained the new way
export const resnetConfigs: readonly ResNetConfig[] = [
  { name: 'resnet18', block: BasicBlock, layers: [2, 2, 2, 2], ...RESNET, pretrained: weights('resnet18-f37072fd.pth', 69.758, 89.078) }, // IMAGENET1K_V1 (only)
  { name: 'resnet34', block: BasicBlock, layers: [3, 4, 6, 3], ...RESNET, pretrained: weights('resnet34-b627a593.pth', 73.314, 91.42) }, // IMAGENET1K_V1 (only)
  { name: 'resnet50', block: Bottleneck, layers: [3, 4, 6, 3], ...RESNET, pretrained: weights('resnet50-11ad3fa6.pth', 80.858, 95.434, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'resnet101', block: Bottleneck, layers: [3, 4, 23, 3], ...RESNET, pretrained: weights('resnet101-cd907fc2.pth', 81.886, 95.78, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'resnet152', block: Bottleneck, layers: [3, 8, 36, 3], ...RESNET, pretrained: weights('resnet152-f82ba261.pth', 82.284, 96.002, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'resnext50_32x4d', block: Bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4, ...RESNEXT, pretrained: weights('resnext50_32x4d-1a0047aa.pth', 81.198, 95.34, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'resnext101_32x8d', block: Bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8, ...RESNEXT, pretrained: weights('resnext101_32x8d-110c445d.pth', 82.834, 96.228, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'resnext101_64x4d', block: Bottleneck, layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4, ...RESNEXT, pretrained: weights('resnext101_64x4d-173b62eb.pth', 83.246, 96.454, 232) }, // IMAGENET1K_V1 (only)
  { name: 'wide_resnet50_2', block: Bottleneck, layers: [3, 4, 6, 3], widthPerGroup: 128, ...WIDE, pretrained: weights('wide_resnet50_2-9ba9bcbe.pth', 81.602, 95.758, 232) }, // IMAGENET1K_V2 (DEFAULT)
  { name: 'wide_resnet101_2', block: Bottleneck, layers: [3, 4, 23, 3], widthPerGroup: 128, ...WIDE, pretrained: weights('wide_resnet101_2-d733dc28.pth', 82.51, 96.02, 232) }, // IMAGENET1K_V2 (DEFAULT)
];

// ---- registration ----------------------------------------------------------------------------

const isLayers = (v: unknown): v is number[] => Array.isArray(v) && v.length === 4 && v.every((n) => isNumber(n) && Number.isInteger(n) && n >= 1);
const isDilation = (v: unknown): v is [boolean, boolean, boolean] => Array.isArray(v) && v.length === 3 && v.every(isBool);
const isBlockName = (v: unknown): v is 'BasicBlock' | 'Bottleneck' => v === 'BasicBlock' || v === 'Bottleneck';

/** the ResNet arguments a builder (`resnet50`, ...) leaves to its caller */
function builderOptions(args: JsonArgs): ResNetOptions {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    zeroInitResidual: arg(args, 'zeroInitResidual', false, isBool, 'a boolean'),
    replaceStrideWithDilation: arg(args, 'replaceStrideWithDilation', [false, false, false] as [boolean, boolean, boolean], isDilation, 'an array of 3 booleans'),
  };
}

defineFamily({
  family: 'resnet',
  source: 'torchvision',
  ...RESNET,
  inputSize: 224,
  numClasses: 1000,
  constructors: {
    ResNet: {
      args: ['block', 'layers', 'numClasses', 'zeroInitResidual', 'groups', 'widthPerGroup', 'replaceStrideWithDilation'],
      build(args) {
        if (args.block === undefined) throw new UserError('ResNet: argument block is required ("BasicBlock" or "Bottleneck")');
        if (args.layers === undefined) throw new UserError('ResNet: argument layers is required (4 block counts, e.g. [2, 2, 2, 2])');
        const block = arg(args, 'block', 'BasicBlock', isBlockName, '"BasicBlock" or "Bottleneck"') === 'Bottleneck' ? Bottleneck : BasicBlock;
        const layers = arg(args, 'layers', [], isLayers, 'an array of 4 positive integers');
        return new ResNet(block, layers, {
          ...builderOptions(args),
          groups: arg(args, 'groups', 1, isPositiveInt, 'a positive integer'),
          widthPerGroup: arg(args, 'widthPerGroup', 64, isPositiveInt, 'a positive integer'),
        });
      },
    },
  },
  builderArgs: ['zeroInitResidual', 'replaceStrideWithDilation'],
  configs: resnetConfigs.map((c) => ({
    ...c,
    build: (args) => new ResNet(c.block, c.layers, { ...builderOptions(args), groups: c.groups, widthPerGroup: c.widthPerGroup }),
  })),
  keyFilter: { summary: "timm's ResNet, ResNeXt and Wide ResNet use torchvision's names: keys kept as stored", layouts: [] },
});
