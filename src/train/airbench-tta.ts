/**
 * airbench's test-time augmentation (legacy/airbench94.py's `infer`), as views with weights whose
 * logits are summed (not softmax probabilities, unlike `tessera eval --tta`):
 *
 * - level 0: the image;
 * - level 1 (mirror): ½·f(x) + ½·f(mirror x);
 * - level 2 (mirror + translate): ½·level1(x) + ½·mean(level1(x shifted one pixel down-right),
 *   level1(x shifted one pixel up-left)), the shifts reflecting at the border (airbench pads by 1
 *   in reflect mode and crops rows/columns 0–31 and 2–33): six views, weights ¼, ¼ and four ⅛.
 *
 * A view shifts first and mirrors after (airbench mirrors the shifted image).
 *
 * @example
 * airbenchTtaViews(2).map((v) => v.weight); // → [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
 */

/** One view: shifted by (dy, dx) with reflection, out(y, x) = x(reflect(y − dy), reflect(x − dx)), then mirrored when `flip`. */
export interface AirbenchTtaView {
  readonly dy: number;
  readonly dx: number;
  readonly flip: boolean;
  /** the view's share of the summed logits */
  readonly weight: number;
}

export const AIRBENCH_TTA_LEVELS = [0, 1, 2] as const;
export type AirbenchTtaLevel = (typeof AIRBENCH_TTA_LEVELS)[number];

/** the level-1 pair of a shift, with `share` split between the image and its mirror */
const mirrored = (dy: number, dx: number, share: number): AirbenchTtaView[] => [
  { dy, dx, flip: false, weight: share / 2 },
  { dy, dx, flip: true, weight: share / 2 },
];

/** The views and weights of an airbench TTA level (see the module comment). */
export function airbenchTtaViews(level: AirbenchTtaLevel): AirbenchTtaView[] {
  if (level === 0) return [{ dy: 0, dx: 0, flip: false, weight: 1 }];
  if (level === 1) return mirrored(0, 0, 1);
  return [...mirrored(0, 0, 0.5), ...mirrored(1, 1, 0.25), ...mirrored(-1, -1, 0.25)];
}

/** the reflected index of i on a side of n pixels (no edge repeat: −1 → 1, n → n − 2) */
const reflectIndex = (i: number, n: number): number => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);

/** Writes `view` of `n` CHW images (`channels` × size × size each) from `src` into `out`. */
export function applyAirbenchView(src: Float32Array, n: number, channels: number, size: number, view: AirbenchTtaView, out: Float32Array): void {
  if (Math.abs(view.dy) >= size || Math.abs(view.dx) >= size) throw new RangeError(`view shift (${view.dy}, ${view.dx}) needs images larger than ${size}×${size}`);
  const plane = size * size;
  for (let p = 0; p < n * channels; p++) {
    const base = p * plane;
    for (let y = 0; y < size; y++) {
      const sy = reflectIndex(y - view.dy, size);
      for (let x = 0; x < size; x++) {
        const shiftedX = view.flip ? size - 1 - x : x;
        out[base + y * size + x] = src[base + sy * size + reflectIndex(shiftedX - view.dx, size)];
      }
    }
  }
}

/** The weighted sum of the views' logits (each [N, classes], flattened), in view order. */
export function combineViewLogits(viewLogits: readonly Float32Array[], views: readonly AirbenchTtaView[]): Float32Array {
  if (viewLogits.length !== views.length) throw new Error(`${viewLogits.length} logit tensors for ${views.length} views`);
  const out = new Float32Array(viewLogits[0].length);
  viewLogits.forEach((logits, v) => {
    for (let i = 0; i < out.length; i++) out[i] += views[v].weight * logits[i];
  });
  return out;
}
