/**
 * torch.nn.LayerNorm (over the last axis: `normalizedShape` is one number) and torchvision
 * ConvNeXt's LayerNorm2d (channels-first: [N, C, H, W] normalized over C). State keys `weight`,
 * `bias` (absent without elementwise affine).
 *
 * @example
 * const ln = new LayerNorm(64, { eps: 1e-6 });
 * const ln2d = new LayerNorm2d(64, { eps: 1e-6 });
 */
import { Value } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { layerNorm, layerNorm2d } from '../ops/layernorm.js';
import { Module, Parameter, tensorValue } from './module.js';

export interface LayerNormOptions {
  /** default 1e-5 */
  eps?: number;
  /** default true */
  elementwiseAffine?: boolean;
}

export class LayerNorm extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly eps: number;

  constructor(
    readonly normalizedShape: number,
    opts: LayerNormOptions = {},
  ) {
    super();
    if (!(Number.isInteger(normalizedShape) && normalizedShape > 0)) throw new Error(`LayerNorm: normalizedShape must be a positive integer, got ${normalizedShape}`);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    const c = normalizedShape;
    this.weight = affine ? new Parameter(new Float32Array(c).fill(1), [c]) : null;
    this.bias = affine ? new Parameter(new Float32Array(c), [c]) : null;
  }

  protected params(dtype: Value['dtype']): [Value, Value] {
    const c = this.normalizedShape;
    const filled = (v: number) => constant(hostTensor(dtype, [c], new Array<number>(c).fill(v)));
    return [this.weight ? tensorValue(this.weight) : filled(1), this.bias ? tensorValue(this.bias) : filled(0)];
  }

  forward(x: Value): Value {
    return layerNorm(x, ...this.params(x.dtype), this.eps);
  }
}

/** torchvision.models.convnext.LayerNorm2d: permute to NHWC, layer norm over C, permute back */
export class LayerNorm2d extends LayerNorm {
  override forward(x: Value): Value {
    return layerNorm2d(x, ...this.params(x.dtype), this.eps);
  }
}
