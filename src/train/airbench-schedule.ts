/**
 * airbench's training schedule (legacy/airbench94.py, airbench96.py) as pure functions of the
 * step, so the trainer and a resumed run compute the same values:
 *
 * - steps: ⌈⌊images/batch⌋·epochs⌉ in all (fractional epochs: the last epoch stops there);
 * - the learning-rate factor of 0-based step s (PyTorch's LambdaLR, stepped after each update):
 *   linear from `startFactor` (0.2) to 1 over the first w = ⌊warmupFraction·total⌋ steps, then
 *   linear from 1 at step w towards `endFactor` at step `total` (94: 23% warmup, down to 0.07;
 *   96: 10%, down to 0);
 * - the decoupled hyperparameters: lr and weight decay per 1024 examples, momentum 0.85,
 *   BatchNorm biases at 64× the rate with the same absolute decay;
 * - lookahead: after 1-based step s with s % 5 = 0 the averaged state moves to the weights
 *   with decay 0.95⁵·(s/total)³ (ema ← decay·ema + (1 − decay)·weights, weights ← ema), and
 *   after the last step the weights become the average (decay 1, "the final full copy");
 * - the whitening conv's bias trains in the first 3 epochs only.
 *
 * @example
 * const total = airbenchTotalSteps(50000, 1024, 9.9); // → 476
 * airbenchLrFactor(0, total, AIRBENCH_LR.airbench94); // → 0.2
 * lookaheadDecays(476, total); // → [1]
 */

/** The shape of an airbench learning-rate schedule (factors of the base rate). */
export interface AirbenchLrShape {
  /** the warmup's share of all steps (w = ⌊fraction·total⌋) */
  readonly warmupFraction: number;
  /** the factor at step 0 */
  readonly startFactor: number;
  /** the factor the decay reaches at step `total` */
  readonly endFactor: number;
}

/** The airbench recipes Tessera has. */
export const AIRBENCH_VARIANTS = ['airbench94', 'airbench96'] as const;
export type AirbenchVariant = (typeof AIRBENCH_VARIANTS)[number];

export const AIRBENCH_LR = {
  airbench94: { warmupFraction: 0.23, startFactor: 0.2, endFactor: 0.07 },
  airbench96: { warmupFraction: 0.1, startFactor: 0.2, endFactor: 0 },
} as const satisfies Record<AirbenchVariant, AirbenchLrShape>;

/** Steps of a run: ⌈steps per epoch (the last partial batch dropped) · epochs⌉. */
export function airbenchTotalSteps(trainImages: number, batchSize: number, epochs: number): number {
  return Math.ceil(Math.floor(trainImages / batchSize) * epochs);
}

/** Training steps of 0-based epoch `epoch`: full epochs, then what is left of `total` (0 past the end). */
export function airbenchEpochSteps(epoch: number, stepsPerEpoch: number, total: number): number {
  return Math.max(0, Math.min(stepsPerEpoch, total - epoch * stepsPerEpoch));
}

/** The learning-rate factor of 0-based step `step` of `total`. */
export function airbenchLrFactor(step: number, total: number, shape: AirbenchLrShape): number {
  const warmup = Math.floor(total * shape.warmupFraction);
  if (step < warmup) {
    const frac = step / warmup;
    return shape.startFactor * (1 - frac) + frac;
  }
  const frac = (step - warmup) / (total - warmup);
  return 1 - frac + shape.endFactor * frac;
}

/** airbench's hyperparameters in decoupled form (per 1024 examples). */
export interface AirbenchHyper {
  readonly lr: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly batchSize: number;
  /** BatchNorm biases' learning-rate multiplier (their absolute decay stays the same) */
  readonly biasScaler: number;
}

export const AIRBENCH_HYPER = {
  airbench94: { lr: 11.5, weightDecay: 0.0153, momentum: 0.85, batchSize: 1024, biasScaler: 64 },
  airbench96: { lr: 9, weightDecay: 0.012, momentum: 0.85, batchSize: 1024, biasScaler: 64 },
} as const satisfies Record<AirbenchVariant, AirbenchHyper>;

/** PyTorch SGD's (Nesterov) settings for one parameter group: the base rate and the weight_decay argument. */
export interface SgdGroupSettings {
  readonly lr: number;
  readonly weightDecay: number;
}

/**
 * The decoupled hyperparameters as PyTorch SGD's: lr / (1024·(1 + 1/(1 − momentum))), the
 * absolute decay wd·batch / that scale given as weight_decay = decay / lr per group, so both
 * groups decay alike; `norm` is the BatchNorm biases' group, `other` the rest.
 */
export function airbenchSgdGroups(h: AirbenchHyper): { readonly norm: SgdGroupSettings; readonly other: SgdGroupSettings } {
  const kilostepScale = 1024 * (1 + 1 / (1 - h.momentum));
  const lr = h.lr / kilostepScale;
  const decay = (h.weightDecay * h.batchSize) / kilostepScale;
  const biasLr = lr * h.biasScaler;
  return { norm: { lr: biasLr, weightDecay: decay / biasLr }, other: { lr, weightDecay: decay / lr } };
}

/** lookahead every this many steps */
export const LOOKAHEAD_EVERY = 5;

/** The lookahead decay of 1-based step `step`: 0.95⁵·(step/total)³. */
export function lookaheadDecay(step: number, total: number): number {
  return 0.95 ** 5 * (step / total) ** 3;
}

/**
 * The lookahead updates after 1-based step `step`, in order: the scheduled one on every
 * `LOOKAHEAD_EVERY`-th step, then after the last step the final full copy (decay 1).
 */
export function lookaheadDecays(step: number, total: number): number[] {
  const decays = step % LOOKAHEAD_EVERY === 0 ? [lookaheadDecay(step, total)] : [];
  return step >= total ? [...decays, 1] : decays;
}

/** One lookahead update of a tensor: ema ← ema + (1 − decay)·(weights − ema) (torch's lerp), then weights ← ema. */
export function lookaheadUpdate(ema: Float32Array, weights: Float32Array, decay: number): void {
  for (let i = 0; i < ema.length; i++) {
    ema[i] += (1 - decay) * (weights[i] - ema[i]);
    weights[i] = ema[i];
  }
}

/** epochs the whitening conv's bias trains before it is frozen */
export const WHITEN_BIAS_EPOCHS = 3;

/** Whether the whitening bias trains in 0-based epoch `epoch`. */
export const whitenBiasTrains = (epoch: number): boolean => epoch < WHITEN_BIAS_EPOCHS;
