/**
 * Optimizers as graph emitters: each appends its update rule to the training graph, so one
 * ONNX Runtime run computes loss, gradients and the new weights and optimizer state.
 */
import { Value } from '../graph/ir.js';

export interface Hyper {
  /**
   * the learning rate of this parameter's group: the scheduled rate (a scalar graph input, so
   * schedules need no recompilation) times the group's `lrScale`
   */
  readonly lr: Value;
  /** 1-based step count (scalar float graph input) */
  readonly step: Value;
  /** the emitter's own `scalars`, as graph inputs by name */
  readonly scalars: Readonly<Record<string, Value>>;
}

/**
 * A float scalar graph input that JS computes before every step from the 1-based step number
 * (in float64, then fed as float32): a lookahead sync flag, an EMA weight.
 */
export interface StepScalar {
  /** the graph input's name */
  readonly name: string;
  readonly value: (step: number) => number;
}

/**
 * A parameter group's constants, as a PyTorch param group sets them: its weight decay (overriding
 * the optimizer's own) and its learning-rate multiplier (timm's `lr_scale`; the step graph has
 * already applied it to `Hyper.lr`).
 */
export interface ParamGroup {
  readonly weightDecay: number;
  readonly lrScale: number;
  /**
   * a per-step factor of the group's rate on top of `lrScale` (a scalar graph input). A step where
   * it is 0 freezes the group's parameters, as `requires_grad = False` does in PyTorch: no gradient,
   * value and optimizer state kept (TrainingSession then runs a graph without their gradients),
   * e.g. airbench's whitening bias after its first epochs
   */
  readonly lrFactor?: StepScalar;
}

export interface OptimizerEmitter {
  /** optimizer name and settings, for run folders and checkpoints */
  readonly config: Readonly<Record<string, string | number | boolean>>;
  /** per-parameter state tensors, named as PyTorch's optimizer state (e.g. 'momentum_buffer') */
  readonly slots: readonly string[];
  /** scalar graph inputs the update reads (from `hyper.scalars`), computed per step in JS */
  readonly scalars?: readonly StepScalar[];
  /**
   * emits the update of one parameter: its new value and new state tensors, in slot order;
   * without `group` the optimizer's own weight decay applies
   */
  update(param: Value, grad: Value, state: readonly Value[], hyper: Hyper, group?: ParamGroup): { param: Value; state: Value[] };
}
