/**
 * A folder of images, one subfolder per class, read the way torchvision's `ImageFolder` reads it:
 *
 *   root/cat/0001.jpg
 *   root/cat/more/0002.png     (files below a class folder belong to that class)
 *   root/dog/a.webp
 *
 * - classes: the names of root's subfolders (symlinks to folders count), sorted by code point as
 *   Python's `sorted` does; a label is an index into that list
 * - samples: per class in class order, the folder tree walked as `sorted(os.walk(...,
 *   followlinks=True))` walks it (folders by path, then file names sorted), keeping the files
 *   whose name ends in .jpg, .jpeg, .png or .webp, any case
 *
 * Nothing is decoded here: a sample is `{kind: 'file', path}`, and a corrupt image is the
 * loader's problem, as it is torchvision's.
 */
import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetError, describeFsError } from './errors.js';
import type { ImageDataset, Sample } from './types.js';

/** File extensions ImageFolder lists (compared case-insensitively). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

const EXPECTED = 'expected an ImageFolder: <dir>/<class>/<image>.jpg|.jpeg|.png|.webp';

/**
 * Whether ImageFolder lists a file of this name.
 *
 * @example
 *   isImageFile('IMG_01.JPG'); // true
 *   isImageFile('notes.txt');  // false
 */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Compares strings by Unicode code point, as Python compares `str` (JavaScript's default sort
 * compares UTF-16 code units, which puts U+10000 and above before U+E000..U+FFFF).
 *
 * @example
 *   ['b', 'B', '\u{1F600}', '\uFFFD'].sort(compareCodePoints); // ['B', 'b', '\uFFFD', '\u{1F600}']
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

/** Moves surrogates (astral code points) above U+E000..U+FFFF; order otherwise unchanged. */
function codeUnitRank(u: number): number {
  if (u < 0xd800) return u;
  if (u <= 0xdfff) return u + 0x2000;
  return u - 0x800;
}

/**
 * Lists an ImageFolder (see the module comment for the rules). Throws DatasetError, one line,
 * when `dir` is missing or not a directory, has no class folders, has a class folder without
 * images (naming it, as torchvision does), or has no images at all.
 *
 * @example
 *   const ds = openImageFolder('/tmp/train'); // /tmp/train/airplane/0001.jpg, …
 *   ds.classes;          // ['airplane', 'automobile', …]
 *   ds.sample(0);        // { label: 0, source: { kind: 'file', path: '/tmp/train/airplane/0001.jpg' } }
 */
export function openImageFolder(dir: string): ImageDataset {
  const root = resolve(dir);
  let st;
  try {
    st = statSync(root);
  } catch (e) {
    throw new DatasetError(`${dir}: ${describeFsError(e)}; ${EXPECTED}`);
  }
  if (!st.isDirectory()) throw new DatasetError(`${dir}: not a directory; ${EXPECTED}`);

  const top = listDir(root);
  const classes = top
    .filter((e) => isDirectory(e, root))
    .map((e) => e.name)
    .sort(compareCodePoints);
  if (classes.length === 0) {
    const loose = top.filter((e) => isImageFile(e.name)).length;
    const found = loose > 0 ? `found ${loose} image(s) directly in it but no class folders` : 'no class folders';
    throw new DatasetError(`${dir}: ${found}; ${EXPECTED}`);
  }

  const paths: string[] = [];
  const perClass: number[] = [];
  const labels: number[] = [];
  classes.forEach((cls, label) => {
    const before = paths.length;
    for (const file of walkImages(join(root, cls))) {
      paths.push(file);
      labels.push(label);
    }
    perClass.push(paths.length - before);
  });

  const exts = IMAGE_EXTENSIONS.join(', ');
  if (paths.length === 0) {
    throw new DatasetError(`${dir}: no images (${exts}) in any of its ${classes.length} class folder(s); ${EXPECTED}`);
  }
  const empty = classes.filter((_, c) => perClass[c] === 0);
  if (empty.length > 0) {
    const shown = empty.slice(0, 5).map((c) => JSON.stringify(c));
    const more = empty.length > shown.length ? ` and ${empty.length - shown.length} more` : '';
    throw new DatasetError(
      `${dir}: class folder(s) ${shown.join(', ')}${more} hold no images (${exts}); ` +
        `add images or remove the folder(s)`,
    );
  }

  const labelArray = Int32Array.from(labels);
  const length = paths.length;
  return {
    name: root,
    classes,
    length,
    sample(i: number): Sample {
      if (!Number.isInteger(i) || i < 0 || i >= length) {
        throw new RangeError(`${root}: sample index ${i} is out of range [0, ${length})`);
      }
      return { label: labelArray[i]!, source: { kind: 'file', path: paths[i]! } };
    },
  };
}

/** The image files under one class folder, in torchvision's order. */
function walkImages(classDir: string): string[] {
  // collect (folder relative path, sorted image names) for every folder, then sort by folder
  const folders: { rel: string; files: string[] }[] = [];
  const seen = new Set<string>();
  const visit = (rel: string): void => {
    const abs = rel === '' ? classDir : join(classDir, rel);
    // a symlink loop would make os.walk recurse until the path is too long; visit each real folder once
    let real: string;
    try {
      real = realpathSync(abs);
    } catch (e) {
      throw new DatasetError(`${abs}: cannot read folder: ${describeFsError(e)}`);
    }
    if (seen.has(real)) return;
    seen.add(real);
    const files: string[] = [];
    for (const entry of listDir(abs)) {
      if (isDirectory(entry, abs)) visit(rel === '' ? entry.name : `${rel}/${entry.name}`);
      else if (isImageFile(entry.name)) files.push(entry.name);
    }
    folders.push({ rel, files: files.sort(compareCodePoints) });
  };
  visit('');
  folders.sort((a, b) => compareCodePoints(a.rel, b.rel));
  const out: string[] = [];
  for (const { rel, files } of folders) {
    for (const f of files) out.push(rel === '' ? join(classDir, f) : join(classDir, rel, f));
  }
  return out;
}

function listDir(path: string): Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`${path}: cannot list folder: ${describeFsError(e)}`);
  }
}

/** A folder, or a symlink to one (as Python's `DirEntry.is_dir()`); broken links are not. */
function isDirectory(entry: Dirent, parent: string): boolean {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(join(parent, entry.name)).isDirectory();
  } catch {
    return false;
  }
}
