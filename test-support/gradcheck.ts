/**
 * Gradient checking through ONNX Runtime. A case builds a graph from graph inputs; the helper
 * reduces its float outputs to a scalar with fixed random weights (L = Σ_k sum(out_k · R_k)),
 * asks `gradients` for dL/d(inputs), runs forward and backward once in ORT, and compares the
 * analytic gradients with central finite differences of L computed by a forward-only model at
 * x ± eps·e_i (all coordinates of small inputs, a random subset of `MAX_COORDS` of larger ones).
 */
import assert from 'node:assert/strict';
import { DType, Graph, HostTensor, Node, Value, withGraph } from '../src/graph/ir.js';
import { constant, scalar, typedArrayFor } from '../src/graph/constants.js';
import { gradients } from '../src/autodiff/grad.js';
import { GraphOutput, writeOnnx } from '../src/onnx/write.js';
import { getOp, listOps } from '../src/ops/registry.js';
import { add, mul } from '../src/ops/elementwise.js';
import { expand, reduceSum } from '../src/ops/shape.js';
import { isFloat } from '../src/ops/shape-rules.js';
import { createSession, fromOrt, ort, toOrt } from '../src/runtime/ort.js';
import { mulberry32 } from '../src/util/random.js';

/** uniform in [0, 1) */
export type Rng = () => number;


/** uniform in [lo, hi), resampled while within `margin` of any of `avoid` (kinks of the op) */
export function uniform(lo: number, hi: number, avoid: readonly number[] = [], margin = 0.1): (rand: Rng) => number {
  return (rand) => {
    for (;;) {
      const v = lo + (hi - lo) * rand();
      if (avoid.every((k) => Math.abs(v - k) >= margin)) return v;
    }
  };
}

export interface InputSpec {
  readonly shape: readonly number[];
  /** default float64 (float32 for ops ORT's CPU provider only has in float32) */
  readonly dtype?: DType;
  /** element `i`'s value; default uniform in [-2, 2). Integers for int64, 0/1 for bool. */
  readonly gen?: (rand: Rng, i: number) => number;
}

export interface RunResult {
  readonly inputs: readonly HostTensor[];
  /** every value `build` returned, float or not */
  readonly outputs: readonly HostTensor[];
  /** the weights R_k of each float output in the loss (null for non-float outputs) */
  readonly weights: readonly (HostTensor | null)[];
  /** dL/d(input i) for each `wrt` input (null where autodiff returned none or i is not in wrt) */
  readonly grads: readonly (HostTensor | null)[];
  readonly loss: number | null;
}

export interface GradCase {
  /** the op type this case covers (a registered type, or a composite's name such as 'crossEntropy') */
  readonly op: string;
  readonly name: string;
  /** builds the op(s) under test from graph inputs; all returned values are fetched, float ones enter the loss */
  readonly build: (inputs: Value[]) => Value | readonly Value[];
  readonly inputs: readonly InputSpec[];
  /** inputs to differentiate (default: every float input) */
  readonly wrt?: readonly number[];
  /**
   * the op has no differentiable input: instead of finite differences, assert that its gradient
   * rule returns null (or an all-zero value) for every input, and that autodiff gives no gradient
   */
  readonly noGrad?: boolean;
  /** false skips finite differences (random ops); `check` then verifies the gradients */
  readonly fd?: boolean;
  /** extra checks on the forward values and gradients of the one ORT run */
  readonly check?: (r: RunResult) => void;
  /** finite-difference step (default 1e-5 for float64, 1e-2 for float32) */
  readonly eps?: number;
  /** tolerance relative to max|grad| of the input (default 1e-6 for float64, 2e-2 for float32) */
  readonly tol?: number;
}

/** most coordinates per input checked by finite differences */
export const MAX_COORDS = 24;

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function fill(spec: InputSpec, rand: Rng): HostTensor {
  const dtype = spec.dtype ?? 'float64';
  const n = spec.shape.reduce((p, d) => p * d, 1);
  const gen = spec.gen ?? uniform(-2, 2);
  const data = typedArrayFor(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = gen(rand, i);
    if (data instanceof BigInt64Array) data[i] = BigInt(v);
    else data[i] = v;
  }
  return { dtype, shape: [...spec.shape], data };
}

function numbers(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function maxAbs(xs: readonly number[]): number {
  return xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

async function session(model: Uint8Array): Promise<(feeds: readonly HostTensor[]) => Promise<Record<string, HostTensor>>> {
  const s = await createSession(model, { threads: 1 });
  return async (feeds) => {
    const r = await s.run(Object.fromEntries(feeds.map((t, i) => [`x${i}`, toOrt(t)])));
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromOrt(v as ort.Tensor)]));
  };
}

/**
 * Runs one gradient-check case and returns the analytic run's values. Throws (via node:assert)
 * on a gradient that disagrees with finite differences, a non-finite gradient, a missing node of
 * the covered op, or (for `noGrad` cases) a gradient rule that returns a non-zero value.
 */
export async function gradCheck(c: GradCase): Promise<RunResult> {
  const rand = mulberry32(hashName(c.name));
  const hostInputs = c.inputs.map((spec) => fill(spec, rand));
  const wrt = c.wrt ?? c.inputs.map((_, i) => i).filter((i) => isFloat(hostInputs[i].dtype));
  for (const i of wrt) assert.ok(isFloat(hostInputs[i].dtype), `${c.name}: wrt input ${i} is ${hostInputs[i].dtype}, not float`);

  const g = new Graph();
  const outputs: GraphOutput[] = [];
  const weights: (HostTensor | null)[] = [];
  const gradSlots: (number | null)[] = c.inputs.map(() => null);
  let ruleValues = 0;
  let lossValue = null as Value | null;
  let built: Value[] = [];

  withGraph(g, () => {
    const xs = c.inputs.map((_, i) => g.addInput(`x${i}`, c.inputs[i].shape, hostInputs[i].dtype));
    const res = c.build(xs);
    built = res instanceof Value ? [res] : [...res];
    if (listOps().includes(c.op)) assert.ok(g.nodes.some((n) => n.op === c.op), `${c.name}: build created no ${c.op} node`);

    let loss = null as Value | null;
    for (const [k, out] of built.entries()) {
      outputs.push({ name: `out${k}`, value: out });
      if (!isFloat(out.dtype)) {
        weights.push(null);
        continue;
      }
      const r = fill({ shape: out.shape, dtype: out.dtype, gen: uniform(-1, 1) }, rand);
      weights.push(r);
      const term = out.rank ? reduceSum(mul(out, constant(r)), out.shape.map((_, a) => a)) : mul(out, constant(r));
      loss = loss ? add(loss, term) : term;
    }
    lossValue = loss;

    if (c.noGrad) {
      const nodes: Node[] = g.nodes.filter((n) => n.op === c.op);
      for (const n of nodes) {
        const gOut = n.outputs.map((o) => expand(scalar(1, isFloat(o.dtype) ? o.dtype : 'float32'), o.shape));
        const rule = getOp(n.op).grad(n, gOut, { needs: n.inputs.map(() => true) });
        for (const v of rule) if (v) outputs.push({ name: `rule${ruleValues++}`, value: v });
      }
    }
    if (loss && wrt.length) {
      const gs = gradients(loss, wrt.map((i) => xs[i]));
      gs.forEach((gv, j) => {
        if (!gv) return;
        gradSlots[wrt[j]] = outputs.length;
        outputs.push({ name: `grad${wrt[j]}`, value: gv });
      });
      if (c.noGrad) gs.forEach((gv, j) => assert.equal(gv, null, `${c.name}: autodiff produced a gradient for input ${wrt[j]}`));
    }
    if (loss) outputs.push({ name: 'loss', value: loss });
  });

  const run = await session(writeOnnx(g, outputs));
  const r = await run(hostInputs);
  for (let k = 0; k < ruleValues; k++) {
    assert.ok(numbers(r[`rule${k}`]).every((v) => v === 0), `${c.name}: gradient rule of ${c.op} returned a non-zero value`);
  }
  const grads = c.inputs.map((_, i) => (gradSlots[i] === null ? null : r[`grad${i}`]));
  for (const gt of grads) if (gt) assert.ok(numbers(gt).every(Number.isFinite), `${c.name}: non-finite gradient`);
  const result: RunResult = {
    inputs: hostInputs,
    outputs: built.map((_, k) => r[`out${k}`]),
    weights,
    grads,
    loss: lossValue ? Number(r.loss.data[0]) : null,
  };

  if (!c.noGrad && c.fd !== false) {
    assert.ok(lossValue, `${c.name}: no float output to differentiate`);
    const fwd = await session(writeOnnx(g, [{ name: 'loss', value: lossValue }]));
    const lossAt = async (inputs: HostTensor[]) => Number((await fwd(inputs)).loss.data[0]);
    for (const i of wrt) {
      const x = hostInputs[i];
      const f32 = x.dtype === 'float32';
      const eps = c.eps ?? (f32 ? 1e-2 : 1e-5);
      const tol = c.tol ?? (f32 ? 2e-2 : 1e-6);
      const n = x.data.length;
      const coords = n <= MAX_COORDS ? [...Array(n).keys()] : sample(n, MAX_COORDS, rand);
      const analytic = grads[i] ? numbers(grads[i]!) : new Array<number>(n).fill(0);
      const numeric: number[] = [];
      for (const j of coords) {
        const x0 = Number(x.data[j]);
        const at = async (v: number) => {
          const data = x.data.slice() as Float32Array | Float64Array;
          data[j] = v;
          return [data[j], await lossAt(hostInputs.map((t, k) => (k === i ? { ...x, data } : t)))];
        };
        const [xp, lp] = await at(x0 + eps);
        const [xm, lm] = await at(x0 - eps);
        numeric.push((lp - lm) / (xp - xm));
      }
      const scale = Math.max(maxAbs(analytic), maxAbs(numeric), 1e-2);
      coords.forEach((j, k) => {
        const err = Math.abs(analytic[j] - numeric[k]);
        assert.ok(
          err <= tol * scale,
          `${c.name}: d/dx${i}[${j}] analytic ${analytic[j]} vs numeric ${numeric[k]} (|err| ${err.toExponential(2)} > ${tol} × ${scale.toExponential(2)})`,
        );
      });
    }
  }
  c.check?.(result);
  return result;
}

function sample(n: number, k: number, rand: Rng): number[] {
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(rand() * n));
  return [...picked].sort((a, b) => a - b);
}

/** plain-number view of a host tensor, for checks */
export const valuesOf = numbers;

/** asserts |a_i − b_i| <= atol + rtol·|b_i| elementwise */
export function assertClose(actual: readonly number[], expected: readonly number[], what: string, rtol = 1e-6, atol = 1e-9): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => {
    assert.ok(Math.abs(a - expected[i]) <= atol + rtol * Math.abs(expected[i]), `${what}[${i}]: ${a} vs expected ${expected[i]}`);
  });
}
