/**
 * A flat folder of images (no class subfolders), for what ignores labels (`tessera pretrain`):
 * every image file directly in the folder (.jpg, .jpeg, .png, .webp, any case), sorted by code
 * point as ImageFolder sorts, as one class named `images`.
 *
 * @example
 *   isFlatImageFolder('photos/');  // true when photos/ holds files and no folders
 *   openFlatImageFolder('photos/').classes; // ['images']
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetError, describeFsError } from './errors.js';
import { IMAGE_EXTENSIONS, compareCodePoints, isImageFile } from './imagefolder.js';
import type { ImageDataset, Sample } from './types.js';

/** Whether `dir` is a directory without subfolders (not a dataset name, CIFAR binaries or an ImageFolder). */
export function isFlatImageFolder(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    return readdirSync(dir, { withFileTypes: true }).every((e) => !e.isDirectory() && !(e.isSymbolicLink() && statSync(join(dir, e.name)).isDirectory()));
  } catch {
    return false;
  }
}

/** The images of a flat folder as one class; a folder without image files is a DatasetError line. */
export function openFlatImageFolder(dir: string): ImageDataset {
  const root = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(root).filter(isImageFile).sort(compareCodePoints);
  } catch (e) {
    throw new DatasetError(`${dir}: ${describeFsError(e)}`);
  }
  if (!names.length) throw new DatasetError(`${dir}: no images (${IMAGE_EXTENSIONS.join(', ')}) in it; give a folder of images (flat, or one subfolder per class)`);
  const paths = names.map((n) => join(root, n));
  return {
    name: root,
    classes: ['images'],
    length: paths.length,
    sample(i: number): Sample {
      if (!Number.isInteger(i) || i < 0 || i >= paths.length) throw new RangeError(`${root}: sample index ${i} is out of range [0, ${paths.length})`);
      return { label: 0, source: { kind: 'file', path: paths[i] } };
    },
  };
}
