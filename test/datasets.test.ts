import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { cifarFolder, openCifar, type CifarVariant, type Split } from '../src/data/cifar.js';
import { defaultCacheDir, ensureCifar } from '../src/data/download.js';
import { DatasetError } from '../src/data/errors.js';
import { compareCodePoints, openImageFolder } from '../src/data/imagefolder.js';
import { openDataset } from '../src/data/open.js';
import { createTar, extractTarGz, type TarEntry } from '../src/data/tar.js';
import type { ImageDataset } from '../src/data/types.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-datasets-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let dirCount = 0;
/** A fresh empty folder under the scratch dir. */
function freshDir(label: string): string {
  const dir = join(scratch, `${label}-${dirCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function write(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

// ---- CIFAR binaries ---------------------------------------------------------------------------

const PIXELS = 3072;

/** Deterministic, distinct pixels for record `seed`. */
function pixels(seed: number): Uint8Array {
  return Uint8Array.from({ length: PIXELS }, (_, i) => (seed * 37 + i * 11 + (i >> 10) * 101) & 255);
}

interface FakeRecord {
  /** [label] for CIFAR-10, [coarse, fine] for CIFAR-100 */
  readonly labels: readonly number[];
  readonly seed: number;
}

function recordBytes(records: readonly FakeRecord[]): Uint8Array {
  const size = records[0] ? records[0].labels.length + PIXELS : 0;
  const out = new Uint8Array(records.length * size);
  records.forEach((r, i) => {
    out.set(r.labels, i * size);
    out.set(pixels(r.seed), i * size + r.labels.length);
  });
  return out;
}

const CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const FINE_NAMES = Array.from({ length: 100 }, (_, i) => `fine${i}`);
const COARSE_NAMES = Array.from({ length: 20 }, (_, i) => `coarse${i}`);

type FakeCifar = Record<Split, FakeRecord[]>;

/** The files of a tiny CIFAR set (relative to the folder containing the variant's folder). */
function cifarFileMap(variant: CifarVariant, data: FakeCifar): Map<string, Uint8Array | string> {
  const folder = cifarFolder(variant);
  const files = new Map<string, Uint8Array | string>();
  if (variant === 'cifar10') {
    // two records per training batch file: their order across files is the dataset order
    for (let b = 0; b < 5; b++) files.set(`${folder}/data_batch_${b + 1}.bin`, recordBytes(data.train.slice(2 * b, 2 * b + 2)));
    files.set(`${folder}/test_batch.bin`, recordBytes(data.test));
    files.set(`${folder}/batches.meta.txt`, `${CIFAR10_NAMES.join('\n')}\n\n`); // trailing blank line, as the real one
  } else {
    files.set(`${folder}/train.bin`, recordBytes(data.train));
    files.set(`${folder}/test.bin`, recordBytes(data.test));
    files.set(`${folder}/fine_label_names.txt`, FINE_NAMES.join('\n'));
    files.set(`${folder}/coarse_label_names.txt`, `${COARSE_NAMES.join('\r\n')}\r\n`);
  }
  return files;
}

function fakeCifar(variant: CifarVariant): FakeCifar {
  const labels = (i: number) => (variant === 'cifar10' ? [(i * 3) % 10] : [(i * 7) % 20, (i * 13 + 5) % 100]);
  return {
    train: Array.from({ length: 10 }, (_, i) => ({ labels: labels(i), seed: i })),
    test: Array.from({ length: 3 }, (_, i) => ({ labels: labels(i + 50), seed: 100 + i })),
  };
}

/** Writes a tiny CIFAR set under `root` (as `root/cifar-10-batches-bin/...`); returns its contents. */
function writeCifar(root: string, variant: CifarVariant): FakeCifar {
  const data = fakeCifar(variant);
  for (const [rel, bytes] of cifarFileMap(variant, data)) write(join(root, rel), bytes);
  return data;
}

/** Every sample of `ds` against the records it was written from. */
function assertCifarSamples(ds: ImageDataset, records: readonly FakeRecord[], labelIndex: number): void {
  assert.equal(ds.length, records.length);
  const buffers = new Set<ArrayBufferLike>();
  records.forEach((r, i) => {
    const s = ds.sample(i);
    assert.equal(s.label, r.labels[labelIndex], `label of sample ${i}`);
    assert.equal(s.source.kind, 'pixels');
    if (s.source.kind !== 'pixels') return;
    assert.equal(s.source.width, 32);
    assert.equal(s.source.height, 32);
    assert.deepEqual(s.source.data, pixels(r.seed), `pixels of sample ${i}`);
    buffers.add(s.source.data.buffer);
  });
  assert.equal(buffers.size, 1, 'samples are views into one buffer');
  assert.ok([...buffers][0] instanceof SharedArrayBuffer, 'the buffer is shareable with workers');
  assert.throws(() => ds.sample(records.length), RangeError);
}

const cifarCases: { variant: CifarVariant; split: Split; labels?: 'fine' | 'coarse'; name: string; classes: string[] }[] = [
  { variant: 'cifar10', split: 'train', name: 'cifar10:train', classes: CIFAR10_NAMES },
  { variant: 'cifar10', split: 'test', name: 'cifar10:test', classes: CIFAR10_NAMES },
  { variant: 'cifar100', split: 'train', name: 'cifar100:train', classes: FINE_NAMES },
  { variant: 'cifar100', split: 'test', name: 'cifar100:test', classes: FINE_NAMES },
  { variant: 'cifar100', split: 'train', labels: 'coarse', name: 'cifar100-coarse:train', classes: COARSE_NAMES },
];

for (const c of cifarCases) {
  test(`openCifar reads ${c.name} (labels, pixels, class names)`, () => {
    const root = freshDir('cifar');
    const data = writeCifar(root, c.variant);
    const labelIndex = c.variant === 'cifar100' && c.labels !== 'coarse' ? 1 : 0;
    // the folder containing the extracted folder, and the extracted folder itself
    for (const dir of [root, join(root, cifarFolder(c.variant))]) {
      const ds = openCifar(dir, { variant: c.variant, split: c.split, labels: c.labels });
      assert.equal(ds.name, c.name);
      assert.deepEqual(ds.classes, c.classes);
      assertCifarSamples(ds, data[c.split], labelIndex);
    }
  });
}

// ---- ImageFolder ------------------------------------------------------------------------------

/** A small solid-colour image in `format`, made with sharp. */
async function image(format: 'png' | 'jpeg' | 'webp', shade: number): Promise<Buffer> {
  const img = sharp({ create: { width: 4, height: 3, channels: 3, background: { r: shade, g: 255 - shade, b: 7 } } });
  return format === 'png' ? img.png().toBuffer() : format === 'jpeg' ? img.jpeg().toBuffer() : img.webp().toBuffer();
}

/** Writes `files` (relative path → format, 'text' or 'corrupt') under `root`. */
async function makeImageFolder(root: string, files: Record<string, 'png' | 'jpeg' | 'webp' | 'text' | 'corrupt'>) {
  let shade = 0;
  for (const [rel, kind] of Object.entries(files)) {
    const bytes =
      kind === 'text' ? 'not an image\n' : kind === 'corrupt' ? Buffer.from('\xff\xd8\xff garbage', 'latin1') : await image(kind, (shade += 40));
    write(join(root, rel), bytes);
  }
}

const FOLDER_FILES = {
  'cat/b.png': 'png',
  'cat/a.jpeg': 'jpeg',
  'cat/A.JPG': 'jpeg',
  'cat/notes.txt': 'text',
  'cat/sub/c.WebP': 'webp',
  'cat/sub/deep/e.png': 'png',
  'cat/sub-x/d.png': 'png',
  'dog/broken.jpg': 'corrupt',
  'dog/x.webp': 'webp',
  'Zebra/z.png': 'png',
  'README.txt': 'text',
} as const;

/** torchvision order: classes by code point; per class, folders as sorted(os.walk) (sub < sub-x < sub/deep). */
const FOLDER_EXPECTED: [string, number][] = [
  ['Zebra/z.png', 0],
  ['cat/A.JPG', 1],
  ['cat/a.jpeg', 1],
  ['cat/b.png', 1],
  ['cat/sub/c.WebP', 1],
  ['cat/sub-x/d.png', 1],
  ['cat/sub/deep/e.png', 1],
  ['dog/broken.jpg', 2],
  ['dog/x.webp', 2],
];

function assertFolderSamples(ds: ImageDataset, root: string, expected: [string, number][]): void {
  const got = Array.from({ length: ds.length }, (_, i) => {
    const s = ds.sample(i);
    assert.equal(s.source.kind, 'file');
    return [s.source.kind === 'file' ? s.source.path : '', s.label];
  });
  assert.deepEqual(got, expected.map(([rel, label]) => [join(root, rel), label]));
}

test('openImageFolder lists classes, files and labels in torchvision order', async () => {
  const root = freshDir('folder');
  await makeImageFolder(root, FOLDER_FILES);
  const ds = openImageFolder(root);
  assert.equal(ds.name, root);
  assert.deepEqual(ds.classes, ['Zebra', 'cat', 'dog']);
  assertFolderSamples(ds, root, FOLDER_EXPECTED);
  assert.throws(() => ds.sample(-1), RangeError);
});

test('compareCodePoints sorts as Python does', () => {
  const names = ['b', '\u{1F600}', 'a', '\uFFFD', 'B', 'é', 'ab', 'a-b', 'a/b'];
  assert.deepEqual([...names].sort(compareCodePoints), ['B', 'a', 'a-b', 'a/b', 'ab', 'b', 'é', '\uFFFD', '\u{1F600}']);
});

// ---- openDataset on directories --------------------------------------------------------------

const dirCases: { name: string; make: (root: string) => Promise<void>; split: Split; expect: (ds: ImageDataset, root: string) => void }[] = [
  {
    name: 'a folder holding cifar-10-batches-bin',
    make: async (root) => void writeCifar(root, 'cifar10'),
    split: 'test',
    expect: (ds) => assertCifarSamples(ds, fakeCifar('cifar10').test, 0),
  },
  {
    name: 'a folder holding cifar-100-binary',
    make: async (root) => void writeCifar(root, 'cifar100'),
    split: 'train',
    expect: (ds) => assertCifarSamples(ds, fakeCifar('cifar100').train, 1),
  },
  {
    name: 'a plain ImageFolder (any split)',
    make: (root) => makeImageFolder(root, FOLDER_FILES),
    split: 'test',
    expect: (ds, root) => assertFolderSamples(ds, root, FOLDER_EXPECTED),
  },
  {
    name: 'an ImageFolder with train/ and val/ splits',
    make: (root) => makeImageFolder(root, { 'train/a/1.png': 'png', 'val/a/2.png': 'png', 'val/b/3.jpg': 'jpeg' }),
    split: 'test',
    expect: (ds, root) => assertFolderSamples(ds, root, [['val/a/2.png', 0], ['val/b/3.jpg', 1]]),
  },
];

for (const c of dirCases) {
  test(`openDataset opens ${c.name}`, async () => {
    const root = freshDir('open');
    await c.make(root);
    c.expect(await openDataset(root, { split: c.split, offline: true }), root);
  });
}

// ---- errors -----------------------------------------------------------------------------------

/** Expects a one-line DatasetError whose message matches `pattern`. */
async function assertDatasetError(run: () => unknown, pattern: RegExp): Promise<DatasetError> {
  let caught: unknown;
  try {
    await run();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DatasetError, `expected a DatasetError, got ${String(caught)}`);
  assert.doesNotMatch(caught.message, /\n/, 'one line');
  assert.match(caught.message, pattern);
  return caught;
}

const errorCases: { name: string; run: (dir: string) => Promise<unknown> | unknown; pattern: RegExp }[] = [
  {
    name: 'missing directory',
    run: (dir) => openImageFolder(join(dir, 'nope')),
    pattern: /nope: no such file or directory; expected an ImageFolder/,
  },
  {
    name: 'a file, not a directory',
    run: (dir) => (write(join(dir, 'f'), 'x'), openImageFolder(join(dir, 'f'))),
    pattern: /f: not a directory/,
  },
  {
    name: 'no class folders',
    run: async (dir) => (await makeImageFolder(dir, { 'a.png': 'png' }), openImageFolder(dir)),
    pattern: /found 1 image\(s\) directly in it but no class folders/,
  },
  {
    name: 'an empty class folder',
    run: async (dir) => (
      await makeImageFolder(dir, { 'cat/a.png': 'png', 'dog/readme.txt': 'text', 'emu/.keep': 'text' }), openImageFolder(dir)
    ),
    pattern: /class folder\(s\) "dog", "emu" hold no images/,
  },
  {
    name: 'no images at all',
    run: async (dir) => (await makeImageFolder(dir, { 'cat/a.txt': 'text', 'dog/b.gif': 'text' }), openImageFolder(dir)),
    pattern: /no images \(\.jpg, \.jpeg, \.png, \.webp\) in any of its 2 class folder/,
  },
  {
    name: 'truncated CIFAR-10 file',
    run: (dir) => {
      writeCifar(dir, 'cifar10');
      truncateSync(join(dir, 'cifar-10-batches-bin/data_batch_3.bin'), 2 * 3073 - 100);
      return openCifar(dir, { variant: 'cifar10', split: 'train' });
    },
    pattern: /data_batch_3\.bin: 6046 bytes is not a whole, non-zero number of 3073-byte cifar10 records/,
  },
  {
    name: 'missing CIFAR-10 test file',
    run: (dir) => {
      writeCifar(dir, 'cifar10');
      unlinkSync(join(dir, 'cifar-10-batches-bin/test_batch.bin'));
      return openCifar(dir, { variant: 'cifar10', split: 'test' });
    },
    pattern: /test_batch\.bin: no such file or directory; expected the cifar10 test data \(test_batch\.bin\)/,
  },
  {
    name: 'CIFAR-10 label out of range',
    run: (dir) => {
      write(join(dir, 'cifar-10-batches-bin/test_batch.bin'), recordBytes([{ labels: [1], seed: 0 }, { labels: [10], seed: 1 }]));
      write(join(dir, 'cifar-10-batches-bin/batches.meta.txt'), CIFAR10_NAMES.join('\n'));
      return openCifar(dir, { variant: 'cifar10', split: 'test' });
    },
    pattern: /test_batch\.bin: record 1 has label 10, expected 0\.\.9/,
  },
  {
    name: 'CIFAR-100 fine label out of range',
    run: (dir) => {
      writeCifar(dir, 'cifar100');
      write(join(dir, 'cifar-100-binary/test.bin'), recordBytes([{ labels: [3, 100], seed: 0 }]));
      return openCifar(dir, { variant: 'cifar100', split: 'test' });
    },
    pattern: /test\.bin: record 0 has fine label 100, expected 0\.\.99/,
  },
  {
    name: 'CIFAR-100 file of CIFAR-10 records',
    run: (dir) => {
      writeCifar(dir, 'cifar100');
      write(join(dir, 'cifar-100-binary/test.bin'), new Uint8Array(3073 * 3));
      return openCifar(dir, { variant: 'cifar100', split: 'test' });
    },
    pattern: /test\.bin: 9219 bytes is not a whole, non-zero number of 3074-byte cifar100 records/,
  },
  {
    name: 'wrong number of class names',
    run: (dir) => {
      writeCifar(dir, 'cifar10');
      write(join(dir, 'cifar-10-batches-bin/batches.meta.txt'), 'cat\ndog\n');
      return openCifar(dir, { variant: 'cifar10', split: 'test' });
    },
    pattern: /batches\.meta\.txt: found 2 class names, expected 10/,
  },
  {
    name: 'unknown dataset name',
    run: (dir) => openDataset(join(dir, 'cifar-10'), { split: 'train', offline: true }),
    pattern: /cifar-10: no such file or directory; expected cifar10, cifar100 or a dataset directory/,
  },
  {
    name: 'ImageFolder splits without the one asked for',
    run: async (dir) => (
      await makeImageFolder(dir, { 'train/a/1.png': 'png' }), openDataset(dir, { split: 'test', offline: true })
    ),
    pattern: /has split folder\(s\) train\/ but none for test \(test\/ or val\/\)/,
  },
];

for (const c of errorCases) {
  test(`error: ${c.name}`, async () => {
    const dir = freshDir('err');
    await assertDatasetError(() => c.run(dir), c.pattern);
  });
}

// ---- tar ----------------------------------------------------------------------------------------

/** A .tar.gz of `entries`, written to a file. */
function writeTarGz(path: string, entries: readonly TarEntry[]): Buffer {
  const bytes = gzipSync(createTar(entries));
  write(path, bytes);
  return bytes;
}

test('extractTarGz writes files and directories, long names included', async () => {
  const dir = freshDir('tar');
  const long = `${'d'.repeat(90)}/${'f'.repeat(90)}.bin`;
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 255);
  writeTarGz(join(dir, 'a.tar.gz'), [
    { path: './top/', type: 'directory' },
    { path: './top/empty/', type: 'directory' },
    { path: './top/a.txt', data: 'hello' },
    { path: `top/${long}`, data: big },
  ]);
  const files = await extractTarGz(join(dir, 'a.tar.gz'), join(dir, 'out'));
  assert.deepEqual(files, ['top/a.txt', `top/${long}`]);
  assert.deepEqual(readdirSync(join(dir, 'out/top')).sort(), ['a.txt', 'd'.repeat(90), 'empty']);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'out/top', long))), big);
});

const tarErrors: { name: string; bytes: () => Uint8Array; pattern: RegExp }[] = [
  { name: "a '..' component", bytes: () => gzipSync(createTar([{ path: 'ok/../../evil.txt', data: 'x' }])), pattern: /'\.\.' component; refusing/ },
  { name: 'an absolute path', bytes: () => gzipSync(createTar([{ path: '/tmp/evil.txt', data: 'x' }])), pattern: /absolute path; refusing/ },
  {
    name: 'a symbolic link',
    bytes: () => gzipSync(createTar([{ path: 'link', type: 'symlink', linkname: '/etc/passwd' }])),
    pattern: /"link" is a symbolic link; only regular files and directories/,
  },
  {
    name: 'a truncated archive',
    bytes: () => gzipSync(createTar([{ path: 'a.bin', data: new Uint8Array(5000) }]).subarray(0, 2048)),
    pattern: /truncated: the archive ends inside "a\.bin"/,
  },
  { name: 'not gzip at all', bytes: () => new TextEncoder().encode('hello, world'), pattern: /not a valid \.tar\.gz/ },
  { name: 'gzip but not tar', bytes: () => gzipSync(new Uint8Array(600).fill(65)), pattern: /bad checksum/ },
];

for (const c of tarErrors) {
  test(`extractTarGz refuses ${c.name}`, async () => {
    const dir = freshDir('tarerr');
    write(join(dir, 'x.tar.gz'), c.bytes());
    await assertDatasetError(() => extractTarGz(join(dir, 'x.tar.gz'), join(dir, 'out')), c.pattern);
    assert.deepEqual(readdirSync(dir).filter((f) => f !== 'x.tar.gz' && f !== 'out'), [], 'nothing written beside');
  });
}

// ---- download ---------------------------------------------------------------------------------

/** A local HTTP server; `hits` counts requests. */
async function serve(handler: RequestListener): Promise<{ base: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Serves `body` at /cifar-10-binary.tar.gz, and a redirect to it at /moved. */
function archiveHandler(body: Uint8Array): RequestListener {
  return (req, res) => {
    if (req.url === '/moved') res.writeHead(302, { location: '/cifar-10-binary.tar.gz' }).end();
    else if (req.url === '/cifar-10-binary.tar.gz') res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  };
}

/** The tiny CIFAR-10 set as the official archive lays it out. */
function cifarArchive(): Uint8Array {
  const entries: TarEntry[] = [{ path: 'cifar-10-batches-bin/', type: 'directory' }];
  for (const [path, data] of cifarFileMap('cifar10', fakeCifar('cifar10'))) entries.push({ path, data });
  return gzipSync(createTar(entries));
}

/** `text` as a literal inside a RegExp. */
const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** Collects what is written to it (the progress line). */
function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

test('download: fetched over HTTP (with a redirect), MD5 verified, extracted and opened; then cached', async () => {
  const body = cifarArchive();
  const server = await serve(archiveHandler(body));
  const cacheDir = join(freshDir('cache'), 'nested', 'cache');
  const progress = sink();
  try {
    const ds = await openDataset('cifar10', {
      split: 'train',
      cacheDir,
      urls: { cifar10: `${server.base}/moved` },
      md5: { cifar10: md5(body).toUpperCase() },
      progress: progress.stream,
    });
    assertCifarSamples(ds, fakeCifar('cifar10').train, 0);
    assert.deepEqual(readdirSync(cacheDir), ['cifar-10-batches-bin'], 'only the dataset is left in the cache');
    assert.match(progress.text(), new RegExp(`^downloading moved: .*/s, ${body.length} bytes in all\\n$`));
    assert.equal(server.hits(), 2);
  } finally {
    await server.close();
  }
  // the server is gone: the cache answers, offline or not
  const again = await openDataset('cifar10', { split: 'test', cacheDir, offline: true });
  assertCifarSamples(again, fakeCifar('cifar10').test, 0);
});

const downloadErrors: { name: string; body: () => Uint8Array; path: string; md5?: string; pattern: (base: string, cache: string) => RegExp }[] = [
  {
    name: 'a wrong checksum',
    body: cifarArchive,
    path: '/cifar-10-binary.tar.gz',
    md5: '0'.repeat(32),
    pattern: (base) => new RegExp(`^${esc(base)}/cifar-10-binary\\.tar\\.gz: MD5 [0-9a-f]{32} of the \\d+ downloaded bytes is not the expected 0{32}`),
  },
  {
    name: 'an archive without the CIFAR files',
    body: () => gzipSync(createTar([{ path: 'cifar-10-batches-bin/test_batch.bin', data: new Uint8Array(3073) }])),
    path: '/cifar-10-binary.tar.gz',
    pattern: () => /the archive lacks cifar-10-batches-bin\/data_batch_1\.bin, .*binary version\?$/,
  },
  {
    name: 'a corrupt archive',
    body: () => new TextEncoder().encode('<html>not here</html>'),
    path: '/cifar-10-binary.tar.gz',
    pattern: () => /not a valid \.tar\.gz/,
  },
  {
    name: 'HTTP 404',
    body: cifarArchive,
    path: '/missing.tar.gz',
    pattern: (base, cache) =>
      new RegExp(`\\(HTTP 404 Not Found from ${esc(base)}/missing\\.tar\\.gz\\): download ${esc(base)}/missing\\.tar\\.gz and extract it into ${esc(cache)}$`),
  },
];

for (const c of downloadErrors) {
  test(`download: ${c.name} → DatasetError and nothing left, not even the cache folder it created`, async () => {
    const body = c.body();
    const server = await serve(archiveHandler(body));
    const parent = freshDir('cache');
    const cacheDir = join(parent, 'new', 'cache');
    try {
      await assertDatasetError(
        () =>
          ensureCifar('cifar10', {
            cacheDir,
            urls: { cifar10: `${server.base}${c.path}` },
            md5: { cifar10: c.md5 ?? md5(body) },
            progress: false,
          }),
        c.pattern(server.base, cacheDir),
      );
      assert.deepEqual(readdirSync(parent), []);
    } finally {
      await server.close();
    }
  });
}

test('download: a server that is not listening → the one-line offline message', async () => {
  const server = await serve(() => undefined);
  const url = `${server.base}/cifar-10-binary.tar.gz`;
  await server.close(); // the port is now refused
  const cacheDir = freshDir('cache');
  await assertDatasetError(
    () => openDataset('cifar10', { split: 'train', cacheDir, urls: { cifar10: url }, progress: false }),
    new RegExp(`^cifar10 is not in ${esc(cacheDir)} and the download failed \\(.*ECONNREFUSED.*\\): download ${esc(url)} and extract it into ${esc(cacheDir)}$`),
  );
  assert.deepEqual(readdirSync(cacheDir), []);
});

test('offline: a missing dataset names the official URL and the cache, without any network', async () => {
  const cacheDir = join(freshDir('cache'), 'never-created');
  await assertDatasetError(
    () => openDataset('cifar100', { split: 'test', cacheDir, offline: true }),
    new RegExp(
      `^cifar100 is not in ${esc(cacheDir)} and downloads are off \\(offline\\): ` +
        `download https://www\\.cs\\.toronto\\.edu/~kriz/cifar-100-binary\\.tar\\.gz and extract it into ${esc(cacheDir)}$`,
    ),
  );
});

test('defaultCacheDir honours TESSERA_CACHE', () => {
  const saved = process.env.TESSERA_CACHE;
  try {
    process.env.TESSERA_CACHE = '/somewhere/else';
    assert.equal(defaultCacheDir(), '/somewhere/else');
    delete process.env.TESSERA_CACHE;
    assert.match(defaultCacheDir(), /[/\\]\.cache[/\\]tessera$/);
  } finally {
    if (saved === undefined) delete process.env.TESSERA_CACHE;
    else process.env.TESSERA_CACHE = saved;
  }
});
