/**
 * Mixup/CutMix (src/train/mixup.ts) against timm's semantics: the λ distribution over many draws,
 * CutMix boxes (area = 1 − λ after clipping; min-max sides), the images each mode produces, the
 * targets (sum to 1, smoothing folded in), the mixing and switch probabilities, and the draws'
 * determinism per (seed, step).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/nn/init.js';
import { BatchShape, MixParams, MixupOptions, cutmixBox, drawMixParams, mixImages, mixupRng, mixupTarget } from '../src/train/mixup.js';

const MIXUP: MixupOptions = { mixupAlpha: 0.2, cutmixAlpha: 0, prob: 1, switchProb: 0.5, mode: 'elem', labelSmoothing: 0 };
const CUTMIX: MixupOptions = { ...MIXUP, mixupAlpha: 0, cutmixAlpha: 1 };
const DRAWS = 20000;

/** `DRAWS` per-image draws of `o` (elem mode) on h×w images */
const drawMany = (o: MixupOptions, seed = 1, height = 32, width = 32): MixParams[] => drawMixParams(new Rng(seed), { ...o, mode: 'elem' }, { n: DRAWS, channels: 3, height, width });

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));

// ---- λ ~ Beta(α, α) ------------------------------------------------------------------------

/**
 * Beta(α, α) has mean 1/2 and variance σ² = 1/(4(2α+1)). Over N draws the sample mean's standard
 * error is σ/√N and the sample variance's √((μ₄ − σ⁴)/N), with μ₄ = σ⁴·(3 − 6/(2α+3)) (the
 * symmetric Beta's excess kurtosis is −6/(2α+3)). Both are checked within 5 standard errors: a
 * correct sampler fails with probability below 10⁻⁶, a wrong α or a biased draw does not pass
 * (α = 0.2 vs 0.3 moves σ² from 0.179 to 0.156, 40 standard errors).
 */
for (const alpha of [0.2, 1, 4]) {
  test(`Mixup λ over ${DRAWS} draws: mean and variance of Beta(${alpha}, ${alpha})`, () => {
    const lams = drawMany({ ...MIXUP, mixupAlpha: alpha }).map((p) => p.lam);
    assert.ok(lams.every((l) => l >= 0 && l <= 1));
    const s2 = 1 / (4 * (2 * alpha + 1));
    const mu4 = s2 * s2 * (3 - 6 / (2 * alpha + 3));
    const seMean = Math.sqrt(s2 / DRAWS);
    const seVar = Math.sqrt((mu4 - s2 * s2) / DRAWS);
    assert.ok(Math.abs(mean(lams) - 0.5) < 5 * seMean, `mean ${mean(lams)} vs 0.5 ± ${5 * seMean}`);
    assert.ok(Math.abs(variance(lams) - s2) < 5 * seVar, `variance ${variance(lams)} vs ${s2} ± ${5 * seVar}`);
  });
}

// ---- CutMix boxes ------------------------------------------------------------------------------

const area = (p: MixParams) => (p.box ? (p.box.y1 - p.box.y0) * (p.box.x1 - p.box.x0) : 0);

for (const [h, w] of [
  [32, 32],
  [7, 5],
]) {
  test(`CutMix on ${h}×${w}: boxes inside the image, λ = 1 − box area / image area after clipping`, () => {
    const params = drawMany(CUTMIX, 2, h, w);
    let clipped = 0;
    for (const p of params) {
      assert.ok(p.box, 'CutMix alone always draws a box');
      const { y0, y1, x0, x1 } = p.box;
      assert.ok(0 <= y0 && y0 <= y1 && y1 <= h && 0 <= x0 && x0 <= x1 && x1 <= w, JSON.stringify(p.box));
      assert.equal(p.lam, 1 - area(p) / (h * w));
      if (y0 === 0 || x0 === 0 || y1 === h || x1 === w) clipped++;
    }
    assert.ok(clipped > DRAWS / 10, `only ${clipped} boxes touched a border: the clipping was not exercised`);
  });
}

test('CutMix box sides follow √(1−λ) before clipping (timm rand_bbox: ⌊side·√(1−λ)⌋, halved each way)', () => {
  const rng = new Rng(5);
  for (let k = 0; k < 2000; k++) {
    const lam = rng.next();
    const { box } = cutmixBox(new Rng(k), 32, 32, lam);
    const half = Math.floor(Math.floor(32 * Math.sqrt(1 - lam)) / 2);
    assert.ok(box.y1 - box.y0 <= 2 * half && box.x1 - box.x0 <= 2 * half);
  }
});

test('CutMix min-max: box sides uniform in [⌊lo·side⌋, ⌊hi·side⌋), inside the image', () => {
  const params = drawMany({ ...CUTMIX, cutmixMinmax: [0.25, 0.75] }, 3);
  const sides = new Set<number>();
  for (const p of params) {
    const { y0, y1, x0, x1 } = p.box!;
    for (const side of [y1 - y0, x1 - x0]) {
      assert.ok(side >= 8 && side < 24, `side ${side}`);
      sides.add(side);
    }
    assert.ok(y1 <= 32 && x1 <= 32);
    assert.equal(p.lam, 1 - area(p) / 1024);
  }
  assert.equal(sides.size, 16, 'every side length in [8, 24) occurs');
});

// ---- probabilities -----------------------------------------------------------------------------

/** a fraction over DRAWS Bernoulli(p) draws is within 5 standard errors of p */
function assertFraction(hits: number, p: number, what: string): void {
  const se = Math.sqrt((p * (1 - p)) / DRAWS);
  assert.ok(Math.abs(hits / DRAWS - p) < 5 * se, `${what}: ${hits / DRAWS} vs ${p} ± ${5 * se}`);
}

test('--mixup-prob: the fraction of mixed images', () => {
  for (const prob of [0.3, 0.8]) {
    const params = drawMany({ ...MIXUP, mixupAlpha: 1, prob });
    assertFraction(params.filter((p) => p.lam !== 1).length, prob, `prob ${prob}`);
  }
  assert.ok(drawMany({ ...MIXUP, prob: 0 }).every((p) => p.lam === 1 && !p.box), 'prob 0 mixes nothing');
});

test('--mixup-switch-prob: the fraction of CutMix among mixed images when both are on', () => {
  for (const switchProb of [0.25, 0.5]) {
    const params = drawMany({ ...MIXUP, cutmixAlpha: 1, switchProb });
    assertFraction(params.filter((p) => p.box).length, switchProb, `switch ${switchProb}`);
  }
});

// ---- modes and images --------------------------------------------------------------------------

const SHAPE: BatchShape = { n: 6, channels: 2, height: 4, width: 5 };
/** image i holds the value 10·i + pixel/100 everywhere, so every output pixel names its source image */
const IMAGES = Float32Array.from({ length: 6 * 2 * 4 * 5 }, (_, k) => 10 * Math.floor(k / 40) + (k % 40) / 100);

test('modes: batch draws one λ, pair one per pair i ↔ n−1−i, elem one per image', () => {
  const o = { ...MIXUP, mixupAlpha: 1, cutmixAlpha: 1 };
  const batch = drawMixParams(new Rng(4), { ...o, mode: 'batch' }, SHAPE);
  assert.ok(batch.every((p) => p === batch[0]));
  const pair = drawMixParams(new Rng(4), { ...o, mode: 'pair' }, SHAPE);
  pair.forEach((p, i) => assert.equal(p, pair[SHAPE.n - 1 - i]));
  assert.equal(new Set(pair).size, 3);
  const elem = drawMixParams(new Rng(4), { ...MIXUP, mode: 'elem' }, SHAPE);
  assert.equal(new Set(elem.map((p) => p.lam)).size, 6, 'six Mixup λ');
});

test('Mixup blends image i with image n−1−i; CutMix pastes the partner inside the box only', () => {
  const per = 40;
  const params: MixParams[] = [
    { lam: 0.25, box: null },
    { lam: 1, box: null },
    { lam: 1 - 4 / 20, box: { y0: 1, y1: 3, x0: 2, x1: 4 } },
    { lam: 1 - 4 / 20, box: { y0: 1, y1: 3, x0: 2, x1: 4 } },
    { lam: 1, box: null },
    { lam: 0.25, box: null },
  ];
  const before = IMAGES.slice();
  const out = mixImages(IMAGES, SHAPE, params);
  for (let i = 0; i < 6; i++) {
    const j = 5 - i;
    for (let k = 0; k < per; k++) {
      const [c, y, x] = [Math.floor(k / 20), Math.floor((k % 20) / 5), k % 5];
      const own = IMAGES[i * per + k];
      const partner = IMAGES[j * per + k];
      const p = params[i];
      const want = p.box ? (y >= p.box.y0 && y < p.box.y1 && x >= p.box.x0 && x < p.box.x1 ? partner : own) : p.lam * own + (1 - p.lam) * partner;
      assert.ok(Math.abs(out[i * per + k] - want) < 1e-5, `image ${i} channel ${c} (${y}, ${x}): ${out[i * per + k]} vs ${want}`);
    }
  }
  assert.deepEqual(IMAGES, before, 'the input is not modified');
});

// ---- targets -----------------------------------------------------------------------------------

test('targets: λ·onehot(y_i) + (1−λ)·onehot(y_{n−1−i}) with smoothing folded (off ε/C, on 1−ε+ε/C); rows sum to 1', () => {
  const labels = BigInt64Array.of(3n, 1n, 4n, 4n, 0n, 9n);
  const lams = [0.3, 1, 0.77, 0.77, 1, 0.3];
  for (const eps of [0, 0.1]) {
    const t = mixupTarget(labels, 10, lams, eps);
    for (let i = 0; i < 6; i++) {
      const row = Array.from(t.subarray(10 * i, 10 * i + 10));
      const hot = (y: bigint) => (c: number) => (BigInt(c) === y ? 1 - eps + eps / 10 : eps / 10);
      const want = row.map((_, c) => lams[i] * hot(labels[i])(c) + (1 - lams[i]) * hot(labels[5 - i])(c));
      row.forEach((v, c) => assert.ok(Math.abs(v - want[c]) < 1e-7, `eps ${eps} row ${i} class ${c}: ${v} vs ${want[c]}`));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, `row ${i} sums to 1`);
    }
  }
});

test('the draws depend on (seed, step) only: a resumed run mixes as an uninterrupted one', () => {
  const o = { ...MIXUP, cutmixAlpha: 1, mode: 'pair' as const };
  const at = (seed: number, step: number) => drawMixParams(mixupRng(seed, step), o, SHAPE);
  assert.deepEqual(at(0, 17), at(0, 17));
  assert.notDeepEqual(at(0, 17), at(0, 18));
  assert.notDeepEqual(at(0, 17), at(1, 17));
});
