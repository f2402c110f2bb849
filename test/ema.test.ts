/**
 * Model EMA (timm's ModelEmaV3) and Lookahead, both inside the training-step graph: the decay
 * schedule against ModelEmaV3.get_decay's values; the graph's EMA after every step against a JS
 * recomputation from the raw parameters (BatchNorm running statistics are copied, not averaged), and after N
 * steps of known weights against the closed form; Lookahead's weights after each step against its
 * closed form; and a run with --model-ema and --lookahead stopped after epoch 1 and resumed,
 * bit-identical to the uninterrupted run (metrics, weights, EMA, slow weights).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Value } from '../src/graph/ir.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { manualSeed } from '../src/nn/init.js';
import { Module } from '../src/nn/module.js';
import { relu } from '../src/ops/activations.js';
import { add } from '../src/ops/elementwise.js';
import { globalAvgPool } from '../src/ops/pool.js';
import { flatten } from '../src/ops/shape.js';
import { adamw } from '../src/optim/adamw.js';
import { LookaheadOptions, lookahead } from '../src/optim/lookahead.js';
import type { OptimizerEmitter } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { EpochMetrics, loadCheckpoint } from '../src/train/checkpoint.js';
import { ModelEmaOptions, emaDecay, stepEma } from '../src/train/ema.js';
import { TrainOptions, train } from '../src/train/trainer.js';
import { mulberry32 } from '../src/util/random.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-ema-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** conv → BatchNorm → ReLU → global average → linear: parameters, float buffers and num_batches_tracked */
class Tiny extends Module {
  conv = new Conv2d(3, 4, 3, { padding: 1 });
  bn = new BatchNorm2d(4);
  fc = new Linear(4, 3);
  forward(x: Value): Value {
    return this.fc.call(flatten(globalAvgPool(relu(this.bn.call(this.conv.call(x))))));
  }
}

const SHAPE = [4, 3, 8, 8];
const EPS32 = 2 ** -24;

/** A step rule with known weights: every parameter moves by `lr` (the gradient is ignored). */
const shiftByLr: OptimizerEmitter = { config: { name: 'shift' }, slots: [], update: (p, _g, _s, { lr }) => ({ param: add(p, lr), state: [] }) };

/** A seeded Tiny model and a session on it; `steps(lrs)` feeds one random batch per lr and returns what `after` saw after each step. */
async function tinySession(opts: { optimizer: OptimizerEmitter; ema?: ModelEmaOptions }) {
  manualSeed(3);
  const model = new Tiny();
  const session = await TrainingSession.create(model, { inputShape: SHAPE, optimizer: opts.optimizer, ema: opts.ema ? stepEma(opts.ema) : undefined, threads: 1 });
  const rand = mulberry32(11);
  const initial = snapshot(model.stateDict());
  return {
    model,
    session,
    initial,
    async steps<T>(lrs: readonly number[], after: (step: number) => T): Promise<T[]> {
      const seen: T[] = [];
      for (const [i, lr] of lrs.entries()) {
        const input = Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, () => 2 * rand() - 1);
        await session.step(input, BigInt64Array.from({ length: SHAPE[0] }, () => BigInt(Math.floor(rand() * 3))), lr);
        seen.push(after(i + 1));
      }
      await session.release();
      return seen;
    },
  };
}

/** float32 copies of a state dict's float tensors */
function snapshot(state: ReadonlyMap<string, { data: ArrayLike<number | bigint> }>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of state) if (t.data instanceof Float32Array) out.set(k, Float32Array.from(t.data));
  return out;
}

// ---- the decay schedule ---------------------------------------------------------------------

// ModelEmaV3(decay=D, use_warmup=W, warmup_gamma=γ, warmup_power=p).get_decay(step), computed in Python
const decayCases: { step: number; o: ModelEmaOptions; want: number }[] = [
  { step: 1, o: { decay: 0.9998, warmup: false }, want: 0 },
  { step: 1, o: { decay: 0.9998, warmup: true }, want: 0 },
  { step: 2, o: { decay: 0.9998, warmup: false }, want: 0.9998 },
  { step: 5000, o: { decay: 0.9998, warmup: false }, want: 0.9998 },
  { step: 2, o: { decay: 0.9998, warmup: true }, want: 0.3700394750525634 },
  { step: 11, o: { decay: 0.9998, warmup: true }, want: 0.7978199917664258 },
  { step: 1001, o: { decay: 0.9998, warmup: true }, want: 0.9900066611160449 },
  { step: 1000000, o: { decay: 0.9998, warmup: true }, want: 0.9998 },
  { step: 11, o: { decay: 0.9998, warmup: true, warmupGamma: 10, warmupPower: 1 }, want: 0.5 },
  { step: 101, o: { decay: 0.9998, warmup: true, warmupPower: 0.75 }, want: 0.9686123378245277 },
  { step: 101, o: { decay: 0.9, warmup: true, warmupPower: 0.75 }, want: 0.9 },
];

test('EMA decay per step equals ModelEmaV3.get_decay (update_after_step 0, warmup γ 1, power 2/3 by default)', () => {
  for (const c of decayCases) {
    const got = emaDecay(c.step, c.o);
    assert.ok(Math.abs(got - c.want) <= 1e-15, `step ${c.step} ${JSON.stringify(c.o)}: got ${got}, timm ${c.want}`);
  }
});

// ---- the EMA in the step graph --------------------------------------------------------------

const recomputeCases: { name: string; optimizer: OptimizerEmitter; ema: ModelEmaOptions }[] = [
  { name: 'SGD with momentum, decay 0.9', optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }), ema: { decay: 0.9, warmup: false } },
  { name: 'AdamW, decay 0.9998 with warmup', optimizer: adamw({ weightDecay: 0.05 }), ema: { decay: 0.9998, warmup: true } },
  { name: 'SGD under Lookahead, decay 0.5', optimizer: lookahead(sgd({ momentum: 0.9 }), { k: 2 }), ema: { decay: 0.5, warmup: false } },
];

for (const c of recomputeCases) {
  test(`EMA after every step = ema + (1 − decay)·(new − ema) of the raw parameters; buffers are not averaged (${c.name})`, async () => {
    const s = await tinySession(c);
    let prev = s.initial;
    await s.steps([0.1, 0.05, 0.1, 0.02, 0.1, 0.1], (step) => {
      const raw = snapshot(s.model.stateDict());
      const ema = snapshot(s.session.emaState());
      assert.deepEqual([...ema.keys()].sort(), ['bn.bias', 'bn.weight', 'conv.bias', 'conv.weight', 'fc.bias', 'fc.weight']);
      const w = Math.fround(1 - emaDecay(step, c.ema));
      for (const [key, got] of ema) {
        const r = raw.get(key)!;
        const p = prev.get(key)!;
        got.forEach((g, i) => {
          const want = p[i] + w * (r[i] - p[i]);
          // three float32 roundings (sub, mul, add)
          const tol = 3 * EPS32 * Math.max(Math.abs(p[i]), Math.abs(r[i]), Math.abs(want));
          assert.ok(Math.abs(g - want) <= tol, `step ${step} ${key}[${i}]: EMA ${g}, recomputed ${want}`);
        });
      }
      prev = ema;
    });
  });
}

// weights θ0 + 1 after step 1, θ0 + 2 from step 2 on: ema_N = θ0 + 2 − Π_{s=2..N} decay(s)
const closedFormCases: { ema: ModelEmaOptions; steps: number }[] = [
  { ema: { decay: 0.9, warmup: false }, steps: 12 },
  { ema: { decay: 0.9998, warmup: true }, steps: 10 },
  { ema: { decay: 0.6, warmup: true, warmupPower: 1 }, steps: 8 },
];

for (const c of closedFormCases) {
  test(`EMA after ${c.steps} steps of known weights equals the closed form θ0 + 2 − Π decay (${JSON.stringify(c.ema)})`, async () => {
    const s = await tinySession({ optimizer: shiftByLr, ema: c.ema });
    const lrs = Array.from({ length: c.steps }, (_, i) => (i < 2 ? 1 : 0));
    const [last] = (await s.steps(lrs, () => snapshot(s.session.emaState()))).slice(-1);
    let product = 1;
    for (let step = 2; step <= c.steps; step++) product *= emaDecay(step, c.ema);
    if (!c.ema.warmup) assert.ok(Math.abs(product - c.ema.decay ** (c.steps - 1)) < 1e-15);
    for (const [key, theta0] of s.initial) {
      if (key.startsWith('bn.running')) continue;
      last.get(key)!.forEach((g, i) => {
        const want = theta0[i] + 2 - product;
        const tol = c.steps * 3 * EPS32 * (Math.abs(theta0[i]) + 2);
        assert.ok(Math.abs(g - want) <= tol, `${key}[${i}]: EMA ${g}, closed form ${want}`);
      });
    }
  });
}

// ---- Lookahead ------------------------------------------------------------------------------

/** θ − θ0 after `step` steps of +1 each: fast moves 1 per step; at every k-th step slow += α(fast − slow) (slow created = fast at the first) and fast = slow */
function lookaheadClosedForm(step: number, k: number, alpha: number): number {
  const syncs = Math.floor(step / k);
  if (syncs === 0) return step;
  const slow = k + (syncs - 1) * alpha * k;
  return slow + (step - syncs * k);
}

const lookaheadCases: LookaheadOptions[] = [{ k: 3, alpha: 0.5 }, { k: 2, alpha: 0.25 }, { k: 1, alpha: 0.5 }, { k: 6, alpha: 0.5 }];

for (const la of lookaheadCases) {
  test(`Lookahead k=${la.k} α=${la.alpha}: the weights after every step equal the closed form`, async () => {
    const s = await tinySession({ optimizer: lookahead(shiftByLr, la) });
    const seen = await s.steps(new Array<number>(13).fill(1), (step) => ({ step, raw: snapshot(s.model.stateDict()), slow: new Map([...s.session.optimizerState()].map(([k, v]) => [k, Float32Array.from(v)])) }));
    for (const { step, raw, slow } of seen) {
      const want = lookaheadClosedForm(step, la.k!, la.alpha!);
      for (const [key, theta0] of s.initial) {
        if (key.startsWith('bn.running')) continue;
        raw.get(key)!.forEach((g, i) => assert.ok(Math.abs(g - theta0[i] - want) <= 16 * EPS32 * (Math.abs(theta0[i]) + 13), `step ${step} ${key}[${i}]: ${g - theta0[i]}, closed form ${want}`));
        if (step % la.k! === 0) assert.deepEqual(slow.get(`${key}.lookahead_slow_buff`), raw.get(key), `step ${step}: the slow weights are the weights after a sync`);
      }
    }
  });
}

// ---- checkpoint and resume ------------------------------------------------------------------

const DATA = join(scratch, 'colors');
const readyData = makeImageFolder(DATA, ['blue', 'green', 'red'], 8);
const quiet = { write: () => true };
const options = (out: string, epochs: number, more: Partial<TrainOptions>): TrainOptions => tinyRunOptions(DATA, out, { batchSize: 6, epochs, seed: 5, ...more });

const resumeCases: { name: string; more: Partial<TrainOptions> }[] = [
  { name: '--model-ema --model-ema-warmup', more: { modelEma: true, modelEmaDecay: 0.99, modelEmaWarmup: true } },
  { name: '--lookahead --lookahead-steps 2 with --model-ema', more: { lookahead: true, lookaheadSteps: 2, lookaheadAlpha: 0.5, modelEma: true, modelEmaDecay: 0.9 } },
];

for (const c of resumeCases) {
  test(`${c.name}: a run stopped after epoch 1 and resumed equals the uninterrupted one bit for bit (metrics, weights, EMA, optimizer state)`, async () => {
    await readyData;
    const a = join(scratch, `a-${resumeCases.indexOf(c)}`);
    const b = join(scratch, `b-${resumeCases.indexOf(c)}`);
    const whole = await train(options(a, 2, c.more), { sink: quiet });
    await train(options(b, 1, c.more), { sink: quiet });
    const resumed = await train({ ...options(b, 2, c.more), resume: b }, { sink: quiet });
    const figures = (m: EpochMetrics) => [m.epoch, m.lr, m.trainLoss, m.valLoss, m.valTop1, Reflect.get(m, 'valEmaLoss'), Reflect.get(m, 'valEmaTop1')];
    assert.deepEqual(resumed.metrics.map(figures), whole.metrics.map(figures));
    assert.equal(resumed.metrics.length, 2);
    assert.equal(typeof Reflect.get(whole.metrics[1], 'valEmaTop1'), 'number');
    const ca = loadCheckpoint(join(a, 'last.safetensors'));
    const cb = loadCheckpoint(join(b, 'last.safetensors'));
    assert.ok(ca.emaState.size > 0);
    assert.deepEqual(cb.emaState, ca.emaState);
    assert.deepEqual(cb.modelState, ca.modelState);
    assert.deepEqual(cb.optimizerState, ca.optimizerState);
    if (c.more.lookahead) assert.ok(ca.optimizerState.has('conv1.weight.lookahead_slow_buff'));
  });
}
