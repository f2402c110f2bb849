/**
 * Classification losses, composed from primitives so their gradients come from autodiff, and the
 * OneHot op they use to turn class indices into distributions: cross-entropy (hard or soft
 * targets), binary cross-entropy with logits on one-hot or mixed targets (timm's
 * BinaryCrossEntropy) and softmax focal loss; each with label smoothing and per-class weights.
 * `classificationLoss` picks one from a `LossKind`.
 */
import { DType, Value } from '../graph/ir.js';
import { constant, typedArrayFor } from '../graph/constants.js';
import { defineOp } from './registry.js';
import { isFloat } from './shape-rules.js';
import { add, cast, div, exp, greater, log, mul, neg, onnxDtypeCode, sub } from './elementwise.js';
import { clip } from './activations.js';
import { concat, reduceSum, reshape } from './shape.js';
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

/** What every loss takes besides logits and target. */
export interface LossOptions {
  /** ε in [0, 1]: the target q becomes (1−ε)·q + ε/C (timm's mixup_target: off ε/C, on 1−ε+ε/C) */
  readonly labelSmoothing?: number;
  /** per-class weights, shape [C] */
  readonly weight?: Value;
}

/** Which loss (the `kind`) and its own parameters. */
export type LossKind =
  | { readonly kind: 'ce' }
  /** targets above `targetThreshold` become 1, the others 0 (timm's --bce-target-thresh) */
  | { readonly kind: 'bce'; readonly targetThreshold?: number }
  /** softmax focal loss with focusing parameter γ ≥ 0 (γ = 0 is cross-entropy) */
  | { readonly kind: 'focal'; readonly gamma: number };

/** The checked pieces every loss starts from. */
interface LossInputs {
  readonly n: number;
  readonly c: number;
  /** int64 labels [N] as one-hot rows, or null for soft targets */
  readonly onehot: Value | null;
  /** the target distribution, label smoothing applied */
  readonly q: Value;
  readonly w: Value | undefined;
}

function lossInputs(name: string, logits: Value, target: Value, opts: LossOptions): LossInputs {
  if (logits.rank !== 2 || !isFloat(logits.dtype)) throw new Error(`${name}: logits must be float [N, C], got [${logits.shape}]:${logits.dtype}`);
  const [n, c] = logits.shape;
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`${name}: labelSmoothing must be in [0, 1], got ${eps}`);
  const hard = target.dtype === 'int64';
  if (hard ? target.rank !== 1 || target.shape[0] !== n : target.dtype !== logits.dtype || target.rank !== 2 || target.shape[0] !== n || target.shape[1] !== c) {
    throw new Error(`${name}: target must be int64 [${n}] or ${logits.dtype} [${n}, ${c}], got [${target.shape}]:${target.dtype}`);
  }
  const w = opts.weight;
  if (w && (w.rank !== 1 || w.shape[0] !== c || w.dtype !== logits.dtype)) {
    throw new Error(`${name}: weight must be ${logits.dtype} [${c}], got [${w.shape}]:${w.dtype}`);
  }
  const onehot = hard ? oneHot(target, c, logits.dtype) : null;
  const q = eps > 0 ? add(mul(onehot ?? target, 1 - eps), eps / c) : (onehot ?? target);
  return { n, c, onehot, q, w };
}

/**
 * −Σ_{n,c} w_c·q_{n,c}·m_{n,c}·log p_{n,c} / D: D = Σ_n w_{y_n} for weighted hard targets, N
 * otherwise; m is 1 (cross-entropy) or the focal factor.
 */
function weightedNll(x: LossInputs, logp: Value, modulate: Value | null): Value {
  const { q, w, onehot, n } = x;
  const qm = modulate ? mul(q, modulate) : q;
  const total = reduceSum(mul(w ? mul(qm, w) : qm, logp), [0, 1]);
  if (w && onehot) return neg(div(total, reduceSum(mul(onehot, w), [0, 1])));
  return mul(total, -1 / n);
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
export function crossEntropy(logits: Value, target: Value, opts: LossOptions = {}): Value {
  const x = lossInputs('crossEntropy', logits, target, opts);
  return weightedNll(x, logSoftmax(logits, 1), null);
}

/**
 * Softmax focal loss (Lin et al. 2017, over the softmax of all classes):
 * −Σ_{n,c} w_c·q_{n,c}·(1 − p_{n,c})^γ·log p_{n,c} / D, normalized as `crossEntropy` (so γ = 0 is
 * exactly cross-entropy, weights and smoothing included). The factor is differentiated too;
 * 1 − p is clipped at 1e-30 (below it the factor's gradient is taken as 0).
 */
export function focalLoss(logits: Value, target: Value, opts: LossOptions & { readonly gamma: number }): Value {
  const { gamma } = opts;
  if (!(gamma >= 0 && Number.isFinite(gamma))) throw new Error(`focalLoss: gamma must be a finite number ≥ 0, got ${gamma}`);
  const x = lossInputs('focalLoss', logits, target, opts);
  const logp = logSoftmax(logits, 1);
  const factor = gamma === 0 ? null : exp(mul(log(clip(sub(1, exp(logp)), 1e-30, Infinity)), gamma));
  return weightedNll(x, logp, factor);
}

/**
 * torch.nn.functional.binary_cross_entropy_with_logits, mean over all N·C entries, on one-hot
 * (hard labels, smoothed as timm: off ε/C, on 1−ε+ε/C) or soft targets [N, C] (mixup/cutmix;
 * smoothing applied the same way); `weight` [C] scales each class's column (torch's `weight`
 * broadcast over the batch). `targetThreshold` turns targets into 0/1 (t > threshold), as timm's
 * BinaryCrossEntropy. log σ(x) and log(1 − σ(x)) come from one LogSoftmax over (x, 0): stable
 * for large |x| and smooth at 0.
 */
export function binaryCrossEntropy(logits: Value, target: Value, opts: LossOptions & { readonly targetThreshold?: number } = {}): Value {
  const x = lossInputs('binaryCrossEntropy', logits, target, opts);
  const { n, c } = x;
  const thr = opts.targetThreshold;
  const t = thr === undefined ? x.q : cast(greater(x.q, thr), logits.dtype);
  const zeros = constant({ dtype: logits.dtype, shape: [n, c, 1], data: typedArrayFor(logits.dtype, n * c) });
  // [N, C, 2]: log σ(x), log σ(−x)
  const logPair = logSoftmax(concat([reshape(logits, [n, c, 1]), zeros], 2), 2);
  const tPair = concat([reshape(t, [n, c, 1]), reshape(sub(1, t), [n, c, 1])], 2);
  const perEntry = reduceSum(mul(tPair, logPair), [2]);
  const weighted = x.w ? mul(perEntry, x.w) : perEntry;
  return mul(reduceSum(weighted, [0, 1]), -1 / (n * c));
}

/**
 * The loss a `LossKind` names, over logits [N, C] and int64 labels [N] or soft targets [N, C].
 *
 * @example
 * const g = new Graph();
 * withGraph(g, () => {
 *   const logits = g.addInput('logits', [8, 10], 'float32');
 *   const labels = g.addInput('labels', [8], 'int64');
 *   classificationLoss(logits, labels, { kind: 'focal', gamma: 2 }, { labelSmoothing: 0.1 }).shape; // → []
 * });
 */
export function classificationLoss(logits: Value, target: Value, kind: LossKind, opts: LossOptions = {}): Value {
  switch (kind.kind) {
    case 'ce':
      return crossEntropy(logits, target, opts);
    case 'bce':
      return binaryCrossEntropy(logits, target, { ...opts, targetThreshold: kind.targetThreshold });
    case 'focal':
      return focalLoss(logits, target, { ...opts, gamma: kind.gamma });
  }
}
