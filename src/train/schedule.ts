/**
 * Learning-rate schedules as pure functions of (epoch, iteration in the epoch, iterations per
 * epoch), so a resumed run computes exactly the rates an uninterrupted one did. Epochs and
 * iterations are 0-based. The formulas are PyTorch's:
 *
 * - `cosine`: CosineAnnealingLR(T_max = epochs, eta_min = 0) stepped once per epoch, as
 *   pytorch-cifar does: lr(e) = base · (1 + cos(π·e/epochs)) / 2, constant within an epoch.
 * - `step`: MultiStepLR(milestones, gamma = 0.1) stepped per epoch; the default milestones are
 *   ⌊epochs/2⌋ and ⌊3·epochs/4⌋: lr(e) = base · 0.1^(milestones ≤ e).
 * - `onecycle`: OneCycleLR(max_lr = base, total_steps = epochs·iterations) stepped per
 *   iteration with its defaults: pct_start 0.3, cosine annealing, div_factor 25,
 *   final_div_factor 1e4, two phases. Momentum is not cycled (the optimizer's momentum is a
 *   constant of the training graph), i.e. `cycle_momentum=False`.
 *
 * Warmup (`warmupEpochs` > 0) multiplies the schedule by (t + 1)/W over the first
 * W = warmupEpochs·iterations global iterations t (PyTorch's LinearLR chained with the schedule,
 * but stepped per iteration); afterwards the schedule is unchanged.
 */

export type ScheduleName = 'cosine' | 'step' | 'onecycle';
export const SCHEDULES: readonly ScheduleName[] = ['cosine', 'step', 'onecycle'];

export interface ScheduleOptions {
  readonly name: ScheduleName;
  /** the base (cosine, step) or maximum (onecycle) learning rate */
  readonly lr: number;
  readonly epochs: number;
  /** linear warmup length in epochs (may be fractional); 0 = none */
  readonly warmupEpochs?: number;
  /** `step` only: the epochs at which the rate is multiplied by `gamma` */
  readonly milestones?: readonly number[];
  /** `step` only (default 0.1) */
  readonly gamma?: number;
}

/** A schedule: the learning rate of iteration `iter` (0-based) of epoch `epoch` (0-based). */
export type Schedule = (epoch: number, iter: number, itersPerEpoch: number) => number;

/** The `step` schedule's default milestones: half and three quarters of the epochs. */
export function defaultMilestones(epochs: number): number[] {
  return [Math.floor(epochs * 0.5), Math.floor(epochs * 0.75)];
}

/**
 * PyTorch's CosineAnnealingLR in closed form.
 *
 * @example
 * cosineLr(0.1, 0, 200); // 0.1
 * cosineLr(0.1, 100, 200); // 0.05
 */
export function cosineLr(base: number, epoch: number, epochs: number, etaMin = 0): number {
  return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * epoch) / epochs))) / 2;
}

/**
 * PyTorch's MultiStepLR in closed form.
 *
 * @example
 * stepLr(0.1, 150, [100, 150]); // 0.001 (up to rounding)
 */
export function stepLr(base: number, epoch: number, milestones: readonly number[], gamma = 0.1): number {
  const passed = milestones.filter((m) => m <= epoch).length;
  return base * gamma ** passed;
}

/**
 * PyTorch's OneCycleLR (two phases, cosine annealing) at optimizer step `step` (0-based: step 0
 * is the rate of the first batch, max_lr/div_factor).
 *
 * @example
 * oneCycleLr(0.1, 0, 1000); // 0.004
 * oneCycleLr(0.1, 299, 1000); // 0.1
 */
export function oneCycleLr(maxLr: number, step: number, totalSteps: number, pctStart = 0.3, divFactor = 25, finalDivFactor = 1e4): number {
  const initial = maxLr / divFactor;
  const min = initial / finalDivFactor;
  const phases = [
    { end: pctStart * totalSteps - 1, from: initial, to: maxLr },
    { end: totalSteps - 1, from: maxLr, to: min },
  ];
  let start = 0;
  for (let i = 0; i < phases.length; i++) {
    const p = phases[i];
    if (step <= p.end || i === phases.length - 1) {
      const pct = (step - start) / (p.end - start);
      return p.to + ((p.from - p.to) / 2) * (Math.cos(Math.PI * pct) + 1);
    }
    start = p.end;
  }
  throw new Error('unreachable');
}

/**
 * Builds a schedule; throws a plain `Error` for impossible settings (the CLI reports it as a
 * usage error).
 *
 * @example
 * const lr = makeSchedule({ name: 'cosine', lr: 0.1, epochs: 200 });
 * lr(100, 0, 390); // → 0.05
 * const warm = makeSchedule({ name: 'onecycle', lr: 0.1, epochs: 30, warmupEpochs: 1 });
 */
export function makeSchedule(opts: ScheduleOptions): Schedule {
  const { lr, epochs } = opts;
  if (!(epochs >= 1) || !Number.isInteger(epochs)) throw new Error(`the schedule needs a whole number of epochs ≥ 1, got ${epochs}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`the learning rate must be a positive number, got ${lr}`);
  const warmup = opts.warmupEpochs ?? 0;
  if (!(warmup >= 0) || warmup > epochs) throw new Error(`warmup epochs must be between 0 and the number of epochs (${epochs}), got ${warmup}`);
  let base: Schedule;
  switch (opts.name) {
    case 'cosine':
      base = (e) => cosineLr(lr, e, epochs);
      break;
    case 'step': {
      const milestones = opts.milestones ?? defaultMilestones(epochs);
      if (milestones.some((m) => !Number.isInteger(m) || m < 0)) throw new Error(`milestones must be whole epoch numbers ≥ 0, got ${milestones.join(',')}`);
      const gamma = opts.gamma ?? 0.1;
      base = (e) => stepLr(lr, e, milestones, gamma);
      break;
    }
    case 'onecycle':
      base = (e, i, n) => oneCycleLr(lr, e * n + i, epochs * n);
      break;
    default:
      throw new Error(`unknown schedule "${opts.name as string}"; known: ${SCHEDULES.join(', ')}`);
  }
  if (warmup === 0) return base;
  return (e, i, n) => {
    const t = e * n + i;
    const w = warmup * n;
    return t < w ? (base(e, i, n) * (t + 1)) / w : base(e, i, n);
  };
}
