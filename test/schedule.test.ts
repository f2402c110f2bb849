/**
 * The learning-rate schedules (src/train/schedule.ts): a table of (schedule, options) → rate at
 * chosen (epoch, iteration), against PyTorch's schedulers or the formulas written out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpochScore, ScheduleOptions, makeSchedule, totalEpochs } from '../src/train/schedule.js';

interface LrCase {
  readonly name: string;
  readonly opts: ScheduleOptions;
  /** [epoch, iteration, iterations per epoch, expected] */
  readonly points: readonly (readonly [number, number, number, number])[];
  /** validation top-1 per finished epoch (plateau) */
  readonly history?: readonly number[];
}

/** `values[k]` as the rate of epoch k (iteration `iter` of `n`) */
const perEpoch = (values: readonly number[], iter = 0, n = 4) => values.map((v, e) => [e, iter, n, v] as const);

// PyTorch values: /usr/bin/python3 with torch 1.13, an SGD optimizer over one parameter, the
// scheduler stepped once per epoch (per iteration for the per-update case) and param_groups[0]['lr']
// read before each step: CosineAnnealingLR(T_max=10, eta_min=1e-3); CosineAnnealingLR(T_max=12,
// eta_min=1e-3) per iteration; LinearLR(start_factor=1, end_factor=0.02, total_iters=8);
// MultiStepLR([3, 6], gamma=0.5); ReduceLROnPlateau(mode='max', factor=0.5, patience=2,
// min_lr=0.02) stepped with the `history` metrics.
const cases: LrCase[] = [
  {
    name: 'cosine with --min-lr, per epoch (CosineAnnealingLR eta_min)',
    opts: { name: 'cosine', lr: 0.1, epochs: 10, minLr: 1e-3 },
    points: perEpoch([0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004], 3),
  },
  {
    name: 'cosine per iteration (--sched-on-updates), 3 epochs × 4 iterations',
    opts: { name: 'cosine', lr: 0.1, epochs: 3, minLr: 1e-3, onUpdates: true },
    points: [
      0.1, 0.09831332840130888, 0.09336825748732973, 0.0855017856687341, 0.07525000000000001, 0.06331154273257479, 0.05050000000000001, 0.037688457267425236, 0.025750000000000016, 0.015498214331265903,
      0.007631742512670285, 0.0026866715986911243,
    ].map((v, t) => [Math.floor(t / 4), t % 4, 4, v] as const),
  },
  {
    name: 'linear to --min-lr 1e-3 (LinearLR end_factor 0.02)',
    opts: { name: 'linear', lr: 0.05, epochs: 8, minLr: 1e-3 },
    points: perEpoch([0.05, 0.043875, 0.03775, 0.031625, 0.025500000000000002, 0.019375, 0.01325, 0.007124999999999999], 2),
  },
  {
    name: 'linear per iteration: halfway through epoch 2 of 4',
    opts: { name: 'linear', lr: 0.1, epochs: 4, onUpdates: true },
    points: [[2, 5, 10, 0.1 * (1 - 2.5 / 4)]],
  },
  {
    name: 'multistep, --decay-milestones 3,6 --decay-rate 0.5 (MultiStepLR)',
    opts: { name: 'multistep', lr: 0.2, epochs: 8, milestones: [3, 6], gamma: 0.5 },
    points: perEpoch([0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05], 3),
  },
  {
    name: 'multistep per iteration changes nothing (whole-epoch milestones)',
    opts: { name: 'multistep', lr: 0.2, epochs: 8, milestones: [3, 6], gamma: 0.5, onUpdates: true },
    points: [
      [2, 3, 4, 0.2],
      [3, 0, 4, 0.1],
    ],
  },
  {
    name: 'plateau on the validation top-1 (ReduceLROnPlateau, mode max, patience 2, factor 0.5, min 0.02)',
    opts: { name: 'plateau', lr: 0.1, epochs: 20, patienceEpochs: 2, gamma: 0.5, minLr: 0.02 },
    history: [0.3, 0.4, 0.4, 0.40005, 0.39, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41],
    points: [...perEpoch([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]), [15, 0, 4, 0.02]],
  },
  {
    name: 'plateau ignores the metrics of warmup epochs (timm): 2 warmup epochs shift the decay by 2',
    opts: { name: 'plateau', lr: 0.1, epochs: 20, patienceEpochs: 1, gamma: 0.5, warmupEpochs: 2 },
    history: [0.1, 0.1, 0.5, 0.5, 0.5],
    // epochs 1 and 2 not fed; 3 is the first best, 4 and 5 do not improve: the decay follows epoch 5
    points: [
      [4, 0, 4, 0.1],
      [5, 0, 4, 0.05],
    ],
  },
  {
    name: 'warmup from --warmup-lr to the scheduled rate, per iteration: w + (s − w)·(t + 1)/(W·n)',
    opts: { name: 'cosine', lr: 0.1, epochs: 10, warmupEpochs: 2, warmupLr: 0.01 },
    points: [
      [0, 0, 5, 0.01 + (0.1 - 0.01) / 10],
      [0, 4, 5, 0.01 + ((0.1 - 0.01) * 5) / 10],
      [1, 2, 5, 0.01 + ((0.05 * (1 + Math.cos(Math.PI / 10)) - 0.01) * 8) / 10],
      [2, 0, 5, 0.05 * (1 + Math.cos((2 * Math.PI) / 10))],
    ],
  },
  {
    name: 'warmup on multistep and linear too',
    opts: { name: 'multistep', lr: 0.2, epochs: 8, milestones: [1], gamma: 0.5, warmupEpochs: 2, warmupLr: 0.1 },
    points: [
      [0, 1, 2, 0.1 + ((0.2 - 0.1) * 2) / 4],
      [1, 1, 2, 0.1],
    ],
  },
  {
    name: 'cooldown: cosine ends at --min-lr and stays there for --cooldown-epochs',
    opts: { name: 'cosine', lr: 0.1, epochs: 4, minLr: 0.002, cooldownEpochs: 2 },
    points: [
      [3, 0, 4, 0.002 + (0.098 * (1 + Math.cos((3 * Math.PI) / 4))) / 2],
      [4, 0, 4, 0.002],
      [5, 3, 4, 0.002],
    ],
  },
  {
    name: 'cooldown: onecycle holds its final rate, multistep its last',
    opts: { name: 'onecycle', lr: 0.2, epochs: 4, cooldownEpochs: 1 },
    points: [
      [3, 4, 5, 8e-7],
      [4, 2, 5, 8e-7],
    ],
  },
  {
    name: 'cooldown after multistep',
    opts: { name: 'multistep', lr: 0.2, epochs: 4, milestones: [2], gamma: 0.5, cooldownEpochs: 3 },
    points: [
      [3, 0, 4, 0.1],
      [6, 0, 4, 0.1],
    ],
  },
];

function assertRates(c: LrCase): void {
  const lr = makeSchedule(c.opts);
  const history: EpochScore[] | undefined = c.history?.map((valTop1) => ({ valTop1 }));
  for (const [e, i, n, want] of c.points) {
    const got = lr(e, i, n, history?.slice(0, e));
    assert.ok(Math.abs(got - want) <= 1e-12 * Math.abs(want), `${c.name}: epoch ${e} iteration ${i}/${n}: got ${got}, want ${want}`);
  }
}

for (const c of cases) test(`schedule: ${c.name}`, () => assertRates(c));

test('schedule: the run trains --epochs plus --cooldown-epochs', () => {
  assert.equal(totalEpochs({ epochs: 90, cooldownEpochs: 10 }), 100);
  assert.equal(totalEpochs({ epochs: 90 }), 90);
});

test('schedule: plateau refuses per-iteration stepping and a missing history', () => {
  assert.throws(() => makeSchedule({ name: 'plateau', lr: 0.1, epochs: 3, onUpdates: true }), /per epoch only/);
  const plateau = makeSchedule({ name: 'plateau', lr: 0.1, epochs: 3 });
  assert.throws(() => plateau(2, 0, 4, [{ valTop1: 0.5 }]), /needs the metrics of the 2 epoch\(s\) before, got 1/);
  assert.throws(() => plateau(1, 0, 4, [{ valTop1: null }]), /validation top-1 of every epoch; epoch 1 has none/);
  assert.throws(() => makeSchedule({ name: 'cosine', lr: 0.1, epochs: 3, minLr: 0.2 }), /minimum learning rate 0\.2 is above/);
  assert.throws(() => makeSchedule({ name: 'multistep', lr: 0.1, epochs: 3, gamma: 0 }), /decay rate/);
});
