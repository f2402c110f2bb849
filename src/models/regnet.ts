/**
 * torchvision's RegNet (regnet_x_* and regnet_y_*, 400MF to 32GF): same constructor arguments
 * (camelCase), same attribute names, hence the same `state_dict()` keys (`stem.0.weight`,
 * `trunk_output.block1.block1-0.proj.0.weight`, `...f.se.fc1.weight`, ..., `fc.bias`), the same
 * per-stage settings (torchvision's `BlockParams.from_init_params`, including its float32
 * arithmetic and round-half-to-even) and the same initialization (convolutions N(0, √(2/fan_out)),
 * BatchNorm 1/0, Linear N(0, 0.01) with zero bias). RegNetY adds a squeeze-excitation (ReLU,
 * sigmoid gate) inside each block.
 *
 * @example
 * import { RegNet, blockParamsFromInitParams } from './regnet.js';
 * const net = new RegNet(blockParamsFromInitParams({ depth: 16, w0: 48, wA: 27.89, wM: 2.09, groupWidth: 8, seRatio: 0.25 }), { numClasses: 10 });
 * createModel('regnet_y_400mf');
 * createFromConstructor('RegNet', { depth: 13, w0: 24, wA: 36.44, wM: 2.49, groupWidth: 8, numClasses: 10 }, 'torchvision');
 */
import { UserError } from '../errors.js';
import { Value } from '../graph/ir.js';
import { add } from '../ops/elementwise.js';
import { flatten } from '../ops/shape.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Linear, ReLU } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { initTorchvisionWeights, makeDivisible, SqueezeExcitation } from './common.js';
import { Conv2dNormActivation } from './mobilenetv2.js';
import { JsonArgs, PretrainedConfig, arg, defineFamily, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

export type NormLayer = (numFeatures: number) => Module;
export type ActivationLayer = () => Module;

const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);
const defaultActivation: ActivationLayer = () => new ReLU();

/** round half to even, as Python's round() and torch.round */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- blocks ----------------------------------------------------------------------------------

/** 1x1 (a) - grouped 3x3 (b) [- squeeze-excitation (se)] - 1x1 without activation (c) */
export function bottleneckTransform(
  widthIn: number,
  widthOut: number,
  stride: number,
  normLayer: NormLayer,
  activationLayer: ActivationLayer,
  groupWidth: number,
  bottleneckMultiplier: number,
  seRatio: number | null,
): Sequential {
  const wB = roundHalfEven(widthOut * bottleneckMultiplier);
  const g = Math.floor(wB / groupWidth);
  const layers: [string, Module][] = [
    ['a', new Conv2dNormActivation(widthIn, wB, { kernelSize: 1, normLayer, activationLayer })],
    ['b', new Conv2dNormActivation(wB, wB, { kernelSize: 3, stride, groups: g, normLayer, activationLayer })],
  ];
  if (seRatio) layers.push(['se', new SqueezeExcitation(wB, roundHalfEven(seRatio * widthIn), activationLayer)]);
  layers.push(['c', new Conv2dNormActivation(wB, widthOut, { kernelSize: 1, normLayer, activationLayer: null })]);
  return Sequential.named(layers);
}

/** x + F(x) (a 1x1 projection of x when the shape changes), then the activation */
export class ResBottleneckBlock extends Module {
  /** null registers no child, like torchvision's `proj = None` */
  proj: Module | null;
  f: Sequential;
  activation: Module;

  constructor(
    widthIn: number,
    widthOut: number,
    stride: number,
    normLayer: NormLayer = defaultNorm,
    activationLayer: ActivationLayer = defaultActivation,
    groupWidth = 1,
    bottleneckMultiplier = 1.0,
    seRatio: number | null = null,
  ) {
    super();
    this.proj = widthIn !== widthOut || stride !== 1 ? new Conv2dNormActivation(widthIn, widthOut, { kernelSize: 1, stride, normLayer, activationLayer: null }) : null;
    this.f = bottleneckTransform(widthIn, widthOut, stride, normLayer, activationLayer, groupWidth, bottleneckMultiplier, seRatio);
    this.activation = activationLayer();
  }

  forward(x: Value): Value {
    const shortcut = this.proj ? this.proj.call(x) : x;
    return this.activation.call(add(shortcut, this.f.call(x)));
  }
}

/** one stage: `depth` blocks named `block{stageIndex}-{i}`, the first changing width and stride */
export function anyStage(
  widthIn: number,
  widthOut: number,
  stride: number,
  depth: number,
  normLayer: NormLayer,
  activationLayer: ActivationLayer,
  groupWidth: number,
  bottleneckMultiplier: number,
  seRatio: number | null,
  stageIndex: number,
): Sequential {
  const blocks: [string, Module][] = [];
  for (let i = 0; i < depth; i++) {
    blocks.push([
      `block${stageIndex}-${i}`,
      new ResBottleneckBlock(i === 0 ? widthIn : widthOut, widthOut, i === 0 ? stride : 1, normLayer, activationLayer, groupWidth, bottleneckMultiplier, seRatio),
    ]);
  }
  return Sequential.named(blocks);
}

/** torchvision's BlockParams: per-stage settings */
export interface BlockParams {
  depths: number[];
  widths: number[];
  groupWidths: number[];
  bottleneckMultipliers: number[];
  strides: number[];
  seRatio: number | null;
}

/** the arguments of torchvision's `BlockParams.from_init_params` */
export interface RegNetInitParams {
  depth: number;
  w0: number;
  wA: number;
  wM: number;
  groupWidth: number;
  bottleneckMultiplier?: number;
  seRatio?: number | null;
}

/**
 * torchvision's `BlockParams.from_init_params`: quantized linear widths in log space, grouped
 * into stages, then widths and group widths made compatible. The width computation runs in
 * float32 with round-half-to-even, as torch does it.
 */
export function blockParamsFromInitParams(p: RegNetInitParams): BlockParams {
  const QUANT = 8;
  const STRIDE = 2;
  const { depth, w0, wA, wM, groupWidth } = p;
  const bottleneckMultiplier = p.bottleneckMultiplier ?? 1.0;
  if (wA < 0 || w0 <= 0 || wM <= 1 || w0 % 8 !== 0) throw new UserError('Invalid RegNet settings');
  const f = Math.fround;
  const wA32 = f(wA);
  const logWm = f(Math.log(wM));
  const wM32 = f(wM);
  const blockWidths: number[] = [];
  for (let i = 0; i < depth; i++) {
    const cont = f(f(i * wA32) + w0);
    const capacity = roundHalfEven(f(f(Math.log(f(cont / w0))) / logWm));
    blockWidths.push(roundHalfEven(f(f(w0 * f(Math.pow(wM32, capacity))) / QUANT)) * QUANT);
  }
  const numStages = new Set(blockWidths).size;
  // a stage starts wherever the width changes (and one more boundary after the last block)
  const starts: number[] = [];
  for (let i = 0; i <= depth; i++) if ((blockWidths[i] ?? 0) !== (i > 0 ? blockWidths[i - 1] : 0)) starts.push(i);
  let stageWidths = starts.filter((i) => i < depth).map((i) => blockWidths[i]);
  const stageDepths = starts.slice(1).map((s, k) => s - starts[k]);
  const n = Math.min(numStages, stageWidths.length);
  stageWidths = stageWidths.slice(0, n);
  const multipliers = new Array<number>(n).fill(bottleneckMultiplier);
  // _adjust_widths_groups_compatibilty
  const wBot = stageWidths.map((w, k) => Math.trunc(w * multipliers[k]));
  const groupWidths = wBot.map((w) => Math.min(groupWidth, w));
  const wsBot = wBot.map((w, k) => makeDivisible(w, groupWidths[k]));
  return {
    depths: stageDepths.slice(0, n),
    widths: wsBot.map((w, k) => Math.trunc(w / multipliers[k])),
    groupWidths,
    bottleneckMultipliers: multipliers,
    strides: new Array<number>(n).fill(STRIDE),
    seRatio: p.seRatio ?? null,
  };
}

// ---- model -----------------------------------------------------------------------------------

export interface RegNetOptions {
  numClasses?: number;
  stemWidth?: number;
  normLayer?: NormLayer;
  activation?: ActivationLayer;
}

/** torchvision.models.RegNet (SimpleStemIN stem, ResBottleneckBlock blocks) */
export class RegNet extends Module {
  stem: Conv2dNormActivation;
  trunk_output: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(blockParams: BlockParams, opts: RegNetOptions = {}) {
    super();
    const normLayer = opts.normLayer ?? defaultNorm;
    const activation = opts.activation ?? defaultActivation;
    const stemWidth = opts.stemWidth ?? 32;
    this.stem = new Conv2dNormActivation(3, stemWidth, { kernelSize: 3, stride: 2, normLayer, activationLayer: activation });
    let currentWidth = stemWidth;
    const bp = blockParams;
    const n = Math.min(bp.widths.length, bp.strides.length, bp.depths.length, bp.groupWidths.length, bp.bottleneckMultipliers.length);
    const stages: [string, Module][] = [];
    for (let i = 0; i < n; i++) {
      stages.push([`block${i + 1}`, anyStage(currentWidth, bp.widths[i], bp.strides[i], bp.depths[i], normLayer, activation, bp.groupWidths[i], bp.bottleneckMultipliers[i], bp.seRatio, i + 1)]);
      currentWidth = bp.widths[i];
    }
    this.trunk_output = Sequential.named(stages);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(currentWidth, opts.numClasses ?? 1000);

    initTorchvisionWeights(this);
  }

  forward(x: Value): Value {
    x = this.avgpool.call(this.trunk_output.call(this.stem.call(x)));
    return this.fc.call(flatten(x, 1));
  }
}

// ---- configs ---------------------------------------------------------------------------------

interface RegNetConfig extends RegNetInitParams {
  name: string;
  /** torchvision 0.14's DEFAULT weights for the builder */
  pretrained: PretrainedConfig;
}

/**
 * a torchvision RegNet IMAGENET1K_V2 `Weights` entry, the DEFAULT of every config here (torchvision's
 * newer recipe: crop 224, resize 232, bilinear; the head is the Linear `fc`). IMAGENET1K_V1 (the
 * original training, resize 256) exists for all of them, and regnet_y_16gf and regnet_y_32gf also
 * have SWAG weights (pre-trained on Instagram images), neither DEFAULT.
 */
const v2Weights = (file: string, top1: number, top5: number) => torchvisionWeights({ file, top1, top5, resizeSize: 232, classifier: 'fc' });

const Y = { seRatio: 0.25 };

export const regnetConfigs: readonly RegNetConfig[] = [
  { name: 'regnet_y_400mf', depth: 16, w0: 48, wA: 27.89, wM: 2.09, groupWidth: 8, ...Y, pretrained: v2Weights('regnet_y_400mf-e6988f5f.pth', 75.804, 92.742) },
  { name: 'regnet_y_800mf', depth: 14, w0: 56, wA: 38.84, wM: 2.4, groupWidth: 16, ...Y, pretrained: v2Weights('regnet_y_800mf-58fc7688.pth', 78.828, 94.502) },
  { name: 'regnet_y_1_6gf', depth: 27, w0: 48, wA: 20.71, wM: 2.65, groupWidth: 24, ...Y, pretrained: v2Weights('regnet_y_1_6gf-0d7bc02a.pth', 80.876, 95.444) },
  { name: 'regnet_y_3_2gf', depth: 21, w0: 80, wA: 42.63, wM: 2.66, groupWidth: 24, ...Y, pretrained: v2Weights('regnet_y_3_2gf-9180c971.pth', 81.982, 95.972) },
  { name: 'regnet_y_8gf', depth: 17, w0: 192, wA: 76.82, wM: 2.19, groupWidth: 56, ...Y, pretrained: v2Weights('regnet_y_8gf-dc2b1b54.pth', 82.828, 96.33) },
  { name: 'regnet_y_16gf', depth: 18, w0: 200, wA: 106.23, wM: 2.48, groupWidth: 112, ...Y, pretrained: v2Weights('regnet_y_16gf-3e4a00f9.pth', 82.886, 96.328) },
  { name: 'regnet_y_32gf', depth: 20, w0: 232, wA: 115.89, wM: 2.53, groupWidth: 232, ...Y, pretrained: v2Weights('regnet_y_32gf-8db6d4b5.pth', 83.368, 96.498) },
  { name: 'regnet_x_400mf', depth: 22, w0: 24, wA: 24.48, wM: 2.54, groupWidth: 16, pretrained: v2Weights('regnet_x_400mf-62229a5f.pth', 74.864, 92.322) },
  { name: 'regnet_x_800mf', depth: 16, w0: 56, wA: 35.73, wM: 2.28, groupWidth: 16, pretrained: v2Weights('regnet_x_800mf-94a99ebd.pth', 77.522, 93.826) },
  { name: 'regnet_x_1_6gf', depth: 18, w0: 80, wA: 34.01, wM: 2.25, groupWidth: 24, pretrained: v2Weights('regnet_x_1_6gf-a12f2b72.pth', 79.668, 94.922) },
  { name: 'regnet_x_3_2gf', depth: 25, w0: 88, wA: 26.31, wM: 2.25, groupWidth: 48, pretrained: v2Weights('regnet_x_3_2gf-7071aa85.pth', 81.196, 95.43) },
  { name: 'regnet_x_8gf', depth: 23, w0: 80, wA: 49.56, wM: 2.88, groupWidth: 120, pretrained: v2Weights('regnet_x_8gf-2b70d774.pth', 81.682, 95.678) },
  { name: 'regnet_x_16gf', depth: 22, w0: 216, wA: 55.59, wM: 2.1, groupWidth: 128, pretrained: v2Weights('regnet_x_16gf-ba3796d7.pth', 82.716, 96.196) },
  { name: 'regnet_x_32gf', depth: 23, w0: 320, wA: 69.86, wM: 2.0, groupWidth: 168, pretrained: v2Weights('regnet_x_32gf-6eb8fdc6.pth', 83.014, 96.288) },
];

// ---- registration ----------------------------------------------------------------------------

const isNonNegative = (v: unknown): v is number => isNumber(v) && v >= 0;
const isPositive = (v: unknown): v is number => isNumber(v) && v > 0;
const isPositiveIntList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt);
const isPositiveList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isPositive);

function modelOptions(args: JsonArgs): RegNetOptions {
  return {
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    stemWidth: arg(args, 'stemWidth', 32, isPositiveInt, 'a positive integer'),
  };
}

const INIT_KEYS = ['depth', 'w0', 'wA', 'wM', 'groupWidth', 'bottleneckMultiplier', 'seRatio'];
const EXPLICIT_KEYS = ['depths', 'widths', 'groupWidths', 'bottleneckMultipliers', 'strides'];

/**
 * JSON for the RegNet class: either the builder-level arguments of `BlockParams.from_init_params`
 * (depth, w0, wA, wM, groupWidth, bottleneckMultiplier, seRatio), or explicit per-stage lists
 * (depths, widths, groupWidths, bottleneckMultipliers, strides, seRatio); plus numClasses, stemWidth.
 */
function blockParamsFromJson(args: JsonArgs): BlockParams {
  const seRatio = arg<number | null>(args, 'seRatio', null, (v): v is number | null => v === null || isNonNegative(v), 'a non-negative number or null');
  if (EXPLICIT_KEYS.some((k) => args[k] !== undefined)) {
    const extra = INIT_KEYS.filter((k) => k !== 'seRatio' && args[k] !== undefined);
    if (extra.length) throw new UserError(`RegNet: give either per-stage lists (${EXPLICIT_KEYS.join(', ')}) or init params (${INIT_KEYS.join(', ')}), not both (${extra.join(', ')})`);
    for (const k of ['depths', 'widths']) if (args[k] === undefined) throw new UserError(`RegNet: argument ${k} is required with per-stage lists`);
    const depths = arg(args, 'depths', [], isPositiveIntList, 'a non-empty array of positive integers');
    const n = depths.length;
    const list = <T>(key: string, fallback: T[], check: (v: unknown) => v is T[], what: string): T[] => {
      const v = arg(args, key, fallback, check, what);
      if (v.length !== n) throw new UserError(`RegNet: ${key} has ${v.length} entries, depths has ${n}`);
      return v;
    };
    return {
      depths,
      widths: list('widths', [], isPositiveIntList, 'a non-empty array of positive integers'),
      groupWidths: list('groupWidths', new Array<number>(n).fill(1), isPositiveIntList, 'a non-empty array of positive integers'),
      bottleneckMultipliers: list('bottleneckMultipliers', new Array<number>(n).fill(1), isPositiveList, 'a non-empty array of positive numbers'),
      strides: list('strides', new Array<number>(n).fill(2), isPositiveIntList, 'a non-empty array of positive integers'),
      seRatio,
    };
  }
  for (const k of ['depth', 'w0', 'wA', 'wM', 'groupWidth']) if (args[k] === undefined) throw new UserError(`RegNet: argument ${k} is required (or give per-stage lists ${EXPLICIT_KEYS.join(', ')})`);
  return blockParamsFromInitParams({
    depth: arg(args, 'depth', 1, isPositiveInt, 'a positive integer'),
    w0: arg(args, 'w0', 8, (v): v is number => isPositiveInt(v) && v % 8 === 0, 'a positive multiple of 8'),
    wA: arg(args, 'wA', 0, isNonNegative, 'a non-negative number'),
    wM: arg(args, 'wM', 2, (v): v is number => isNumber(v) && v > 1, 'a number > 1'),
    groupWidth: arg(args, 'groupWidth', 1, isPositiveInt, 'a positive integer'),
    bottleneckMultiplier: arg(args, 'bottleneckMultiplier', 1.0, isPositive, 'a positive number'),
    seRatio,
  });
}

defineFamily({
  family: 'regnet',
  source: 'torchvision',
  year: 2020,
  paper: 'Designing Network Design Spaces',
  inputSize: 224,
  numClasses: 1000,
  constructors: { RegNet: { args: [...INIT_KEYS, ...EXPLICIT_KEYS, 'numClasses', 'stemWidth'], build: (args) => new RegNet(blockParamsFromJson(args), modelOptions(args)) } },
  builderArgs: ['stemWidth'],
  configs: regnetConfigs.map((c) => ({ name: c.name, pretrained: c.pretrained, build: (args) => new RegNet(blockParamsFromInitParams(c), modelOptions(args)) })),
});
