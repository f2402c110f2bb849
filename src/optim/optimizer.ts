/**
 * Optimizers as graph emitters: each appends its update rule to the training graph, so one
 * ONNX Runtime run computes loss, gradients and the new weights and optimizer state.
 */
import { Value } from '../graph/ir.js';

export interface Hyper {
  /** learning rate (scalar graph input, so schedules need no recompilation) */
  readonly lr: Value;
  /** 1-based step count (scalar float graph input) */
  readonly step: Value;
}

export interface OptimizerEmitter {
  /** optimizer name and settings, for run folders and checkpoints */
  readonly config: Readonly<Record<string, string | number | boolean>>;
  /** per-parameter state tensors, named as PyTorch's optimizer state (e.g. 'momentum_buffer') */
  readonly slots: readonly string[];
  /** emits the update of one parameter: its new value and new state tensors, in slot order */
  update(param: Value, grad: Value, state: readonly Value[], hyper: Hyper): { param: Value; state: Value[] };
}
