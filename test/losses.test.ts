/**
 * The classification losses of src/ops/loss.ts (cross-entropy, binary cross-entropy with logits,
 * softmax focal loss; smoothing and class weights) in one table: each case's value against a
 * number computed by hand or by a float64 JS reference written here from the definitions, and its
 * gradient against central finite differences (test-support/gradcheck.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Value, withGraph } from '../src/graph/ir.js';
import { LossKind, LossOptions, classificationLoss } from '../src/ops/loss.js';
import { assertClose, gradCheck, valuesOf } from '../test-support/gradcheck.js';

/** A target: class indices, or one distribution per row. */
type Target = { readonly hard: readonly number[] } | { readonly soft: readonly (readonly number[])[] };

interface LossCase {
  readonly name: string;
  readonly kind: LossKind;
  readonly labelSmoothing?: number;
  readonly logits: readonly (readonly number[])[];
  readonly target: Target;
  readonly weights?: readonly number[];
  /** the loss, by hand (a literal) or from `reference` */
  readonly expected: number;
}

// ---- float64 references, from the definitions -----------------------------------------------

/** the target rows as distributions, smoothed: (1−ε)·q + ε/C */
function targetRows(target: Target, c: number, eps: number): number[][] {
  const rows = 'hard' in target ? target.hard.map((y) => Array.from({ length: c }, (_, k) => Number(k === y))) : target.soft.map((r) => [...r]);
  return rows.map((r) => r.map((q) => (1 - eps) * q + eps / c));
}

function logSoftmaxRow(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

const logSigmoid = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

/** the loss `c` describes, computed in float64 from its formula */
function reference(c: Omit<LossCase, 'expected'>): number {
  const k = c.logits[0].length;
  const n = c.logits.length;
  const q = targetRows(c.target, k, c.labelSmoothing ?? 0);
  const w = c.weights ?? new Array<number>(k).fill(1);
  if (c.kind.kind === 'bce') {
    const thr = c.kind.targetThreshold;
    let sum = 0;
    c.logits.forEach((row, i) =>
      row.forEach((x, j) => {
        const t = thr === undefined ? q[i][j] : Number(q[i][j] > thr);
        sum -= w[j] * (t * logSigmoid(x) + (1 - t) * logSigmoid(-x));
      }),
    );
    return sum / (n * k);
  }
  const gamma = c.kind.kind === 'focal' ? c.kind.gamma : 0;
  let sum = 0;
  c.logits.forEach((row, i) => logSoftmaxRow(row).forEach((lp, j) => (sum -= w[j] * q[i][j] * (1 - Math.exp(lp)) ** gamma * lp)));
  // torch's weighted mean for hard labels: Σ w_y; otherwise the batch size
  const denominator = 'hard' in c.target && c.weights ? c.target.hard.reduce((s, y) => s + w[y], 0) : n;
  return sum / denominator;
}

const withReference = (c: Omit<LossCase, 'expected'>): LossCase => ({ ...c, expected: reference(c) });

// ---- the table --------------------------------------------------------------------------------

const LOGITS = [
  [1.5, -0.3, 0.2, -1.1],
  [-0.7, 0.9, 0.4, 0.1],
  [0.3, 0.3, -1.6, 1.2],
];
const LABELS = { hard: [0, 1, 3] };
const MIXED = {
  soft: [
    [0.7, 0.3, 0, 0],
    [0, 0.55, 0, 0.45],
    [0.2, 0, 0, 0.8],
  ],
};
const WEIGHTS = [0.5, 2, 1, 1.5];

const CASES: readonly LossCase[] = [
  // by hand: two equal logits give p = 1/2 for either class
  { name: 'ce, logits (0, 0), label 0: ln 2', kind: { kind: 'ce' }, logits: [[0, 0]], target: { hard: [0] }, expected: Math.LN2 },
  { name: 'ce, logits (0, 0), smoothing 0.5: still ln 2', kind: { kind: 'ce' }, labelSmoothing: 0.5, logits: [[0, 0]], target: { hard: [1] }, expected: Math.LN2 },
  { name: 'bce, logits (0, 0), one-hot: ln 2 per entry', kind: { kind: 'bce' }, logits: [[0, 0]], target: { hard: [0] }, expected: Math.LN2 },
  { name: 'bce, logit ln 3 (σ = 3/4), target 1 and 0: (ln(4/3) + ln 4)/2', kind: { kind: 'bce' }, logits: [[Math.log(3), Math.log(3)]], target: { soft: [[1, 0]] }, expected: (Math.log(4 / 3) + Math.log(4)) / 2 },
  { name: 'focal γ=2, logits (0, 0): (1/2)²·ln 2', kind: { kind: 'focal', gamma: 2 }, logits: [[0, 0]], target: { hard: [0] }, expected: Math.LN2 / 4 },
  { name: 'focal γ=1, logits (ln 3, 0) (p = 3/4), label 0: (1/4)·ln(4/3)', kind: { kind: 'focal', gamma: 1 }, logits: [[Math.log(3), 0]], target: { hard: [0] }, expected: Math.log(4 / 3) / 4 },
  { name: 'ce, class weights (2, 1), labels 0 and 1: (2·ln 2 + ln 2)/3', kind: { kind: 'ce' }, logits: [[0, 0], [0, 0]], target: { hard: [0, 1] }, weights: [2, 1], expected: Math.LN2 },
  // float64 references
  withReference({ name: 'ce, hard labels', kind: { kind: 'ce' }, logits: LOGITS, target: LABELS }),
  withReference({ name: 'ce, hard labels, smoothing 0.1, class weights', kind: { kind: 'ce' }, labelSmoothing: 0.1, logits: LOGITS, target: LABELS, weights: WEIGHTS }),
  withReference({ name: 'ce, mixed targets, class weights', kind: { kind: 'ce' }, logits: LOGITS, target: MIXED, weights: WEIGHTS }),
  withReference({ name: 'bce, hard labels, smoothing 0.1 (timm: off ε/C, on 1−ε+ε/C)', kind: { kind: 'bce' }, labelSmoothing: 0.1, logits: LOGITS, target: LABELS }),
  withReference({ name: 'bce, mixed targets, class weights', kind: { kind: 'bce' }, logits: LOGITS, target: MIXED, weights: WEIGHTS }),
  withReference({ name: 'bce, mixed targets, threshold 0.5', kind: { kind: 'bce', targetThreshold: 0.5 }, logits: LOGITS, target: MIXED }),
  withReference({ name: 'bce, large logits (±40) stay finite', kind: { kind: 'bce' }, logits: [[40, -40, 0.5]], target: { hard: [1] } }),
  withReference({ name: 'focal γ=2, hard labels', kind: { kind: 'focal', gamma: 2 }, logits: LOGITS, target: LABELS }),
  withReference({ name: 'focal γ=0.5, hard labels, smoothing 0.1, class weights', kind: { kind: 'focal', gamma: 0.5 }, labelSmoothing: 0.1, logits: LOGITS, target: LABELS, weights: WEIGHTS }),
  withReference({ name: 'focal γ=2, mixed targets, class weights', kind: { kind: 'focal', gamma: 2 }, logits: LOGITS, target: MIXED, weights: WEIGHTS }),
  // focal loss with γ = 0 is cross-entropy, weights and smoothing included
  { ...withReference({ name: '', kind: { kind: 'ce' }, labelSmoothing: 0.2, logits: LOGITS, target: LABELS, weights: WEIGHTS }), name: 'focal γ=0 equals ce (smoothing 0.2, class weights)', kind: { kind: 'focal', gamma: 0 } },
];

/**
 * One case: the loss of the case's logits/target/weights as graph inputs (float64), its value
 * against `expected`, and its gradient against finite differences: w.r.t. the logits always, and
 * w.r.t. soft targets and class weights where the loss is smooth in them (not through a threshold).
 */
async function checkLoss(c: LossCase): Promise<void> {
  const n = c.logits.length;
  const k = c.logits[0].length;
  const soft = 'soft' in c.target;
  const targetValues = 'hard' in c.target ? c.target.hard : c.target.soft.flat();
  const thresholded = c.kind.kind === 'bce' && c.kind.targetThreshold !== undefined;
  const inputs = [
    { shape: [n, k], gen: (_: () => number, i: number) => c.logits.flat()[i] },
    soft ? { shape: [n, k], gen: (_: () => number, i: number) => targetValues[i] } : { shape: [n], dtype: 'int64' as const, gen: (_: () => number, i: number) => targetValues[i] },
    ...(c.weights ? [{ shape: [k], gen: (_: () => number, i: number) => c.weights![i] }] : []),
  ];
  const wrt = [0, ...(soft && !thresholded ? [1] : []), ...(c.weights ? [2] : [])];
  const r = await gradCheck({
    op: `loss:${c.kind.kind}`,
    name: c.name,
    inputs,
    wrt,
    build: ([x, t, w]: Value[]) => classificationLoss(x, t, c.kind, { labelSmoothing: c.labelSmoothing, weight: w } satisfies LossOptions),
  });
  assert.deepEqual(r.outputs[0].shape, []);
  assertClose(valuesOf(r.outputs[0]), [c.expected], `${c.name}: loss`, 1e-12, 1e-14);
}

for (const c of CASES) test(`loss ${c.name}`, () => checkLoss(c));

test('losses name what is wrong with their inputs', () => {
  const g = new Graph();
  withGraph(g, () => {
    const x = g.addInput('x', [2, 3], 'float32');
    const y = g.addInput('y', [2], 'int64');
    assert.throws(() => classificationLoss(x, y, { kind: 'focal', gamma: -1 }), /focalLoss: gamma must be a finite number ≥ 0, got -1/);
    assert.throws(() => classificationLoss(x, g.addInput('t', [2, 4], 'float32'), { kind: 'bce' }), /binaryCrossEntropy: target must be int64 \[2\] or float32 \[2, 3\]/);
    assert.throws(() => classificationLoss(x, y, { kind: 'focal', gamma: 2 }, { weight: g.addInput('w', [2], 'float32') }), /focalLoss: weight must be float32 \[3\]/);
  });
});
