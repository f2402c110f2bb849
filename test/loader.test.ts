/**
 * Transforms (hand-computed cases and torchvision parity on shared/fixtures/augment_ops) and the
 * DataLoader: determinism across worker counts, epoch order, partial batches, corrupt-file
 * replacement, errors and shutdown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src/nn/init.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { CIFAR10_MEAN, CIFAR10_STD, type Batch, type ImageDataset, type Sample, type TransformSpec } from '../src/data/types.js';
import * as T from '../src/data/transforms.js';
import { DataLoader, epochOrder, sampleRng, type DataLoaderOptions } from '../src/data/loader.js';
import { sharedFixture } from '../test-support/fixtures.js';

const f = Math.fround;

/** An image whose pixel (c, y, x) is `fn(c, y, x)`. */
function image(width: number, height: number, fn: (c: number, y: number, x: number) => number): T.RgbImage {
  const data = new Uint8Array(3 * width * height);
  for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = fn(c, y, x);
  return { width, height, data };
}

/** An image from channel-0 rows; channel c adds 10·c to every non-zero value. */
function fromRows(rows: number[][]): T.RgbImage {
  return image(rows[0].length, rows.length, (c, y, x) => (rows[y][x] === 0 ? 0 : rows[y][x] + 10 * c));
}

/** An Rng that returns scripted values from next() and fails if asked for more. */
class ScriptedRng extends Rng {
  private readonly values: number[];
  constructor(values: number[]) {
    super(0);
    this.values = values.slice();
  }
  override next(): number {
    const v = this.values.shift();
    assert.ok(v !== undefined, 'the transform drew more random numbers than expected');
    return v;
  }
  get left(): number {
    return this.values.length;
  }
}
/** the next() value that makes rng.int(n) return k */
const pick = (k: number, n: number) => (k + 0.5) / n;

// ---------------------------------------------------------------------------------------------
// transforms, hand-computed

test('random crop offsets and flip on a zero-padded 3x3 image', () => {
  const src = fromRows([
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ]);
  const spec: TransformSpec = { size: 3, randomCrop: { padding: 1 }, hflip: true, mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7] };
  const cases: { name: string; top: number; left: number; flip: boolean; rows: number[][] }[] = [
    { name: 'top-left corner', top: 0, left: 0, flip: false, rows: [[0, 0, 0], [0, 1, 2], [0, 4, 5]] },
    { name: 'bottom', top: 2, left: 1, flip: false, rows: [[4, 5, 6], [7, 8, 9], [0, 0, 0]] },
    { name: 'centre, flipped', top: 1, left: 1, flip: true, rows: [[3, 2, 1], [6, 5, 4], [9, 8, 7]] },
    { name: 'right, flipped', top: 1, left: 2, flip: true, rows: [[0, 3, 2], [0, 6, 5], [0, 9, 8]] },
    { name: 'bottom-right', top: 2, left: 2, flip: false, rows: [[5, 6, 0], [8, 9, 0], [0, 0, 0]] },
  ];
  for (const c of cases) {
    const rng = new ScriptedRng([pick(c.top, 3), pick(c.left, 3), c.flip ? 0.25 : 0.75]);
    const got = T.applyTransform(src, spec, rng);
    assert.equal(rng.left, 0, c.name);
    assert.deepEqual(got, T.normalizeInto(fromRows(c.rows), spec.mean, spec.std), c.name);
    assert.deepEqual(T.drawAugmentation(spec, new ScriptedRng([pick(c.top, 3), pick(c.left, 3), c.flip ? 0.25 : 0.75])), {
      top: c.top,
      left: c.left,
      flip: c.flip,
    });
  }
});

test('no draws without augmentation; padding 0 draws no crop offsets (as torchvision)', () => {
  const src = fromRows([[1, 2], [3, 4]]);
  const base = { size: 2, mean: [0, 0, 0], std: [1, 1, 1] };
  const cases: { spec: TransformSpec; draws: number[]; rows: number[][] }[] = [
    { spec: base, draws: [], rows: [[1, 2], [3, 4]] },
    { spec: { ...base, randomCrop: { padding: 0 } }, draws: [], rows: [[1, 2], [3, 4]] },
    { spec: { ...base, hflip: true }, draws: [0.49], rows: [[2, 1], [4, 3]] },
    { spec: { ...base, hflip: true }, draws: [0.5], rows: [[1, 2], [3, 4]] },
  ];
  for (const c of cases) {
    const rng = new ScriptedRng(c.draws);
    assert.deepEqual(T.applyTransform(src, c.spec, rng), T.normalizeInto(fromRows(c.rows), base.mean, base.std));
    assert.equal(rng.left, 0);
  }
});

test('applyTransform writes only its slot of a batch buffer', () => {
  const spec: TransformSpec = { size: 2, mean: [0, 0, 0], std: [1, 1, 1] };
  const out = new Float32Array(3 * 12).fill(-7);
  T.applyTransform(image(2, 2, () => 255), spec, new Rng(0), out, 12);
  assert.deepEqual([...out.subarray(0, 12)], new Array(12).fill(-7));
  assert.deepEqual([...out.subarray(12, 24)], new Array(12).fill(1));
  assert.deepEqual([...out.subarray(24)], new Array(12).fill(-7));
  assert.throws(() => T.applyTransform(fromRows([[1, 1], [1, 1]]), spec, new Rng(0), out, 30), /outside/);
});

test('hflip, crop and pad', () => {
  const cases: { name: string; got: T.RgbImage; rows: number[][] }[] = [
    { name: 'hflip 3x2', got: T.hflip(fromRows([[1, 2, 3], [4, 5, 6]])), rows: [[3, 2, 1], [6, 5, 4]] },
    { name: 'hflip 1x1', got: T.hflip(fromRows([[7]])), rows: [[7]] },
    { name: 'crop inside', got: T.crop(fromRows([[1, 2, 3], [4, 5, 6]]), 1, 1, 1, 2), rows: [[5, 6]] },
    { name: 'crop past the edges', got: T.crop(fromRows([[1, 2], [3, 4]]), -1, 1, 3, 2), rows: [[0, 0], [2, 0], [4, 0]] },
    { name: 'pad 1', got: T.pad(fromRows([[1]]), 1), rows: [[0, 0, 0], [0, 1, 0], [0, 0, 0]] },
    { name: 'pad l,t,r,b', got: T.pad(fromRows([[1, 2]]), [1, 0, 0, 1]), rows: [[0, 1, 2], [0, 0, 0]] },
  ];
  for (const c of cases) assert.deepEqual(c.got, fromRows(c.rows), c.name);
});

test('normalize: torchvision float32 arithmetic', () => {
  const cases: { v: number; mean: number; std: number; want: number }[] = [
    { v: 0, mean: 0.5, std: 0.5, want: -1 },
    { v: 255, mean: 0.5, std: 0.5, want: 1 },
    { v: 51, mean: 0, std: 1, want: f(0.2) },
    { v: 128, mean: CIFAR10_MEAN[0], std: CIFAR10_STD[0], want: f(f(f(128 / 255) - f(CIFAR10_MEAN[0])) / f(CIFAR10_STD[0])) },
  ];
  for (const c of cases) {
    const out = T.normalizeInto(image(1, 1, () => c.v), [c.mean, c.mean, c.mean], [c.std, c.std, c.std]);
    assert.deepEqual([...out], [c.want, c.want, c.want], JSON.stringify(c));
  }
});

test('resize shorter side + center crop', () => {
  const ramp = (w: number, h: number, step: number) => image(w, h, () => 0).data.map((_, i) => (i % w) * step);
  const cases: { name: string; img: T.RgbImage; size: number; rows: number[][] }[] = [
    // shorter side already 2: no resize; left = round((4 - 2) / 2) = 1
    { name: '4x2 -> crop columns 1..2', img: { width: 4, height: 2, data: ramp(4, 2, 10) }, size: 2, rows: [[10, 20], [10, 20]] },
    // top = round(1.5) = 2 (ties to even, as Python's round)
    { name: '2x5 -> crop rows 2..3', img: image(2, 5, (_c, y) => 10 * y), size: 2, rows: [[20, 20], [30, 30]] },
    // 8x4 ramp x*10 -> 4x2 with the antialiased triangle (support 2): columns 1, 2 are
    // 10·.125 + 20·.375 + 30·.375 + 40·.125 = 25 and 45
    { name: '8x4 -> 4x2 -> crop', img: { width: 8, height: 4, data: ramp(8, 4, 10) }, size: 2, rows: [[25, 45], [25, 45]] },
    { name: '1x1 upsampled', img: image(1, 1, () => 9), size: 2, rows: [[9, 9], [9, 9]] },
  ];
  for (const c of cases) {
    const got = T.resizeCenterCrop(c.img, c.size);
    assert.deepEqual([...got.data.subarray(0, c.size * c.size)], c.rows.flat(), c.name);
  }
  // the edge columns of the 4-wide intermediate: (0·3 + 10·3 + 20) / 7 = 7.14 -> 7 and 62.86 -> 63
  const full = T.resizeBilinear({ width: 8, height: 4, data: ramp(8, 4, 10) }, 2, 4);
  assert.deepEqual([...full.data.subarray(0, 4)], [7, 25, 45, 63]);
  assert.deepEqual(T.resizedShape(480, 640, 224), { height: 224, width: 298 });
  assert.deepEqual(T.resizedShape(500, 375, 224), { height: 298, width: 224 });
  const same = image(3, 3, () => 1);
  assert.equal(T.resizeCenterCrop(same, 3), same, 'no copy when already size x size');
});

// ---------------------------------------------------------------------------------------------
// torchvision parity (shared/fixtures/augment_ops.safetensors)


/** float64 bilinear (align_corners=False) before rounding, to tell rounding ties apart */
function bilinearUnrounded(img: T.RgbImage, H: number, W: number): Float64Array {
  const taps = (inS: number, outS: number, i: number): [number, number, number] => {
    if (inS === outS) return [i, i, 0];
    const real = Math.max(0, (inS / outS) * (i + 0.5) - 0.5);
    const i0 = Math.min(Math.floor(real), inS - 1);
    return [i0, Math.min(i0 + 1, inS - 1), real - i0];
  };
  const out = new Float64Array(3 * H * W);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      const [y0, y1, ly] = taps(img.height, H, y);
      for (let x = 0; x < W; x++) {
        const [x0, x1, lx] = taps(img.width, W, x);
        const p = (yy: number, xx: number) => img.data[(c * img.height + yy) * img.width + xx];
        out[(c * H + y) * W + x] = (p(y0, x0) * (1 - lx) + p(y0, x1) * lx) * (1 - ly) + (p(y1, x0) * (1 - lx) + p(y1, x1) * lx) * ly;
      }
    }
  }
  return out;
}

test('torchvision parity: hflip, crop, pad, resize, normalize', (t) => {
  const { tensors, metadata } = readSafetensors(sharedFixture('augment_ops.safetensors'));
  const calls = JSON.parse(metadata.calls) as Record<string, string>;
  t.diagnostic(`calls: ${JSON.stringify(calls)}`);
  const covered = ['hflip', 'crop', 'pad_constant', 'resize_bilinear', 'normalize'];
  for (const op of covered) assert.ok(op in calls, `fixture lacks ${op}`);
  assert.equal(calls.crop, 'crop(x, top=2, left=3, height=20, width=24)');
  assert.equal(calls.pad_constant, "pad(x, [4,4,4,4], fill=0, padding_mode='constant')");
  assert.equal(calls.resize_bilinear, 'resize(x, [48, 40], BILINEAR, antialias=False)');
  assert.match(calls.normalize, /mean=\[0\.4914,0\.4822,0\.4465\], std=\[0\.2470,0\.2435,0\.2616\]/);
  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.247, 0.2435, 0.2616];

  let count = 0;
  for (let i = 0; tensors.has(`image.${i}`); i++, count++) {
    const x = tensors.get(`image.${i}`)!;
    const img: T.RgbImage = { height: x.shape[1], width: x.shape[2], data: x.data as Uint8Array };
    const ref = (op: string) => tensors.get(`${op}.${i}`)!.data;
    const exact: [string, ArrayLike<number>][] = [
      ['hflip', T.hflip(img).data],
      ['crop', T.crop(img, 2, 3, 20, 24).data],
      ['pad_constant', T.pad(img, 4).data],
      ['normalize', T.normalizeInto(img, mean, std)],
    ];
    for (const [op, got] of exact) assert.deepEqual(Array.from(got), Array.from(ref(op) as ArrayLike<number>), `${op}.${i}`);

    // No tolerance is stated; torchvision's values agree with ours except at rounding ties
    // (x.5 up to float noise), which the reference rounds either way.
    const got = T.resizeBilinear(img, 48, 40, { antialias: false }).data;
    const want = ref('resize_bilinear') as Uint8Array;
    const exactValue = bilinearUnrounded(img, 48, 40);
    let ties = 0;
    for (let k = 0; k < want.length; k++) {
      if (got[k] === want[k]) continue;
      const frac = exactValue[k] - Math.floor(exactValue[k]);
      assert.ok(Math.abs(got[k] - want[k]) === 1 && Math.abs(frac - 0.5) < 1e-3, `resize_bilinear.${i}[${k}]: ${got[k]} vs ${want[k]} (unrounded ${exactValue[k]})`);
      ties++;
    }
    t.diagnostic(`resize_bilinear.${i}: ${ties} of ${want.length} values differ by 1, all at rounding ties`);
  }
  assert.equal(count, 5);
  const notCovered = Object.keys(calls).filter((op) => !covered.includes(op));
  t.diagnostic(`fixture ops the loader has no transform for (it does not use them): ${notCovered.join(", ")}`);
});

// ---------------------------------------------------------------------------------------------
// DataLoader

const SPEC: TransformSpec = { size: 8, randomCrop: { padding: 2 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD };

/** n random images, mostly 8x8, every 7th 12x10 (exercises resize); optionally views of one SharedArrayBuffer */
function pixelDataset(n: number, shared = false): ImageDataset & { images: T.RgbImage[] } {
  const rng = new Rng(123);
  const images: T.RgbImage[] = [];
  for (let i = 0; i < n; i++) {
    const [w, h] = i % 7 === 3 ? [12, 10] : [8, 8];
    images.push(image(w, h, () => rng.int(256)));
  }
  let views = images.map((im) => im.data);
  if (shared) {
    const total = views.reduce((s, v) => s + v.length, 0);
    const sab = new SharedArrayBuffer(total + 16);
    let off = 16;
    views = views.map((v) => {
      const view = new Uint8Array(sab, off, v.length);
      view.set(v);
      off += v.length;
      return view;
    });
  }
  return {
    name: `pixels${shared ? '-shared' : ''}:${n}`,
    classes: ['a', 'b', 'c'],
    length: n,
    images,
    sample: (i: number): Sample => ({
      label: i % 3,
      source: { kind: 'pixels', data: views[i], width: images[i].width, height: images[i].height },
    }),
  };
}

async function collect(loader: DataLoader, e: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(e)) out.push(b);
  return out;
}

async function withLoader<R>(ds: ImageDataset, opts: DataLoaderOptions, fn: (l: DataLoader) => Promise<R>): Promise<R> {
  const loader = new DataLoader(ds, opts);
  try {
    return await fn(loader);
  } finally {
    await loader.close();
  }
}

const baseOpts = { batchSize: 5, shuffle: true, seed: 7, dropLast: false, transform: SPEC };

test('identical batches with 0, 1 and 2 workers (and a SharedArrayBuffer-backed dataset)', async () => {
  const ds = pixelDataset(23);
  const reference = await withLoader(ds, { ...baseOpts, workers: 0 }, async (l) => [await collect(l, 0), await collect(l, 1)]);
  assert.equal(reference[0].length, 5);
  const variants: [string, ImageDataset, Partial<DataLoaderOptions>][] = [
    ['1 worker', ds, { workers: 1 }],
    ['2 workers', ds, { workers: 2 }],
    ['2 workers, prefetch 1', ds, { workers: 2, prefetch: 1 }],
    ['2 workers, shared buffer', pixelDataset(23, true), { workers: 2, prefetch: 3 }],
  ];
  for (const [name, d, extra] of variants) {
    const got = await withLoader(d, { ...baseOpts, ...extra }, async (l) => [await collect(l, 0), await collect(l, 1)]);
    assert.deepEqual(got, reference, name);
  }
  // and every slot is the sample transformed with its own (seed, epoch, index) Rng
  for (const [e, batches] of reference.entries()) {
    for (const b of batches) {
      const per = 3 * 8 * 8;
      for (let s = 0; s < b.size; s++) {
        const i = b.indices[s];
        const want = T.applyTransform(ds.images[i], SPEC, sampleRng(7, e, i));
        assert.deepEqual(b.input.subarray(s * per, (s + 1) * per), want);
        assert.equal(b.target[s], BigInt(i % 3));
      }
      assert.deepEqual(b.skipped, []);
    }
  }
});

test('epoch order, coverage and partial batches', async () => {
  const ds = pixelDataset(23);
  const cases: { shuffle: boolean; dropLast: boolean; sizes: number[] }[] = [
    { shuffle: true, dropLast: false, sizes: [5, 5, 5, 5, 3] },
    { shuffle: true, dropLast: true, sizes: [5, 5, 5, 5] },
    { shuffle: false, dropLast: false, sizes: [5, 5, 5, 5, 3] },
    { shuffle: false, dropLast: true, sizes: [5, 5, 5, 5] },
  ];
  for (const c of cases) {
    await withLoader(ds, { ...baseOpts, ...c, workers: 1 }, async (l) => {
      assert.equal(l.batchesPerEpoch, c.sizes.length);
      const orders: number[][] = [];
      for (const e of [0, 1]) {
        const batches = await collect(l, e);
        assert.deepEqual(batches.map((b) => b.size), c.sizes, JSON.stringify(c));
        for (const b of batches) {
          assert.equal(b.input.length, b.size * 3 * 8 * 8);
          assert.equal(b.target.length, b.size);
          assert.equal(b.indices.length, b.size);
        }
        const order = batches.flatMap((b) => [...b.indices]);
        assert.deepEqual(order, [...epochOrder(23, c.shuffle, 7, e)].slice(0, order.length));
        if (!c.dropLast) assert.deepEqual([...order].sort((a, b) => a - b), [...Array(23).keys()], 'every index once');
        else assert.equal(new Set(order).size, 20);
        orders.push(order);
      }
      if (c.shuffle) assert.notDeepEqual(orders[0], orders[1], 'epochs differ');
      else assert.deepEqual(orders[0], [...Array(orders[0].length).keys()]);
    });
  }
  assert.notDeepEqual([...epochOrder(23, true, 7, 0)], [...epochOrder(23, true, 8, 0)], 'seeds differ');
});

test('an epoch replays on its own (resume)', async () => {
  const ds = pixelDataset(23);
  const all = await withLoader(ds, { ...baseOpts, workers: 2 }, async (l) => {
    const out: Batch[][] = [];
    for (const e of [0, 1, 2]) out.push(await collect(l, e));
    return out;
  });
  const alone = await withLoader(ds, { ...baseOpts, workers: 1 }, (l) => collect(l, 2));
  assert.deepEqual(alone, all[2]);
  assert.notDeepEqual(all[1], all[2]);
});

// files ------------------------------------------------------------------------------------

async function writeFiles(dir: string): Promise<{ paths: string[]; bad: Set<number>; rgb: T.RgbImage; wide: T.RgbImage }> {
  const rgb = image(8, 8, (c, y, x) => 20 * c + 8 * y + x);
  const wide = image(16, 12, (c, y, x) => (c === 0 ? 15 * x : c === 1 ? 20 * y : 100));
  const toHwc = (im: T.RgbImage) => {
    const n = im.width * im.height;
    const out = Buffer.alloc(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = im.data[c * n + i];
    return out;
  };
  const raw = (im: T.RgbImage, channels: 1 | 3 | 4, buf: Buffer) => sharp(buf, { raw: { width: im.width, height: im.height, channels } });
  const gray = Buffer.from(Array.from({ length: 64 }, (_, i) => 3 * i));
  const rgba = Buffer.alloc(4 * 64);
  for (let i = 0; i < 64; i++) rgba.set([i, 2 * i, 3 * i, i % 2 ? 255 : 0], 4 * i);
  const jpeg = await raw(wide, 3, toHwc(wide)).jpeg().toBuffer();
  const files: [string, Buffer | string][] = [
    ['0-rgb.png', await raw(rgb, 3, toHwc(rgb)).png().toBuffer()],
    ['1-bad.png', Buffer.from('this is not a PNG file at all')],
    ['2-gray.png', await sharp(gray, { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer()],
    ['3-rgba.png', await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer()],
    ['4-notes.txt', 'plain text\n'],
    ['5-wide.png', await raw(wide, 3, toHwc(wide)).png().toBuffer()],
    ['6-truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2))],
  ];
  const paths = files.map(([name, content]) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  });
  return { paths, bad: new Set([1, 4, 6]), rgb, wide };
}

function fileDataset(paths: string[], name = 'files'): ImageDataset {
  return {
    name,
    classes: ['x', 'y'],
    length: paths.length,
    sample: (i: number): Sample => ({ label: i % 2, source: { kind: 'file', path: paths[i] } }),
  };
}

test('file datasets: decoding, grayscale/alpha, corrupt files replaced and reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-loader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { paths, bad, rgb, wide } = await writeFiles(dir);
  const ds = fileDataset(paths);
  const plain: TransformSpec = { size: 8, mean: [0, 0, 0], std: [1, 1, 1] };
  const per = 3 * 64;

  // shuffle off: the replacement of position q is the next decodable position, wrapping
  const batches = await withLoader(ds, { batchSize: 3, shuffle: false, seed: 1, dropLast: false, transform: plain, workers: 0 }, (l) => collect(l, 0));
  assert.deepEqual(batches.map((b) => [...b.indices]), [[0, 2, 2], [3, 5, 5], [0]]);
  assert.deepEqual(batches.map((b) => b.size), [3, 3, 1]);
  assert.deepEqual(batches.map((b) => b.skipped.map((s) => s.index)), [[1], [4], [6]]);
  for (const b of batches) {
    for (const s of b.skipped) {
      assert.ok(s.reason.includes(paths[s.index]), s.reason);
      assert.ok(!s.reason.includes('\n') && s.reason.length > paths[s.index].length + 2, s.reason);
    }
  }
  const slot = (b: Batch, s: number) => b.input.subarray(s * per, (s + 1) * per);
  assert.deepEqual(slot(batches[0], 0), T.normalizeInto(rgb, plain.mean, plain.std), 'RGB PNG decodes exactly');
  assert.deepEqual(slot(batches[2], 0), slot(batches[0], 0));
  const gray = slot(batches[0], 1);
  assert.deepEqual(gray.subarray(0, 64), gray.subarray(64, 128), 'grayscale becomes RGB');
  assert.deepEqual(gray.subarray(0, 64), gray.subarray(128, 192));
  assert.deepEqual([...gray.subarray(0, 64)], Array.from({ length: 64 }, (_, i) => f((3 * i) / 255)));
  const rgba = slot(batches[1], 0);
  assert.deepEqual([rgba[5], rgba[64 + 5], rgba[128 + 5]], [f(5 / 255), f(10 / 255), f(15 / 255)], 'alpha dropped');
  assert.deepEqual([...batches[0].target], [0n, 0n, 0n]);
  assert.deepEqual([...batches[1].target], [1n, 1n, 1n]);

  // resized while decoding: close to torchvision's Resize + CenterCrop on the same pixels
  const viaSharp = slot(batches[1], 1);
  const viaPixels = T.normalizeInto(T.resizeCenterCrop(wide, 8), plain.mean, plain.std);
  let maxDiff = 0;
  for (let k = 0; k < per; k++) maxDiff = Math.max(maxDiff, Math.abs(viaSharp[k] - viaPixels[k]) * 255);
  t.diagnostic(`sharp vs torchvision-style resize of a 16x12 image to 8: max |diff| ${maxDiff.toFixed(1)} / 255`);
  assert.ok(maxDiff <= 12, `resize during decoding is far from torchvision's (${maxDiff})`);

  // shuffled, augmented, with workers: the same batches as the main thread, replacement rule holds
  for (const e of [0, 1]) {
    const opts = { batchSize: 3, shuffle: true, seed: 5, dropLast: false, transform: SPEC };
    const main = await withLoader(ds, { ...opts, workers: 0 }, (l) => collect(l, e));
    const two = await withLoader(ds, { ...opts, workers: 2 }, (l) => collect(l, e));
    // libvips words the same decoding error differently from thread to thread: compare the
    // batches and the skipped indices, not the reasons' text
    const withoutReasons = (bs: Batch[]) => bs.map((b) => ({ ...b, skipped: b.skipped.map((s) => s.index) }));
    assert.deepEqual(withoutReasons(two), withoutReasons(main), `epoch ${e}`);
    const order = epochOrder(paths.length, true, 5, e);
    const want: number[] = [];
    for (let q = 0; q < order.length; q++) {
      let r = q;
      while (bad.has(order[r])) r = (r + 1) % order.length;
      want.push(order[r]);
    }
    assert.deepEqual(main.flatMap((b) => [...b.indices]), want);
    assert.deepEqual(new Set(main.flatMap((b) => b.skipped.map((s) => s.index))), bad);
  }
});

test('errors reject the iteration with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-loader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const junk = [0, 1, 2].map((i) => {
    const p = join(dir, `junk${i}.jpg`);
    writeFileSync(p, `junk ${i}`);
    return p;
  });
  const opts = { batchSize: 2, shuffle: true, seed: 1, dropLast: false, transform: SPEC };
  for (const workers of [0, 1]) {
    await withLoader(fileDataset(junk, 'junk'), { ...opts, workers }, async (l) => {
      await assert.rejects(collect(l, 0), /DataLoader\(junk\): epoch 0, batch 0: none of the 3 samples could be decoded/);
    });
    const throwing: ImageDataset = {
      ...fileDataset(junk, 'throwing'),
      sample: (i) => {
        if (i === 2) throw new Error('index 2 is broken');
        return { label: 0, source: { kind: 'file', path: junk[i] } };
      },
    };
    await withLoader(throwing, { ...opts, workers }, async (l) => {
      await assert.rejects(collect(l, 0), /DataLoader\(throwing\): epoch 0, batch \d: index 2 is broken/);
    });
  }
  assert.throws(() => new DataLoader(pixelDataset(3), { ...opts, batchSize: 0 }), /batchSize must be a positive integer/);
  assert.throws(() => new DataLoader(pixelDataset(3), { ...opts, transform: { ...SPEC, std: [1, 0, 1] } }), /std must be non-zero/);
  const badLabel: ImageDataset = { ...pixelDataset(3), sample: () => ({ label: 5, source: { kind: 'pixels', data: new Uint8Array(192), width: 8, height: 8 } }) };
  assert.throws(() => new DataLoader(badLabel, { ...opts, workers: 1 }), /label 5; expected an integer in \[0, 3\)/);
});

test('close() terminates the workers; stopping early or closing mid-epoch never hangs', async () => {
  const ds = pixelDataset(40);
  const loader = new DataLoader(ds, { ...baseOpts, workers: 2, prefetch: 2 });
  assert.equal(loader.liveWorkers, 2);
  for await (const b of loader.epoch(0)) {
    assert.equal(b.size, 5);
    break; // cancels the batches in flight
  }
  const it = loader.epoch(1)[Symbol.asyncIterator]();
  assert.equal((await it.next()).done, false);
  const closing = loader.close();
  await assert.rejects(async () => {
    for (;;) if ((await it.next()).done) break;
  }, /closed/);
  await closing;
  assert.equal(loader.liveWorkers, 0);
  await assert.rejects(collect(loader, 2), /closed/);
  await loader.close(); // idempotent
});

test('a process with a loader exits: closed, not closed, or after a worker crash', () => {
  const loaderUrl = new URL('../src/data/loader.js', import.meta.url).href;
  // a preload that workers inherit through execArgv and that throws only in worker threads
  const crash = 'data:text/javascript,import { isMainThread } from "node:worker_threads"; if (!isMainThread) throw new Error("boom in worker");';
  const cases: { name: string; close: boolean; args: string[]; out: string }[] = [
    { name: 'closed', close: true, args: [], out: 'ok' },
    { name: 'not closed', close: false, args: [], out: 'ok' },
    { name: 'worker crash', close: false, args: ['--import', crash], out: 'DataLoader(child): epoch 0, batch 0: worker 0 crashed: boom in worker' },
  ];
  for (const c of cases) {
    const script = `
      import { DataLoader } from ${JSON.stringify(loaderUrl)};
      const data = new Uint8Array(3 * 64 * 20);
      const ds = { name: 'child', classes: [], length: 20,
        sample: (i) => ({ label: i, source: { kind: 'pixels', data: data.subarray(i * 192, (i + 1) * 192), width: 8, height: 8 } }) };
      const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 0, dropLast: false, workers: 2,
        transform: { size: 8, mean: [0, 0, 0], std: [1, 1, 1] } });
      try {
        for await (const b of loader.epoch(0)) break;
        ${c.close ? 'await loader.close(); if (loader.liveWorkers !== 0) process.exit(3);' : ''}
        console.log('ok');
      } catch (e) {
        console.log(e.message);
      }
    `;
    const r = spawnSync(process.execPath, [...c.args, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `child hung (${c.name})`);
    assert.equal(r.status, 0, `${c.name}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), c.out, c.name);
  }
});
