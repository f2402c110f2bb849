/**
 * pytorch-cifar's PNASNetA and PNASNetB: five stages of searched cells (three of six stride-1
 * cells, two single stride-2 cells between them), 32x32 inputs.
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d, maxPool2d } from '../../ops/pool.js';
import { concat, flatten } from '../../ops/shape.js';
import { defineFamily } from '../registry.js';

/** pytorch-cifar's "separable" convolution: one grouped k x k convolution (groups = input channels) and BN */
export class SepConv extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;

  constructor(inPlanes: number, outPlanes: number, kernelSize: number, stride: number) {
    super();
    this.conv1 = new Conv2d(inPlanes, outPlanes, kernelSize, { stride, padding: Math.floor((kernelSize - 1) / 2), groups: inPlanes, bias: false });
    this.bn1 = new BatchNorm2d(outPlanes);
  }

  forward(x: Value): Value {
    return this.bn1.call(this.conv1.call(x));
  }
}

const maxPool3 = (x: Value, stride: number) => maxPool2d(x, 3, { stride, padding: 1 });

/** relu(sep7x7(x) + maxpool(x)), the pooled branch projected by 1x1 conv + BN at stride 2 */
export class CellA extends Module {
  sep_conv1: SepConv;
  conv1?: Conv2d;
  bn1?: BatchNorm2d;

  constructor(
    inPlanes: number,
    outPlanes: number,
    readonly stride = 1,
  ) {
    super();
    this.sep_conv1 = new SepConv(inPlanes, outPlanes, 7, stride);
    if (stride === 2) {
      this.conv1 = new Conv2d(inPlanes, outPlanes, 1, { bias: false });
      this.bn1 = new BatchNorm2d(outPlanes);
    }
  }

  forward(x: Value): Value {
    const y1 = this.sep_conv1.call(x);
    let y2 = maxPool3(x, this.stride);
    if (this.conv1 && this.bn1) y2 = this.bn1.call(this.conv1.call(y2));
    return relu(add(y1, y2));
  }
}

/** two summed branch pairs (sep7x7 + sep3x3, maxpool + sep5x5), concatenated and reduced by 1x1 conv + BN */
export class CellB extends Module {
  sep_conv1: SepConv;
  sep_conv2: SepConv;
  sep_conv3: SepConv;
  conv1?: Conv2d;
  bn1?: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;

  constructor(
    inPlanes: number,
    outPlanes: number,
    readonly stride = 1,
  ) {
    super();
    this.sep_conv1 = new SepConv(inPlanes, outPlanes, 7, stride);
    this.sep_conv2 = new SepConv(inPlanes, outPlanes, 3, stride);
    this.sep_conv3 = new SepConv(inPlanes, outPlanes, 5, stride);
    if (stride === 2) {
      this.conv1 = new Conv2d(inPlanes, outPlanes, 1, { bias: false });
      this.bn1 = new BatchNorm2d(outPlanes);
    }
    this.conv2 = new Conv2d(2 * outPlanes, outPlanes, 1, { bias: false });
    this.bn2 = new BatchNorm2d(outPlanes);
  }

  forward(x: Value): Value {
    const y1 = this.sep_conv1.call(x);
    const y2 = this.sep_conv2.call(x);
    let y3 = maxPool3(x, this.stride);
    if (this.conv1 && this.bn1) y3 = this.bn1.call(this.conv1.call(y3));
    const y4 = this.sep_conv3.call(x);
    const y = concat([relu(add(y1, y2)), relu(add(y3, y4))], 1);
    return relu(this.bn2.call(this.conv2.call(y)));
  }
}

export type PNASCell = typeof CellA | typeof CellB;

/** pytorch-cifar `PNASNet(cell_type, num_cells, num_planes)` (10 classes in the reference; `numClasses` overrides) */
export class PNASNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  layer1: Sequential;
  layer2: Module;
  layer3: Sequential;
  layer4: Module;
  layer5: Sequential;
  linear: Linear;

  constructor(cell: PNASCell, numCells: number, numPlanes: number, opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = numPlanes;
    this.conv1 = new Conv2d(3, numPlanes, 3, { padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(numPlanes);
    const makeLayer = (planes: number) => {
      const layer = new Sequential();
      for (let i = 0; i < numCells; i++) {
        layer.add(String(i), new cell(inPlanes, planes, 1));
        inPlanes = planes;
      }
      return layer;
    };
    const downsample = (planes: number) => {
      const c = new cell(inPlanes, planes, 2);
      inPlanes = planes;
      return c;
    };
    this.layer1 = makeLayer(numPlanes);
    this.layer2 = downsample(numPlanes * 2);
    this.layer3 = makeLayer(numPlanes * 2);
    this.layer4 = downsample(numPlanes * 4);
    this.layer5 = makeLayer(numPlanes * 4);
    this.linear = new Linear(numPlanes * 4, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer5.call(this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out)))));
    return this.linear.call(flatten(avgPool2d(out, 8)));
  }
}

const configs: [string, PNASCell, number][] = [
  ['PNASNetA', CellA, 44],
  ['PNASNetB', CellB, 32],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'pnasnet',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'Progressive Neural Architecture Search',
  inputSize: 32,
  numClasses: 10,
  configs: configs.map(([reference, cell, planes]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new PNASNet(cell, 6, planes, { numClasses: args.numClasses }),
  })),
});
