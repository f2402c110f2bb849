/** pytorch-cifar's Dual Path Networks (DPN26, DPN92): a residual path and a densely growing path per block, 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { Module, Sequential } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { add } from '../../ops/elementwise.js';
import { avgPool2d } from '../../ops/pool.js';
import { concat, flatten, split } from '../../ops/shape.js';
import { arg, defineFamily, isNumber, isPositiveInt } from '../registry.js';
import { UserError } from '../../errors.js';

/**
 * 1x1, grouped 3x3 (32 groups), 1x1 to outPlanes + denseDepth channels. The first outPlanes
 * channels are added to the (projected) input's, the rest appended to its dense channels.
 */
export class Bottleneck extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  shortcut: Sequential;

  constructor(
    lastPlanes: number,
    inPlanes: number,
    readonly outPlanes: number,
    readonly denseDepth: number,
    stride: number,
    firstLayer: boolean,
  ) {
    super();
    const width = outPlanes + denseDepth;
    this.conv1 = new Conv2d(lastPlanes, inPlanes, 1, { bias: false });
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv2 = new Conv2d(inPlanes, inPlanes, 3, { stride, padding: 1, groups: 32, bias: false });
    this.bn2 = new BatchNorm2d(inPlanes);
    this.conv3 = new Conv2d(inPlanes, width, 1, { bias: false });
    this.bn3 = new BatchNorm2d(width);
    this.shortcut = firstLayer ? new Sequential(new Conv2d(lastPlanes, width, 1, { stride, bias: false }), new BatchNorm2d(width)) : new Sequential();
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = relu(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const skip = this.shortcut.call(x);
    const d = this.outPlanes;
    const [skipRes, skipDense] = split(skip, 1, [d, skip.shape[1] - d]);
    const [outRes, outDense] = split(out, 1, [d, this.denseDepth]);
    return relu(concat([add(skipRes, outRes), skipDense, outDense], 1));
  }
}

/** the reference's cfg dict: four entries each, one per stage */
export interface DpnConfig {
  readonly inPlanes: readonly number[];
  readonly outPlanes: readonly number[];
  readonly numBlocks: readonly number[];
  readonly denseDepth: readonly number[];
}

/** pytorch-cifar `DPN(cfg)`; `numClasses` (default 10) sizes the classifier. */
export class DPN extends Module {
  conv1 = new Conv2d(3, 64, 3, { padding: 1, bias: false });
  bn1 = new BatchNorm2d(64);
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  linear: Linear;

  constructor(cfg: DpnConfig, opts: { numClasses?: number } = {}) {
    super();
    for (const k of ['inPlanes', 'outPlanes', 'numBlocks', 'denseDepth'] as const) {
      if (cfg[k].length !== 4) throw new UserError(`DPN: cfg.${k} must have 4 entries, got [${cfg[k]}]`);
    }
    let lastPlanes = 64;
    const makeLayer = (stage: number, stride: number) => {
      const [inPlanes, outPlanes, blocks, dense] = [cfg.inPlanes[stage], cfg.outPlanes[stage], cfg.numBlocks[stage], cfg.denseDepth[stage]];
      const layer = new Sequential();
      for (let i = 0; i < blocks; i++) {
        layer.add(String(i), new Bottleneck(lastPlanes, inPlanes, outPlanes, dense, i === 0 ? stride : 1, i === 0));
        lastPlanes = outPlanes + (i + 2) * dense;
      }
      return layer;
    };
    this.layer1 = makeLayer(0, 1);
    this.layer2 = makeLayer(1, 2);
    this.layer3 = makeLayer(2, 2);
    this.layer4 = makeLayer(3, 2);
    this.linear = new Linear(cfg.outPlanes[3] + (cfg.numBlocks[3] + 1) * cfg.denseDepth[3], opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = relu(this.bn1.call(this.conv1.call(x)));
    out = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(out))));
    return this.linear.call(flatten(avgPool2d(out, 4)));
  }
}

const STAGES = { inPlanes: [96, 192, 384, 768], outPlanes: [256, 512, 1024, 2048], denseDepth: [16, 32, 24, 128] };

const configs: [string, DpnConfig][] = [
  ['DPN26', { ...STAGES, numBlocks: [2, 2, 2, 2] }],
  ['DPN92', { ...STAGES, numBlocks: [3, 4, 20, 3] }],
];

const isDpnConfig = (v: unknown): v is DpnConfig =>
  typeof v === 'object' &&
  v !== null &&
  Object.keys(v).length === 4 &&
  (['inPlanes', 'outPlanes', 'numBlocks', 'denseDepth'] as const).every((k) => {
    const a = (v as Record<string, unknown>)[k];
    return Array.isArray(a) && a.length === 4 && a.every(isNumber);
  });

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'dpn',
  source: 'pytorch-cifar',
  year: 2017,
  paper: 'Dual Path Networks',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    DPN: {
      args: ['cfg', 'numClasses'],
      build(args) {
        const cfg = arg<DpnConfig | null>(args, 'cfg', null, isDpnConfig, 'an object with inPlanes, outPlanes, numBlocks and denseDepth, 4 numbers each');
        if (!cfg) throw new UserError('DPN: cfg is required ({ inPlanes, outPlanes, numBlocks, denseDepth }, 4 numbers each)');
        return new DPN(cfg, { numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') });
      },
    },
  },
  configs: configs.map(([reference, cfg]) => ({
    name: `cifar_${reference.toLowerCase()}`,
    reference,
    build: (args) => new DPN(cfg, { numClasses: args.numClasses }),
  })),
});
