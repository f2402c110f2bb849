/**
 * float32 convolutions on ONNX Runtime's NCHWc kernels (`com.microsoft.nchwc` domain), for graphs
 * whose weights are graph inputs (training steps): ORT's own NCHWc transformer only rewrites
 * convolutions with constant weights, so the weight is reordered inside the graph instead.
 *
 *   x ─ReorderInput─▶ nchwc Conv (weight: Reshape/Transpose/Reshape into the blocked layout) ─ReorderOutput─▶ y
 *
 * Layouts with block B (MLAS's MlasReorderFilterOIHWBiBo / OIHWBo), kept as a 4-D tensor of the
 * weight's own shape because the kernel validates the weight's logical shape:
 * - ungrouped, blocked input channels: OIHW → [O/B, I/B, kh, kw, Bi, Bo];
 * - ungrouped with fewer than B input channels (a net's first conv; the input stays NCHW, no
 *   ReorderInput) and depthwise (I = 1): OIHW → [O/B, I, kh, kw, Bo].
 */
import type { Emitter } from './registry.js';
import type { ConvGeometry } from './conv-im2col.js';

/** The operator domain of ORT's NCHWc kernels. */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** How a convolution maps onto the NCHWc kernels, or null where they do not apply. */
export type NchwcPlan = { readonly input: 'blocked' | 'nchw'; readonly filter: 'OIHWBiBo' | 'OIHWBo' } | null;

/**
 * Which NCHWc form a float32 convolution with input shape `x`, weight shape `w` and `group` takes
 * with block `block`: output channels must fill whole blocks; input channels whole blocks
 * (ungrouped or depthwise), or fewer than one block (ungrouped, the input read as NCHW).
 *
 * @example
 * nchwcPlan([8, 64, 32, 32], [64, 64, 3, 3], 1, 16); // → { input: 'blocked', filter: 'OIHWBiBo' }
 * nchwcPlan([8, 3, 32, 32], [64, 3, 3, 3], 1, 16);   // → { input: 'nchw', filter: 'OIHWBo' }
 * nchwcPlan([8, 24, 32, 32], [24, 1, 3, 3], 24, 16);  // → null
 */
export function nchwcPlan(x: readonly number[], w: readonly number[], group: number, block: number): NchwcPlan {
  const [, c] = x;
  const [o, ci] = w;
  if (o % block !== 0) return null;
  if (group === 1 && c % block === 0) return { input: 'blocked', filter: 'OIHWBiBo' };
  if (group === 1 && c < block) return { input: 'nchw', filter: 'OIHWBo' };
  if (group === c && o === c && ci === 1 && c % block === 0) return { input: 'blocked', filter: 'OIHWBo' };
  return null;
}

/**
 * Writes y = Conv(x, w) + b on the NCHWc kernels when `e.nchwcBlock` is set and the geometry fits
 * (`nchwcPlan`); returns false (writing nothing) otherwise.
 */
export function emitNchwcConv(e: Emitter, ins: readonly string[], y: string, g: ConvGeometry): boolean {
  const block = e.nchwcBlock;
  const plan = block ? nchwcPlan(g.x, g.w, g.group, block) : null;
  if (!block || !plan || g.pads.some((p) => p < 0)) return false;
  const [x, w, b] = ins;
  const [o, ci, kh, kw] = g.w;
  let input = x;
  if (plan.input === 'blocked') {
    input = e.tmp('nchwc_x');
    e.node('ReorderInput', [x], [input], {}, NCHWC_DOMAIN);
  }
  const filter = reorderFilter(e, w, block, plan.filter, g.w);
  const blocked = e.tmp('nchwc_y');
  const attrs = { kernel_shape: [kh, kw], strides: [...g.strides], pads: [...g.pads], dilations: [...g.dilations], group: g.group };
  e.node('Conv', b ? [input, filter, b] : [input, filter], [blocked], attrs, NCHWC_DOMAIN);
  e.node('ReorderOutput', [blocked], [y], { channels: o }, NCHWC_DOMAIN);
  return true;
}

/**
 * The weight `w` (logical shape `shape4`, [O, I, kh, kw]) in a blocked filter layout, by ORT's own
 * blocked transpose (ReorderInput moves a block-sized channel axis innermost), reshaped back to
 * `shape4`. OIHWBiBo takes two: [O·I/B, Bi, K] → [O·I/B, K, Bi], then [O/B, Bo, I/B·K·Bi] →
 * [O/B, I/B·K·Bi, Bo]; OIHWBo one: [O/B, Bo, I·K] → [O/B, I·K, Bo]. (A single 6-D Transpose
 * took 1.4–2x as long.)
 */
function reorderFilter(e: Emitter, w: string, block: number, filter: 'OIHWBiBo' | 'OIHWBo', shape4: readonly number[]): string {
  const [o, i, kh, kw] = shape4;
  const k = kh * kw;
  let cur = w;
  if (filter === 'OIHWBiBo') cur = blockInner(e, cur, [(o * i) / block, block, k, 1]);
  cur = blockInner(e, cur, [o / block, block, i * k, 1]);
  const out = e.tmp('nchwc_w');
  e.node('Reshape', [cur, e.ints(shape4)], [out]);
  return out;
}

/** `v` viewed as [n, B, h, 1] with its B axis moved innermost: [n, 1, h, 1, B] */
function blockInner(e: Emitter, v: string, view: readonly number[]): string {
  const [r, out] = [e.tmp('nchwc_w'), e.tmp('nchwc_w')];
  e.node('Reshape', [v, e.ints(view)], [r]);
  e.node('ReorderInput', [r], [out], {}, NCHWC_DOMAIN);
  return out;
}
