/**
 * pytorch-cifar's DLA (Deep Layer Aggregation, the paper's tree with `level_i` subtrees and a
 * `prev_root` block) and SimpleDLA (its simplified binary-tree variant), 32x32 inputs.
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear, ReLU } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { concat, flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt } from '../registry.js';

/** the ResNet basic block (3x3, 3x3, projected shortcut when shapes change) */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  shortcut: Sequential;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.shortcut = stride !== 1 || inPlanes !== planes ? new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false }), new BatchNorm2d(planes)) : new Sequential();
  }

  forward(x: Value): Value {
    const out = relu(this.bn1.call(this.conv1.call(x)));
    return relu(add(this.bn2.call(this.conv2.call(out)), this.shortcut.call(x)));
  }
}

/** Aggregation node: its input is the channel concatenation of the aggregated outputs (see `aggregate`). */
export class Root extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize = 1) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, kernelSize, { padding: Math.floor((kernelSize - 1) / 2), bias: false });
    this.bn = new BatchNorm2d(outChannels);
  }

  /** relu(bn(conv(cat(xs)))) */
  aggregate(xs: readonly Value[]): Value {
    return this.call(concat(xs, 1));
  }

  forward(x: Value): Value {
    return relu(this.bn.call(this.conv.call(x)));
  }
}

export type DLABlock = new (inPlanes: number, planes: number, stride?: number) => Module;

/** DLA's tree: level 1 aggregates two blocks; level L > 1 aggregates `prev_root`, the subtrees level_{L-1} … level_1 and two blocks */
export class Tree extends Module {
  root: Root;
  prev_root?: Module;
  left_node: Module;
  right_node: Module;
  /** `level_<i>` subtrees, deepest first (also registered as fields under those names) */
  private readonly subtrees: Tree[] = [];

  constructor(block: DLABlock, inChannels: number, outChannels: number, level = 1, stride = 1) {
    super();
    if (level === 1) {
      this.root = new Root(2 * outChannels, outChannels);
      this.left_node = new block(inChannels, outChannels, stride);
      this.right_node = new block(outChannels, outChannels, 1);
    } else {
      this.root = new Root((level + 2) * outChannels, outChannels);
      for (let i = level - 1; i >= 1; i--) {
        const subtree = new Tree(block, inChannels, outChannels, i, stride);
        this.addModule(`level_${i}`, subtree);
        this.subtrees.push(subtree);
      }
      this.prev_root = new block(inChannels, outChannels, stride);
      this.left_node = new block(outChannels, outChannels, 1);
      this.right_node = new block(outChannels, outChannels, 1);
    }
  }

  forward(x: Value): Value {
    const xs = this.prev_root ? [this.prev_root.call(x)] : [];
    for (const subtree of this.subtrees) {
      x = subtree.call(x);
      xs.push(x);
    }
    x = this.left_node.call(x);
    xs.push(x);
    x = this.right_node.call(x);
    xs.push(x);
    return this.root.aggregate(xs);
  }
}

/** SimpleDLA's tree: left subtree (or block), right subtree (or block) fed by the left, both aggregated */
export class SimpleTree extends Module {
  root: Root;
  left_tree: Module;
  right_tree: Module;

  constructor(block: DLABlock, inChannels: number, outChannels: number, level = 1, stride = 1) {
    super();
    this.root = new Root(2 * outChannels, outChannels);
    if (level === 1) {
      this.left_tree = new block(inChannels, outChannels, stride);
      this.right_tree = new block(outChannels, outChannels, 1);
    } else {
      this.left_tree = new SimpleTree(block, inChannels, outChannels, level - 1, stride);
      this.right_tree = new SimpleTree(block, outChannels, outChannels, level - 1, 1);
    }
  }

  forward(x: Value): Value {
    const out1 = this.left_tree.call(x);
    const out2 = this.right_tree.call(out1);
    return this.root.aggregate([out1, out2]);
  }
}

const convBnRelu = (inPlanes: number, outPlanes: number) => new Sequential(new Conv2d(inPlanes, outPlanes, 3, { padding: 1, bias: false }), new BatchNorm2d(outPlanes), new ReLU());

type TreeClass = typeof Tree | typeof SimpleTree;

/** the shared DLA / SimpleDLA layout: three conv stages, four trees, 4x4 average pool, linear */
abstract class DLABase extends Module {
  base = convBnRelu(3, 16);
  layer1 = convBnRelu(16, 16);
  layer2 = convBnRelu(16, 32);
  layer3: Module;
  layer4: Module;
  layer5: Module;
  layer6: Module;
  linear: Linear;

  constructor(tree: TreeClass, block: DLABlock, numClasses: number) {
    super();
    this.layer3 = new tree(block, 32, 64, 1, 1);
    this.layer4 = new tree(block, 64, 128, 2, 2);
    this.layer5 = new tree(block, 128, 256, 2, 2);
    this.layer6 = new tree(block, 256, 512, 1, 2);
    this.linear = new Linear(512, numClasses);
  }

  forward(x: Value): Value {
    let out = this.layer2.call(this.layer1.call(this.base.call(x)));
    out = this.layer6.call(this.layer5.call(this.layer4.call(this.layer3.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

/** pytorch-cifar `DLA(block=BasicBlock, num_classes=10)` */
export class DLA extends DLABase {
  constructor(opts: { numClasses?: number; block?: DLABlock } = {}) {
    super(Tree, opts.block ?? BasicBlock, opts.numClasses ?? 10);
  }
}

/** pytorch-cifar `SimpleDLA(block=BasicBlock, num_classes=10)` */
export class SimpleDLA extends DLABase {
  constructor(opts: { numClasses?: number; block?: DLABlock } = {}) {
    super(SimpleTree, opts.block ?? BasicBlock, opts.numClasses ?? 10);
  }
}

const configs: [string, new (opts: { numClasses?: number }) => Module][] = [
  ['DLA', DLA],
  ['SimpleDLA', SimpleDLA],
];

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'dla',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'Deep Layer Aggregation',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    DLA: { args: ['numClasses'], build: (args) => new DLA({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
    SimpleDLA: { args: ['numClasses'], build: (args) => new SimpleDLA({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
  },
  configs: configs.map(([reference, ctor]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new ctor({ numClasses: args.numClasses }),
  })),
});
