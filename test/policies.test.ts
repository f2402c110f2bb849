/**
 * Augmentation policies and the training pipeline around them: the policies' op tables, magnitude
 * bins and AutoAugment lists against torchvision 0.14's own definitions (test/data/policy-tables.json
 * from tools/policy_tables.py), each op call against torchvision's `_apply_op`
 * (test/data/policy-ops.safetensors from tools/policy_ops.py), the policy-string parser, timm's
 * RandomErasing boxes, per-(seed, epoch, index) determinism in and out of worker threads, every
 * policy end to end on real images, and a one-epoch `tessera train --aa ta_wide --reprob 0.25`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomErase } from '../src/augment/erasing.js';
import { applyPolicy } from '../src/augment/policy.js';
import { applyPolicyOp } from '../src/augment/policies.js';
import { PolicyConfig, parsePolicy } from '../src/augment/policy-parse.js';
import { AUTOAUGMENT_POLICIES, AutoAugmentPolicy, PolicyFamily, PolicyOp, augmentationSpace } from '../src/augment/policy-tables.js';
import { baseImage, transformSample } from '../src/augment/pipeline.js';
import { policyPreview } from '../src/augment/preview.js';
import { DataLoader, sampleRng } from '../src/data/loader.js';
import { applyTransform, fromInterleaved, type RgbImage } from '../src/data/transforms.js';
import { decodeImageFile } from '../src/data/worker.js';
import sharp from 'sharp';
import type { ImageDataset, RandomErasingSpec, TransformSpec } from '../src/data/types.js';
import { UserError } from '../src/errors.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { Rng } from '../src/nn/init.js';
import { cifarTransforms } from '../src/train/setup.js';
import { ROOT, runCli } from '../test-support/cli.js';
import { sharedFixture } from '../test-support/fixtures.js';
import { makeImageFolder } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-policies-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** The five real images of the shared augment_ops fixture (four 32×32, one 64×48). */
const IMAGES: RgbImage[] = (() => {
  const file = readSafetensors(sharedFixture('augment_ops.safetensors'));
  return [0, 1, 2, 3, 4].map((i) => {
    const t = file.tensors.get(`image.${i}`);
    assert.ok(t && t.data instanceof Uint8Array, `augment_ops image.${i}`);
    return { height: t.shape[1], width: t.shape[2], data: t.data };
  });
})();

// ---- op tables and bins against torchvision ---------------------------------------------------

interface SpaceFixture {
  policy: PolicyFamily;
  numBins: number;
  imageSize: [number, number] | null;
  allOps?: boolean;
  ops: [string, number[] | number, boolean][];
}
const TABLES = JSON.parse(readFileSync(join(ROOT, 'test/data/policy-tables.json'), 'utf8')) as {
  spaces: SpaceFixture[];
  autoAugmentPolicies: Record<AutoAugmentPolicy, [string, number, number | null][][]>;
};

/** One augmentation space equals torchvision's: same ops in the same order, same signs, every bin bit-exact. */
function assertSameSpace(fx: SpaceFixture): void {
  const ours = augmentationSpace(fx.policy, fx.numBins, fx.imageSize ?? [32, 32], fx.allOps ?? true);
  assert.deepEqual(
    ours.map((s) => s.op),
    fx.ops.map(([op]) => op),
  );
  fx.ops.forEach(([op, bins, signed], i) => {
    assert.equal(ours[i].signed, signed, `${op} signed`);
    if (typeof bins === 'number') assert.equal(ours[i].bins, null, `${op} has no bins (magnitude ${bins})`);
    else assert.deepEqual(ours[i].bins, bins, `${op} bins`);
  });
}

for (const fx of TABLES.spaces) {
  const what = `${fx.policy}${fx.allOps === false ? ' (all_ops=False)' : ''}, ${fx.numBins} bins${fx.imageSize ? `, ${fx.imageSize.join('×')}` : ''}`;
  test(`augmentation space of ${what} is torchvision's`, () => assertSameSpace(fx));
}

test("AutoAugment's imagenet, cifar10 and svhn policies are torchvision's", () => {
  for (const name of ['imagenet', 'cifar10', 'svhn'] as const) {
    assert.deepEqual(
      AUTOAUGMENT_POLICIES[name].map((sub) => sub.map((step) => [...step])),
      TABLES.autoAugmentPolicies[name],
      name,
    );
  }
});

// ---- each op call against torchvision's _apply_op ---------------------------------------------

test("applyPolicyOp is torchvision's _apply_op for every op (nearest, fill [10, 20, 30])", () => {
  const file = readSafetensors(join(ROOT, 'test/data/policy-ops.safetensors'));
  const calls = JSON.parse(file.metadata.calls) as { key: string; op: PolicyOp; magnitude: number }[];
  const fill = JSON.parse(file.metadata.fill) as number[];
  const src = file.tensors.get('image');
  assert.ok(src && src.data instanceof Uint8Array);
  const img: RgbImage = { height: src.shape[1], width: src.shape[2], data: src.data };
  assert.ok(calls.length >= 25, `${calls.length} calls`);
  for (const call of calls) {
    const want = file.tensors.get(call.key);
    assert.ok(want, call.key);
    const got = applyPolicyOp(img, call.op, call.magnitude, { interpolation: 'nearest', fill });
    const diffs = got.data.reduce((n, v, i) => n + (v === want.data[i] ? 0 : 1), 0);
    assert.equal(diffs, 0, `${call.op}(${call.magnitude}): ${diffs} of ${got.data.length} values differ from torchvision`);
  }
});

// ---- the parser ---------------------------------------------------------------------------------

const goodPolicies: [string, PolicyConfig][] = [
  ['rand-m9-mstd0.5-inc1', { kind: 'timm-rand', magnitude: 9, numOps: 2, prob: 0.5, magnitudeStd: 0.5, magnitudeMax: 10, increasing: true }],
  ['rand-m7-n3-p0.8-mmax12', { kind: 'timm-rand', magnitude: 7, numOps: 3, prob: 0.8, magnitudeStd: 0, magnitudeMax: 12, increasing: false }],
  ['rand-mstd101', { kind: 'timm-rand', magnitude: 10, numOps: 2, prob: 0.5, magnitudeStd: Infinity, magnitudeMax: 10, increasing: false }],
  ['augmix-m3-w3-d-1', { kind: 'augmix', severity: 3, mixtureWidth: 3, chainDepth: -1, alpha: 1, allOps: true }],
  ['augmix-m5-w4-d2-a0.5-all0', { kind: 'augmix', severity: 5, mixtureWidth: 4, chainDepth: 2, alpha: 0.5, allOps: false }],
  ['augmix', { kind: 'augmix', severity: 3, mixtureWidth: 3, chainDepth: -1, alpha: 1, allOps: true }],
  ['ra', { kind: 'randaugment', numOps: 2, magnitude: 9, numBins: 31 }],
  ['ra-n3-m15-b21', { kind: 'randaugment', numOps: 3, magnitude: 15, numBins: 21 }],
  ['ta_wide', { kind: 'trivialaugment', numBins: 31 }],
  ['ta_wide-b11', { kind: 'trivialaugment', numBins: 11 }],
  ['autoaugment-imagenet', { kind: 'autoaugment', policy: 'imagenet' }],
  ['autoaugment-cifar10', { kind: 'autoaugment', policy: 'cifar10' }],
  ['autoaugment-svhn', { kind: 'autoaugment', policy: 'svhn' }],
];

for (const [text, want] of goodPolicies) {
  test(`policy "${text}" parses`, () => assert.deepEqual(parsePolicy(text), want));
}

const badPolicies: [string, RegExp][] = [
  ['trivial', /^--aa "trivial": unknown policy; valid: autoaugment-imagenet, autoaugment-cifar10, autoaugment-svhn, ra\[-nN-mN-bN\], ta_wide\[-bN\], augmix\[-mN-wN-dN-aN-allN\], rand\[-mN-nN-pN-mstdN-mmaxN-incN\]$/],
  ['', /unknown policy; valid: autoaugment-imagenet/],
  ['rand-m9-x3', /^--aa "rand-m9-x3": x is not a field of rand; its fields are m, n, p, mstd, mmax, inc \(rand\[/],
  ['rand-m9.5', /m must be a whole number 0\.\.1000, got 9\.5/],
  ['rand-p1.5', /p must be a number 0\.\.1, got 1\.5/],
  ['rand-m9-m8', /m is given twice/],
  ['rand-m', /"m" is not a field \(KEY followed by a number/],
  ['ra-m31', /m \(magnitude bin\) must be below b \(the number of bins, 31\), got 31/],
  ['augmix-m11', /m must be a whole number 1\.\.10, got 11/],
  ['augmix-d0', /d \(chain depth\) must be -1/],
  ['autoaugment-imagenet-m3', /autoaugment-imagenet takes no fields/],
  ['autoaugment-cifar100', /unknown policy/],
];

for (const [text, message] of badPolicies) {
  test(`policy "${text}" is one UserError line`, () => {
    assert.throws(
      () => parsePolicy(text, '--aa'),
      (e: unknown) => e instanceof UserError && !e.message.includes('\n') && message.test(e.message),
    );
  });
}

// ---- random erasing -----------------------------------------------------------------------------

/** Erases many images with `spec` and checks each box: inside the image, area and aspect in timm's ranges, fill by mode. */
function checkErasing(spec: RandomErasingSpec, height: number, width: number): void {
  const draws = 400;
  let erased = 0;
  for (let i = 0; i < draws; i++) {
    const data = new Float32Array(3 * height * width).fill(7);
    const boxes = randomErase(data, 0, height, width, spec, new Rng(1000 + i));
    if (boxes.length) erased++;
    assert.ok(boxes.length <= spec.count);
    for (const b of boxes) {
      assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= height && b.left + b.width <= width, JSON.stringify(b));
      assert.ok(b.height >= 1 && b.width >= 1 && b.height < height && b.width < width, JSON.stringify(b));
      const count = boxes.length;
      // sides are rounded from an area in [0.02, 1/3]·HW/count and an aspect in [0.3, 1/0.3]
      const [lo, hi] = [0.02 * height * width / spec.count, (height * width) / 3 / (count === spec.count ? count : 1)];
      assert.ok((b.height + 1) * (b.width + 1) >= lo && (b.height - 1) * (b.width - 1) <= hi, `area ${b.height}×${b.width} outside [${lo}, ${hi}]`);
      assert.ok((b.height + 1) / Math.max(1, b.width - 1) >= 0.3 && (b.height - 1) / (b.width + 1) <= 1 / 0.3, `aspect ${b.height}/${b.width}`);
      const plane = height * width;
      const values = [0, 1, 2].map((c) => data[c * plane + b.top * width + b.left]);
      const last = [0, 1, 2].map((c) => data[c * plane + (b.top + b.height - 1) * width + b.left + b.width - 1]);
      if (spec.mode === 'const') assert.deepEqual([...values, ...last], [0, 0, 0, 0, 0, 0]);
      if (spec.mode === 'rand' && boxes.length === 1) assert.deepEqual(values, last, 'one value per channel');
      if (spec.mode === 'pixel' && b.height * b.width > 1) assert.notDeepEqual(values, last, 'values per pixel');
    }
    const untouched = data.filter((v) => v === 7).length;
    const area = boxes.reduce((s, b) => s + b.height * b.width, 0);
    assert.ok(untouched >= 3 * (height * width - area), 'only the boxes change');
  }
  const rate = erased / draws;
  assert.ok(Math.abs(rate - spec.prob) < 0.08, `erased ${rate} of the images, probability ${spec.prob}`);
}

const erasingCases: [RandomErasingSpec, number, number][] = [
  [{ prob: 0.25, mode: 'pixel', count: 1 }, 32, 32],
  [{ prob: 1, mode: 'const', count: 1 }, 24, 40],
  [{ prob: 0.5, mode: 'rand', count: 1 }, 32, 32],
  [{ prob: 1, mode: 'pixel', count: 3 }, 64, 48],
  [{ prob: 0, mode: 'const', count: 2 }, 16, 16],
];
for (const [spec, h, w] of erasingCases) {
  test(`random erasing ${JSON.stringify(spec)} on ${h}×${w}: boxes within bounds`, () => checkErasing(spec, h, w));
}

// ---- determinism --------------------------------------------------------------------------------

const norm = { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] };
const fullSpec = (policy: string): TransformSpec => ({
  size: 32,
  hflip: true,
  randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
  policy,
  randomErasing: { prob: 0.5, mode: 'pixel', count: 2 },
  ...norm,
});

/** What the loader computes for sample `index` of `epoch`. */
const sampleOf = (img: RgbImage, spec: TransformSpec, seed: number, epoch: number, index: number) => transformSample(baseImage(img, spec), spec, sampleRng(seed, epoch, index));

test('same (seed, epoch, index): same floats; another index, epoch or seed: other draws', () => {
  for (const policy of ['ta_wide', 'rand-m9-mstd0.5-inc1', 'augmix-m3-w3-d-1', 'autoaugment-imagenet', 'ra']) {
    const spec = fullSpec(policy);
    const a = sampleOf(IMAGES[4], spec, 3, 1, 17);
    assert.deepEqual(sampleOf(IMAGES[4], spec, 3, 1, 17), a, policy);
    for (const [seed, epoch, index] of [[3, 1, 18], [3, 2, 17], [4, 1, 17]]) assert.notDeepEqual(sampleOf(IMAGES[4], spec, seed, epoch, index), a, `${policy} (${seed}, ${epoch}, ${index})`);
  }
});

test('the crop + flip path without new options is applyTransform, bit for bit', () => {
  const spec = cifarTransforms(32).train;
  for (let index = 0; index < 20; index++) {
    for (const img of IMAGES) assert.deepEqual(sampleOf(img, spec, 5, 2, index), applyTransform(img, spec, sampleRng(5, 2, index)));
  }
});

test('crop + flip + policy draws the crop and flip as the plain path does, then the policy', () => {
  const plain = cifarTransforms(32).train;
  const spec = { ...plain, policy: 'ta_wide' };
  // a draw of the identity op leaves the plain path's output: find one and compare
  let identical = 0;
  for (let index = 0; index < 60; index++) {
    if (JSON.stringify(Array.from(sampleOf(IMAGES[0], spec, 1, 0, index))) === JSON.stringify(Array.from(applyTransform(IMAGES[0], plain, sampleRng(1, 0, index))))) identical++;
  }
  assert.ok(identical >= 1 && identical < 30, `${identical} of 60 samples untouched by TrivialAugmentWide (its Identity op is 1 of 14)`);
});

/** An in-memory dataset of the shared fixture's real images. */
const realImages: ImageDataset = {
  name: 'augment_ops images',
  classes: ['a', 'b'],
  length: 10,
  sample: (i) => {
    const img = IMAGES[i % IMAGES.length];
    return { label: i % 2, source: { kind: 'pixels', data: img.data, width: img.width, height: img.height } };
  },
};

test('worker threads and the main thread give the same augmented batches', async () => {
  const batches = async (workers: number) => {
    const loader = new DataLoader(realImages, { batchSize: 4, shuffle: true, seed: 9, dropLast: false, transform: fullSpec('rand-m9-mstd0.5-inc1'), workers });
    try {
      const out: Float32Array[] = [];
      for (const e of [0, 1]) for await (const b of loader.epoch(e)) out.push(b.input);
      return out;
    } finally {
      await loader.close();
    }
  };
  assert.deepEqual(await batches(2), await batches(0));
});

// ---- every policy on real images ----------------------------------------------------------------

const ALL_POLICIES = ['autoaugment-imagenet', 'autoaugment-cifar10', 'autoaugment-svhn', 'ra', 'ra-n3-m30', 'ta_wide', 'augmix', 'augmix-m10-w2-d3-all0', 'rand-m9-mstd0.5-inc1', 'rand-m10-n4-p1-mstd101', 'rand-m9-mstd0.5'];

for (const policy of ALL_POLICIES) {
  test(`${policy}: real images end to end, finite floats, the images change`, () => {
    let changed = 0;
    for (let index = 0; index < 12; index++) {
      const img = IMAGES[index % IMAGES.length];
      const out = applyPolicy(img, policy, sampleRng(0, 0, index), { mean: norm.mean });
      assert.equal(out.width, img.width);
      assert.equal(out.height, img.height);
      if (out.data.some((v, i) => v !== img.data[i])) changed++;
      const floats = sampleOf(img, fullSpec(policy), 0, 0, index);
      assert.equal(floats.length, 3 * 32 * 32);
      assert.ok(floats.every(Number.isFinite));
    }
    assert.ok(changed >= 3, `${policy} changed ${changed} of 12 images`);
  });
}

test('evaluation Resize(36) + CenterCrop(32) and RandomResizedCrop (bicubic) produce size×size', () => {
  const evalSpec: TransformSpec = { size: 32, resize: 36, interpolation: 'bicubic', ...norm };
  assert.deepEqual([baseImage(IMAGES[4], evalSpec).width, baseImage(IMAGES[4], evalSpec).height], [32, 32]);
  const rrc: TransformSpec = { size: 24, randomResizedCrop: { scale: [0.5, 1], ratio: [0.75, 4 / 3] }, interpolation: 'bicubic', ...norm };
  assert.equal(sampleOf(IMAGES[4], rrc, 0, 0, 3).length, 3 * 24 * 24);
});

// ---- training through the CLI -------------------------------------------------------------------

test('tessera train --aa ta_wide --reprob 0.25: one epoch, saved in the run, eval and predict use the eval crop', async () => {
  const data = join(scratch, 'folder');
  await makeImageFolder(data, ['blue', 'green', 'red'], 6);
  const out = join(scratch, 'run');
  const common = ['--model', 'cifar_lenet', '--data', data, '--val-split', '2', '--batch-size', '4', '--threads', '1', '--workers', '1', '--epochs', '1'];
  const r = await runCli(['train', ...common, '--aa', 'ta_wide', '--reprob', '0.25', '--train-crop-size', '32', '--val-resize-size', '36', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { options: Record<string, unknown>; transform: { train: TransformSpec; eval: TransformSpec } };
  assert.equal(config.options.aa, 'ta_wide');
  assert.equal(config.options.reprob, 0.25);
  assert.deepEqual(config.transform.train.randomErasing, { prob: 0.25, mode: 'pixel', count: 1 });
  assert.deepEqual(config.transform.train.randomResizedCrop, { scale: [0.08, 1], ratio: [0.75, 4 / 3] });
  assert.equal(config.transform.eval.resize, 36);
  const ev = await runCli(['eval', '--checkpoint', out, '--data', data, '--threads', '1', '--workers', '0']);
  assert.equal(ev.code, 0, ev.stderr);
  const pr = await runCli(['predict', '--checkpoint', out, join(data, 'red', '00.png'), '--threads', '1']);
  assert.equal(pr.code, 0, pr.stderr);

  const bad = await runCli(['train', ...common, '--aa', 'rand-m9-q1', '--out', join(scratch, 'bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^tessera: --aa "rand-m9-q1": q is not a field of rand; its fields are m, n, p, mstd, mmax, inc \(rand\[-mN-nN-pN-mstdN-mmaxN-incN\]\)\n$/);
});

test('--resume with --aa, --reprob and RandomResizedCrop reproduces the uninterrupted run exactly (options read back from config.json)', async () => {
  const data = join(scratch, 'folder-resume');
  await makeImageFolder(data, ['blue', 'green', 'red'], 6, 777);
  const args = (out: string, epochs: number) => ['train', '--model', 'cifar_lenet', '--data', data, '--val-split', '2', '--batch-size', '4', '--threads', '1', '--workers', '1', '--seed', '3',
    '--aa', 'rand-m9-mstd0.5-inc1', '--reprob', '0.5', '--remode', 'rand', '--recount', '2', '--scale', '0.3,1', '--epochs', String(epochs), '--out', out];
  const whole = join(scratch, 'whole');
  const parts = join(scratch, 'parts');
  for (const r of [await runCli(args(whole, 2)), await runCli(args(parts, 1)), await runCli(['train', '--resume', parts, '--epochs', '2'])]) assert.equal(r.code, 0, r.stderr);
  const losses = (run: string) =>
    readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { trainLoss: number; valLoss: number })
      .map((m) => [m.trainLoss, m.valLoss]);
  assert.equal(losses(whole).length, 2);
  assert.deepEqual(losses(parts), losses(whole));
  const config = JSON.parse(readFileSync(join(parts, 'config.json'), 'utf8')) as { options: Record<string, unknown> };
  assert.deepEqual([config.options.aa, config.options.reprob, config.options.remode, config.options.recount, config.options.scale], ['rand-m9-mstd0.5-inc1', 0.5, 'rand', 2, '0.3,1']);
});

// ---- tessera augment --aa -----------------------------------------------------------------------

test('tessera augment --aa POLICY --seed N --n K writes K draws per image, the pixels policyPreview computes; a bad policy writes nothing', async () => {
  const data = join(scratch, 'preview-images');
  await makeImageFolder(data, ['green'], 2, 99);
  const images = [join(data, 'green', '00.png'), join(data, 'green', '01.png')];
  const out = join(scratch, 'previews');
  const r = await runCli(['augment', ...images, '--aa', 'rand-m9-mstd0.5-inc1', '--seed', '4', '--n', '3', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const names = ['00', '01'].flatMap((stem) => [0, 1, 2].map((k) => `${stem}_rand-m9-mstd0.5-inc1_${k}.png`));
  assert.deepEqual(readdirSync(out).sort(), names);
  const preview = policyPreview('rand-m9-mstd0.5-inc1', 4, '--aa');
  for (const [i, image] of images.entries()) {
    const input = await decodeImageFile(image);
    for (const k of [0, 1, 2]) {
      const { data: hwc, info } = await sharp(join(out, names[3 * i + k])).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual(fromInterleaved(new Uint8Array(hwc), info.width, info.height).data, preview.apply(input, i, k).data, names[3 * i + k]);
    }
  }
  const bad = await runCli(['augment', images[0], '--aa', 'ta_wide-m3', '--out', join(scratch, 'no-previews')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^tessera augment: --aa "ta_wide-m3": m is not a field of ta_wide; its fields are b \(ta_wide\[-bN\]\)\n$/);
  assert.ok(!existsSync(join(scratch, 'no-previews')));
  const both = await runCli(['augment', images[0], '--aa', 'ta_wide', '--op', 'invert()', '--out', join(scratch, 'no-previews')]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give either --op CALL or --aa POLICY, not both/);
});
