/**
 * The optimizer update rules in the training graph against PyTorch's formulas written out in
 * plain JS (float64 arithmetic): at every step of a TrainingSession (optimizer in the graph) the
 * gradient at the session's current weights is taken from the gradient graph (buildStepGraph
 * without an optimizer, run in ONNX Runtime), the JS rule is applied to the session's weights and
 * optimizer state, and the session's new weights and state must agree with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeNet } from '../src/models/cifar/lenet.js';
import { manualSeed } from '../src/nn/init.js';
import { Module } from '../src/nn/module.js';
import { OptimizerEmitter } from '../src/optim/optimizer.js';
import { adamw } from '../src/optim/adamw.js';
import { sgd } from '../src/optim/sgd.js';
import { createSession, ort } from '../src/runtime/ort.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { mulberry32 } from '../src/util/random.js';

const BATCH = 8;
const INPUT_SHAPE = [BATCH, 3, 32, 32];
const STEPS = 3;

interface Batch {
  readonly input: Float32Array;
  readonly target: BigInt64Array;
}

function batches(seed: number): Batch[] {
  const rand = mulberry32(seed);
  return Array.from({ length: STEPS }, () => ({
    input: Float32Array.from({ length: INPUT_SHAPE.reduce((a, b) => a * b, 1) }, () => 2 * rand() - 1),
    target: BigInt64Array.from({ length: BATCH }, () => BigInt(Math.floor(rand() * 10))),
  }));
}

/** dL/dp at the given parameters, from the float32 gradient graph (the step graph's forward and backward) */
type GradientFn = (params: ReadonlyMap<string, Float32Array>, batch: Batch) => Promise<Map<string, Float32Array>>;

async function gradientGraph(model: Module): Promise<{ grads: GradientFn; release: () => Promise<void> }> {
  const graph = buildStepGraph(model, { inputShape: INPUT_SHAPE });
  assert.equal(graph.slots.length, 0);
  assert.deepEqual(graph.buffers, []);
  const session = await createSession(graph.onnx, { threads: 1 });
  const grads: GradientFn = async (params, { input, target }) => {
    const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', input, INPUT_SHAPE), target: new ort.Tensor('int64', target, [BATCH]) };
    for (const [key, p] of graph.params) feeds[key] = new ort.Tensor('float32', params.get(key)!, [...p.shape]);
    const out = await session.run(feeds);
    return new Map(graph.params.map(([key]) => [key, out[`grad.${key}`].data as Float32Array]));
  };
  return { grads, release: () => session.release() };
}

/** PyTorch's update of one parameter tensor, in place, in float64; `t` is the 1-based step */
interface ReferenceRule {
  /** per-parameter state (e.g. momentum_buffer), created zero-filled */
  readonly slots: number;
  update(p: Float64Array, g: ArrayLike<number>, state: Float64Array[], lr: number, t: number): void;
}

/** torch.optim.SGD (coupled weight decay; the momentum buffer starts as d itself, undamped) */
function sgdRule(o: { momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }): ReferenceRule {
  const { momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = o;
  return {
    slots: momentum ? 1 : 0,
    update(p, g, [buf], lr, t) {
      for (let i = 0; i < p.length; i++) {
        let d = g[i] + weightDecay * p[i];
        if (momentum) {
          buf[i] = t === 1 ? d : momentum * buf[i] + (1 - dampening) * d;
          d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
      }
    },
  };
}

/** torch.optim.AdamW */
function adamwRule(o: { betas?: [number, number]; eps?: number; weightDecay?: number }): ReferenceRule {
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 1e-2;
  return {
    slots: 2,
    update(p, g, [m, v], lr, t) {
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      for (let i = 0; i < p.length; i++) {
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
      }
    },
  };
}

interface OptimizerCase {
  readonly name: string;
  readonly emitter: () => OptimizerEmitter;
  readonly rule: ReferenceRule;
  readonly lr: number;
  /**
   * allowed max|ours − ref| per tensor, relative to max|ref| of that tensor (1e-5 throughout).
   * Both sides start from the same float32 weights and state and use the same float32 gradient
   * graph, so what remains is the session's float32 arithmetic: the new weight p − lr·u is
   * rounded to float32 (≈6e-8·|p|) and u itself carries ≈1e-7 relative rounding, far below 1e-5,
   * while a wrong formula (a missing bias correction, decay coupled into Adam's gradient, ε inside
   * the root, a damped first momentum step) is off by 1e-3 or more. The reference deliberately
   * does not take float64 gradients: Adam's m̂/(√v̂+ε) normalises every element, so the ≈3e-9
   * absolute float32 rounding of a gradient of ≈1e-7 moves that element by ≈lr·1e-2 — ten times
   * this tolerance — without anything being wrong with the optimizer.
   */
  readonly tol: number;
}

const cases: OptimizerCase[] = [
  { name: 'AdamW (weight decay 0.05)', emitter: () => adamw({ weightDecay: 0.05 }), rule: adamwRule({ weightDecay: 0.05 }), lr: 1e-2, tol: 1e-5 },
  { name: 'AdamW (betas 0.8/0.99, eps 1e-6, no decay)', emitter: () => adamw({ betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0 }), rule: adamwRule({ betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0 }), lr: 1e-2, tol: 1e-5 },
  { name: 'SGD plain', emitter: () => sgd(), rule: sgdRule({}), lr: 0.05, tol: 1e-5 },
  { name: 'SGD momentum 0.9', emitter: () => sgd({ momentum: 0.9 }), rule: sgdRule({ momentum: 0.9 }), lr: 0.05, tol: 1e-5 },
  { name: 'SGD momentum 0.9, dampening 0.1', emitter: () => sgd({ momentum: 0.9, dampening: 0.1 }), rule: sgdRule({ momentum: 0.9, dampening: 0.1 }), lr: 0.05, tol: 1e-5 },
  { name: 'SGD Nesterov 0.9', emitter: () => sgd({ momentum: 0.9, nesterov: true }), rule: sgdRule({ momentum: 0.9, nesterov: true }), lr: 0.05, tol: 1e-5 },
  { name: 'SGD weight decay 0.05', emitter: () => sgd({ weightDecay: 0.05 }), rule: sgdRule({ weightDecay: 0.05 }), lr: 0.05, tol: 1e-5 },
  {
    name: 'SGD Nesterov 0.9, weight decay 5e-4',
    emitter: () => sgd({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
    rule: sgdRule({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
    lr: 0.05,
    tol: 1e-5,
  },
];

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    m = Number.isNaN(e) ? Infinity : Math.max(m, e);
  }
  return m;
}

/**
 * Trains a seeded LeNet for STEPS steps with the case's emitter in a TrainingSession. Before each
 * step it snapshots the session's weights and optimizer state, takes the gradient there from the
 * gradient graph, and applies the JS rule to the snapshot; the session's new weights and state
 * must agree with it within tol·max|ref| per tensor, and the weights must move far more than that.
 */
async function assertMatchesReference(c: OptimizerCase): Promise<void> {
  manualSeed(7);
  const model = new LeNet();
  const params = () => new Map([...model.namedParameters()].map(([k, p]) => [k, p.data]));
  const init = new Map([...params()].map(([k, p]) => [k, p.slice()]));
  const { grads, release } = await gradientGraph(model);
  const emitter = c.emitter();
  assert.equal(emitter.slots.length, c.rule.slots, `${c.name}: optimizer state slots`);
  const session = await TrainingSession.create(model, { inputShape: INPUT_SHAPE, optimizer: emitter, threads: 1 });
  try {
    for (const [i, batch] of batches(11).entries()) {
      const before = params();
      const stateBefore = session.optimizerState();
      const g = await grads(before, batch);
      const ref = new Map<string, { p: Float64Array; state: Float64Array[] }>();
      for (const [key, p] of before) {
        const r = { p: Float64Array.from(p), state: emitter.slots.map((s) => Float64Array.from(stateBefore.get(`${key}.${s}`)!)) };
        c.rule.update(r.p, g.get(key)!, r.state, c.lr, i + 1);
        ref.set(key, r);
      }
      await session.step(batch.input, batch.target, c.lr);
      assert.equal(session.stepCount, i + 1);
      const ours = params();
      const stateAfter = session.optimizerState();
      const compared: { what: string; err: number; allowed: number }[] = [];
      for (const [key, r] of ref) {
        compared.push({ what: key, err: maxDiff(ours.get(key)!, r.p), allowed: c.tol * maxAbs(r.p) });
        emitter.slots.forEach((s, k) => {
          compared.push({ what: `${key}.${s}`, err: maxDiff(stateAfter.get(`${key}.${s}`)!, r.state[k]), allowed: c.tol * maxAbs(r.state[k]) });
        });
      }
      const bad = compared.filter((d) => !(d.err <= d.allowed));
      assert.deepEqual(bad.map((d) => d.what), [], `${c.name}, step ${i + 1}:\n${bad.map((d) => `  ${d.what}: ${d.err.toExponential(3)} > ${d.allowed.toExponential(3)}`).join('\n')}`);
    }
  } finally {
    await Promise.all([release(), session.release()]);
  }
  // not vacuous: every tensor moved by much more than the tolerance
  for (const [key, p] of params()) assert.ok(maxDiff(p, init.get(key)!) > 100 * c.tol * maxAbs(p), `${c.name}: ${key} barely moved`);
}

for (const c of cases) {
  test(`${c.name} follows PyTorch's update over ${STEPS} steps`, () => assertMatchesReference(c));
}
