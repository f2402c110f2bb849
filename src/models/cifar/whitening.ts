/**
 * airbench's whitening initialisation: the first conv's filters are the eigenvectors of the
 * (uncentred) covariance of the training images' k×k patches, each scaled by
 * 1/√(eigenvalue + eps), followed by their negatives, so the conv (with GELU after it) sees
 * whitened patches. airbench estimates the covariance from the first 5,000 training images
 * (normalized) with eps 5e-4.
 *
 * @example
 * import { createModel } from 'tessera';
 * const net = createModel('cifar_airbench94');
 * const images = { shape: [8, 3, 32, 32], data: Float32Array.from({ length: 8 * 3 * 32 * 32 }, (_, i) => Math.sin(i)) };
 * initWhitening(net, images, { onNotice: (line) => console.log(line) });
 * // prints whitening: 8 images, fewer than the 5000 the estimate asks for; using all 8
 */
import { UserError } from '../../errors.js';
import type { Module } from '../../nn/module.js';
import { symmetricEigen } from '../../util/symmetric-eigen.js';
import { Airbench, WHITEN_KERNEL } from './airbench.js';

/** A batch of normalized float images, NCHW. */
export interface ImageBatch {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** How the whitening weights are estimated (airbench's defaults). */
export interface WhiteningOptions {
  /** the patch side (default 2, the whitening conv's kernel) */
  readonly kernel?: number;
  /** added to each eigenvalue before the square root (default 5e-4) */
  readonly eps?: number;
  /** how many images (the first ones) the estimate uses (default 5,000) */
  readonly images?: number;
  /** receives one line when fewer images than `images` are given */
  readonly onNotice?: (line: string) => void;
}

export const WHITENING_IMAGES = 5000;
export const WHITENING_EPS = 5e-4;

/**
 * Which of `n` training images the estimate reads: all when n ≤ `count`, else `count` evenly
 * spaced ones, ⌊i·n/count⌋. airbench takes the first 5,000 of CIFAR-10's shuffled training
 * file; an ImageFolder lists images class by class, where the first 5,000 would be one or two
 * classes, so evenly spaced indices stand in for that random sample (bench/airbench_torch.py
 * picks the same ones).
 *
 * @example
 * whiteningIndices(10, 4); // → [0, 2, 5, 7]
 */
export function whiteningIndices(n: number, count = WHITENING_IMAGES): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/** The first `count` images' shape, after checking the batch is NCHW with at least one k×k patch. */
function batchShape(images: ImageBatch, kernel: number): [number, number, number, number] {
  const [n, c, h, w] = images.shape;
  if (images.shape.length !== 4 || images.data.length !== n * c * h * w) throw new UserError(`whitening: images must be an NCHW batch, got shape [${images.shape.join(', ')}] with ${images.data.length} values`);
  if (n === 0) throw new UserError('whitening: no images to estimate the patch covariance from; give it training images');
  if (h < kernel || w < kernel) throw new UserError(`whitening: ${h}×${w} images are smaller than the ${kernel}×${kernel} patches`);
  return [n, c, h, w];
}

/**
 * The uncentred covariance (1/P)·Σ p·pᵀ over every k×k patch (stride 1, no padding) of the first
 * `count` images, each patch flattened as (channel, row, column) like a conv filter; float64.
 */
export function patchCovariance(images: ImageBatch, kernel: number, count: number): Float64Array {
  const [, c, h, w] = batchShape(images, kernel);
  const dim = c * kernel * kernel;
  const cov = new Float64Array(dim * dim);
  const patch = new Float64Array(dim);
  const [oh, ow] = [h - kernel + 1, w - kernel + 1];
  for (let img = 0; img < count; img++) {
    const base = img * c * h * w;
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let ch = 0, k = 0; ch < c; ch++) for (let dy = 0; dy < kernel; dy++) for (let dx = 0; dx < kernel; dx++, k++) patch[k] = images.data[base + (ch * h + y + dy) * w + x + dx];
        for (let i = 0; i < dim; i++) for (let j = i; j < dim; j++) cov[i * dim + j] += patch[i] * patch[j];
      }
    }
  }
  const patches = count * oh * ow;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) cov[j * dim + i] = cov[i * dim + j] /= patches;
  }
  return cov;
}

/**
 * The whitening conv's weights [2·C·k², C, k, k] from the first `opts.images` (5,000) images:
 * eigenvectors of the patch covariance in descending eigenvalue order, scaled by
 * 1/√(λ + eps), then the same negated. Fewer images than asked: uses them all and says so.
 */
export function whiteningWeights(images: ImageBatch, opts: WhiteningOptions = {}): Float32Array {
  const kernel = opts.kernel ?? WHITEN_KERNEL;
  const [n, c] = batchShape(images, kernel);
  const wanted = opts.images ?? WHITENING_IMAGES;
  if (n < wanted) opts.onNotice?.(`whitening: ${n} images, fewer than the ${wanted} the estimate asks for; using all ${n}`);
  const count = Math.min(n, wanted);
  const dim = c * kernel * kernel;
  const { values, vectors } = symmetricEigen(patchCovariance(images, kernel, count), dim);
  const eps = opts.eps ?? WHITENING_EPS;
  const weights = new Float32Array(2 * dim * dim);
  for (let i = 0; i < dim; i++) {
    const scale = 1 / Math.sqrt(values[i] + eps);
    for (let k = 0; k < dim; k++) {
      weights[i * dim + k] = vectors[i * dim + k] * scale;
      weights[(dim + i) * dim + k] = -vectors[i * dim + k] * scale;
    }
  }
  return weights;
}

/** Sets an airbench model's whitening conv (`0.weight`) from training images (see whiteningWeights). */
export function initWhitening(model: Module, images: ImageBatch, opts: WhiteningOptions = {}): void {
  if (!(model instanceof Airbench)) throw new UserError(`whitening initialisation needs an airbench model (cifar_airbench94, cifar_airbench96), got ${model.constructor.name}`);
  const weight = model.whiten.weight;
  const weights = whiteningWeights(images, { ...opts, kernel: weight.shape[2] });
  if (weights.length !== weight.data.length) throw new UserError(`whitening: ${images.shape[1]}-channel images give ${weights.length} weights; the whitening conv [${weight.shape.join(', ')}] needs ${weight.data.length}`);
  weight.data.set(weights);
}
