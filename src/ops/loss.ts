/**
 * Losses, composed from primitives so their gradients come from autodiff, and the OneHot op
 * they use to turn class indices into distributions.
 */
import { DType, Value } from '../graph/ir.js';
import { defineOp } from './registry.js';
import { isFloat } from './shape-rules.js';
import { add, div, mul, neg, onnxDtypeCode } from './elementwise.js';
import { reduceSum } from './shape.js';
import { logSoftmax } from './softmax.js';

const oneHotOp = defineOp<{ depth: number; dtype: DType }>({
  type: 'OneHot',
  infer: ([labels], { depth, dtype }) => {
    if (labels.dtype !== 'int64') throw new Error(`labels must be int64, got ${labels.dtype}`);
    if (!Number.isInteger(depth) || depth < 1) throw new Error(`depth must be a positive integer, got ${depth}`);
    return [{ shape: [...labels.shape, depth], dtype }];
  },
  // Equal(labels[..., 1], [0, 1, ..., depth-1]) cast to dtype: any output dtype, no ONNX OneHot type table
  emit: (e, ins, outs, { depth, dtype }) => {
    const [u, eq] = [e.tmp('onehot_labels'), e.tmp('onehot_eq')];
    e.node('Unsqueeze', [ins[0], e.ints([-1])], [u]);
    e.node('Equal', [u, e.ints(Array.from({ length: depth }, (_, i) => i))], [eq]);
    e.node('Cast', [eq], outs, { to: onnxDtypeCode(dtype) });
  },
  grad: () => [null],
});

/** one-hot encoding of int64 class indices along a new last axis; labels outside [0, depth) give a zero row */
export const oneHot = (labels: Value, depth: number, dtype: DType = 'float32'): Value => oneHotOp([labels], { depth, dtype })[0];

export interface CrossEntropyOptions {
  /** ε in [0, 1]: the target becomes (1−ε)·target + ε/C */
  readonly labelSmoothing?: number;
  /** per-class weights, shape [C] */
  readonly weight?: Value;
}

/**
 * torch.nn.functional.cross_entropy with mean reduction. `target` is either int64 class indices
 * [N] or float class probabilities [N, C] (soft targets, as for mixup/cutmix).
 *
 * With q the (smoothed) target distribution and w the class weights (1 when absent), the loss is
 * −Σ_{n,c} w_c·q_{n,c}·log p_{n,c} / D, where D = Σ_n w_{y_n} for weighted hard targets and N
 * otherwise — torch's (1−ε)·nll + ε/C·smooth_loss, with both terms normalized by Σ w_y when
 * weighted. `ignore_index` is not supported.
 */
export function crossEntropy(logits: Value, target: Value, opts: CrossEntropyOptions = {}): Value {
  if (logits.rank !== 2 || !isFloat(logits.dtype)) throw new Error(`crossEntropy: logits must be float [N, C], got [${logits.shape}]:${logits.dtype}`);
  const [n, c] = logits.shape;
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  const hard = target.dtype === 'int64';
  if (hard ? target.rank !== 1 || target.shape[0] !== n : target.dtype !== logits.dtype || target.rank !== 2 || target.shape[0] !== n || target.shape[1] !== c) {
    throw new Error(`crossEntropy: target must be int64 [${n}] or ${logits.dtype} [${n}, ${c}], got [${target.shape}]:${target.dtype}`);
  }
  const w = opts.weight;
  if (w && (w.rank !== 1 || w.shape[0] !== c || w.dtype !== logits.dtype)) {
    throw new Error(`crossEntropy: weight must be ${logits.dtype} [${c}], got [${w.shape}]:${w.dtype}`);
  }

  const logp = logSoftmax(logits, 1);
  const onehot = hard ? oneHot(target, c, logits.dtype) : null;
  let q = onehot ?? target;
  if (eps > 0) q = add(mul(q, 1 - eps), eps / c);
  const total = reduceSum(mul(w ? mul(q, w) : q, logp), [0, 1]);
  if (w && onehot) return neg(div(total, reduceSum(mul(onehot, w), [0, 1])));
  return mul(total, -1 / n);
}
