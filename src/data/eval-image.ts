/**
 * One image prepared as evaluation batches prepare it (the checkpoint's evaluation transform):
 * decoded with sharp, resized and center-cropped to spec.size, normalized. `tessera predict` and
 * `tessera serve` both classify through it, so the same image gives the same input tensor.
 */
import { Rng } from '../nn/init.js';
import { applyTransform } from './transforms.js';
import type { TransformSpec } from './types.js';
import { decodeImageBytes, decodeImageFile } from './worker.js';

/** An image file's path, or its bytes with the largest pixel count accepted for them. */
export type EvalImageSource = string | { readonly bytes: Uint8Array; readonly maxPixels: number };

/**
 * Writes the normalized CHW floats (3 × size × size) of `source` into `out` at `offset`.
 *
 * @example
 *   const input = new Float32Array(2 * 3 * 32 * 32);
 *   await writeEvalImage('cat.png', meta.transform, input, 3 * 32 * 32); // the second slot
 */
export async function writeEvalImage(source: EvalImageSource, spec: TransformSpec, out: Float32Array, offset: number): Promise<void> {
  const S = spec.size;
  const resize = { resize: spec.resize, interpolation: spec.interpolation };
  const img = typeof source === 'string' ? await decodeImageFile(source, S, resize) : await decodeImageBytes(source.bytes, S, resize, source.maxPixels);
  // the evaluation transform has no augmentation: the Rng is never drawn from
  applyTransform(img, { size: S, mean: spec.mean, std: spec.std }, new Rng(0), out, offset);
}
