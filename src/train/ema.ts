/**
 * Model EMA with timm's ModelEmaV3 semantics (timm/utils/model_ema.py, as timm's train.py uses it):
 * after every optimizer step, ema ← ema + (1 − decay)·(model − ema) for every parameter and float
 * buffer (BatchNorm running statistics), integer buffers (num_batches_tracked) copied. The decay of
 * step t (1-based, the optimizer steps so far) is 0 at t = 1 (the EMA becomes the model), then D,
 * or with warmup min(D, 1 − (1 + (t − 1)/γ)^−p) (γ = 1, p = 2/3).
 *
 * The update runs inside the training-step graph (StepGraphOptions.ema): the EMA lives in the
 * session's buffers next to the weights and optimizer state, the weight 1 − decay is a scalar
 * input computed here in float64 per step. Checkpoints hold it as `ema.<key>` tensors
 * (checkpoint.ts), so a resumed run continues it exactly; validation runs on it every epoch
 * (`valEmaLoss`, `valEmaTop1`, `valEmaTop5` in metrics.jsonl) through this module's TrainPlugin.
 */
import type { HostTensor } from '../graph/ir.js';
import type { Module, StateTensor } from '../nn/module.js';
import type { StepEma } from '../runtime/step-graph.js';
import { CheckpointError, LoadedCheckpoint } from './checkpoint.js';
import type { TrainPlugin } from './hooks.js';
import type { TrainOptions } from './options.js';

/** How the EMA's decay evolves. */
export interface ModelEmaOptions {
  /** the decay D (timm's --model-ema-decay, default 0.9998) */
  readonly decay: number;
  /** ModelEmaV3's warmup (timm's --model-ema-warmup) */
  readonly warmup: boolean;
  /** warmup γ (ModelEmaV3's warmup_gamma, default 1) */
  readonly warmupGamma?: number;
  /** warmup power p (ModelEmaV3's warmup_power, default 2/3) */
  readonly warmupPower?: number;
}

/** ModelEmaV3's warmup defaults. */
export const EMA_WARMUP_DEFAULTS = { warmupGamma: 1, warmupPower: 2 / 3 } as const;

/**
 * The decay ModelEmaV3.get_decay gives step `step` (1-based; update_after_step 0, min_decay 0).
 *
 * @example
 * emaDecay(1, { decay: 0.9998, warmup: false }); // → 0
 * emaDecay(2, { decay: 0.9998, warmup: false }); // → 0.9998
 * emaDecay(9, { decay: 0.9998, warmup: true, warmupPower: 1 }); // → 0.8888888888888888
 */
export function emaDecay(step: number, o: ModelEmaOptions): number {
  const t = Math.max(0, step - 1);
  if (t <= 0) return 0;
  if (!o.warmup) return o.decay;
  const gamma = o.warmupGamma ?? EMA_WARMUP_DEFAULTS.warmupGamma;
  const power = o.warmupPower ?? EMA_WARMUP_DEFAULTS.warmupPower;
  return Math.max(Math.min(1 - (1 + t / gamma) ** -power, o.decay), 0);
}

/**
 * The step graph's EMA (StepGraphOptions.ema): weight 1 − decay per step.
 *
 * @example
 * stepEma({ decay: 0.75, warmup: false }).weight(3); // → 0.25
 */
export function stepEma(o: ModelEmaOptions): StepEma {
  return { weight: (step) => 1 - emaDecay(step, o) };
}

/** The EMA settings of a run's options. */
export function runEmaOptions(opts: Pick<TrainOptions, 'modelEmaDecay' | 'modelEmaWarmup'>): ModelEmaOptions {
  return { decay: opts.modelEmaDecay, warmup: opts.modelEmaWarmup };
}

/**
 * Runs `fn` with `model`'s float tensors pointing at `state`'s (matched by state-dict key), then
 * puts its own back; tensors `state` lacks stay the model's.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * const zeros = new Map([['fc3.bias', { dtype: 'float32', shape: [10], data: new Float32Array(10) }] as const]);
 * await withWeights(model, zeros, async () => model.stateDict().get('fc3.bias')?.data[0]); // → 0
 */
export async function withWeights<T>(model: Module, state: ReadonlyMap<string, HostTensor>, fn: () => Promise<T>): Promise<T> {
  const saved: [StateTensor, Float32Array][] = [];
  try {
    for (const [key, t] of model.namedState()) {
      const s = state.get(key);
      if (!s || !(s.data instanceof Float32Array) || !(t.data instanceof Float32Array) || s.data.length !== t.data.length) continue;
      saved.push([t, t.data]);
      t.data = s.data;
    }
    return await fn();
  } finally {
    for (const [t, data] of saved) t.data = data;
  }
}

/**
 * The TrainPlugin of `--model-ema`: builds the step graph with the EMA and validates the EMA
 * weights after the raw ones every epoch (`valEmaLoss`, `valEmaTop1`, `valEmaTop5`; null when the
 * run does not validate).
 *
 * @example
 * await train({ ...TRAIN_DEFAULTS, model: 'cifar_lenet', data: 'cifar10', epochs: 2, out: 'runs/ema' }, { plugins: [modelEmaPlugin({ decay: 0.999, warmup: true })] });
 */
export function modelEmaPlugin(o: ModelEmaOptions): TrainPlugin {
  return {
    name: 'model-ema',
    sessionOptions: (options) => ({ ...options, ema: stepEma(o) }),
    evaluate: async ({ model, session, valLoader, evaluateModel }) => {
      if (!valLoader) return { fields: { valEmaLoss: null, valEmaTop1: null, valEmaTop5: null } };
      const r = await withWeights(model, session.emaState(), () => evaluateModel(model));
      return { fields: { valEmaLoss: r.loss, valEmaTop1: r.top1, valEmaTop5: r.top5 }, summary: `ema loss ${r.loss.toFixed(4)} top-1 ${(100 * r.top1).toFixed(2)}%` };
    },
  };
}

/**
 * The state dict a command loads from a checkpoint: its model weights, or with `ema` its EMA
 * weights (the model's integer buffers and untrained tensors alongside); a checkpoint without
 * an EMA is a CheckpointError.
 *
 * @example
 * model.loadStateDict(checkpointWeights(loadCheckpoint('runs/a/last.safetensors'), true));
 */
export function checkpointWeights(ckpt: LoadedCheckpoint, ema: boolean): Map<string, HostTensor> {
  if (!ema) return ckpt.modelState;
  if (!ckpt.emaState.size) throw new CheckpointError(`${ckpt.path} holds no EMA weights (its run was trained without --model-ema); leave out --ema`);
  const state = new Map(ckpt.modelState);
  for (const [key, t] of ckpt.emaState) {
    if (!state.has(key)) throw new CheckpointError(`${ckpt.path}: EMA tensor ema.${key} has no model tensor ${key}`);
    state.set(key, t);
  }
  return state;
}
