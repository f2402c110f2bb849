/**
 * Per-sample token gathers with indices known only at run time (MAE's random masking feeds them
 * as graph inputs): `gatherTokens(x, ids)` is torch's `torch.gather(x, 1, ids[..., None].expand(-1, -1, D))`
 * on x [N, L, D] and ids [N, K] (int64), giving [N, K, D]; `scatterTokens(src, ids, length)` is
 * its adjoint, zeros [N, length, D] with src[n, k] added at token ids[n, k] (repeated ids add up).
 * Each is the other's gradient. Emitted as ONNX GatherElements / ScatterElements (reduction add)
 * on axis 1, the indices broadcast over D.
 *
 * @example
 * const g = new Graph();
 * withGraph(g, () => {
 *   const x = g.addInput('x', [2, 16, 8], 'float32');
 *   const ids = g.addInput('ids_keep', [2, 4], 'int64');
 *   gatherTokens(x, ids).shape; // → [2, 4, 8]
 *   scatterTokens(gatherTokens(x, ids), ids, 16).shape; // → [2, 16, 8]
 * });
 */
import type { TensorType, Value } from '../graph/ir.js';
import { Emitter, defineOp } from './registry.js';

/** checks ids [N, K] int64 against tokens [N, ·, D] */
function checkIds(tokens: TensorType, ids: TensorType): void {
  if (tokens.shape.length !== 3) throw new Error(`tokens must be [batch, tokens, dim], got [${tokens.shape}]`);
  if (ids.dtype !== 'int64' || ids.shape.length !== 2 || ids.shape[0] !== tokens.shape[0]) throw new Error(`ids must be int64 [${tokens.shape[0]}, K], got ${ids.dtype} [${ids.shape}]`);
}

/** ids [N, K] → [N, K, D] (Unsqueeze, then Expand over the last axis) */
function broadcastIds(e: Emitter, ids: string, dim: number): string {
  const [unsqueezed, expanded] = [e.tmp('token_ids'), e.tmp('token_ids_d')];
  e.node('Unsqueeze', [ids, e.ints([2])], [unsqueezed]);
  e.node('Expand', [unsqueezed, e.ints([1, 1, dim])], [expanded]);
  return expanded;
}

const gatherTokensOp = defineOp({
  type: 'GatherTokens',
  infer: ([x, ids]) => {
    checkIds(x, ids);
    return [{ shape: [x.shape[0], ids.shape[1], x.shape[2]], dtype: x.dtype }];
  },
  emit: (e, [x, ids], outs, _attrs, node) => e.node('GatherElements', [x, broadcastIds(e, ids, node.inputs[0].shape[2])], outs, { axis: 1 }),
  grad: (n, [g], { needs }) => [needs[0] && g ? scatterTokens(g, n.inputs[1], n.inputs[0].shape[1]) : null, null],
});

const scatterTokensOp = defineOp<{ length: number }>({
  type: 'ScatterTokens',
  infer: ([src, ids], { length }) => {
    checkIds(src, ids);
    if (ids.shape[1] !== src.shape[1]) throw new Error(`ids [${ids.shape}] must name one token per source token [${src.shape}]`);
    if (!(Number.isInteger(length) && length > 0)) throw new Error(`length must be a positive integer, got ${length}`);
    return [{ shape: [src.shape[0], length, src.shape[2]], dtype: src.dtype }];
  },
  emit: (e, [src, ids], outs, { length }, node) => {
    const [n, , d] = node.inputs[0].shape;
    const zeros = e.tmp('scatter_zeros');
    e.node('Expand', [e.scalar(0, node.inputs[0].dtype), e.ints([n, length, d])], [zeros]);
    e.node('ScatterElements', [zeros, broadcastIds(e, ids, d), src], outs, { axis: 1, reduction: 'add' });
  },
  grad: (n, [g], { needs }) => [needs[0] && g ? gatherTokens(g, n.inputs[1]) : null, null],
});

/** x [N, L, D] at ids [N, K] per sample → [N, K, D] */
export const gatherTokens = (x: Value, ids: Value): Value => gatherTokensOp([x, ids], {})[0];

/** zeros [N, length, D] with src [N, K, D] added at ids [N, K] per sample */
export const scatterTokens = (src: Value, ids: Value, length: number): Value => scatterTokensOp([src, ids], { length })[0];
