/**
 * The image ops of src/augment against torchvision 0.14 (uint8 tensors): every op of
 * ../shared/fixtures/augment_ops.safetensors and of test/data/augment_ops_extra.safetensors
 * (tools/make_augment_fixture.py: pad modes, bicubic, antialias, rotate/affine bilinear, expand,
 * fill, ColorJitter's application, ...). Each output matches exactly, or for interpolating ops
 * differs only at rounding ties: an unrounded value (recomputed in float64) within 1e-3 of x.5 and
 * off by one, or for `nearest` warps a source coordinate within 1e-3 of x.5. A fixture op without a
 * case fails. RandomResizedCrop's and ColorJitter's sampling logic is tested on scripted draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/safetensors.js';
import type { RgbImage } from '../src/data/transforms.js';
import { normalizeInto } from '../src/data/transforms.js';
import { Rng } from '../src/nn/init.js';
import { opCall, type Unrounded } from '../src/augment/op-table.js';
import { colorJitter, colorJitterParams, randomResizedCropParams, type ColorJitterParams } from '../src/augment/random-params.js';
import { sharedFixture } from '../test-support/fixtures.js';

const TIE = 1e-3;
const EXTRA = fileURLToPath(new URL('../../test/data/augment_ops_extra.safetensors', import.meta.url));

/** How one fixture key is computed here: an --op call, or a function for what is not one. */
type Case = { readonly call: string } | { readonly run: (img: RgbImage) => ArrayLike<number> };

/** ../shared/fixtures/augment_ops.safetensors: its `calls` are prose, so each is restated as a call. */
const SHARED_CASES: Readonly<Record<string, Case>> = {
  hflip: { call: 'hflip(x)' },
  vflip: { call: 'vflip(x)' },
  crop: { call: 'crop(x, top=2, left=3, height=20, width=24)' },
  pad_constant: { call: "pad(x, [4,4,4,4], fill=0, padding_mode='constant')" },
  pad_reflect: { call: "pad(x, [4, 2, 4, 2], padding_mode='reflect')" },
  resize_bilinear: { call: 'resize(x, [48, 40], InterpolationMode.BILINEAR, antialias=False)' },
  resize_nearest: { call: 'resize(x, [20, 18], InterpolationMode.NEAREST)' },
  rotate_nearest: { call: "rotate(x, 30, interpolation='nearest', fill=0)" },
  affine_shear_translate: { call: "affine(x, angle=0, translate=[3,-2], scale=1, shear=[15,0], interpolation='nearest', fill=0)" },
  posterize: { call: 'posterize(x, bits=3)' },
  solarize: { call: 'solarize(x, threshold=128)' },
  equalize: { call: 'equalize(x)' },
  autocontrast: { call: 'autocontrast(x)' },
  invert: { call: 'invert(x)' },
  brightness: { call: 'adjust_brightness(x, 1.4)' },
  contrast: { call: 'adjust_contrast(x, 0.6)' },
  saturation: { call: 'adjust_saturation(x, 1.7)' },
  sharpness: { call: 'adjust_sharpness(x, 2.0)' },
  hue: { call: 'adjust_hue(x, 0.1)' },
  erase: { call: 'erase(x, i=4, j=5, h=8, w=10, v=0)' },
  normalize: { run: (img) => normalizeInto(img, [0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]) },
};

/** The extra fixture's `color_jitter` key: ColorJitter's application with fixed parameters. */
function colorJitterCase(call: string): Case {
  const m = /^color_jitter\(order=\[([\d, ]+)\], brightness=([\d.]+), contrast=([\d.]+), saturation=([\d.]+), hue=(-?[\d.]+)\)$/.exec(call);
  assert.ok(m, `unexpected color_jitter call ${call}`);
  const params: ColorJitterParams = { order: m[1].split(',').map(Number), factors: { brightness: +m[2], contrast: +m[3], saturation: +m[4], hue: +m[5] } };
  return { run: (img) => colorJitter(img, params).data };
}

/** Where `got` and `want` differ, each classified: a rounding tie or not. */
function compare(got: ArrayLike<number>, want: ArrayLike<number>, unrounded: Unrounded | undefined, planeSize: number): { ties: number; bad: string[] } {
  let ties = 0;
  const bad: string[] = [];
  const nearTie = (v: number) => Math.abs(v - Math.floor(v) - 0.5) < TIE;
  for (let k = 0; k < want.length; k++) {
    if (got[k] === want[k]) continue;
    let tie = false;
    let why = 'no unrounded value: must be exact';
    if (unrounded?.source) {
      const p = k % planeSize;
      tie = nearTie(unrounded.source.x[p]) || nearTie(unrounded.source.y[p]);
      why = `source (${unrounded.source.x[p]}, ${unrounded.source.y[p]})`;
    } else if (unrounded) {
      tie = Math.abs(got[k] - want[k]) === 1 && nearTie(unrounded.values[k]);
      why = `unrounded ${unrounded.values[k]}`;
    }
    if (tie) ties++;
    else if (bad.length < 5) bad.push(`[${k}] ${got[k]} vs torchvision ${want[k]} (${why})`);
    else bad.push('');
  }
  return { ties, bad };
}

/** Runs every key of a fixture through its case; asserts and returns the tie counts by key. */
function checkFixture(path: string, caseFor: (key: string, call: string) => Case | undefined): Map<string, string> {
  const { tensors, metadata } = readSafetensors(path);
  const calls: Record<string, string> = JSON.parse(metadata.calls);
  const images: RgbImage[] = [];
  for (let i = 0; tensors.has(`image.${i}`); i++) {
    const t = tensors.get(`image.${i}`)!;
    assert.ok(t.data instanceof Uint8Array);
    images.push({ height: t.shape[1], width: t.shape[2], data: t.data });
  }
  assert.ok(images.length >= 3, `${path}: images`);
  const missing = Object.keys(calls).filter((key) => caseFor(key, calls[key]) === undefined);
  assert.deepEqual(missing, [], `${path}: fixture ops without a case`);
  const report = new Map<string, string>();
  for (const [key, call] of Object.entries(calls)) {
    const c = caseFor(key, call)!;
    const counts: string[] = [];
    images.forEach((img, i) => {
      const want = tensors.get(`${key}.${i}`);
      assert.ok(want && !(want.data instanceof BigInt64Array), `${path}: ${key}.${i} is missing`);
      const before = img.data.slice();
      const [got, unrounded] = 'call' in c ? [opCall(c.call).apply(img), opCall(c.call).unrounded?.(img)] : [c.run(img), undefined];
      assert.deepEqual(img.data, before, `${key}: the input was modified`);
      const gotData = 'data' in got ? got.data : got;
      if ('width' in got) assert.deepEqual([3, got.height, got.width], want.shape, `${key}.${i}: shape`);
      else assert.equal(got.length, want.data.length, `${key}.${i}: size`);
      const { ties, bad } = compare(gotData, want.data, unrounded, want.shape[1] * want.shape[2]);
      assert.deepEqual(bad.filter(Boolean), [], `${key}.${i} (${call}): ${bad.length} values differ and are not rounding ties`);
      counts.push(`${ties}/${want.data.length}`);
    });
    report.set(key, counts.join(' '));
  }
  return report;
}

test('torchvision parity: every op of shared/fixtures/augment_ops', (t) => {
  const report = checkFixture(sharedFixture('augment_ops.safetensors'), (key) => SHARED_CASES[key]);
  for (const [key, ties] of report) t.diagnostic(`${key}: ties per image ${ties}`);
});

test('torchvision parity: every op of test/data/augment_ops_extra (pad modes, bicubic, antialias, warps, ColorJitter)', (t) => {
  const report = checkFixture(EXTRA, (key, call) => (key === 'color_jitter' ? colorJitterCase(call) : { call }));
  for (const [key, ties] of report) t.diagnostic(`${key}: ties per image ${ties}`);
});

/** An Rng whose next() returns scripted values, failing when asked for more. */
class ScriptedRng extends Rng {
  private readonly values: number[];
  constructor(values: readonly number[]) {
    super(0);
    this.values = [...values];
  }
  override next(): number {
    const v = this.values.shift();
    assert.ok(v !== undefined, 'drew more random numbers than scripted');
    return v;
  }
  get left(): number {
    return this.values.length;
  }
}

/** the uniform draw that makes rng.uniform(lo, hi) return x */
const at = (x: number, lo: number, hi: number) => (x - lo) / (hi - lo);
const logAt = (ratio: number, lo: number, hi: number) => at(Math.log(ratio), Math.log(lo), Math.log(hi));

test('RandomResizedCrop parameters: scale, log-uniform ratio, rounding, position, fallback', () => {
  const scale: [number, number] = [0.08, 1];
  const ratio: [number, number] = [3 / 4, 4 / 3];
  const cases: { name: string; size: [number, number]; draws: number[]; want: { top: number; left: number; height: number; width: number } }[] = [
    // area 0.25·32·32 = 256, ratio 1: 16x16, then top from 17 positions, left likewise
    { name: 'first try fits', size: [32, 32], draws: [at(0.25, ...scale), logAt(1, ...ratio), 0.99, 0.01], want: { top: 16, left: 0, height: 16, width: 16 } },
    // w = sqrt(1024·0.5·(4/3)) = 26.13 → 26, h = sqrt(512·0.75) = 19.6 → 20
    { name: 'ratio is w/h', size: [32, 32], draws: [at(0.5, ...scale), logAt(4 / 3, ...ratio), 0, 0], want: { top: 0, left: 0, height: 20, width: 26 } },
    // a window larger than the image (scale 1 of a 10x40 image at ratio 3/4: h = 23 > 10) is retried
    { name: 'retries until a window fits', size: [10, 40], draws: [at(1, ...scale), logAt(3 / 4, ...ratio), at(0.25, ...scale), logAt(1, ...ratio), 0.5, 0.5], want: { top: 0, left: 15, height: 10, width: 10 } },
    // ten misses: a 10x40 image (ratio 4 > 4/3) falls back to the centred 10 x round(10·4/3)
    { name: 'falls back to a centred crop after 10 tries', size: [10, 40], draws: Array.from({ length: 10 }, () => [at(1, ...scale), logAt(3 / 4, ...ratio)]).flat(), want: { top: 0, left: 13, height: 10, width: 13 } },
    // and a tall 40x10 image (ratio 1/4 < 3/4) to the centred round(10/(3/4)) x 10
    { name: 'tall fallback', size: [40, 10], draws: Array.from({ length: 10 }, () => [at(1, ...scale), logAt(4 / 3, ...ratio)]).flat(), want: { top: 13, left: 0, height: 13, width: 10 } },
  ];
  for (const c of cases) {
    const rng = new ScriptedRng(c.draws);
    assert.deepEqual(randomResizedCropParams(c.size[0], c.size[1], scale, ratio, rng), c.want, c.name);
    assert.equal(rng.left, 0, `${c.name}: every scripted draw used`);
  }
  // bounds over many real draws: inside the image, area and ratio within range (up to rounding)
  const rng = new Rng(7);
  for (let i = 0; i < 2000; i++) {
    const b = randomResizedCropParams(48, 64, scale, ratio, rng);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 48 && b.left + b.width <= 64, JSON.stringify(b));
    assert.ok(b.width * b.height <= 48 * 64 && b.height >= 1 && b.width >= 1);
  }
  assert.throws(() => randomResizedCropParams(8, 8, [0.5, 0.1], ratio, rng), /scale must be \[min, max\]/);
  assert.throws(() => randomResizedCropParams(8, 8, scale, [0, 1], rng), /ratio must be \[min, max\] with 0 </);
});

test('ColorJitter parameters: permutation first, then one factor per active range, in order', () => {
  // Fisher–Yates over [0,1,2,3]: j = int(u·(i+1)) for i = 3, 2, 1: swap 3↔0, keep 2, keep 1
  const rng = new ScriptedRng([0.01, 2.5 / 3, 0.9, at(1.2, 0.6, 1.4), at(-0.05, -0.1, 0.1)]);
  const p = colorJitterParams({ brightness: 0.4, hue: 0.1 }, rng);
  assert.deepEqual(p.order, [3, 1, 2, 0]);
  assert.ok(Math.abs(p.factors.brightness! - 1.2) < 1e-12 && Math.abs(p.factors.hue! + 0.05) < 1e-12);
  assert.equal(p.factors.contrast, undefined);
  assert.equal(p.factors.saturation, undefined);
  assert.equal(rng.left, 0);
  const ranges: { ranges: Parameters<typeof colorJitterParams>[0]; draws: number; error?: RegExp }[] = [
    { ranges: {}, draws: 3 },
    { ranges: { brightness: 0, contrast: [1, 1], hue: 0 }, draws: 3 },
    { ranges: { brightness: 2, saturation: [0.5, 0.5] }, draws: 5 },
    { ranges: { hue: 0.6 }, draws: 0, error: /hue must lie in \[-0.5, 0.5\]/ },
    { ranges: { contrast: -1 }, draws: 0, error: /contrast must be non-negative/ },
  ];
  for (const r of ranges) {
    const scripted = new ScriptedRng(new Array(r.draws).fill(0.5));
    if (r.error) {
      assert.throws(() => colorJitterParams(r.ranges, scripted), r.error);
      continue;
    }
    const q = colorJitterParams(r.ranges, scripted);
    assert.equal(scripted.left, 0, `${JSON.stringify(r.ranges)} draws ${r.draws}`);
    assert.deepEqual([...q.order].sort(), [0, 1, 2, 3]);
  }
  // brightness 2 means [max(0, 1 − 2), 3]
  assert.equal(colorJitterParams({ brightness: 2 }, new ScriptedRng([0.01, 0.01, 0.01, 0])).factors.brightness, 0);
});
