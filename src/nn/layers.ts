/**
 * The standard layers, with torch.nn's constructor arguments (camelCase), parameter names and
 * default initialization.
 *
 * @example
 * const conv = new Conv2d(3, 16, 3, { padding: 1, bias: false });
 * const bn = new BatchNorm2d(16);
 */
import { Value } from '../graph/ir.js';
import { constant, hostTensor, scalar } from '../graph/constants.js';
import { add, mul, sigmoid, tanh } from '../ops/elementwise.js';
import { conv2d } from '../ops/conv.js';
import { batchNormEval, batchNormTrain } from '../ops/batchnorm.js';
import { gemm, matmul } from '../ops/linalg.js';
import { flatten, transpose } from '../ops/shape.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../ops/pool.js';
import { clip, gelu, hardsigmoid, hardswish, relu, silu } from '../ops/activations.js';
import { dropout } from '../ops/dropout.js';
import { Buffer, Module, Parameter, tensorValue } from './module.js';
import { activeTrace } from './trace.js';
import { defaultWeight, uniform, fans } from './init.js';

type Pair = number | readonly [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export interface Conv2dLayerOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** torch.nn.Conv2d (zero padding) */
export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) throw new Error(`Conv2d(${inChannels}, ${outChannels}): channels must be divisible by groups ${this.groups}`);
    const shape = [outChannels, inChannels / this.groups, ...pair(kernelSize)];
    this.weight = new Parameter(defaultWeight(shape), shape);
    this.bias = opts.bias === false ? null : new Parameter(uniform([outChannels], 1 / Math.sqrt(fans(shape).fanIn)), [outChannels]);
  }

  forward(x: Value): Value {
    return conv2d(x, tensorValue(this.weight), this.bias ? tensorValue(this.bias) : null, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/** torch.nn.Linear (over the last axis of any-rank input) */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = new Parameter(defaultWeight([outFeatures, inFeatures]), [outFeatures, inFeatures]);
    this.bias = opts.bias === false ? null : new Parameter(uniform([outFeatures], 1 / Math.sqrt(inFeatures)), [outFeatures]);
  }

  forward(x: Value): Value {
    const w = tensorValue(this.weight);
    const b = this.bias ? tensorValue(this.bias) : null;
    if (x.rank === 2) return gemm(x, w, b, 0, 1);
    const y = matmul(x, transpose(w, [1, 0]));
    return b ? add(y, b) : y;
  }
}

/** torch.nn.BatchNorm2d (also serves 1-D [N, C] and [N, C, L] inputs, like BatchNorm1d) */
export class BatchNorm2d extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  running_mean: Buffer;
  running_var: Buffer;
  num_batches_tracked: Buffer;

  constructor(
    readonly numFeatures: number,
    readonly opts: { eps?: number; momentum?: number; affine?: boolean } = {},
  ) {
    super();
    const c = numFeatures;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(new Float32Array(c).fill(1), [c]) : null;
    this.bias = affine ? new Parameter(new Float32Array(c), [c]) : null;
    this.running_mean = new Buffer(new Float32Array(c), [c], 'float32');
    this.running_var = new Buffer(new Float32Array(c).fill(1), [c], 'float32');
    this.num_batches_tracked = new Buffer(new BigInt64Array(1), [], 'int64');
  }

  get eps(): number {
    return this.opts.eps ?? 1e-5;
  }

  forward(x: Value): Value {
    const c = this.numFeatures;
    const gamma = this.weight ? tensorValue(this.weight) : filled(c, 1, x.dtype);
    const beta = this.bias ? tensorValue(this.bias) : filled(c, 0, x.dtype);
    const mean = tensorValue(this.running_mean);
    const variance = tensorValue(this.running_var);
    if (!this.training) return batchNormEval(x, gamma, beta, mean, variance, this.eps);
    const [y, batchMean, batchVar] = batchNormTrain(x, gamma, beta, this.eps);
    const trace = activeTrace()!;
    const m = this.opts.momentum ?? 0.1;
    const count = x.size / c;
    // PyTorch: running stats use the unbiased batch variance
    trace.updateBuffer(this.running_mean, add(mul(mean, 1 - m), mul(batchMean, m)));
    trace.updateBuffer(this.running_var, add(mul(variance, 1 - m), mul(batchVar, (m * count) / Math.max(count - 1, 1))));
    const nbt = tensorValue(this.num_batches_tracked);
    trace.updateBuffer(this.num_batches_tracked, add(nbt, scalar(1, 'int64')));
    return y;
  }
}

function filled(c: number, v: number, dtype: Value['dtype']): Value {
  return constant(hostTensor(dtype, [c], new Array<number>(c).fill(v)));
}

/** A module applying a parameter-free function (activations, flatten, pooling). */
export class Lambda extends Module {
  constructor(
    readonly name: string,
    private readonly fn: (x: Value) => Value,
  ) {
    super();
  }

  forward(x: Value): Value {
    return this.fn(x);
  }
}

export class ReLU extends Lambda {
  constructor() {
    super('ReLU', relu);
  }
}

export class ReLU6 extends Lambda {
  constructor() {
    super('ReLU6', (x) => clip(x, 0, 6));
  }
}

export class SiLU extends Lambda {
  constructor() {
    super('SiLU', silu);
  }
}

export class GELU extends Lambda {
  constructor() {
    super('GELU', gelu);
  }
}

export class Hardswish extends Lambda {
  constructor() {
    super('Hardswish', hardswish);
  }
}

export class Hardsigmoid extends Lambda {
  constructor() {
    super('Hardsigmoid', hardsigmoid);
  }
}

export class Sigmoid extends Lambda {
  constructor() {
    super('Sigmoid', sigmoid);
  }
}

export class Tanh extends Lambda {
  constructor() {
    super('Tanh', tanh);
  }
}

export class Identity extends Lambda {
  constructor() {
    super('Identity', (x) => x);
  }
}

export class Flatten extends Lambda {
  constructor(startDim = 1) {
    super('Flatten', (x) => flatten(x, startDim));
  }
}

export class MaxPool2d extends Lambda {
  constructor(kernelSize: Pair, opts: { stride?: Pair; padding?: Pair; ceilMode?: boolean } = {}) {
    super('MaxPool2d', (x) => maxPool2d(x, pair(kernelSize), { stride: opts.stride === undefined ? undefined : pair(opts.stride), padding: opts.padding === undefined ? undefined : pair(opts.padding), ceilMode: opts.ceilMode }));
  }
}

export class AvgPool2d extends Lambda {
  constructor(kernelSize: Pair, opts: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {}) {
    super('AvgPool2d', (x) =>
      avgPool2d(x, pair(kernelSize), {
        stride: opts.stride === undefined ? undefined : pair(opts.stride),
        padding: opts.padding === undefined ? undefined : pair(opts.padding),
        ceilMode: opts.ceilMode,
        countIncludePad: opts.countIncludePad,
      }),
    );
  }
}

export class AdaptiveAvgPool2d extends Lambda {
  constructor(outputSize: Pair) {
    super('AdaptiveAvgPool2d', (x) => adaptiveAvgPool2d(x, pair(outputSize)));
  }
}

/** torch.nn.Dropout: active only in training mode */
export class Dropout extends Module {
  constructor(public p = 0.5) {
    super();
  }

  forward(x: Value): Value {
    return dropout(x, this.p, this.training);
  }
}
