/**
 * airbench's schedule pieces (src/train/airbench-schedule.ts) against airbench's formulas step
 * by step, and its augmentation (src/augment/airbench.ts) against its definitions: alternating
 * flip, reflect-pad translation, and their order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AIRBENCH_HYPER,
  AIRBENCH_LR,
  AirbenchLrShape,
  airbenchEpochSteps,
  airbenchLrFactor,
  airbenchSgdGroups,
  airbenchTotalSteps,
  lookaheadDecay,
  lookaheadDecays,
  lookaheadUpdate,
  whitenBiasTrains,
} from '../src/train/airbench-schedule.js';
import { airbenchAugment, alternatingFlip, drawTranslation, flippedAtStart, reflectTranslate } from '../src/augment/airbench.js';
import { crop, hflip, type RgbImage } from '../src/data/transforms.js';
import { Rng } from '../src/nn/init.js';

const close = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('total steps: ⌈⌊images/batch⌋·epochs⌉, the last epoch cut short', () => {
  const cases: [number, number, number, number][] = [
    [50000, 1024, 9.9, 476], // 48 steps per epoch
    [45000, 1024, 9.9, 426], // 43 steps per epoch
    [50000, 1024, 37, 1776],
    [2048, 1024, 1, 2],
  ];
  for (const [images, batch, epochs, total] of cases) assert.equal(airbenchTotalSteps(images, batch, epochs), total, `${images}/${batch} × ${epochs}`);
  const perEpoch = [...Array(11).keys()].map((e) => airbenchEpochSteps(e, 48, 476));
  assert.deepEqual(perEpoch, [48, 48, 48, 48, 48, 48, 48, 48, 48, 44, 0]);
});

/** the factor at each step, written out as airbench's get_lr states it */
function airbenchGetLr(step: number, total: number, shape: AirbenchLrShape): number {
  const warmupSteps = Math.trunc(total * shape.warmupFraction);
  const warmdownSteps = total - warmupSteps;
  if (step < warmupSteps) return 0.2 * (1 - step / warmupSteps) + 1.0 * (step / warmupSteps);
  const frac = (step - warmupSteps) / warmdownSteps;
  return shape.endFactor === 0 ? (total - step) / warmdownSteps : 1.0 * (1 - frac) + shape.endFactor * frac;
}

const LR_CASES: { what: string; total: number; shape: AirbenchLrShape; points: [number, number][] }[] = [
  // 476 steps: warmup ⌊0.23·476⌋ = 109 steps
  { what: 'airbench94, 50,000 images', total: 476, shape: AIRBENCH_LR.airbench94, points: [[0, 0.2], [1, 0.2 + 0.8 / 109], [109, 1], [476, 0.07], [475, 1 - 0.93 * (366 / 367)]] },
  // 426 steps: warmup ⌊97.98⌋ = 97
  { what: 'airbench94, 45,000 images', total: 426, shape: AIRBENCH_LR.airbench94, points: [[0, 0.2], [97, 1], [96, 0.2 + (0.8 * 96) / 97], [426, 0.07]] },
  // airbench96: 10% warmup, then down to 0
  { what: 'airbench96, 50,000 images', total: 1776, shape: AIRBENCH_LR.airbench96, points: [[0, 0.2], [177, 1], [1776, 0], [1775, 1 / 1599]] },
];

for (const c of LR_CASES) {
  test(`lr factor, ${c.what}: every step as airbench's get_lr, and its landmarks`, () => {
    for (let s = 0; s <= c.total; s++) {
      const ours = airbenchLrFactor(s, c.total, c.shape);
      assert.ok(close(ours, airbenchGetLr(s, c.total, c.shape)), `step ${s}: ${ours} vs ${airbenchGetLr(s, c.total, c.shape)}`);
    }
    for (const [s, v] of c.points) assert.ok(close(airbenchLrFactor(s, c.total, c.shape), v), `step ${s}: ${airbenchLrFactor(s, c.total, c.shape)}, expected ${v}`);
  });
}

test("decoupled hyperparameters as PyTorch SGD's: 11.5 / (1024·(1 + 1/0.15)), weight decay per group from one absolute decay", () => {
  const { norm, other } = airbenchSgdGroups(AIRBENCH_HYPER.airbench94);
  const kilostep = 1024 * (1 + 1 / 0.15);
  assert.ok(close(other.lr, 11.5 / kilostep) && close(other.lr, 0.00146484375));
  assert.ok(close(norm.lr, 64 * other.lr));
  // the absolute decay lr·weight_decay is 0.0153·1024/kilostep in both groups
  assert.ok(close(other.lr * other.weightDecay, (0.0153 * 1024) / kilostep) && close(norm.lr * norm.weightDecay, (0.0153 * 1024) / kilostep));
  assert.ok(close(other.weightDecay, (0.0153 * 1024) / 11.5));
});

test('lookahead: decay 0.95⁵·(s/total)³ every 5th step, then the final full copy after the last step', () => {
  const total = 476;
  for (let s = 1; s <= total; s++) {
    const expected = [...(s % 5 === 0 ? [0.95 ** 5 * (s / total) ** 3] : []), ...(s >= total ? [1] : [])];
    assert.deepEqual(lookaheadDecays(s, total), expected, `step ${s}`);
  }
  assert.ok(close(lookaheadDecay(5, total), 0.7737809375 * (5 / 476) ** 3));
  // a total that is a multiple of 5 gets both updates after its last step
  assert.deepEqual(lookaheadDecays(425, 425), [0.95 ** 5, 1]);
});

test('lookahead update: ema ← lerp(ema, weights, 1 − decay), weights ← ema; decay 1 copies the average back', () => {
  const ema = Float32Array.of(1, 2, -4);
  const weights = Float32Array.of(3, 2, 0);
  lookaheadUpdate(ema, weights, 0.25);
  assert.deepEqual([...ema], [2.5, 2, -1]);
  assert.deepEqual([...weights], [2.5, 2, -1]);
  weights.set([7, 7, 7]);
  lookaheadUpdate(ema, weights, 1);
  assert.deepEqual([...weights], [2.5, 2, -1], 'the final copy: the weights become the average');
});

test('the whitening bias trains in epochs 0, 1 and 2 only', () => {
  assert.deepEqual([0, 1, 2, 3, 9].map(whitenBiasTrains), [true, true, true, false, false]);
});

test('alternating flip: the start flip, inverted on odd epochs; about half the images start flipped', () => {
  for (const start of [false, true]) assert.deepEqual([0, 1, 2, 3, 4].map((e) => alternatingFlip(start, e)), [start, !start, start, !start, start]);
  const flipped = Array.from({ length: 10000 }, (_, i) => flippedAtStart(7, i)).filter(Boolean).length;
  assert.ok(flipped > 4800 && flipped < 5200, `${flipped} of 10000 start flipped`);
  assert.equal(flippedAtStart(7, 123), flippedAtStart(7, 123), 'drawn once: the same every time');
  assert.notDeepEqual(Array.from({ length: 64 }, (_, i) => flippedAtStart(1, i)), Array.from({ length: 64 }, (_, i) => flippedAtStart(2, i)));
});

/** a small random image */
function randomImage(width: number, height: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  return { width, height, data: Uint8Array.from({ length: 3 * width * height }, () => rng.int(256)) };
}

/** the reflect index of i in a side of n (no edge repeat: −1 → 1, n → n − 2) */
const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);

test('reflect-pad translation: out[c][y][x] = img[c][reflect(y + dy)][reflect(x + dx)] for every shift within ±r', () => {
  const img = randomImage(5, 4, 1);
  for (const r of [1, 2]) {
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        const out = reflectTranslate(img, dy, dx, r);
        const expected = Uint8Array.from({ length: img.data.length }, (_, k) => {
          const [c, y, x] = [Math.floor(k / 20), Math.floor(k / 5) % 4, k % 5];
          return img.data[(c * 4 + reflect(y + dy, 4)) * 5 + reflect(x + dx, 5)];
        });
        assert.deepEqual(out.data, expected, `shift (${dy}, ${dx}) radius ${r}`);
      }
    }
  }
  assert.throws(() => reflectTranslate(img, 3, 0, 2), /translation \(3, 0\) is outside ±2/);
});

test('translation draws cover [−r, r]² evenly, rows first', () => {
  const rng = new Rng(3);
  const counts = new Map<string, number>();
  for (let i = 0; i < 25000; i++) {
    const key = drawTranslation(rng, 2).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 25);
  for (const [key, n] of counts) assert.ok(n > 850 && n < 1150, `${key}: ${n} of 25000`);
  const again = new Rng(9);
  const [dy, dx] = drawTranslation(new Rng(9), 2);
  assert.deepEqual([dy, dx], [again.int(5) - 2, again.int(5) - 2]);
});

test('airbenchAugment: start flip, then translation, then the odd-epoch flip', () => {
  const img = randomImage(6, 6, 2);
  for (const [startFlipped, epoch] of [[false, 0], [true, 0], [false, 1], [true, 3]] as const) {
    const [dy, dx] = drawTranslation(new Rng(11), 2);
    const start = startFlipped ? hflip(img) : img;
    const moved = reflectTranslate(start, dy, dx, 2);
    const expected = epoch % 2 ? hflip(moved) : moved;
    assert.deepEqual(airbenchAugment(img, { startFlipped, epoch, radius: 2, rng: new Rng(11) }).data, expected.data, `start ${startFlipped}, epoch ${epoch}`);
  }
  // no translation: flips only
  assert.deepEqual(airbenchAugment(img, { startFlipped: true, epoch: 1, radius: 0, rng: new Rng(0) }).data, crop(img, 0, 0, 6, 6).data);
});
