/**
 * airbench's whitening initialisation (src/models/cifar/whitening.ts) and the Jacobi
 * eigensolver under it (src/util/symmetric-eigen.ts), against direct computations: eigenvectors
 * orthonormal with A·V = V·Λ, the patch covariance against patches gathered one by one, and the
 * whitened patches' covariance the identity up to eps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../src/models/index.js';
import { ImageBatch, initWhitening, patchCovariance, whiteningIndices, whiteningWeights } from '../src/models/cifar/whitening.js';
import { Rng } from '../src/nn/init.js';
import { symmetricEigen } from '../src/util/symmetric-eigen.js';

/** a random symmetric n×n matrix (B + Bᵀ)/2 */
function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  return Float64Array.from({ length: n * n }, (_, k) => (b[k] + b[(k % n) * n + Math.floor(k / n)]) / 2);
}

/** images whose channels and neighbouring pixels correlate (smooth waves shared by the channels) plus noise */
function correlatedImages(n: number, size: number, seed: number): ImageBatch {
  const rng = new Rng(seed);
  const data = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < n; i++) {
    const [fy, fx, phase] = [rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6), rng.uniform(0, 6)];
    const mix = [1, rng.uniform(0.5, 1), rng.uniform(-1, 0.5)];
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[((i * 3 + c) * size + y) * size + x] = mix[c] * Math.sin(fy * y + fx * x + phase) + 0.2 * rng.normal() + 0.1 * c;
    }
  }
  return { shape: [n, 3, size, size], data };
}

/** asserts the decomposition of `a`: values descending, rows orthonormal, A·vᵢ = λᵢ·vᵢ, largest entry of each vᵢ positive */
function assertEigen(a: Float64Array, n: number, what: string): void {
  const { values, vectors } = symmetricEigen(a, n);
  const scale = Math.max(1, ...Array.from(a, Math.abs));
  for (let i = 0; i + 1 < n; i++) assert.ok(values[i] >= values[i + 1], `${what}: values descending`);
  for (let i = 0; i < n; i++) {
    const v = vectors.subarray(i * n, (i + 1) * n);
    for (let j = 0; j < n; j++) {
      const dot = v.reduce((s, x, k) => s + x * vectors[j * n + k], 0);
      assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-12, `${what}: v${i}·v${j} = ${dot}`);
    }
    for (let r = 0; r < n; r++) {
      const av = v.reduce((s, x, k) => s + a[r * n + k] * x, 0);
      assert.ok(Math.abs(av - values[i] * v[r]) < 1e-10 * scale, `${what}: (A·v${i})[${r}] = ${av}, λ·v = ${values[i] * v[r]}`);
    }
    const largest = v.reduce((m, x) => (Math.abs(x) > Math.abs(m) ? x : m), 0);
    assert.ok(largest > 0, `${what}: v${i}'s largest entry is positive`);
  }
}

const EIGEN_CASES: readonly { what: string; n: number; matrix: Float64Array }[] = [
  { what: '2×2 [[2, 1], [1, 2]]', n: 2, matrix: Float64Array.from([2, 1, 1, 2]) },
  { what: 'diagonal with a repeated value', n: 3, matrix: Float64Array.from([1, 0, 0, 0, 5, 0, 0, 0, 1]) },
  { what: 'zero 4×4', n: 4, matrix: new Float64Array(16) },
  { what: 'random symmetric 12×12', n: 12, matrix: randomSymmetric(12, 1) },
  { what: 'random symmetric 12×12, another seed', n: 12, matrix: randomSymmetric(12, 2) },
  { what: 'patch covariance of correlated images', n: 12, matrix: patchCovariance(correlatedImages(6, 8, 3), 2, 6) },
];

for (const c of EIGEN_CASES) test(`symmetricEigen: ${c.what}`, () => assertEigen(c.matrix, c.n, c.what));

test('symmetricEigen: [[2, 1], [1, 2]] has eigenvalues 3 and 1 with eigenvector [1, 1]/√2 for 3', () => {
  const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
  assert.ok(Math.abs(values[0] - 3) < 1e-14 && Math.abs(values[1] - 1) < 1e-14, `values ${values}`);
  assert.ok(Math.abs(vectors[0] - Math.SQRT1_2) < 1e-14 && Math.abs(vectors[1] - Math.SQRT1_2) < 1e-14);
});

/** every k×k patch of the first `count` images, gathered one by one, (channel, row, column) order */
function gatherPatches(images: ImageBatch, kernel: number, count: number): number[][] {
  const [, c, h, w] = images.shape;
  const at = (i: number, ch: number, y: number, x: number) => images.data[((i * c + ch) * h + y) * w + x];
  const patches: number[][] = [];
  for (let i = 0; i < count; i++) {
    for (let y = 0; y + kernel <= h; y++) {
      for (let x = 0; x + kernel <= w; x++) {
        const p: number[] = [];
        for (let ch = 0; ch < c; ch++) for (let dy = 0; dy < kernel; dy++) for (let dx = 0; dx < kernel; dx++) p.push(at(i, ch, y + dy, x + dx));
        patches.push(p);
      }
    }
  }
  return patches;
}

/** (1/P)·Σ f(p)·f(p)ᵀ over the patches */
function covarianceOf(vectors: number[][]): number[][] {
  const d = vectors[0].length;
  const cov = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const v of vectors) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i][j] += (v[i] * v[j]) / vectors.length;
  return cov;
}

test('patchCovariance equals the covariance of the patches gathered one by one', () => {
  const images = correlatedImages(5, 7, 4);
  const direct = covarianceOf(gatherPatches(images, 2, 4)).flat();
  const cov = patchCovariance(images, 2, 4);
  direct.forEach((x, k) => assert.ok(Math.abs(cov[k] - x) < 1e-12, `entry ${k}: ${cov[k]} vs ${x}`));
});

test('whitened patches have the identity covariance up to eps: diag(λ/(λ + eps)), the negated half likewise', () => {
  const images = correlatedImages(20, 12, 5);
  const eps = 5e-4;
  const weights = whiteningWeights(images, { eps });
  assert.equal(weights.length, 24 * 12);
  const { values } = symmetricEigen(patchCovariance(images, 2, 20), 12);
  const filters = Array.from({ length: 24 }, (_, o) => Array.from(weights.subarray(o * 12, (o + 1) * 12)));
  const outputs = gatherPatches(images, 2, 20).map((p) => filters.map((f) => f.reduce((s, w, k) => s + w * p[k], 0)));
  const cov = covarianceOf(outputs);
  for (let i = 0; i < 24; i++) {
    for (let j = 0; j < 24; j++) {
      const sign = (i < 12) === (j < 12) ? 1 : -1;
      const expected = i % 12 === j % 12 ? (sign * values[i % 12]) / (values[i % 12] + eps) : 0;
      // float32 weights: agreement to 1e-5, and the identity within eps/λ
      assert.ok(Math.abs(cov[i][j] - expected) < 1e-5, `cov[${i}][${j}] = ${cov[i][j]}, expected ${expected}`);
      if (i === j) assert.ok(Math.abs(cov[i][j] - 1) <= eps / values[i % 12] + 1e-5, `cov[${i}][${i}] = ${cov[i][i]}`);
    }
  }
});

test('fewer images than the estimate asks for: uses them all and says how many in one line', () => {
  const images = correlatedImages(10, 8, 6);
  const lines: string[] = [];
  const all = whiteningWeights(images, { onNotice: (l) => lines.push(l) });
  assert.deepEqual(lines, ['whitening: 10 images, fewer than the 5000 the estimate asks for; using all 10']);
  assert.deepEqual(all, whiteningWeights(images, { images: 10, onNotice: (l) => lines.push(l) }));
  assert.equal(lines.length, 1, 'exactly enough images: no notice');
  // a limit below the count uses the first images only
  const firstFour: ImageBatch = { shape: [4, 3, 8, 8], data: images.data.subarray(0, 4 * 3 * 64) };
  assert.deepEqual(whiteningWeights(images, { images: 4 }), whiteningWeights(firstFour, { images: 4 }));
});

test('initWhitening sets an airbench model\'s 0.weight; other models and bad batches are refused in one line', () => {
  const model = createModel('cifar_airbench94');
  const images = correlatedImages(6, 32, 7);
  initWhitening(model, images, { images: 6 });
  assert.deepEqual(model.stateDict().get('0.weight')?.data, whiteningWeights(images, { images: 6 }));
  const cases: [() => void, RegExp][] = [
    [() => initWhitening(createModel('cifar_lenet'), images), /whitening initialisation needs an airbench model \(cifar_airbench94, cifar_airbench96\), got LeNet/],
    [() => whiteningWeights({ shape: [0, 3, 32, 32], data: new Float32Array(0) }), /whitening: no images to estimate the patch covariance from/],
    [() => whiteningWeights({ shape: [2, 3, 32], data: new Float32Array(2 * 3 * 32) }), /whitening: images must be an NCHW batch, got shape \[2, 3, 32\]/],
    [() => initWhitening(model, { shape: [2, 1, 8, 8], data: new Float32Array(128) }), /whitening: 1-channel images give 32 weights; the whitening conv \[24, 3, 2, 2\] needs 288/],
  ];
  for (const [run, message] of cases) assert.throws(run, message);
});

test('whiteningIndices: all images up to the count, else evenly spaced ones that reach every class of a class-sorted folder', () => {
  assert.deepEqual(whiteningIndices(3, 5), [0, 1, 2]);
  assert.deepEqual(whiteningIndices(10, 4), [0, 2, 5, 7]);
  const picked = whiteningIndices(45000);
  assert.equal(picked.length, 5000);
  assert.equal(new Set(picked).size, 5000);
  // 4,500 images per class, sorted by class: 500 from each
  const perClass = new Array<number>(10).fill(0);
  for (const i of picked) perClass[Math.floor(i / 4500)]++;
  assert.deepEqual(perClass, new Array<number>(10).fill(500));
});
