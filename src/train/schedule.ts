/**
 * Learning-rate schedules as pure functions of (epoch, iteration in the epoch, iterations per
 * epoch, the validation history so far), so a resumed run computes exactly the rates an
 * uninterrupted one did. Epochs and iterations are 0-based. The formulas are timm's and
 * PyTorch's:
 *
 * - `cosine`: lr(t) = min + (base − min)·(1 + cos(π·t/epochs))/2 (CosineAnnealingLR, timm's
 *   CosineLRScheduler without restarts), stepped per epoch (t = epoch, as pytorch-cifar does) or
 *   with `onUpdates` per iteration (t = epoch + iter/iters).
 * - `linear`: lr(t) = min + (base − min)·(1 − t/epochs) (timm's poly schedule with power 1),
 *   stepped as cosine.
 * - `multistep` (`step` is the same schedule under its former name): lr(e) = base·γ^(milestones
 *   ≤ e) (MultiStepLR; timm's `--decay-milestones`, `--decay-rate`); the default milestones are
 *   ⌊epochs/2⌋ and ⌊3·epochs/4⌋. Milestones are whole epochs, so per-iteration stepping changes
 *   nothing.
 * - `onecycle`: OneCycleLR(max_lr = base, total_steps = epochs·iterations) stepped per
 *   iteration with its defaults: pct_start 0.3, cosine annealing, div_factor 25,
 *   final_div_factor 1e4, two phases, `cycle_momentum=False` (the optimizer's momentum is a
 *   constant of the training graph).
 * - `plateau`: timm's PlateauLRScheduler (PyTorch's ReduceLROnPlateau, mode max, relative
 *   threshold 1e-4, no cooldown) on the validation top-1: after more than `patienceEpochs`
 *   epochs without a new best the rate is multiplied by γ (not below `minLr`). It is replayed from
 *   the metrics of the epochs before, so it needs validation every epoch; the metrics of warmup
 *   epochs are not fed to it (timm). Per epoch only.
 *
 * - `airbench`: airbench's per-step schedule (src/train/airbench-schedule.ts airbenchLrFactor):
 *   lr·factor(step, ⌈iterations·epochs⌉) with the shape of `airbench` (warmup share, start and
 *   end factors).
 *
 * Warmup (`warmupEpochs` W > 0) runs over the first W·iterations global iterations t, per
 * iteration whatever the schedule's stepping: lr = warmupLr + (s − warmupLr)·(t + 1)/(W·iters),
 * linear from `warmupLr` (timm's `--warmup-lr`, default 0) to the scheduled value s. The first
 * step is therefore not at warmupLr itself (timm's first value) but one step along; with the
 * default warmupLr 0 this is PyTorch's LinearLR chained with the schedule, stepped per iteration.
 *
 * Cooldown (`cooldownEpochs` C, timm): C extra epochs after `epochs` at the rate where the
 * schedule ends: `minLr` for cosine and linear, onecycle's final rate, multistep's rate after its
 * last milestone; plateau keeps adapting. The run trains epochs + C epochs (`totalEpochs`).
 */

import { AIRBENCH_LR, AirbenchLrShape, airbenchLrFactor } from './airbench-schedule.js';

export type ScheduleName = 'cosine' | 'linear' | 'multistep' | 'step' | 'onecycle' | 'plateau' | 'airbench';
export const SCHEDULES: readonly ScheduleName[] = ['cosine', 'linear', 'multistep', 'step', 'onecycle', 'plateau', 'airbench'];

export interface ScheduleOptions {
  readonly name: ScheduleName;
  /** the base (cosine, linear, multistep, plateau) or maximum (onecycle) learning rate */
  readonly lr: number;
  /** the schedule's length in epochs (cooldown epochs come after) */
  readonly epochs: number;
  /** linear warmup length in epochs (may be fractional); 0 = none */
  readonly warmupEpochs?: number;
  /** the rate warmup starts from (default 0) */
  readonly warmupLr?: number;
  /** the floor of cosine, linear and plateau (default 0) */
  readonly minLr?: number;
  /** extra epochs at the schedule's final rate (default 0) */
  readonly cooldownEpochs?: number;
  /** `multistep` only: the epochs at which the rate is multiplied by `gamma` */
  readonly milestones?: readonly number[];
  /** `multistep` and `plateau`: the decay factor (default 0.1) */
  readonly gamma?: number;
  /** `plateau` only: epochs without improvement before a decay (default 10) */
  readonly patienceEpochs?: number;
  /** cosine and linear: step per iteration instead of per epoch (timm's `--sched-on-updates`) */
  readonly onUpdates?: boolean;
  /** `airbench` only: the shape of its per-step schedule (AIRBENCH_LR; default airbench94's) */
  readonly airbench?: AirbenchLrShape;
}

/** What a schedule reads of an earlier epoch's metrics line (`plateau`). */
export interface EpochScore {
  readonly valTop1: number | null;
}

/**
 * A schedule: the learning rate of iteration `iter` (0-based) of epoch `epoch` (0-based).
 * `history` holds at least the metrics of epochs 1..epoch (`plateau` reads them; the others
 * ignore it).
 */
export type Schedule = (epoch: number, iter: number, itersPerEpoch: number, history?: readonly EpochScore[]) => number;

/** The `multistep` schedule's default milestones: half and three quarters of the epochs. */
export function defaultMilestones(epochs: number): number[] {
  return [Math.floor(epochs * 0.5), Math.floor(epochs * 0.75)];
}

/**
 * The epochs a run trains: the schedule's (a fractional last one counts) and the cooldown's.
 *
 * @example
 * totalEpochs({ epochs: 100, cooldownEpochs: 10 }); // → 110
 * totalEpochs({ epochs: 9.9 }); // → 10
 */
export function totalEpochs(opts: { readonly epochs: number; readonly cooldownEpochs?: number }): number {
  return Math.ceil(opts.epochs) + (opts.cooldownEpochs ?? 0);
}

/**
 * The steps of 0-based epoch `epoch` with `iters` batches per epoch: all of them, except in the
 * last epoch of a fractional `epochs`, which stops at ⌈iters·epochs⌉ steps in all (airbench's
 * count); cooldown epochs are whole.
 *
 * @example
 * epochSteps({ epochs: 9.9 }, 8, 43); // → 43
 * epochSteps({ epochs: 9.9 }, 9, 43); // → 39
 */
export function epochSteps(opts: { readonly epochs: number }, epoch: number, iters: number): number {
  const last = Math.ceil(opts.epochs) - 1;
  if (epoch !== last || Number.isInteger(opts.epochs)) return iters;
  return Math.ceil(iters * opts.epochs) - epoch * iters;
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
 * Linear decay from `base` to `min` over `epochs` (timm's poly schedule, power 1).
 *
 * @example
 * linearLr(0.1, 5, 10); // → 0.05
 */
export function linearLr(base: number, epoch: number, epochs: number, min = 0): number {
  return min + (base - min) * (1 - epoch / epochs);
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

/** `plateauLr`'s settings. */
export interface PlateauOptions {
  /** the decay factor */
  readonly gamma: number;
  /** epochs without a new best tolerated before a decay */
  readonly patience: number;
  readonly minLr: number;
  /** the first `skip` epochs' scores are not fed (warmup epochs) */
  readonly skip: number;
}

/**
 * ReduceLROnPlateau (mode max, relative threshold 1e-4, no cooldown) replayed over the validation
 * top-1 of the epochs so far: the rate after them.
 *
 * @example
 * plateauLr(0.1, [0.5, 0.6, 0.6, 0.6], { gamma: 0.1, patience: 1, minLr: 0, skip: 0 }); // → 0.010000000000000002
 */
export function plateauLr(base: number, scores: readonly (number | null)[], o: PlateauOptions): number {
  let lr = base;
  let best = -Infinity;
  let bad = 0;
  scores.forEach((score, k) => {
    if (k < o.skip) return;
    if (score === null) throw new Error(`the plateau schedule needs the validation top-1 of every epoch; epoch ${k + 1} has none`);
    if (score > best * (1 + 1e-4)) {
      best = score;
      bad = 0;
    } else bad++;
    if (bad > o.patience) {
      const next = Math.max(lr * o.gamma, o.minLr);
      if (lr - next > 1e-8) lr = next;
      bad = 0;
    }
  });
  return lr;
}

/**
 * Builds a schedule; throws a plain `Error` for impossible settings (the trainer reports it as a
 * setup error).
 *
 * @example
 * const lr = makeSchedule({ name: 'cosine', lr: 0.1, epochs: 200 });
 * lr(100, 0, 390); // → 0.05
 * const warm = makeSchedule({ name: 'cosine', lr: 0.1, epochs: 30, warmupEpochs: 1, warmupLr: 0.01, cooldownEpochs: 5, minLr: 1e-4 });
 * warm(0, 0, 10); // → ≈ 0.019
 * warm(32, 0, 10); // → 0.0001
 */
export function makeSchedule(opts: ScheduleOptions): Schedule {
  const { lr, epochs } = opts;
  if (!(epochs > 0) || !Number.isFinite(epochs)) throw new Error(`the schedule needs a positive number of epochs, got ${epochs}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`the learning rate must be a positive number, got ${lr}`);
  const warmup = opts.warmupEpochs ?? 0;
  if (!(warmup >= 0) || warmup > epochs) throw new Error(`warmup epochs must be between 0 and the number of epochs (${epochs}), got ${warmup}`);
  const warmupLr = opts.warmupLr ?? 0;
  const minLr = opts.minLr ?? 0;
  if (!(warmupLr >= 0) || !(minLr >= 0)) throw new Error(`the warmup and minimum learning rates must be ≥ 0, got ${warmupLr} and ${minLr}`);
  if (minLr > lr) throw new Error(`the minimum learning rate ${minLr} is above the learning rate ${lr}`);
  if (opts.onUpdates && opts.name === 'plateau') throw new Error('the plateau schedule steps per epoch only (it follows the validation top-1); drop per-iteration stepping');
  const base = scheduleProper(opts, minLr, warmup);
  // cooldown: the final rate, except that plateau keeps adapting
  const scheduled: Schedule = opts.name === 'plateau' ? base : (e, i, n, h) => (e < epochs ? base(e, i, n, h) : base(epochs, 0, n, h));
  if (warmup === 0) return scheduled;
  return (e, i, n, h) => {
    const t = e * n + i;
    const w = warmup * n;
    const s = scheduled(e, i, n, h);
    return t < w ? warmupLr + ((s - warmupLr) * (t + 1)) / w : s;
  };
}

/** The schedule before warmup; at epoch `epochs` (and after: cooldown) it gives its final rate. */
function scheduleProper(opts: ScheduleOptions, minLr: number, warmup: number): Schedule {
  const { lr, epochs } = opts;
  const time = (e: number, i: number, n: number) => Math.min(epochs, opts.onUpdates ? e + i / n : e);
  const gamma = opts.gamma ?? 0.1;
  if (!(gamma > 0 && gamma <= 1)) throw new Error(`the decay rate must be in (0, 1], got ${gamma}`);
  switch (opts.name) {
    case 'cosine':
      return (e, i, n) => cosineLr(lr, time(e, i, n), epochs, minLr);
    case 'linear':
      return (e, i, n) => linearLr(lr, time(e, i, n), epochs, minLr);
    case 'multistep':
    case 'step': {
      const milestones = opts.milestones ?? defaultMilestones(epochs);
      if (milestones.some((m) => !Number.isInteger(m) || m < 0)) throw new Error(`milestones must be whole epoch numbers ≥ 0, got ${milestones.join(',')}`);
      return (e) => stepLr(lr, e, milestones, gamma);
    }
    case 'onecycle':
      return (e, i, n) => oneCycleLr(lr, Math.min(e * n + i, Math.ceil(epochs * n) - 1), Math.ceil(epochs * n));
    case 'airbench': {
      const shape = opts.airbench ?? AIRBENCH_LR.airbench94;
      return (e, i, n) => lr * airbenchLrFactor(Math.min(e * n + i, Math.ceil(epochs * n)), Math.ceil(epochs * n), shape);
    }
    case 'plateau': {
      const patience = opts.patienceEpochs ?? 10;
      if (!(patience >= 0) || !Number.isInteger(patience)) throw new Error(`patience epochs must be a whole number ≥ 0, got ${patience}`);
      const plateau: PlateauOptions = { gamma, patience, minLr, skip: Math.floor(warmup) };
      return (e, _i, _n, history = []) => {
        if (history.length < e) throw new Error(`the plateau schedule at epoch ${e + 1} needs the metrics of the ${e} epoch(s) before, got ${history.length}`);
        return plateauLr(lr, history.slice(0, e).map((m) => m.valTop1), plateau);
      };
    }
    default:
      throw new Error(`unknown schedule "${opts.name as string}"; known: ${SCHEDULES.join(', ')}`);
  }
}
