/**
 * Relative position bias of windowed self-attention, as torchvision computes it for Swin
 * Transformer (V1 and V2) and MaxViT: a learned (or MLP-generated) table with one row per
 * relative offset (Δh, Δw) of two tokens in an h×w window, `(2h−1)·(2w−1)` rows by `heads`
 * columns, and a constant index that picks, for every pair (i, j) of the window's N = h·w tokens,
 * the row of their offset.
 *
 * `relativePositionIndex` computes the index buffer (torchvision's `relative_position_index`);
 * `relativePositionBias` applies `table[index].view(N, N, heads).permute(2, 0, 1).unsqueeze(0)` in
 * the graph as one GatherElements over the flattened table with constant indices (its gradient is
 * a ScatterAdd back into the table).
 *
 * @example
 * const index = relativePositionIndex(7, 7); // BigInt64Array of 49·49 entries in [0, 169)
 * this.relative_position_index = new Buffer(index, [index.length], 'int64');
 * // in forward: [169, heads] table → [1, heads, 49, 49] bias added to the attention logits
 * const bias = relativePositionBias(tensorValue(this.relative_position_bias_table), this.relative_position_index.data, 49);
 */
import { Value } from '../graph/ir.js';
import { constant, hostTensor } from '../graph/constants.js';
import { gatherElements } from '../ops/pool.js';
import { reshape } from '../ops/shape.js';

/**
 * torchvision's relative position index of an `height`×`width` window, flattened (Swin's
 * `define_relative_position_index`, MaxViT's `_get_relative_position_index(...).view(-1)`):
 * entry `i·N + j` (tokens i, j in row-major order, N = height·width) is
 * `(hᵢ − hⱼ + height − 1)·(2·width − 1) + (wᵢ − wⱼ + width − 1)`.
 */
export function relativePositionIndex(height: number, width: number): BigInt64Array {
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) throw new Error(`relativePositionIndex: window size must be positive integers, got ${height}×${width}`);
  const n = height * width;
  const out = new BigInt64Array(n * n);
  for (let i = 0; i < n; i++) {
    const [hi, wi] = [Math.floor(i / width), i % width];
    for (let j = 0; j < n; j++) {
      const [hj, wj] = [Math.floor(j / width), j % width];
      out[i * n + j] = BigInt((hi - hj + height - 1) * (2 * width - 1) + (wi - wj + width - 1));
    }
  }
  return out;
}

/**
 * `table[index]` reshaped to [N, N, heads], permuted to [1, heads, N, N]: the bias every head adds
 * to its [N, N] attention logits. `table` is a graph value [rows, heads]; `index` the N·N row
 * numbers (an int64 buffer's data, read at trace time, so the graph holds them as a constant).
 */
export function relativePositionBias(table: Value, index: ArrayLike<bigint | number>, n: number): Value {
  if (table.rank !== 2) throw new Error(`relativePositionBias: table must be [rows, heads], got [${table.shape}]`);
  if (index.length !== n * n) throw new Error(`relativePositionBias: index has ${index.length} entries, a window of ${n} tokens needs ${n * n}`);
  const [rows, heads] = table.shape;
  const flat: number[] = new Array<number>(heads * n * n);
  for (let p = 0; p < n * n; p++) {
    const row = Number(index[p]);
    if (!(Number.isInteger(row) && row >= 0 && row < rows)) throw new Error(`relativePositionBias: index[${p}] = ${row} is outside the table's ${rows} rows`);
    // output [h, i, j] with p = i·N + j reads table[row, h]
    for (let h = 0; h < heads; h++) flat[h * n * n + p] = row * heads + h;
  }
  const picked = gatherElements(reshape(table, [rows * heads]), constant(hostTensor('int64', [flat.length], flat)));
  return reshape(picked, [1, heads, n, n]);
}
