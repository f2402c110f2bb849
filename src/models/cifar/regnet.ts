/**
 * pytorch-cifar's RegNetX_200MF, RegNetX_400MF and RegNetY_400MF: a 64-channel stride-1 stem and
 * four stages of residual bottlenecks with grouped 3x3 convolutions (RegNetY adds squeeze-excitation),
 * 32x32 inputs.
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add, mul, sigmoid } from '../../ops/elementwise.js';
import { globalAvgPool } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { defineFamily } from '../registry.js';

/** Python's round(): halves go to the even neighbour */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** Squeeze-and-excitation with ReLU: x · σ(se2(relu(se1(mean(x))))) */
export class SE extends Module {
  se1: Conv2d;
  se2: Conv2d;

  constructor(inPlanes: number, sePlanes: number) {
    super();
    this.se1 = new Conv2d(inPlanes, sePlanes, 1);
    this.se2 = new Conv2d(sePlanes, inPlanes, 1);
  }

  forward(x: Value): Value {
    return mul(x, sigmoid(this.se2.call(relu(this.se1.call(globalAvgPool(x))))));
  }
}

/** 1x1 → grouped 3x3 (→ SE) → 1x1, added to the (projected) input, then ReLU */
export class Block extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  se?: SE;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(wIn: number, wOut: number, stride: number, groupWidth: number, bottleneckRatio: number, seRatio: number) {
    super();
    const wB = roundHalfEven(wOut * bottleneckRatio);
    this.conv1 = new Conv2d(wIn, wB, 1, { bias: false });
    this.bn1 = new BatchNorm2d(wB);
    this.conv2 = new Conv2d(wB, wB, 3, { stride, padding: 1, groups: Math.floor(wB / groupWidth), bias: false });
    this.bn2 = new BatchNorm2d(wB);
    if (seRatio > 0) this.se = new SE(wB, roundHalfEven(wIn * seRatio));
    this.conv3 = new Conv2d(wB, wOut, 1, { bias: false });
    this.bn3 = new BatchNorm2d(wOut);
    this.shortcut = stride !== 1 || wIn !== wOut ? new Sequential(new Conv2d(wIn, wOut, 1, { stride, bias: false }), new BatchNorm2d(wOut)) : new Sequential();
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    if (this.se) out = this.se.call(out);
    out = this.bn3.call(this.conv3.call(out));
    return relu(add(out, this.shortcut.call(x)));
  }
}

export interface RegNetConfig {
  readonly depths: readonly [number, number, number, number];
  readonly widths: readonly [number, number, number, number];
  readonly strides: readonly [number, number, number, number];
  readonly groupWidth: number;
  readonly bottleneckRatio: number;
  readonly seRatio: number;
}

/** pytorch-cifar `RegNet(cfg, num_classes=10)` */
export class RegNet extends Module {
  conv1 = new Conv2d(3, 64, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(64);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  linear: Linear;

  constructor(
    readonly cfg: RegNetConfig,
    opts: { numClasses?: number } = {},
  ) {
    super();
    let inPlanes = 64;
    const makeLayer = (idx: number) => {
      const layer = new Sequential();
      for (let i = 0; i < cfg.depths[idx]; i++) {
        layer.add(String(i), new Block(inPlanes, cfg.widths[idx], i === 0 ? cfg.strides[idx] : 1, cfg.groupWidth, cfg.bottleneckRatio, cfg.seRatio));
        inPlanes = cfg.widths[idx];
      }
      return layer;
    };
    this.layer1 = makeLayer(0);
    this.layer2 = makeLayer(1);
    this.layer3 = makeLayer(2);
    this.layer4 = makeLayer(3);
    this.linear = new Linear(cfg.widths[3], opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out))));
    return this.linear.call(flatten(globalAvgPool(out)));
  }
}

const configs: [string, RegNetConfig][] = [
  ['RegNetX_200MF', { depths: [1, 1, 4, 7], widths: [24, 56, 152, 368], strides: [1, 1, 2, 2], groupWidth: 8, bottleneckRatio: 1, seRatio: 0 }],
  ['RegNetX_400MF', { depths: [1, 2, 7, 12], widths: [32, 64, 160, 384], strides: [1, 1, 2, 2], groupWidth: 16, bottleneckRatio: 1, seRatio: 0 }],
  ['RegNetY_400MF', { depths: [1, 2, 7, 12], widths: [32, 64, 160, 384], strides: [1, 1, 2, 2], groupWidth: 16, bottleneckRatio: 1, seRatio: 0.25 }],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'regnet',
  source: 'pytorch-cifar',
  year: 2020,
  paper: 'Designing Network Design Spaces',
  inputSize: 32,
  numClasses: 10,
  configs: configs.map(([reference, cfg]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new RegNet(cfg, { numClasses: args.numClasses }),
  })),
});
