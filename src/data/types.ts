/**
 * The data contracts shared by datasets, transforms, the worker-thread loader and the trainer.
 * Everything that crosses into a worker is plain, structured-cloneable data.
 */

/** Where a sample's pixels come from: decoded already (CIFAR binaries) or a file to decode with sharp. */
export type SampleSource =
  | {
      readonly kind: 'pixels';
      /** uint8 RGB, channel-planar (CHW, as the CIFAR binaries store it) */
      readonly data: Uint8Array;
      readonly width: number;
      readonly height: number;
    }
  | { readonly kind: 'file'; readonly path: string };

export interface Sample {
  readonly label: number;
  readonly source: SampleSource;
}

/**
 * A labelled image collection. `sample` is synchronous and cheap: datasets list their files (or
 * hold their pixels) when opened; decoding happens in the loader's workers.
 */
export interface ImageDataset {
  /** e.g. 'cifar10:train' or the folder path */
  readonly name: string;
  /** class names; a label is an index into this list */
  readonly classes: readonly string[];
  readonly length: number;
  sample(i: number): Sample;
}

/** What the loader does to each image, in order; JSON-serializable so it can be saved with a run. */
export interface TransformSpec {
  /** output is size×size: images are resized (shorter side) and center-cropped when they differ */
  readonly size: number;
  /**
   * training augmentation: pad by `padding` (zeros, or with `mode: 'reflect'` the mirrored border
   * without its edge, torch's reflect) and take a random size×size crop
   */
  readonly randomCrop?: { readonly padding: number; readonly mode?: 'constant' | 'reflect' };
  /**
   * training augmentation: `true` mirrors with probability 0.5; `'alternating'` is airbench's
   * alternating flip: each image is mirrored or not at random once for the whole run, and the
   * whole set is mirrored on odd (0-based) epochs (see `alternatingMirror`)
   */
  readonly hflip?: boolean | 'alternating';
  /** per-channel normalization applied to pixel/255 */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /**
   * evaluation: the shorter side is resized to this before the center crop to `size`
   * (torchvision's --val-resize-size; default `size`)
   */
  readonly resize?: number;
  /** training: torchvision's RandomResizedCrop to size×size (instead of resize + center crop; excludes `randomCrop`) */
  readonly randomResizedCrop?: { readonly scale: readonly [number, number]; readonly ratio: readonly [number, number] };
  /** resampling of `resize` and `randomResizedCrop` (antialiased; default bilinear) */
  readonly interpolation?: 'bilinear' | 'bicubic';
  /** training: an augmentation policy string (src/augment/policy-parse.ts), applied after crop and flip */
  readonly policy?: string;
  /** training: timm's RandomErasing on the normalized image */
  readonly randomErasing?: RandomErasingSpec;
  /** training: a cutout×cutout square of zeros on the normalized image, wholly inside it (airbench96's; src/augment/airbench.ts cutOut) */
  readonly cutout?: number;
}

/** timm's RandomErasing (`--reprob`, `--remode`, `--recount`; src/augment/erasing.ts). */
export interface RandomErasingSpec {
  /** probability that an image is erased at all */
  readonly prob: number;
  /** fill: 0 (`const`), a normal value per channel (`rand`) or per pixel (`pixel`) */
  readonly mode: 'const' | 'rand' | 'pixel';
  /** the most boxes per image (1 to count, uniformly) */
  readonly count: number;
}

/** One batch, NCHW float32 normalized pixels and int64 labels. */
export interface Batch {
  readonly input: Float32Array;
  readonly target: BigInt64Array;
  /** number of samples in this batch (the last batch of an epoch may be smaller) */
  readonly size: number;
  /** dataset indices of the samples, in batch order */
  readonly indices: Int32Array;
  /** samples that could not be decoded and were replaced (see DataLoader) */
  readonly skipped: readonly { readonly index: number; readonly reason: string }[];
}

/** CIFAR's per-channel statistics (the values pytorch-cifar normalizes with). */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const CIFAR10_STD = [0.2023, 0.1994, 0.201] as const;
