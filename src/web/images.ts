/**
 * Pixels to logits to ranked classes, with no DOM and no file system: what the web page does with
 * a decoded image, written so Node runs exactly the same steps (the tests compare the two).
 */
import { RgbImage, fromInterleaved, normalizeInto, resizeCenterCrop } from '../data/transforms.js';
import type { JsonArgs } from '../models/registry.js';
import { softmax } from '../train/test-time.js';

/** How the exported model wants its input (`preprocessing.json` of an exported page). */
export interface Preprocessing {
  /** the registered model name (for training in the page) */
  readonly model: string;
  /** the builder arguments the checkpoint records (`--patch-size`), when not the defaults */
  readonly modelArgs?: JsonArgs;
  /** the checkpoint is a linear probe (BatchNorm without affine before the head) */
  readonly linearProbe?: boolean;
  /** input height and width */
  readonly size: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** One class and its probability. */
export interface Ranked {
  readonly index: number;
  readonly label: string;
  readonly probability: number;
}

/**
 * A channel-planar RgbImage from RGBA pixels (a canvas's ImageData), dropping alpha.
 *
 * @example
 * fromRgba(Uint8ClampedArray.of(1, 2, 3, 255, 4, 5, 6, 255), 2, 1).data; // → Uint8Array [1, 4, 2, 5, 3, 6]
 */
export function fromRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): RgbImage {
  return fromInterleaved(rgba, width, height, 4);
}

/**
 * The model input for one image: resized (shorter side, antialiased bilinear) and center-cropped
 * to `size`, then normalized, written at `offset` of `out` (NCHW float32).
 *
 * @example
 * const img = { width: 2, height: 2, data: new Uint8Array(12).fill(255) };
 * toInput(img, { model: 'cifar_lenet', size: 2, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] })[0]; // → 1
 */
export function toInput(img: RgbImage, prep: Preprocessing, out?: Float32Array, offset = 0): Float32Array {
  return normalizeInto(resizeCenterCrop(img, prep.size), prep.mean, prep.std, out, offset);
}

/**
 * Softmax of one row of logits (test-time.ts's, in float64), as float32.
 *
 * @example
 * probabilities(Float32Array.of(0, 0))[1]; // → 0.5
 */
export function probabilities(logits: ArrayLike<number>): Float32Array {
  return Float32Array.from(softmax(logits));
}

/**
 * The `k` most probable classes of one row of logits, most probable first (ties: lower index first).
 *
 * @example
 * topK(Float32Array.of(1, 3, 2), ['a', 'b', 'c'], 2).map((r) => r.label); // → ['b', 'c']
 */
export function topK(logits: ArrayLike<number>, labels: readonly string[], k = 5): Ranked[] {
  const p = probabilities(logits);
  return [...p.keys()]
    .sort((a, b) => p[b] - p[a] || a - b)
    .slice(0, k)
    .map((index) => ({ index, label: labels[index] ?? String(index), probability: p[index] }));
}
