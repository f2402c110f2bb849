/**
 * pytorch-cifar's SENet18: a pre-activation ResNet18 whose blocks rescale their residual branch
 * by squeeze-and-excitation (1x1 convolutions with bias as the two fully connected layers).
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add, mul, sigmoid } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { defineFamily } from '../registry.js';

/** BN-ReLU-conv twice, SE on the branch, added to the (projected) input; no ReLU after the sum */
export class PreActBlock extends Module {
  bn1: BatchNorm2d;
  conv1: Conv2d;
  bn2: BatchNorm2d;
  conv2: Conv2d;
  /** present only when the block changes stride or width (the reference then has no attribute) */
  shortcut?: Sequential;
  fc1: Conv2d;
  fc2: Conv2d;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { padding: 1, bias: false });
    if (stride !== 1 || inPlanes !== planes) this.shortcut = new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false }));
    this.fc1 = new Conv2d(planes, Math.floor(planes / 16), 1);
    this.fc2 = new Conv2d(Math.floor(planes / 16), planes, 1);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(x));
    const shortcut = this.shortcut ? this.shortcut.call(out) : x;
    out = this.conv1.call(out);
    out = this.conv2.call(relu(this.bn2.call(out)));
    // squeeze: average over the (square) feature map, as avg_pool2d(out, out.size(2))
    let w = avgPool2d(out, out.shape[2]);
    w = relu(this.fc1.call(w));
    w = sigmoid(this.fc2.call(w));
    return add(mul(out, w), shortcut);
  }
}

/** pytorch-cifar `SENet(block, num_blocks, num_classes=10)` */
export class SENet extends Module {
  conv1 = new Conv2d(3, 64, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(64);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  linear: Linear;

  constructor(numBlocks: readonly number[], opts: { numClasses?: number } = {}) {
    super();
    let inPlanes = 64;
    const makeLayer = (planes: number, blocks: number, stride: number) => {
      const layer = new Sequential();
      for (let i = 0; i < blocks; i++) {
        layer.add(String(i), new PreActBlock(inPlanes, planes, i === 0 ? stride : 1));
        inPlanes = planes;
      }
      return layer;
    };
    this.layer1 = makeLayer(64, numBlocks[0], 1);
    this.layer2 = makeLayer(128, numBlocks[1], 2);
    this.layer3 = makeLayer(256, numBlocks[2], 2);
    this.layer4 = makeLayer(512, numBlocks[3], 2);
    this.linear = new Linear(512, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'senet',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'Squeeze-and-Excitation Networks',
  inputSize: 32,
  numClasses: 10,
  configs: [{ name: 'cifar_senet18', reference: 'SENet18', build: (args) => new SENet([2, 2, 2, 2], { numClasses: args.numClasses }) }],
});
