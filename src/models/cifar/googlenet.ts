/** pytorch-cifar's GoogLeNet (Inception v1 without auxiliary heads, 3x3 stem, 32x32 inputs). */
import { Value } from '../../graph/ir.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { concat, flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt } from '../registry.js';

/** conv (with bias) + BN + ReLU, as three Sequential entries */
const convBnRelu = (inPlanes: number, outPlanes: number, kernel: number): Module[] => [
  new Conv2d(inPlanes, outPlanes, kernel, { padding: kernel === 3 ? 1 : 0 }),
  new BatchNorm2d(outPlanes),
  new ReLU(),
];

/** four branches (1x1; 1x1-3x3; 1x1-3x3-3x3; maxpool-1x1) concatenated on channels */
export class Inception extends Module {
  b1: Sequential;
  b2: Sequential;
  b3: Sequential;
  b4: Sequential;

  constructor(inPlanes: number, n1x1: number, n3x3red: number, n3x3: number, n5x5red: number, n5x5: number, poolPlanes: number) {
    super();
    this.b1 = new Sequential(...convBnRelu(inPlanes, n1x1, 1));
    this.b2 = new Sequential(...convBnRelu(inPlanes, n3x3red, 1), ...convBnRelu(n3x3red, n3x3, 3));
    // the "5x5" branch is two stacked 3x3 convs in this implementation
    this.b3 = new Sequential(...convBnRelu(inPlanes, n5x5red, 1), ...convBnRelu(n5x5red, n5x5, 3), ...convBnRelu(n5x5, n5x5, 3));
    this.b4 = new Sequential(new MaxPool2d(3, { stride: 1, padding: 1 }), ...convBnRelu(inPlanes, poolPlanes, 1));
  }

  forward(x: Value): Value {
    return concat([this.b1.call(x), this.b2.call(x), this.b3.call(x), this.b4.call(x)], 1);
  }
}

/** pytorch-cifar `GoogLeNet()`; `numClasses` (default 10) sizes the classifier. */
export class GoogLeNet extends Module {
  pre_layers = new Sequential(...convBnRelu(3, 192, 3));
  a3 = new Inception(192, 64, 96, 128, 16, 32, 32);
  b3 = new Inception(256, 128, 128, 192, 32, 96, 64);
  /** shared by both downsampling points */
  maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
  a4 = new Inception(480, 192, 96, 208, 16, 48, 64);
  b4 = new Inception(512, 160, 112, 224, 24, 64, 64);
  c4 = new Inception(512, 128, 128, 256, 24, 64, 64);
  d4 = new Inception(512, 112, 144, 288, 32, 64, 64);
  e4 = new Inception(528, 256, 160, 320, 32, 128, 128);
  a5 = new Inception(832, 256, 160, 320, 32, 128, 128);
  b5 = new Inception(832, 384, 192, 384, 48, 128, 128);
  avgpool = new AvgPool2d(8, { stride: 1 });
  linear: Linear;

  constructor(opts: { numClasses?: number } = {}) {
    super();
    this.linear = new Linear(1024, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = this.b3.call(this.a3.call(this.pre_layers.call(x)));
    out = this.maxpool.call(out);
    for (const m of [this.a4, this.b4, this.c4, this.d4, this.e4]) out = m.call(out);
    out = this.maxpool.call(out);
    out = this.b5.call(this.a5.call(out));
    return this.linear.call(flatten(this.avgpool.call(out)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'googlenet',
  source: 'pytorch-cifar',
  year: 2014,
  paper: 'Going Deeper with Convolutions',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    GoogLeNet: { args: ['numClasses'], build: (args) => new GoogLeNet({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
  },
  configs: [{ name: 'cifar_googlenet', reference: 'GoogLeNet', build: (args) => new GoogLeNet({ numClasses: args.numClasses }) }],
});
