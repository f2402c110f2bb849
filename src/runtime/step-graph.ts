/**
 * Builds the one-graph training step: batch, labels, learning rate, step count, weights,
 * optimizer state and BatchNorm buffers in; loss, logits, new weights, new state and new
 * buffers out. Without an optimizer the graph returns the gradients instead (what parity
 * checks and custom update rules need).
 */
import { DType, HostTensor, Value } from '../graph/ir.js';
import { LossKind, classificationLoss } from '../ops/loss.js';
import { gradients } from '../autodiff/grad.js';
import { GraphOutput, writeOnnx } from '../onnx/write.js';
import { Module, Parameter, StateTensor } from '../nn/module.js';
import { Trace, traceWith } from '../nn/trace.js';
import { OptimizerEmitter, ParamGroup, StepScalar } from '../optim/optimizer.js';
import { GradClip, clipGradients } from '../optim/clip.js';
import { add, greater, mul, sub, where } from '../ops/elementwise.js';
import { ConvLayout, nchwcBlockFor } from './conv-layout.js';

/**
 * The training loss of a step graph: its kind (`ce`, `bce` with an optional target threshold,
 * `focal` with γ), label smoothing, and per-class weights (class-imbalance weighting).
 *
 * @example
 * const loss: LossSpec = { kind: 'focal', gamma: 2, labelSmoothing: 0.1, classWeights: [1, 2, 0.5] };
 * describeLoss(loss); // → 'focal loss (gamma 2), label smoothing 0.1, class weights'
 */
export type LossSpec = LossKind & {
  readonly labelSmoothing?: number;
  readonly classWeights?: readonly number[];
  /**
   * 'mean' (default) or 'sum' over the batch (airbench's): the gradients are those of the summed
   * loss, N times the mean's; the `loss` output stays the batch mean, so logs read alike
   */
  readonly reduction?: 'mean' | 'sum';
};

/**
 * A short description of a loss, for logs.
 *
 * @example
 * describeLoss({ kind: 'bce', targetThreshold: 0.2 }); // → 'binary cross-entropy (target threshold 0.2)'
 */
export function describeLoss(loss: LossSpec): string {
  const name = loss.kind === 'ce' ? 'cross-entropy' : loss.kind === 'bce' ? `binary cross-entropy${loss.targetThreshold === undefined ? '' : ` (target threshold ${loss.targetThreshold})`}` : `focal loss (gamma ${loss.gamma})`;
  const smoothing = loss.labelSmoothing ? `, label smoothing ${loss.labelSmoothing}` : '';
  return `${name}${smoothing}${loss.classWeights ? ', class weights' : ''}${loss.reduction === 'sum' ? ', summed over the batch' : ''}`;
}

export interface StepGraphOptions {
  /** [N, C, H, W] */
  readonly inputShape: readonly number[];
  /** 'hard': int64 class indices [N]; 'soft': float probabilities [N, classes] (mixup, cutmix) */
  readonly target?: 'hard' | 'soft';
  /** the loss (default plain cross-entropy) */
  readonly loss?: LossSpec;
  /** appended update rule; without one the graph outputs `grad.<key>` for every trainable parameter */
  readonly optimizer?: OptimizerEmitter;
  /** per-parameter optimizer constants by state-dict key (src/optim/param-groups.ts); a key not in it uses the optimizer's own */
  readonly paramGroups?: ReadonlyMap<string, ParamGroup>;
  /** gradient clipping before the update (also applied to the gradients a graph without optimizer returns) */
  readonly clipGrad?: GradClip;
  /** 'float64' computes in double (reference-precision parity checks; slow) */
  readonly precision?: 'float32' | 'float64';
  /** keep an exponential moving average of the weights in the graph (needs an optimizer) */
  readonly ema?: StepEma;
  /**
   * float32 convolutions as standard ONNX ('nchw') or on ONNX Runtime's NCHWc kernels where the
   * CPU and the channel counts allow ('nchwc'); default 'auto' (src/runtime/conv-layout.ts)
   */
  readonly convLayout?: ConvLayout;
  /** replaces the classification loss (self-supervised pre-training): the graph then has no `target` input and no `logits` output */
  readonly objective?: StepObjective;
  /**
   * trainable parameters (state-dict keys) this graph leaves as they are, as PyTorch does with
   * `requires_grad = False`: no gradient is computed for them, their value and optimizer state
   * pass through (the EMA still averages them). The graph keeps their inputs and outputs, so
   * graphs with different frozen sets share one TrainingSession's state.
   */
  readonly frozen?: ReadonlySet<string>;
}

/** A graph input an objective adds besides `input`, fed every step. */
export interface StepInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int64';
}

/**
 * A training objective other than classification, such as MAE's reconstruction (src/mae/): it
 * builds the scalar loss from the traced model, the batch and its own per-step inputs, whose
 * values it gives for every step (deterministically in the step, so a resumed run feeds the same).
 */
export interface StepObjective {
  /** for logs, e.g. 'MAE reconstruction of 75% masked patches' */
  readonly description: string;
  readonly inputs: readonly StepInput[];
  /** the loss (inside the trace: call modules through `call`) */
  loss(model: Module, input: Value, inputs: Readonly<Record<string, Value>>): Value;
  /** the inputs' values for a 1-based step, by name */
  feeds(step: number): Readonly<Record<string, Float32Array | BigInt64Array>>;
}

/**
 * The weight-EMA the step graph keeps: `ema.<key>` inputs and `new.ema.<key>` outputs for every
 * trainable parameter, each `ema + w·(new − ema)` with w = 1 − decay (the graph input
 * `ema_weight`, computed per step in JS). Buffers (BatchNorm running statistics,
 * num_batches_tracked) are not averaged unless `buffers` asks for the float ones: the EMA model
 * uses the model's current ones, i.e. copies them, as timm's ModelEmaV3 with
 * `exclude_buffers=True` does. With `copy` the EMA is airbench's lookahead: on a copy step the
 * weights restart from the new average.
 */
export interface StepEma {
  /** w = 1 − decay for a 1-based step */
  readonly weight: (step: number) => number;
  /** average the float buffers the step updates too (BatchNorm running statistics), as airbench's lookahead does */
  readonly buffers?: boolean;
  /**
   * 1 on a step after which the weights (and averaged buffers) restart from the new EMA, else 0
   * (airbench's lookahead: `net_param.copy_(ema_param)`); absent: never
   */
  readonly copy?: (step: number) => number;
}

/** The graph input the EMA weight is fed through. */
export const EMA_WEIGHT_INPUT = 'ema_weight';
/** The graph input that is 1 when the weights restart from the EMA (StepEma.copy). */
export const EMA_COPY_INPUT = 'ema_copy';

/** A named graph input or output bound to a model tensor. */
export interface Binding {
  readonly name: string;
  readonly tensor: StateTensor;
}

export interface StepGraph {
  readonly onnx: Uint8Array;
  /** trainable parameters in state-dict order (graph inputs named by key, outputs `new.<key>` or `grad.<key>`) */
  readonly params: readonly [string, Parameter][];
  /** parameters the model reads but does not train, and buffers that are not updated */
  readonly fixed: readonly [string, StateTensor][];
  /** buffers updated by the step (inputs by key, outputs `new.<key>`) */
  readonly buffers: readonly [string, StateTensor][];
  /** optimizer state inputs `<key>.<slot>`, outputs `new.<key>.<slot>`, per parameter in slot order */
  readonly slots: readonly string[];
  /** the state keys the EMA averages (inputs `ema.<key>`, outputs `new.ema.<key>`), in graph order; empty without `ema` */
  readonly ema: readonly [string, StateTensor][];
  /** per-step scalar inputs (the optimizer's, the EMA weight), fed by the session */
  readonly scalars: readonly StepScalar[];
  /** [] when an objective replaces classification */
  readonly logitsShape: readonly number[];
  /** [] when an objective replaces classification (no `target` input) */
  readonly targetShape: readonly number[];
  readonly targetDtype: DType;
  /** the objective's inputs (empty for classification) */
  readonly objectiveInputs: readonly StepInput[];
}

/**
 * Traces `model` in training mode and writes the step graph.
 *
 * @example
 * const g = buildStepGraph(createModel('cifar_lenet'), { inputShape: [128, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }) });
 * g.params.map(([key]) => key).slice(0, 2); // → ['conv1.weight', 'conv1.bias']
 */
export function buildStepGraph(model: Module, opts: StepGraphOptions): StepGraph {
  model.train();
  const trace = new Trace(model, { weights: 'inputs', precision: opts.precision });
  const float = trace.floatType;
  const g = trace.graph;
  const outputs: GraphOutput[] = [];
  let logitsShape: readonly number[] = [];
  const soft = opts.target === 'soft';
  let targetShape: number[] = [opts.inputShape[0]];
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  if (opts.ema && !opts.optimizer) throw new Error('buildStepGraph: ema needs an optimizer (without one the graph returns gradients)');
  const scalars = stepScalars(opts);
  const averaged: [string, StateTensor, Value][] = [];

  traceWith(trace, () => {
    const input = g.addInput('input', opts.inputShape, float);
    const spec = opts.loss ?? { kind: 'ce' };
    let loss: Value;
    if (opts.objective) {
      const objective = opts.objective;
      const extra = Object.fromEntries(objective.inputs.map((i) => [i.name, g.addInput(i.name, i.shape, i.dtype === 'float32' ? float : 'int64')]));
      loss = objective.loss(model, input, extra);
      targetShape = [];
      outputs.push({ name: 'loss', value: loss });
    } else {
      const logits = model.call(input);
      logitsShape = logits.shape;
      if (soft) targetShape = [...logits.shape];
      const target = g.addInput('target', targetShape, soft ? float : 'int64');
      const w = spec.classWeights;
      const weight = w ? g.addConst({ dtype: float, shape: [w.length], data: float === 'float64' ? Float64Array.from(w) : Float32Array.from(w) }, 'class_weights') : undefined;
      loss = classificationLoss(logits, target, spec, { labelSmoothing: spec.labelSmoothing, weight });
      outputs.push({ name: 'loss', value: loss }, { name: 'logits', value: logits });
    }
    const paramValues = trainable.map(([, p]) => trace.value(p));
    const raw = gradientsUnlessFrozen(spec.reduction === 'sum' && !opts.objective ? mul(loss, opts.inputShape[0]) : loss, trainable, paramValues, opts.frozen);
    const grads = opts.clipGrad ? clipGradients(raw, opts.clipGrad) : raw;
    const optimizer = opts.optimizer;
    const scalarInputs = Object.fromEntries(scalars.map((s) => [s.name, g.addInput(s.name, [], float)]));
    const hyper = optimizer ? { lr: g.addInput('lr', [], float), step: g.addInput('step', [], float), scalars: scalarInputs } : null;
    // one scaled rate per distinct group multiplier
    const scaledLr = new Map<number, Value>();
    const lrOf = (scale: number, lr: Value): Value => {
      if (scale === 1) return lr;
      if (!scaledLr.has(scale)) scaledLr.set(scale, mul(lr, scale));
      return scaledLr.get(scale)!;
    };
    trainable.forEach(([key, p], i) => {
      const grad = grads[i];
      if (!optimizer || !hyper) {
        outputs.push({ name: `grad.${key}`, value: grad ?? zerosFor(trace, p) });
        return;
      }
      const state = optimizer.slots.map((s) => g.addInput(`${key}.${s}`, p.shape, float));
      // a parameter the loss does not reach (or a frozen one) has no gradient: like PyTorch, the optimizer skips it
      const group = opts.paramGroups?.get(key);
      const scaled = group ? lrOf(group.lrScale, hyper.lr) : hyper.lr;
      const groupHyper = group ? { ...hyper, lr: group.lrFactor ? mul(scaled, scalarInputs[group.lrFactor.name]) : scaled } : hyper;
      const next = grad ? optimizer.update(paramValues[i], grad, state, groupHyper, group) : { param: paramValues[i], state };
      averaged.push([key, p, next.param]);
      next.state.forEach((v, k) => outputs.push({ name: `new.${key}.${optimizer.slots[k]}`, value: v }));
    });
    const floatBuffers = opts.ema?.buffers ? [...trace.bufferUpdates].filter(([t]) => t.dtype === 'float32') : [];
    const averagedBuffers = new Set(floatBuffers.map(([t]) => t));
    for (const [t, v] of floatBuffers) averaged.push([trace.keys.get(t)!, t, v]);
    const restarted = opts.ema ? emaOutputs(g, averaged, scalarInputs, outputs, float) : new Map<string, Value>();
    for (const [key, , next] of averaged) outputs.push({ name: `new.${key}`, value: restarted.get(key) ?? next });
    for (const [t, v] of trace.bufferUpdates) if (!averagedBuffers.has(t)) outputs.push({ name: `new.${trace.keys.get(t)}`, value: v });
  });

  const updated = new Set(trace.bufferUpdates.keys());
  const trainableSet = new Set<StateTensor>(trainable.map(([, p]) => p));
  const fixed: [string, StateTensor][] = [];
  const buffers: [string, StateTensor][] = [];
  for (const [t, v] of trace.values) {
    const key = v.name!;
    if (updated.has(t)) buffers.push([key, t]);
    else if (!trainableSet.has(t)) fixed.push([key, t]);
  }
  return {
    onnx: writeOnnx(g, outputs, { nchwcBlock: nchwcBlockFor(opts.convLayout) ?? undefined }),
    params: trainable,
    fixed,
    buffers,
    slots: opts.optimizer?.slots ?? [],
    ema: opts.ema ? averaged.map(([key, t]) => [key, t]) : [],
    scalars,
    logitsShape,
    targetShape,
    targetDtype: soft ? float : 'int64',
    objectiveInputs: opts.objective?.inputs ?? [],
  };
}

/** The loss's gradients with respect to the trainable parameters, null for the frozen ones (none computed). */
function gradientsUnlessFrozen(loss: Value, trainable: readonly [string, Parameter][], values: readonly Value[], frozen: ReadonlySet<string> | undefined): (Value | null)[] {
  for (const key of frozen ?? []) if (!trainable.some(([k]) => k === key)) throw new Error(`buildStepGraph: frozen ${key} is not a trainable parameter`);
  const isFrozen = trainable.map(([key]) => frozen?.has(key) ?? false);
  const grads = gradients(loss, values.filter((_, i) => !isFrozen[i]));
  let next = 0;
  return isFrozen.map((f) => (f ? null : grads[next++]));
}

/** The step graph's per-step scalar inputs: the optimizer's, the parameter groups' rate factors, the EMA's. */
function stepScalars(opts: StepGraphOptions): StepScalar[] {
  const factors = new Map<string, StepScalar>();
  for (const group of opts.paramGroups?.values() ?? []) if (group.lrFactor) factors.set(group.lrFactor.name, group.lrFactor);
  const ema = opts.ema ? [{ name: EMA_WEIGHT_INPUT, value: opts.ema.weight }, ...(opts.ema.copy ? [{ name: EMA_COPY_INPUT, value: opts.ema.copy }] : [])] : [];
  return [...(opts.optimizer?.scalars ?? []), ...factors.values(), ...ema];
}

/**
 * Appends the EMA's inputs `ema.<key>` and outputs `new.ema.<key>` (ema + w·(new − ema)) for
 * every averaged tensor; with `StepEma.copy` returns, by key, the tensors' new values: the new
 * EMA on a copy step, else the step's own (none without `copy`).
 */
function emaOutputs(g: Trace['graph'], averaged: readonly [string, StateTensor, Value][], scalarInputs: Readonly<Record<string, Value>>, outputs: GraphOutput[], float: DType): Map<string, Value> {
  const w = scalarInputs[EMA_WEIGHT_INPUT];
  const copy = scalarInputs[EMA_COPY_INPUT] ? greater(scalarInputs[EMA_COPY_INPUT], 0.5) : null;
  const restarted = new Map<string, Value>();
  for (const [key, t, next] of averaged) {
    const ema = g.addInput(`ema.${key}`, t.shape, float);
    const updated = add(ema, mul(sub(next, ema), w));
    outputs.push({ name: `new.ema.${key}`, value: updated });
    if (copy) restarted.set(key, where(copy, updated, next));
  }
  return restarted;
}

function zerosFor(trace: Trace, p: Parameter): Value {
  const n = p.data.length;
  const zeros: HostTensor = trace.floatType === 'float64' ? { dtype: 'float64', shape: p.shape, data: new Float64Array(n) } : { dtype: 'float32', shape: p.shape, data: new Float32Array(n) };
  return trace.graph.addConst(zeros);
}
