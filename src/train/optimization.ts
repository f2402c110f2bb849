/**
 * The optimisation options of a run turned into what the schedule and the step graph take:
 * schedule settings, frozen parameters, parameter groups (weight decay per norm/bias parameter,
 * learning-rate multipliers, layer-wise decay) and gradient clipping.
 */
import { LayerIds, listFamilies, modelInfo } from '../models/index.js';
import type { Module } from '../nn/module.js';
import type { GradClip } from '../optim/clip.js';
import type { ParamGroup } from '../optim/optimizer.js';
import { ParamGroupRules, freezeParameters, paramGroups, parseLrMult, parsePatterns } from '../optim/param-groups.js';
import { TrainOptions, TrainSetupError } from './options.js';
import { ScheduleOptions, defaultMilestones } from './schedule.js';
import { AIRBENCH_LR } from './airbench-schedule.js';

/**
 * The schedule settings of a run (`decayMilestones` default to half and three quarters of the
 * epochs for multistep).
 *
 * @example
 * import { TRAIN_DEFAULTS } from 'tessera/dist/src/train/trainer.js';
 * scheduleOptions({ ...TRAIN_DEFAULTS, sched: 'multistep', epochs: 8 }).milestones; // → [4, 6]
 */
export function scheduleOptions(opts: Omit<TrainOptions, 'model' | 'data' | 'out' | 'threads'>): ScheduleOptions {
  const multistep = opts.sched === 'multistep' || opts.sched === 'step';
  return {
    name: opts.sched,
    lr: opts.lr,
    epochs: opts.epochs,
    warmupEpochs: opts.warmupEpochs,
    warmupLr: opts.warmupLr,
    minLr: opts.minLr,
    cooldownEpochs: opts.cooldownEpochs,
    milestones: multistep ? (opts.decayMilestones ?? defaultMilestones(opts.epochs)) : undefined,
    gamma: opts.decayRate,
    patienceEpochs: opts.patienceEpochs,
    onUpdates: opts.schedOnUpdates,
    airbench: opts.airbench === undefined ? undefined : AIRBENCH_LR[opts.airbench],
  };
}

/** What the step graph gets from the optimisation options. */
export interface StepOptimization {
  /** absent when every parameter takes the optimizer's own weight decay and rate */
  readonly paramGroups?: ReadonlyMap<string, ParamGroup>;
  readonly clipGrad?: GradClip;
}

/**
 * Freezes the parameters `--freeze` names (in `model`) and returns the step graph's parameter
 * groups and clipping; `log` gets one line per option in effect. Mistakes are UserErrors.
 *
 * @example
 * import { TRAIN_DEFAULTS } from 'tessera/dist/src/train/trainer.js';
 * const model = createModel('cifar_resnet18');
 * const step = stepOptimization({ ...TRAIN_DEFAULTS, model: 'cifar_resnet18', normWeightDecay: 0, freeze: 'conv1', clipGrad: 5 }, model, () => {});
 * [step.paramGroups?.get('bn1.weight')?.weightDecay, step.paramGroups?.has('conv1.weight'), step.clipGrad]; // → [0, false, { mode: 'norm', max: 5 }]
 */
export function stepOptimization(opts: Omit<TrainOptions, 'data' | 'out' | 'threads'>, model: Module, log: (line: string) => void): StepOptimization {
  if (opts.freeze !== undefined) {
    const frozen = freezeParameters(model, parsePatterns(opts.freeze));
    log(`frozen: ${frozen.length} parameter tensor(s) (${opts.freeze})`);
  }
  const rules: ParamGroupRules = {
    weightDecay: opts.weightDecay,
    normWeightDecay: opts.normWeightDecay,
    biasWeightDecay: opts.biasWeightDecay,
    lrMult: opts.lrMult === undefined ? undefined : parseLrMult(opts.lrMult, '--lr-mult'),
    layerDecay: opts.layerDecay === undefined ? undefined : { rate: opts.layerDecay, ids: layerIdsOf(opts.model, model) },
  };
  const grouped = rules.normWeightDecay !== undefined || rules.biasWeightDecay !== undefined || rules.lrMult !== undefined || rules.layerDecay !== undefined;
  const groups = grouped ? paramGroups(model, rules) : undefined;
  if (groups) log(`parameter groups: ${describeGroups(groups)}`);
  const clipGrad = opts.clipGrad === undefined ? undefined : { mode: opts.clipMode, max: opts.clipGrad };
  return { ...(groups ? { paramGroups: groups } : {}), ...(clipGrad ? { clipGrad } : {}) };
}

function layerIdsOf(name: string, model: Module): LayerIds {
  return requireLayerIds(name)(model);
}

/**
 * The layer-id rule of model `name`'s family; a TrainSetupError naming the families that have
 * one when it has none (`--layer-decay`).
 *
 * @example
 * const small = createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64 });
 * requireLayerIds('vit_b_16')(small).numLayers; // → 4
 */
export function requireLayerIds(name: string): (model: Module) => LayerIds {
  const info = modelInfo(name);
  if (info.layerIds) return info.layerIds;
  const families = [...new Set(listFamilies().filter((f) => f.layerIds).map((f) => f.family))].sort();
  throw new TrainSetupError(`--layer-decay: ${name} (family ${info.family}) has no layer-id rule; the families that support it are ${families.join(', ')}`);
}

/** `3 (weight decay 0: 20 tensors, lr ×0.5–1)` */
function describeGroups(groups: ReadonlyMap<string, ParamGroup>): string {
  const distinct = new Map<string, number>();
  for (const g of groups.values()) {
    const k = `weight decay ${g.weightDecay}, lr ×${Number(g.lrScale.toPrecision(4))}`;
    distinct.set(k, (distinct.get(k) ?? 0) + 1);
  }
  const shown = [...distinct].slice(0, 4).map(([k, n]) => `${n} × (${k})`);
  return `${distinct.size} group(s): ${shown.join('; ')}${distinct.size > 4 ? '; …' : ''}`;
}
