/**
 * The eigendecomposition of a small symmetric matrix by cyclic Jacobi rotations, in float64: what
 * airbench's whitening initialisation needs (a 12×12 patch covariance), where LAPACK's `eigh`
 * is not at hand.
 *
 * @example
 * const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
 * [...values].map((v) => Math.round(v * 1e9) / 1e9); // → [3, 1]
 * // vectors holds the eigenvectors as rows: [1, 1]/√2 for 3, [−1, 1]/√2 (up to sign) for 1
 */

/** Eigenvalues in descending order and the matching unit eigenvectors, row i for value i. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  /** n×n, row-major: row i is the eigenvector of values[i], its largest-magnitude entry positive */
  readonly vectors: Float64Array;
}

/** sweeps before giving up; a 12×12 matrix converges in well under 10 */
const MAX_SWEEPS = 100;

/**
 * A·V = V·Λ for the symmetric n×n matrix `matrix` (row-major; only symmetric input is
 * meaningful). Each eigenvector's sign is fixed (largest-magnitude entry positive) so results do
 * not depend on the order of rotations.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  if (matrix.length !== n * n) throw new Error(`symmetricEigen: ${matrix.length} values for a ${n}×${n} matrix`);
  const a = Float64Array.from(matrix);
  const v = identity(n);
  for (let sweep = 0; sweep < MAX_SWEEPS && offDiagonalNorm(a, n) > 1e-22 * diagonalNorm(a, n); sweep++) {
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) rotate(a, v, n, p, q);
  }
  return sortedPairs(a, v, n);
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

const offDiagonalNorm = (a: Float64Array, n: number): number => {
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += a[i * n + j] ** 2;
  return s;
};

const diagonalNorm = (a: Float64Array, n: number): number => {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i * n + i] ** 2;
  return s || Number.MIN_VALUE;
};

/** One Jacobi rotation zeroing a[p][q] (A ← JᵀAJ, V ← VJ), in the numerically stable form. */
function rotate(a: Float64Array, v: Float64Array, n: number, p: number, q: number): void {
  const apq = a[p * n + q];
  if (apq === 0) return;
  const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < n; k++) {
    const [akp, akq] = [a[k * n + p], a[k * n + q]];
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) {
    const [apk, aqk] = [a[p * n + k], a[q * n + k]];
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < n; k++) {
    const [vkp, vkq] = [v[k * n + p], v[k * n + q]];
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

/** The diagonal of the rotated matrix sorted descending, with V's columns as sign-fixed rows. */
function sortedPairs(a: Float64Array, v: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((col, row) => {
    let largest = 0;
    for (let k = 0; k < n; k++) if (Math.abs(v[k * n + col]) > Math.abs(largest)) largest = v[k * n + col];
    const sign = largest < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[row * n + k] = sign * v[k * n + col];
  });
  return { values, vectors };
}
