/**
 * Which images train and which validate:
 *
 * - `--val-split N`: the LAST N images of every class (in the dataset's order, which for an
 *   ImageFolder is the sorted file order) are held out for validation, the rest train. The
 *   choice depends on nothing but the listing, so every run (and every resume) gets the same split.
 * - `--val DIR`: another ImageFolder validates (its classes must be the training classes).
 * - neither, with `--data cifar10|cifar100`: the official test split validates; likewise a
 *   directory with a test split of its own (CIFAR binaries, or `train/` beside `test/` or `val/`).
 * - neither, with a plain ImageFolder: no validation (and no `best` checkpoint).
 *
 * `SplitInfo` records what was chosen, for config.json.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { findCifarFolder } from '../data/cifar.js';
import { DatasetError } from '../data/errors.js';
import { openDataset } from '../data/open.js';
import { isFlatImageFolder, openFlatImageFolder } from '../data/flat-folder.js';
import type { ImageDataset, Sample } from '../data/types.js';

/**
 * A view of `dataset` restricted to `indices` (in that order).
 *
 * @example
 * const firstTen = subset(ds, Int32Array.from({ length: 10 }, (_, i) => i), `${ds.name}[0:10]`);
 */
export function subset(dataset: ImageDataset, indices: Int32Array, name: string): ImageDataset {
  const length = indices.length;
  return {
    name,
    classes: dataset.classes,
    length,
    sample(i: number): Sample {
      if (!Number.isInteger(i) || i < 0 || i >= length) throw new RangeError(`${name}: sample index ${i} is out of range [0, ${length})`);
      return dataset.sample(indices[i]);
    },
  };
}

/**
 * Splits `dataset` into training images and the last `perClass` images of every class.
 * Throws DatasetError when a class has too few images to keep any for training.
 *
 * @example
 * const { train, val } = holdOutPerClass(openImageFolder('data/train'), 500);
 */
export function holdOutPerClass(dataset: ImageDataset, perClass: number): { train: ImageDataset; val: ImageDataset } {
  if (!Number.isInteger(perClass) || perClass < 1) throw new DatasetError(`--val-split must be a whole number of images per class ≥ 1, got ${perClass}`);
  const byClass: number[][] = dataset.classes.map(() => []);
  for (let i = 0; i < dataset.length; i++) {
    const label = dataset.sample(i).label;
    byClass[label]?.push(i);
  }
  byClass.forEach((idx, c) => {
    if (idx.length <= perClass) {
      throw new DatasetError(`${dataset.name}: class "${dataset.classes[c]}" has ${idx.length} image(s); --val-split ${perClass} would leave none to train on`);
    }
  });
  const valSet = new Set<number>();
  for (const idx of byClass) for (const i of idx.slice(idx.length - perClass)) valSet.add(i);
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < dataset.length; i++) (valSet.has(i) ? val : train).push(i);
  return {
    train: subset(dataset, Int32Array.from(train), `${dataset.name} (without the last ${perClass} per class)`),
    val: subset(dataset, Int32Array.from(val), `${dataset.name} (last ${perClass} per class)`),
  };
}

export interface SplitOptions {
  /** cifar10 | cifar100 | an ImageFolder directory */
  readonly data: string;
  /** hold out the last N images of every class */
  readonly valSplit?: number;
  /** validate on this ImageFolder */
  readonly val?: string;
  readonly cacheDir?: string;
  readonly offline?: boolean;
  /** labels are not used (pre-training): a flat folder of images opens as one class */
  readonly unlabelled?: boolean;
}

/** What validates, as recorded in config.json. */
export interface SplitInfo {
  readonly kind: 'holdout' | 'folder' | 'test-split' | 'none';
  /** e.g. 'cifar10:train' or the folder */
  readonly train: string;
  readonly val: string | null;
  readonly trainImages: number;
  readonly valImages: number;
  /** `holdout` only: images held out per class */
  readonly perClass?: number;
  readonly description: string;
}

export interface Splits {
  readonly train: ImageDataset;
  readonly val: ImageDataset | null;
  readonly classes: readonly string[];
  readonly info: SplitInfo;
}

/** Whether a --data value names a built-in dataset rather than a folder. */
export function isBuiltinDataset(spec: string): boolean {
  return spec === 'cifar10' || spec === 'cifar100';
}

/**
 * Opens the training data and picks the validation set (see the module comment).
 *
 * @example
 * const { train, val, info } = await openSplits({ data: 'cifar10' }); // validates on cifar10:test
 * const held = await openSplits({ data: '/tmp/train', valSplit: 500 });
 */
export async function openSplits(opts: SplitOptions): Promise<Splits> {
  if (opts.valSplit !== undefined && opts.val !== undefined) throw new DatasetError('give either --val-split N or --val DIR, not both');
  const open = (spec: string, split: 'train' | 'test') => openDataset(spec, { split, cacheDir: opts.cacheDir, offline: opts.offline });
  const full = opts.unlabelled && isFlatImageFolder(opts.data) ? openFlatImageFolder(opts.data) : await open(opts.data, 'train');
  if (opts.valSplit !== undefined) {
    const { train, val } = holdOutPerClass(full, opts.valSplit);
    return {
      train,
      val,
      classes: full.classes,
      info: {
        kind: 'holdout',
        train: full.name,
        val: full.name,
        trainImages: train.length,
        valImages: val.length,
        perClass: opts.valSplit,
        description: `the last ${opts.valSplit} images of every class of ${full.name} validate (${val.length} images); the other ${train.length} train`,
      },
    };
  }
  if (opts.val !== undefined) {
    const val = await open(opts.val, 'test');
    checkSameClasses(full, val);
    return {
      train: full,
      val,
      classes: full.classes,
      info: { kind: 'folder', train: full.name, val: val.name, trainImages: full.length, valImages: val.length, description: `${val.name} validates (${val.length} images)` },
    };
  }
  if (isBuiltinDataset(opts.data) || hasTestSplit(opts.data)) {
    const val = await open(opts.data, 'test');
    checkSameClasses(full, val);
    return {
      train: full,
      val,
      classes: full.classes,
      info: { kind: 'test-split', train: full.name, val: val.name, trainImages: full.length, valImages: val.length, description: `the test split ${val.name} validates (${val.length} images)` },
    };
  }
  return {
    train: full,
    val: null,
    classes: full.classes,
    info: { kind: 'none', train: full.name, val: null, trainImages: full.length, valImages: 0, description: 'no validation (pass --val-split N or --val DIR)' },
  };
}

/**
 * Whether a directory has a test split of its own: CIFAR binaries, or an ImageFolder root with
 * `train/` and `test/` (or `val/`) subfolders (see openDataset).
 */
export function hasTestSplit(dir: string): boolean {
  if (findCifarFolder(dir, 'cifar10') || findCifarFolder(dir, 'cifar100')) return true;
  return isDir(join(dir, 'train')) && (isDir(join(dir, 'test')) || isDir(join(dir, 'val')));
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function checkSameClasses(train: ImageDataset, val: ImageDataset): void {
  const a = train.classes;
  const b = val.classes;
  if (a.length === b.length && a.every((c, i) => c === b[i])) return;
  const missing = a.filter((c) => !b.includes(c));
  const extra = b.filter((c) => !a.includes(c));
  const parts = [
    `${a.length} training classes, ${b.length} validation classes`,
    ...(missing.length ? [`missing from validation: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`] : []),
    ...(extra.length ? [`not in training: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`] : []),
  ];
  throw new DatasetError(`${val.name}: its classes differ from ${train.name}'s (${parts.join('; ')})`);
}
