/**
 * torchvision's Inception v3: same constructor arguments (camelCase), same attribute names, hence
 * the same `state_dict()` keys (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch5x5_1.bn.weight`,
 * `AuxLogits.conv1.conv.weight`, ..., `fc.bias`), and the same initialization (convolutions and
 * Linear weights truncated-normal cut at ±2 with std 0.1, except `AuxLogits.fc` with its
 * `stddev` 0.001; Linear biases left at PyTorch's default; BatchNorm 1/0, eps 0.001).
 *
 * torchvision also sets `stddev = 0.01` on `AuxLogits.conv1`, but that is a BasicConv2d, not the
 * nn.Conv2d the init loop checks, so its convolution gets std 0.1: reproduced here.
 *
 * The default input is 299x299 (torchvision's weights' crop); any input from 75x75 traces in eval
 * mode. `AuxLogits` exists when `auxLogits` (default true, as torchvision's `inception_v3()`
 * without weights builds it; zoo_params.json's 27,161,264 parameters include it), so its weights
 * load and save; Tessera's forward returns only the main logits, in eval and in training mode
 * (torchvision's training forward also returns the auxiliary logits), so the head gets no
 * gradient, no update, and no BatchNorm statistics updates. `transformInput` defaults to false,
 * as for random init.
 *
 * @example
 * import { Inception3 } from './inception.js';
 * const net = new Inception3({ numClasses: 10, auxLogits: false });
 * createModel('inception_v3');
 * createFromConstructor('Inception3', { numClasses: 10 }, 'torchvision');
 */
import { Value } from '../graph/ir.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../ops/pool.js';
import { concat, flatten } from '../ops/shape.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BasicConv2d, transformInput, truncNormalAbs } from './googlenet.js';
import { JsonArgs, arg, defineFamily, isBool, isNumber, isPositiveInt } from './registry.js';
import { torchvisionWeights } from './torchvision-weights.js';

// ---- blocks ----------------------------------------------------------------------------------

/** 35x35 block: 1x1; 1x1-5x5; 1x1-3x3-3x3; avgpool-1x1 */
export class InceptionA extends Module {
  branch1x1: BasicConv2d;
  branch5x5_1: BasicConv2d;
  branch5x5_2: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3: BasicConv2d;
  branch_pool: BasicConv2d;

  constructor(inChannels: number, poolFeatures: number) {
    super();
    this.branch1x1 = new BasicConv2d(inChannels, 64, 1);
    this.branch5x5_1 = new BasicConv2d(inChannels, 48, 1);
    this.branch5x5_2 = new BasicConv2d(48, 64, 5, { padding: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { padding: 1 });
    this.branch_pool = new BasicConv2d(inChannels, poolFeatures, 1);
  }

  forward(x: Value): Value {
    const b1 = this.branch1x1.call(x);
    const b5 = this.branch5x5_2.call(this.branch5x5_1.call(x));
    const b3 = this.branch3x3dbl_3.call(this.branch3x3dbl_2.call(this.branch3x3dbl_1.call(x)));
    const bp = this.branch_pool.call(avgPool2d(x, 3, { stride: 1, padding: 1 }));
    return concat([b1, b5, b3, bp], 1);
  }
}

/** grid reduction 35 -> 17: 3x3/2; 1x1-3x3-3x3/2; maxpool/2 */
export class InceptionB extends Module {
  branch3x3: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3 = new BasicConv2d(inChannels, 384, 3, { stride: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { stride: 2 });
  }

  forward(x: Value): Value {
    const b3 = this.branch3x3.call(x);
    const bd = this.branch3x3dbl_3.call(this.branch3x3dbl_2.call(this.branch3x3dbl_1.call(x)));
    return concat([b3, bd, maxPool2d(x, 3, { stride: 2 })], 1);
  }
}

/** 17x17 block with factorized 7x7 convolutions (1x7 and 7x1) */
export class InceptionC extends Module {
  branch1x1: BasicConv2d;
  branch7x7_1: BasicConv2d;
  branch7x7_2: BasicConv2d;
  branch7x7_3: BasicConv2d;
  branch7x7dbl_1: BasicConv2d;
  branch7x7dbl_2: BasicConv2d;
  branch7x7dbl_3: BasicConv2d;
  branch7x7dbl_4: BasicConv2d;
  branch7x7dbl_5: BasicConv2d;
  branch_pool: BasicConv2d;

  constructor(inChannels: number, channels7x7: number) {
    super();
    const c7 = channels7x7;
    this.branch1x1 = new BasicConv2d(inChannels, 192, 1);
    this.branch7x7_1 = new BasicConv2d(inChannels, c7, 1);
    this.branch7x7_2 = new BasicConv2d(c7, c7, [1, 7], { padding: [0, 3] });
    this.branch7x7_3 = new BasicConv2d(c7, 192, [7, 1], { padding: [3, 0] });
    this.branch7x7dbl_1 = new BasicConv2d(inChannels, c7, 1);
    this.branch7x7dbl_2 = new BasicConv2d(c7, c7, [7, 1], { padding: [3, 0] });
    this.branch7x7dbl_3 = new BasicConv2d(c7, c7, [1, 7], { padding: [0, 3] });
    this.branch7x7dbl_4 = new BasicConv2d(c7, c7, [7, 1], { padding: [3, 0] });
    this.branch7x7dbl_5 = new BasicConv2d(c7, 192, [1, 7], { padding: [0, 3] });
    this.branch_pool = new BasicConv2d(inChannels, 192, 1);
  }

  forward(x: Value): Value {
    const b1 = this.branch1x1.call(x);
    const b7 = this.branch7x7_3.call(this.branch7x7_2.call(this.branch7x7_1.call(x)));
    let bd = this.branch7x7dbl_1.call(x);
    bd = this.branch7x7dbl_3.call(this.branch7x7dbl_2.call(bd));
    bd = this.branch7x7dbl_5.call(this.branch7x7dbl_4.call(bd));
    const bp = this.branch_pool.call(avgPool2d(x, 3, { stride: 1, padding: 1 }));
    return concat([b1, b7, bd, bp], 1);
  }
}

/** grid reduction 17 -> 8: 1x1-3x3/2; 1x1-1x7-7x1-3x3/2; maxpool/2 */
export class InceptionD extends Module {
  branch3x3_1: BasicConv2d;
  branch3x3_2: BasicConv2d;
  branch7x7x3_1: BasicConv2d;
  branch7x7x3_2: BasicConv2d;
  branch7x7x3_3: BasicConv2d;
  branch7x7x3_4: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3_1 = new BasicConv2d(inChannels, 192, 1);
    this.branch3x3_2 = new BasicConv2d(192, 320, 3, { stride: 2 });
    this.branch7x7x3_1 = new BasicConv2d(inChannels, 192, 1);
    this.branch7x7x3_2 = new BasicConv2d(192, 192, [1, 7], { padding: [0, 3] });
    this.branch7x7x3_3 = new BasicConv2d(192, 192, [7, 1], { padding: [3, 0] });
    this.branch7x7x3_4 = new BasicConv2d(192, 192, 3, { stride: 2 });
  }

  forward(x: Value): Value {
    const b3 = this.branch3x3_2.call(this.branch3x3_1.call(x));
    let b7 = this.branch7x7x3_2.call(this.branch7x7x3_1.call(x));
    b7 = this.branch7x7x3_4.call(this.branch7x7x3_3.call(b7));
    return concat([b3, b7, maxPool2d(x, 3, { stride: 2 })], 1);
  }
}

/** 8x8 block with expanded filter banks (parallel 1x3 and 3x1) */
export class InceptionE extends Module {
  branch1x1: BasicConv2d;
  branch3x3_1: BasicConv2d;
  branch3x3_2a: BasicConv2d;
  branch3x3_2b: BasicConv2d;
  branch3x3dbl_1: BasicConv2d;
  branch3x3dbl_2: BasicConv2d;
  branch3x3dbl_3a: BasicConv2d;
  branch3x3dbl_3b: BasicConv2d;
  branch_pool: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch1x1 = new BasicConv2d(inChannels, 320, 1);
    this.branch3x3_1 = new BasicConv2d(inChannels, 384, 1);
    this.branch3x3_2a = new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] });
    this.branch3x3_2b = new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] });
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 448, 1);
    this.branch3x3dbl_2 = new BasicConv2d(448, 384, 3, { padding: 1 });
    this.branch3x3dbl_3a = new BasicConv2d(384, 384, [1, 3], { padding: [0, 1] });
    this.branch3x3dbl_3b = new BasicConv2d(384, 384, [3, 1], { padding: [1, 0] });
    this.branch_pool = new BasicConv2d(inChannels, 192, 1);
  }

  forward(x: Value): Value {
    const b1 = this.branch1x1.call(x);
    const t = this.branch3x3_1.call(x);
    const b3 = concat([this.branch3x3_2a.call(t), this.branch3x3_2b.call(t)], 1);
    const d = this.branch3x3dbl_2.call(this.branch3x3dbl_1.call(x));
    const bd = concat([this.branch3x3dbl_3a.call(d), this.branch3x3dbl_3b.call(d)], 1);
    const bp = this.branch_pool.call(avgPool2d(x, 3, { stride: 1, padding: 1 }));
    return concat([b1, b3, bd, bp], 1);
  }
}

/** The auxiliary classifier on the 17x17 grid (needs Mixed_6e's output to be at least 5x5). */
export class InceptionAux extends Module {
  conv0: BasicConv2d;
  conv1: BasicConv2d;
  fc: Linear;

  constructor(inChannels: number, numClasses: number) {
    super();
    this.conv0 = new BasicConv2d(inChannels, 128, 1);
    this.conv1 = new BasicConv2d(128, 768, 5);
    // as torchvision: set on the BasicConv2d, which the init loop does not look at
    Object.assign(this.conv1, { stddev: 0.01 });
    this.fc = new Linear(768, numClasses);
    Object.assign(this.fc, { stddev: 0.001 });
  }

  forward(x: Value): Value {
    x = this.conv1.call(this.conv0.call(avgPool2d(x, 5, { stride: 3 })));
    return this.fc.call(flatten(adaptiveAvgPool2d(x, 1), 1));
  }
}

// ---- model -----------------------------------------------------------------------------------

export interface Inception3Options {
  numClasses?: number;
  /** build the auxiliary head AuxLogits (default true); Tessera's forward never uses it */
  auxLogits?: boolean;
  /** re-normalize inputs as torchvision's pretrained weights expect (default false) */
  transformInput?: boolean;
  /** torchvision's re-initialization (default true, what torchvision's `None` resolves to) */
  initWeights?: boolean;
  dropout?: number;
}

/** torchvision.models.Inception3; forward returns the main logits only (see the file comment) */
export class Inception3 extends Module {
  readonly auxLogits: boolean;
  readonly transformInput: boolean;
  Conv2d_1a_3x3: BasicConv2d;
  Conv2d_2a_3x3: BasicConv2d;
  Conv2d_2b_3x3: BasicConv2d;
  maxpool1: MaxPool2d;
  Conv2d_3b_1x1: BasicConv2d;
  Conv2d_4a_3x3: BasicConv2d;
  maxpool2: MaxPool2d;
  Mixed_5b: InceptionA;
  Mixed_5c: InceptionA;
  Mixed_5d: InceptionA;
  Mixed_6a: InceptionB;
  Mixed_6b: InceptionC;
  Mixed_6c: InceptionC;
  Mixed_6d: InceptionC;
  Mixed_6e: InceptionC;
  /** null (no child, no state-dict keys) when auxLogits is false */
  AuxLogits: InceptionAux | null;
  Mixed_7a: InceptionD;
  Mixed_7b: InceptionE;
  Mixed_7c: InceptionE;
  avgpool: AdaptiveAvgPool2d;
  dropout: Dropout;
  fc: Linear;

  constructor(opts: Inception3Options = {}) {
    super();
    const numClasses = opts.numClasses ?? 1000;
    this.auxLogits = opts.auxLogits ?? true;
    this.transformInput = opts.transformInput ?? false;
    this.Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, { stride: 2 });
    this.Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3);
    this.Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, { padding: 1 });
    this.maxpool1 = new MaxPool2d(3, { stride: 2 });
    this.Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);
    this.Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3);
    this.maxpool2 = new MaxPool2d(3, { stride: 2 });
    this.Mixed_5b = new InceptionA(192, 32);
    this.Mixed_5c = new InceptionA(256, 64);
    this.Mixed_5d = new InceptionA(288, 64);
    this.Mixed_6a = new InceptionB(288);
    this.Mixed_6b = new InceptionC(768, 128);
    this.Mixed_6c = new InceptionC(768, 160);
    this.Mixed_6d = new InceptionC(768, 160);
    this.Mixed_6e = new InceptionC(768, 192);
    this.AuxLogits = this.auxLogits ? new InceptionAux(768, numClasses) : null;
    this.Mixed_7a = new InceptionD(768);
    this.Mixed_7b = new InceptionE(1280);
    this.Mixed_7c = new InceptionE(2048);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.dropout = new Dropout(opts.dropout ?? 0.5);
    this.fc = new Linear(2048, numClasses);

    if (opts.initWeights ?? true) {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d || m instanceof Linear) {
          const stddev = (m as { stddev?: unknown }).stddev;
          m.weight.data = truncNormalAbs(m.weight.shape, typeof stddev === 'number' ? stddev : 0.1);
        } else if (m instanceof BatchNorm2d) {
          m.weight?.data.fill(1);
          m.bias?.data.fill(0);
        }
      }
    }
  }

  forward(x: Value): Value {
    if (this.transformInput) x = transformInput(x);
    x = this.Conv2d_2b_3x3.call(this.Conv2d_2a_3x3.call(this.Conv2d_1a_3x3.call(x)));
    x = this.maxpool1.call(x);
    x = this.maxpool2.call(this.Conv2d_4a_3x3.call(this.Conv2d_3b_1x1.call(x)));
    x = this.Mixed_5d.call(this.Mixed_5c.call(this.Mixed_5b.call(x)));
    x = this.Mixed_6a.call(x);
    x = this.Mixed_6e.call(this.Mixed_6d.call(this.Mixed_6c.call(this.Mixed_6b.call(x))));
    // (torchvision computes AuxLogits here in training mode)
    x = this.Mixed_7c.call(this.Mixed_7b.call(this.Mixed_7a.call(x)));
    x = this.dropout.call(this.avgpool.call(x));
    return this.fc.call(flatten(x, 1));
  }
}

// ---- configs and registration ----------------------------------------------------------------

// torchvision's only (hence DEFAULT) weights, Inception_V3_Weights.IMAGENET1K_V1: crop 299, resize 342, bilinear.
// torchvision builds the model for them with transformInput true (they were trained on inputs in
// Google's normalization) and auxLogits true (AuxLogits is in the file)
const inceptionV3Weights = torchvisionWeights({ file: 'inception_v3_google-0cc3c7bd.pth', top1: 77.294, top5: 93.45, cropSize: 299, resizeSize: 342, classifier: 'fc' });

const isProbability = (v: unknown): v is number => isNumber(v) && v >= 0 && v < 1;

function fromJson(args: JsonArgs): Inception3 {
  return new Inception3({
    numClasses: arg(args, 'numClasses', 1000, isPositiveInt, 'a positive integer'),
    auxLogits: arg(args, 'auxLogits', true, isBool, 'a boolean'),
    transformInput: arg(args, 'transformInput', false, isBool, 'a boolean'),
    initWeights: arg(args, 'initWeights', true, isBool, 'a boolean'),
    dropout: arg(args, 'dropout', 0.5, isProbability, 'a number in [0, 1)'),
  });
}

defineFamily({
  family: 'inception',
  source: 'torchvision',
  year: 2015,
  paper: 'Rethinking the Inception Architecture for Computer Vision',
  inputSize: 299,
  // torchvision: "input size must be at least 75x75"
  minInputSize: 75,
  numClasses: 1000,
  constructors: { Inception3: { args: ['numClasses', 'auxLogits', 'transformInput', 'initWeights', 'dropout'], build: fromJson } },
  builderArgs: ['auxLogits', 'transformInput', 'initWeights', 'dropout'],
  configs: [{ name: 'inception_v3', pretrained: inceptionV3Weights, build: fromJson }],
});
