/**
 * torchvision's GoogLeNet (Inception v1 with BatchNorm): same constructor arguments (camelCase),
 * same attribute names, hence the same `state_dict()` keys (`conv1.conv.weight`,
 * `inception3a.branch2.1.bn.running_var`, `aux1.fc1.weight`, ..., `fc.bias`), and the same
 * initialization (convolutions and Linear weights truncated-normal std 0.01 cut at ±2, Linear
 * biases left at PyTorch's default, BatchNorm 1/0, eps 0.001).
 *
 * The auxiliary heads (`aux1`, `aux2`) exist when `auxLogits` (default true, as torchvision's
 * `googlenet()` without weights builds it; zoo_params.json's 13,004,888 parameters include them),
 * so their weights load and save. Tessera's forward returns only the main logits, in eval and in
 * training mode: torchvision's training forward also returns the two auxiliary logits (for an
 * auxiliary loss), Tessera never runs the heads, so they get no gradient and no update.
 * Training-mode BatchNorm statistics of the heads therefore stay unchanged, unlike PyTorch.
 *
 * @example
 * import { GoogLeNet } from './googlenet.js';
 * const net = new GoogLeNet({ numClasses: 10, auxLogits: false });
 * createModel('googlenet');
 * createFromConstructor('GoogLeNet', { numClasses: 10, transformInput: true }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { add, mul } from '../ops/elementwise.js';
import { relu } from '../ops/activations.js';
import { concat, flatten, slice } from '../ops/shape.js';
import { initRng } from '../nn/init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Conv2dLayerOptions, Dropout, Linear, MaxPool2d } from '../nn/layers.js';
import { Module, Sequential } from '../nn/module.js';
import { adaptiveAvgPool2d } from '../ops/pool.js';
import { JsonArgs, arg, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

/**
 * torch.nn.init.trunc_normal_(mean=0, std, a=-2, b=2) as torchvision's GoogLeNet and Inception v3
 * call it: the bounds are absolute values, not multiples of std (for std 0.01 or 0.1 they never cut).
 */
export function truncNormalAbs(shape: readonly number[], std: number, lo = -2, hi = 2): Float32Array {
  const rng = initRng();
  const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = std * rng.normal();
    while (v < lo || v > hi);
    out[i] = v;
  }
  return out;
}

/** torchvision's `_transform_input`: ImageNet normalization re-expressed from (x - 0.5) / 0.5 inputs */
export function transformInput(x: Value): Value {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const channels = [0, 1, 2].map((c) => add(mul(slice(x, [1], [c], [c + 1]), std[c] / 0.5), (mean[c] - 0.5) / 0.5));
  return concat(channels, 1);
}

// ---- blocks ----------------------------------------------------------------------------------

/** convolution without bias, BatchNorm (eps 0.001), ReLU */
export class BasicConv2d extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: number | readonly [number, number], opts: Omit<Conv2dLayerOptions, 'bias'> = {}) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, kernelSize, { ...opts, bias: false });
    this.bn = new BatchNorm2d(outChannels, { eps: 0.001 });
  }

  forward(x: Value): Value {
    return relu(this.bn.call(this.conv.call(x)));
  }
}

/** The four-branch Inception module (1x1; 1x1-3x3; 1x1-3x3 (torchvision's "5x5"); pool-1x1). */
export class Inception extends Module {
  branch1: BasicConv2d;
  branch2: Sequential;
  branch3: Sequential;
  branch4: Sequential;

  constructor(inChannels: number, ch1x1: number, ch3x3red: number, ch3x3: number, ch5x5red: number, ch5x5: number, poolProj: number) {
    super();
    this.branch1 = new BasicConv2d(inChannels, ch1x1, 1);
    this.branch2 = new Sequential(new BasicConv2d(inChannels, ch3x3red, 1), new BasicConv2d(ch3x3red, ch3x3, 3, { padding: 1 }));
    // torchvision's known quirk: the "5x5" branch uses a 3x3 convolution
    this.branch3 = new Sequential(new BasicConv2d(inChannels, ch5x5red, 1), new BasicConv2d(ch5x5red, ch5x5, 3, { padding: 1 }));
    this.branch4 = new Sequential(new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }), new BasicConv2d(inChannels, poolProj, 1));
  }

  forward(x: Value): Value {
    return concat([this.branch1.call(x), this.branch2.call(x), this.branch3.call(x), this.branch4.call(x)], 1);
  }
}

/** The auxiliary classifier head (4x4 adaptive average pool, 1x1 conv, two Linear layers). */
export class InceptionAux extends Module {
  conv: BasicConv2d;
  fc1: Linear;
  fc2: Linear;
  dropout: Dropout;

  constructor(inChannels: number, numClasses: number, dropout = 0.7) {
    super();
    this.conv = new BasicConv2d(inChannels, 128, 1);
    this.fc1 = new Linear(2048, 1024);
    this.fc2 = new Linear(1024, numClasses);
    this.dropout = new Dropout(dropout);
  }

  forward(x: Value): Value {
    x = this.conv.call(adaptiveAvgPool2d(x, [4, 4]));
    x = relu(this.fc1.call(flatten(x, 1)));
    return this.fc2.call(this.dropout.call(x));
  }
}

// ---- model -----------------------------------------------------------------------------------

export interface GoogLeNetOptions {
  numClasses?: number;
  /** build the auxiliary heads aux1/aux2 (default true); Tessera's forward never uses them */
  auxLogits?: boolean;
  /** re-normalize inputs as torchvision's pretrained weights expect (default false) */
  transformInput?: boolean;
  /** torchvision's re-initialization (default true, what torchvision's `None` resolves to) */
  initWeights?: boolean;
  dropout?: number;
  dropoutAux?: number;
}

/** torchvision.models.GoogLeNet; forward returns the main logits only (see the file comment) */
export class GoogLeNet extends Module {
  readonly auxLogits: boolean;
  readonly transformInput: boolean;
  conv1: BasicConv2d;
  maxpool1: MaxPool2d;
  conv2: BasicConv2d;
  conv3: BasicConv2d;
  maxpool2: MaxPool2d;
  inception3a: Inception;
  inception3b: Inception;
  maxpool3: MaxPool2d;
  inception4a: Inception;
  inception4b: Inception;
  inception4c: Inception;
  inception4d: Inception;
  inception4e: Inception;
  maxpool4: MaxPool2d;
  inception5a: Inception;
  inception5b: Inception;
  /** null (no child, no state-dict keys) when auxLogits is false */
  aux1: InceptionAux | null;
  aux2: InceptionAux | null;
  avgpool: AdaptiveAvgPool2d;
  dropout: Dropout;
  fc: Linear;

  constructor(opts: GoogLeNetOptions = {}) {
    super();
    const numClasses = opts.numClasses ?? 1000;
    this.auxLogits = opts.auxLogits ?? true;
    this.transformInput = opts.transformInput ?? false;
    this.conv1 = new BasicConv2d(3, 64, 7, { stride: 2, padding: 3 });
    this.maxpool1 = new MaxPool2d(3, { stride: 2, ceilMode: true });
    this.conv2 = new BasicConv2d(64, 64, 1);
    this.conv3 = new BasicConv2d(64, 192, 3, { padding: 1 });
    this.maxpool2 = new MaxPool2d(3, { stride: 2, ceilMode: true });
    this.inception3a = new Inception(192, 64, 96, 128, 16, 32, 32);
    this.inception3b = new Inception(256, 128, 128, 192, 32, 96, 64);
    this.maxpool3 = new MaxPool2d(3, { stride: 2, ceilMode: true });
    this.inception4a = new Inception(480, 192, 96, 208, 16, 48, 64);
    this.inception4b = new Inception(512, 160, 112, 224, 24, 64, 64);
    this.inception4c = new Inception(512, 128, 128, 256, 24, 64, 64);
    this.inception4d = new Inception(512, 112, 144, 288, 32, 64, 64);
    this.inception4e = new Inception(528, 256, 160, 320, 32, 128, 128);
    this.maxpool4 = new MaxPool2d(2, { stride: 2, ceilMode: true });
    this.inception5a = new Inception(832, 256, 160, 320, 32, 128, 128);
    this.inception5b = new Inception(832, 384, 192, 384, 48, 128, 128);
    this.aux1 = this.auxLogits ? new InceptionAux(512, numClasses, opts.dropoutAux ?? 0.7) : null;
    this.aux2 = this.auxLogits ? new InceptionAux(528, numClasses, opts.dropoutAux ?? 0.7) : null;
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.dropout = new Dropout(opts.dropout ?? 0.2);
    this.fc = new Linear(1024, numClasses);

    if (opts.initWeights ?? true) {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d || m instanceof Linear) m.weight.data = truncNormalAbs(m.weight.shape, 0.01);
        else if (m instanceof BatchNorm2d) {
          m.weight?.data.fill(1);
          m.bias?.data.fill(0);
        }
      }
    }
  }

  forward(x: Value): Value {
    if (this.transformInput) x = transformInput(x);
    x = this.maxpool1.call(this.conv1.call(x));
    x = this.maxpool2.call(this.conv3.call(this.conv2.call(x)));
    x = this.maxpool3.call(this.inception3b.call(this.inception3a.call(x)));
    x = this.inception4a.call(x);
    // (torchvision computes aux1 here in training mode)
    x = this.inception4d.call(this.inception4c.call(this.inception4b.call(x)));
    // (torchvision computes aux2 here in training mode)
    x = this.maxpool4.call(this.inception4e.call(x));
    x = this.inception5b.call(this.inception5a.call(x));
    x = flatten(this.avgpool.call(x), 1);
    return this.fc.call(this.dropout.call(x));
  }
}

// ---- configs and registration ----------------------------------------------------------------

// torchvision's only (hence DEFAULT) weights, GoogLeNet_Weights.IMAGENET1K_V1: crop 224, resize 256, bilinear.
// torchvision builds the model for them with transformInput true (they were trained on inputs in
// Google's normalization) and auxLogits true (aux1, aux2: in the file, not trained)
const googlenetWeights = torchvisionWeights({ file: 'googlenet-1378be20.pth', top1: 69.778, top5: 89.53, classifier: 'fc' });

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;

function fromJson(args: JsonArgs): GoogLeNet {
  return new GoogLeNet({
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    auxLogits: arg(args, 'auxLogits', true, isBool, 'a boolean'),
    transformInput: arg(args, 'transformInput', false, isBool, 'a boolean'),
    initWeights: arg(args, 'initWeights', true, isBool, 'a boolean'),
    dropout: arg(args, 'dropout', 0.2, isProbability, 'a number in [0, 1)'),
    dropoutAux: arg(args, 'dropoutAux', 0.7, isProbability, 'a number in [0, 1)'),
  });
}

defineFamily({
  family: 'googlenet',
  source: 'torchvision',
  year: 2014,
  paper: 'Going Deeper with Convolutions',
  inputSize: 224,
  numClasses: 1000,
  constructors: { GoogLeNet: { args: ['numClasses', 'auxLogits', 'transformInput', 'initWeights', 'dropout', 'dropoutAux'], build: fromJson } },
  builderArgs: ['auxLogits', 'transformInput', 'initWeights', 'dropout', 'dropoutAux'],
  configs: [{ name: 'googlenet', pretrained: googlenetWeights, build: fromJson }],
});
