/**
 * One entry point for every dataset the CLI and the trainer accept: `cifar10`, `cifar100` (from
 * the cache, downloaded when missing) or a directory (CIFAR binaries or an ImageFolder).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { findCifarFolder, openCifar, type CifarVariant, type Split } from './cifar.js';
import { ensureCifar, type CifarCacheOptions } from './download.js';
import { DatasetError, describeFsError } from './errors.js';
import { openImageFolder } from './imagefolder.js';
import type { ImageDataset } from './types.js';

export interface OpenDatasetOptions extends CifarCacheOptions {
  readonly split: Split;
  /** CIFAR-100 only: the 100 'fine' classes (default) or the 20 'coarse' superclasses */
  readonly labels?: 'fine' | 'coarse';
}

const NAMED: readonly CifarVariant[] = ['cifar10', 'cifar100'];

/** Split folders recognised inside an ImageFolder root, per split, in order of preference. */
const SPLIT_FOLDERS: Readonly<Record<Split, readonly string[]>> = { train: ['train'], test: ['test', 'val'] };

/**
 * Opens a dataset split.
 *
 * - `'cifar10'`, `'cifar100'`: the official binaries from the cache (`cacheDir`, default
 *   `$TESSERA_CACHE` or `~/.cache/tessera`), downloaded and verified first when missing unless
 *   `offline`. A directory that happens to be called so is reached as `./cifar10`.
 * - a directory holding `cifar-10-batches-bin/` or `cifar-100-binary/` (or being one of them):
 *   the binary reader.
 * - any other directory: an ImageFolder. When it has `train/` and `test/` (or `val/`) subfolders
 *   the one for `split` is opened; otherwise the folder itself is the dataset whatever the split
 *   (hold out a validation part yourself, as for the CIFAR-10 JPEG copy in ../shared).
 *
 * Throws DatasetError (one line) for an unknown spec or any problem the readers report.
 *
 * @example
 *   import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
 *   import { tmpdir } from 'node:os';
 *   import { join } from 'node:path';
 *   // openDataset('cifar10', { split: 'train' }) reads the cached binaries (downloading them first);
 *   // openDataset('cifar100', { split: 'test', offline: true, labels: 'coarse' }) never downloads.
 *   // A folder of the binaries opens the same way; here a tiny CIFAR-10 (a record: label byte, 3×32×32 pixels):
 *   const dir = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'cifar-10-batches-bin');
 *   mkdirSync(dir);
 *   writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
 *   writeFileSync(join(dir, 'test_batch.bin'), new Uint8Array(4 * 3073)); // four black airplanes
 *   const test = await openDataset(dir, { split: 'test' });
 *   [test.name, test.length, test.classes[test.sample(0).label]]; // → ['cifar10:test', 4, 'airplane']
 *   // any other folder is an ImageFolder: <dir>/<class>/*.jpg, or <dir>/train/<class>/... and <dir>/test/...
 */
export async function openDataset(spec: string, opts: OpenDatasetOptions): Promise<ImageDataset> {
  const { split } = opts;
  if (split !== 'train' && split !== 'test') {
    throw new DatasetError(`unknown split ${JSON.stringify(split)} (expected train or test)`);
  }
  if ((NAMED as readonly string[]).includes(spec)) {
    const variant = spec as CifarVariant;
    const folder = await ensureCifar(variant, opts);
    return openCifar(folder, { variant, split, labels: opts.labels });
  }

  try {
    if (!statSync(spec).isDirectory()) {
      throw new DatasetError(`${spec}: not a directory; expected cifar10, cifar100 or a dataset directory`);
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(
      `${spec}: ${describeFsError(e)}; expected cifar10, cifar100 or a dataset directory ` +
        `(an ImageFolder <dir>/<class>/<image>, or the extracted CIFAR binaries)`,
    );
  }

  const found = NAMED.map((variant) => ({ variant, folder: findCifarFolder(spec, variant) })).filter(
    (f): f is { variant: CifarVariant; folder: string } => f.folder !== undefined,
  );
  if (found.length > 1) {
    throw new DatasetError(`${spec}: holds both CIFAR-10 and CIFAR-100 binaries; pass the one folder you mean`);
  }
  if (found.length === 1) {
    const { variant, folder } = found[0]!;
    return openCifar(folder, { variant, split, labels: opts.labels });
  }
  if (opts.labels === 'coarse') {
    throw new DatasetError(`${spec}: coarse labels exist only for cifar100, and this is an ImageFolder`);
  }

  const splitDirs = [...new Set(Object.values(SPLIT_FOLDERS).flat())].filter((d) => isDir(join(spec, d)));
  if (splitDirs.length > 0) {
    const wanted = SPLIT_FOLDERS[split].find((d) => splitDirs.includes(d));
    if (!wanted) {
      throw new DatasetError(
        `${spec}: has split folder(s) ${splitDirs.map((d) => `${d}/`).join(', ')} ` +
          `but none for ${split} (${SPLIT_FOLDERS[split].map((d) => `${d}/`).join(' or ')})`,
      );
    }
    return openImageFolder(join(spec, wanted));
  }
  return openImageFolder(spec);
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
