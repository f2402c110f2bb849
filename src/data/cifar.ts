/**
 * CIFAR-10 and CIFAR-100 in their official binary formats
 * (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 *   cifar-10-batches-bin/   data_batch_1.bin … data_batch_5.bin (train), test_batch.bin,
 *                           batches.meta.txt (10 class names, one a line)
 *                           record: [label u8][3072 pixel bytes]
 *   cifar-100-binary/       train.bin, test.bin, fine_label_names.txt (100),
 *                           coarse_label_names.txt (20)
 *                           record: [coarse label u8][fine label u8][3072 pixel bytes]
 *
 * Pixels are 32×32 RGB, channel-planar (1024 R, 1024 G, 1024 B, each row-major): exactly the
 * CHW layout of `SampleSource` 'pixels', so samples are views into the loaded data, never copies.
 * The split's files are read into ONE SharedArrayBuffer: a view posted to a worker thread shares
 * the memory instead of cloning the whole split.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError, describeFsError } from './errors.js';
import type { ImageDataset, Sample } from './types.js';

export type CifarVariant = 'cifar10' | 'cifar100';
export type Split = 'train' | 'test';

export interface CifarOptions {
  readonly variant: CifarVariant;
  readonly split: Split;
  /** CIFAR-100 only: the 100 'fine' classes (default) or the 20 'coarse' superclasses */
  readonly labels?: 'fine' | 'coarse';
}

export const CIFAR_IMAGE_SIZE = 32;
const PIXEL_BYTES = 3 * CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE;

interface Layout {
  /** the folder the official archive extracts to */
  readonly folder: string;
  readonly files: Readonly<Record<Split, readonly string[]>>;
  /** label bytes before the pixels of each record */
  readonly labelBytes: number;
}

const LAYOUTS: Readonly<Record<CifarVariant, Layout>> = {
  cifar10: {
    folder: 'cifar-10-batches-bin',
    files: {
      train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
      test: ['test_batch.bin'],
    },
    labelBytes: 1,
  },
  cifar100: {
    folder: 'cifar-100-binary',
    files: { train: ['train.bin'], test: ['test.bin'] },
    labelBytes: 2,
  },
};

/** The label sets: which byte of a record holds the label, how many classes, where the names are. */
const LABELS = {
  cifar10: { offset: 0, classes: 10, namesFile: 'batches.meta.txt' },
  cifar100fine: { offset: 1, classes: 100, namesFile: 'fine_label_names.txt' },
  cifar100coarse: { offset: 0, classes: 20, namesFile: 'coarse_label_names.txt' },
} as const;

/**
 * The folder name the official archive of `variant` extracts to.
 *
 * @example
 *   cifarFolder('cifar100'); // 'cifar-100-binary'
 */
export function cifarFolder(variant: CifarVariant): string {
  return LAYOUTS[variant].folder;
}

/**
 * Every file the binary reader needs for `variant` (both splits, class names), relative to its folder.
 *
 * @example
 *   cifarFiles('cifar100'); // ['train.bin', 'test.bin', 'fine_label_names.txt', 'coarse_label_names.txt']
 */
export function cifarFiles(variant: CifarVariant): string[] {
  const { files } = LAYOUTS[variant];
  const names =
    variant === 'cifar10'
      ? [LABELS.cifar10.namesFile]
      : [LABELS.cifar100fine.namesFile, LABELS.cifar100coarse.namesFile];
  return [...files.train, ...files.test, ...names];
}

/**
 * Bytes per record: the label byte(s) and 3 × 32 × 32 pixels.
 *
 * @example
 *   cifarRecordBytes('cifar10');  // 3073
 *   cifarRecordBytes('cifar100'); // 3074
 */
export function cifarRecordBytes(variant: CifarVariant): number {
  return LAYOUTS[variant].labelBytes + PIXEL_BYTES;
}

/**
 * The folder holding `variant`'s binaries, given either that folder itself or a folder that
 * contains it (as the official archive extracts: `<dir>/cifar-10-batches-bin/`); undefined when
 * neither holds them.
 *
 * @example
 *   findCifarFolder('/data', 'cifar10');                       // '/data/cifar-10-batches-bin'
 *   findCifarFolder('/data/cifar-10-batches-bin', 'cifar10');  // '/data/cifar-10-batches-bin'
 *   findCifarFolder('/data/photos', 'cifar10');                // undefined
 */
export function findCifarFolder(dir: string, variant: CifarVariant): string | undefined {
  const layout = LAYOUTS[variant];
  const marker = layout.files.test[0]!;
  for (const candidate of [join(dir, layout.folder), dir]) {
    if (existsSync(join(candidate, marker)) || existsSync(join(candidate, layout.files.train[0]!))) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * Opens one split of CIFAR-10 or CIFAR-100 from the official binary files. `dir` is the
 * extracted folder (`cifar-10-batches-bin`, `cifar-100-binary`) or the folder containing it.
 * The whole split is read and checked now (file sizes, every label); samples are 32×32 CHW
 * `pixels` views into one shared buffer. Throws DatasetError naming the file for a missing
 * file, a size that is not a whole number of records, a label out of range or a class-names
 * file with the wrong number of names.
 *
 * @example
 *   const train = openCifar('/data/cifar-10-batches-bin', { variant: 'cifar10', split: 'train' });
 *   train.length;                 // 50000
 *   train.classes[train.sample(0).label]; // 'frog'
 *   const coarse = openCifar('/data', { variant: 'cifar100', split: 'test', labels: 'coarse' });
 */
export function openCifar(dir: string, opts: CifarOptions): ImageDataset {
  const { variant, split } = opts;
  const layout = LAYOUTS[variant];
  if (!layout) throw new DatasetError(`unknown CIFAR variant ${JSON.stringify(variant)} (expected cifar10 or cifar100)`);
  if (split !== 'train' && split !== 'test') {
    throw new DatasetError(`unknown split ${JSON.stringify(split)} (expected train or test)`);
  }
  if (opts.labels === 'coarse' && variant !== 'cifar100') {
    throw new DatasetError(`coarse labels exist only for cifar100, not ${variant}`);
  }
  const labelSet =
    variant === 'cifar10' ? LABELS.cifar10 : opts.labels === 'coarse' ? LABELS.cifar100coarse : LABELS.cifar100fine;

  const root = findCifarFolder(dir, variant) ?? join(dir, layout.folder);
  const recordBytes = layout.labelBytes + PIXEL_BYTES;
  const files = layout.files[split].map((name) => join(root, name));
  const sizes = files.map((path) => {
    const size = fileSize(path, `the ${variant} ${split} data (${layout.files[split].join(', ')})`);
    if (size === 0 || size % recordBytes !== 0) {
      throw new DatasetError(
        `${path}: ${size} bytes is not a whole, non-zero number of ${recordBytes}-byte ${variant} records ` +
          `(truncated or not a ${variant} binary file)`,
      );
    }
    return size;
  });
  const classes = readClassNames(join(root, labelSet.namesFile), labelSet.classes, variant);

  const total = sizes.reduce((a, b) => a + b, 0);
  const bytes = new Uint8Array(new SharedArrayBuffer(total));
  let offset = 0;
  files.forEach((path, f) => {
    readInto(path, bytes, offset, sizes[f]!);
    checkLabels(path, bytes, offset, sizes[f]! / recordBytes, recordBytes, variant);
    offset += sizes[f]!;
  });

  const length = total / recordBytes;
  const name = `${variant}${opts.labels === 'coarse' ? '-coarse' : ''}:${split}`;
  const buffer = bytes.buffer;
  return {
    name,
    classes,
    length,
    sample(i: number): Sample {
      if (!Number.isInteger(i) || i < 0 || i >= length) {
        throw new RangeError(`${name}: sample index ${i} is out of range [0, ${length})`);
      }
      const at = i * recordBytes;
      return {
        label: bytes[at + labelSet.offset]!,
        source: {
          kind: 'pixels',
          data: new Uint8Array(buffer, at + layout.labelBytes, PIXEL_BYTES),
          width: CIFAR_IMAGE_SIZE,
          height: CIFAR_IMAGE_SIZE,
        },
      };
    },
  };
}

function fileSize(path: string, expected: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new DatasetError(`${path}: ${describeFsError(e)}; expected ${expected} there`);
  }
  if (!st.isFile()) throw new DatasetError(`${path}: not a regular file; expected ${expected} there`);
  return st.size;
}

function readInto(path: string, into: Uint8Array, offset: number, size: number): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    let done = 0;
    while (done < size) {
      const n = readSync(fd, into, offset + done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done !== size) throw new DatasetError(`${path}: file shrank while reading (${done} of ${size} bytes)`);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${path}: cannot read: ${describeFsError(e)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Every label byte of every record must be a valid class (both bytes for CIFAR-100). */
function checkLabels(
  path: string,
  bytes: Uint8Array,
  offset: number,
  records: number,
  recordBytes: number,
  variant: CifarVariant,
): void {
  const limits =
    variant === 'cifar10'
      ? [{ offset: 0, classes: 10, what: 'label' }]
      : [
          { offset: 0, classes: 20, what: 'coarse label' },
          { offset: 1, classes: 100, what: 'fine label' },
        ];
  for (let r = 0; r < records; r++) {
    for (const limit of limits) {
      const v = bytes[offset + r * recordBytes + limit.offset]!;
      if (v >= limit.classes) {
        throw new DatasetError(
          `${path}: record ${r} has ${limit.what} ${v}, expected 0..${limit.classes - 1} ` +
            `(corrupt, or not a ${variant} binary file)`,
        );
      }
    }
  }
}

function readClassNames(path: string, count: number, variant: CifarVariant): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DatasetError(`${path}: ${describeFsError(e)}; expected the ${count} ${variant} class names, one a line`);
  }
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== count) {
    throw new DatasetError(`${path}: found ${names.length} class names, expected ${count} (one a line)`);
  }
  return names;
}
