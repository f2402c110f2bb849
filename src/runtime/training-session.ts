/**
 * Runs the training-step graph in onnxruntime-node. Weights, optimizer state and buffers live in
 * two sets of JS buffers: one is fed, the other receives the outputs (pre-allocated), then they
 * swap; a step allocates no tensors. The model's Parameter/Buffer objects always point at the
 * current set, so `model.stateDict()` is up to date after every step.
 *
 * A parameter whose group's rate factor is 0 in a step is frozen in it: the step runs a graph
 * that computes no gradient for it (StepGraphOptions.frozen), as PyTorch skips a parameter with
 * `requires_grad = False`. The session compiles that graph when the frozen set changes (airbench's
 * whitening bias: once, after epoch 3); all its graphs share the same state.
 */
import type { HostTensor } from '../graph/ir.js';
import { Module, StateTensor } from '../nn/module.js';
import type { OptimizerEmitter, ParamGroup } from '../optim/optimizer.js';
import { PREALLOCATED_OUTPUTS } from '#platform/runtime';
import { SessionOptions, createSession, ort } from './ort.js';
import { StepGraph, StepGraphOptions, StepObjective, buildStepGraph } from './step-graph.js';

type Data = Float32Array | BigInt64Array;

/** EMA slots are named `ema.<key>` (graph inputs; outputs `new.ema.<key>`). */
const EMA_PREFIX = 'ema.';

interface Slot {
  /** graph input name; output is `new.<name>` */
  readonly name: string;
  readonly dims: number[];
  /** the model tensor this slot mirrors (optimizer state and the EMA have none) */
  readonly owner: StateTensor | null;
  /** what the slot holds besides the model's own tensors */
  readonly kind: 'model' | 'optimizer' | 'ema';
  cur: Data;
  next: Data;
  curT: ort.Tensor;
  nextT: ort.Tensor;
}

export interface TrainingSessionOptions extends Omit<StepGraphOptions, 'optimizer' | 'precision'>, SessionOptions {
  readonly optimizer: OptimizerEmitter;
}

/** The compiled step graph in use and the parameters it freezes (sorted keys). */
interface Variant {
  readonly frozen: readonly string[];
  readonly session: ort.InferenceSession;
}

export interface StepResult {
  readonly loss: number;
  /** logits of this batch (valid until the next step); null when an objective replaces classification */
  readonly logits: Float32Array | null;
}

/**
 * One compiled training step.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * const session = await TrainingSession.create(model, { inputShape: [8, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }) });
 * const images = new Float32Array(8 * 3 * 32 * 32).fill(0.1); // NCHW, normalized pixels
 * const labels = new BigInt64Array(8); // class 0
 * const { loss } = await session.step(images, labels, 0.1);
 * session.stepCount; // → 1
 * console.log(loss);
 */
export class TrainingSession {
  private readonly slots: Slot[];
  /** feeds and fetches, built once; each step swaps the slot tensors in place */
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor>;
  private lastInput: Float32Array | null = null;
  private lastTarget: BigInt64Array | Float32Array | null = null;
  /** the fetched loss and logits: ORT writes them into these arrays (the fetch tensors' data) */
  private readonly lossData = new Float32Array(1);
  private readonly logitsData: Float32Array;
  private readonly loss = new ort.Tensor('float32', this.lossData, []);
  private readonly logits: ort.Tensor;
  private readonly lrData = new Float32Array(1);
  private readonly stepData = new Float32Array(1);
  private readonly lrT = new ort.Tensor('float32', this.lrData, []);
  private readonly stepT = new ort.Tensor('float32', this.stepData, []);
  /** the graph's per-step scalars (StepGraph.scalars) and the arrays their tensors feed */
  private readonly scalarData: readonly { readonly value: (step: number) => number; readonly data: Float32Array }[];
  /** the objective's per-step inputs (StepGraphOptions.objective), fed before every step */
  private readonly objective: StepObjective | null;
  readonly inputShape: readonly number[];
  /** optimizer steps taken so far */
  stepCount = 0;
  /** the step graph in use: the one whose frozen parameters are the current step's (graphFor) */
  private variant: Variant;

  private constructor(
    readonly model: Module,
    readonly graph: StepGraph,
    variant: Variant,
    private readonly options: TrainingSessionOptions,
  ) {
    this.variant = variant;
    this.inputShape = options.inputShape;
    this.objective = options.objective ?? null;
    this.logitsData = new Float32Array(graph.logitsShape.reduce((a, b) => a * b, 1));
    this.logits = new ort.Tensor('float32', this.logitsData, [...graph.logitsShape]);
    const slots: Slot[] = [];
    // optimizer state starts at zero; the EMA starts as a copy of the model (timm deep-copies it)
    const add = (name: string, kind: Slot['kind'], template: StateTensor) => {
      const owner = kind === 'model' ? template : null;
      const copy = kind === 'ema' && template.data instanceof Float32Array ? Float32Array.from(template.data) : null;
      const cur: Data = owner ? owner.data : (copy ?? new Float32Array(template.data.length));
      const next: Data = cur instanceof BigInt64Array ? new BigInt64Array(cur.length) : new Float32Array(cur.length);
      const dims = [...template.shape];
      slots.push({ name, dims, owner, kind, cur, next, curT: tensor(cur, dims), nextT: tensor(next, dims) });
    };
    for (const [key, p] of graph.params) {
      add(key, 'model', p);
      for (const s of graph.slots) add(`${key}.${s}`, 'optimizer', p);
    }
    for (const [key, b] of graph.buffers) add(key, 'model', b);
    for (const [key, t] of graph.ema) add(`ema.${key}`, 'ema', t);
    this.slots = slots;
    this.feeds = { lr: this.lrT, step: this.stepT };
    this.scalarData = graph.scalars.map((sc) => {
      const data = new Float32Array(1);
      this.feeds[sc.name] = new ort.Tensor('float32', data, []);
      return { value: sc.value, data };
    });
    for (const [key, t] of graph.fixed) this.feeds[key] = tensor(t.data, [...t.shape]);
    this.fetches = this.objective ? { loss: this.loss } : { loss: this.loss, logits: this.logits };
    for (const s of slots) {
      this.feeds[s.name] = s.curT;
      this.fetches[`new.${s.name}`] = s.nextT;
    }
  }

  static async create(model: Module, opts: TrainingSessionOptions): Promise<TrainingSession> {
    const { graph, variant } = await compileStep(model, opts, 1);
    return new TrainingSession(model, graph, variant, opts);
  }

  /** the ORT session of the step graph in use */
  get session(): ort.InferenceSession {
    return this.variant.session;
  }

  /** the trainable parameters (state-dict keys) the last step's graph froze: their rate factor was 0 */
  get frozen(): readonly string[] {
    return this.variant.frozen;
  }

  /** compiles the step graph for step `step` if its frozen parameters differ from the current graph's */
  private async graphFor(step: number): Promise<void> {
    if (frozenAt(this.options.paramGroups, step).join('\n') === this.variant.frozen.join('\n')) return;
    const previous = this.variant.session;
    this.variant = (await compileStep(this.model, this.options, step)).variant;
    await previous.release();
  }

  /**
   * One optimizer step on a batch; `target` is int64 labels or float soft targets. Feeding the
   * same arrays again (a loader refilling its buffers) reuses their ORT tensors.
   */
  async step(input: Float32Array, target: BigInt64Array | Float32Array, lr: number): Promise<StepResult> {
    await this.graphFor(this.stepCount + 1);
    this.lrData[0] = lr;
    this.stepData[0] = this.stepCount + 1;
    for (const sc of this.scalarData) sc.data[0] = sc.value(this.stepCount + 1);
    const feeds = this.feeds;
    if (this.lastInput !== input) {
      feeds.input = new ort.Tensor('float32', input, [...this.inputShape]);
      this.lastInput = input;
    }
    if (this.objective) this.feedObjective();
    else if (this.lastTarget !== target) {
      feeds.target = target instanceof BigInt64Array ? new ort.Tensor('int64', target, [...this.graph.targetShape]) : new ort.Tensor('float32', target, [...this.graph.targetShape]);
      this.lastTarget = target;
    }
    // onnxruntime-node writes into the fetch tensors; onnxruntime-web leaves pre-allocated CPU
    // outputs unwritten, so there ORT allocates them and they are copied in
    const out = await this.session.run(feeds, PREALLOCATED_OUTPUTS ? this.fetches : Object.keys(this.fetches));
    for (const [name, fetch] of Object.entries(this.fetches)) if (out[name] !== fetch) copyInto(out[name], fetch);
    for (const s of this.slots) {
      [s.cur, s.next] = [s.next, s.cur];
      [s.curT, s.nextT] = [s.nextT, s.curT];
      feeds[s.name] = s.curT;
      this.fetches[`new.${s.name}`] = s.nextT;
      if (s.owner) s.owner.data = s.cur;
    }
    this.stepCount++;
    return { loss: this.lossData[0], logits: this.objective ? null : this.logitsData };
  }

  /** the objective's inputs for the coming step */
  private feedObjective(): void {
    const values = this.objective?.feeds(this.stepCount + 1) ?? {};
    for (const input of this.graph.objectiveInputs) {
      const data = values[input.name];
      const size = input.shape.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size || (data instanceof BigInt64Array) !== (input.dtype === 'int64')) throw new Error(`objective input ${input.name}: expected ${input.dtype} [${input.shape.join(', ')}]`);
      this.feeds[input.name] = tensor(data, [...input.shape]);
    }
  }

  /** Optimizer state as `<key>.<slot>` → data (for checkpoints). */
  optimizerState(): Map<string, Float32Array> {
    const state = new Map<string, Float32Array>();
    // optimizer state is float32 (see the constructor's `add`)
    for (const s of this.slots) if (s.kind === 'optimizer' && s.cur instanceof Float32Array) state.set(s.name, s.cur);
    return state;
  }

  /**
   * The weight EMA (StepGraphOptions.ema) by state-dict key: every trainable parameter and float
   * buffer the step updates, as live views (valid until the next step); empty without an EMA.
   * The model's other state (integer buffers, fixed tensors) is the EMA's too.
   */
  emaState(): Map<string, HostTensor> {
    const state = new Map<string, HostTensor>();
    for (const s of this.slots) if (s.kind === 'ema' && s.cur instanceof Float32Array) state.set(s.name.slice(EMA_PREFIX.length), { dtype: 'float32', shape: s.dims, data: s.cur });
    return state;
  }

  /** Restores an EMA saved by `emaState` (keys and sizes must match; the caller checks). */
  loadEmaState(state: ReadonlyMap<string, HostTensor>): void {
    for (const s of this.slots) {
      const src = s.kind === 'ema' ? state.get(s.name.slice(EMA_PREFIX.length)) : undefined;
      if (src && s.cur instanceof Float32Array && src.data instanceof Float32Array) s.cur.set(src.data);
    }
  }

  /** Restores optimizer state saved by `optimizerState` (and the step count). */
  loadOptimizerState(state: ReadonlyMap<string, Float32Array>, stepCount: number): void {
    for (const s of this.slots) {
      const src = s.kind === 'optimizer' ? state.get(s.name) : undefined;
      if (src && s.cur instanceof Float32Array) s.cur.set(src);
    }
    this.stepCount = stepCount;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** the step graph of 1-based `step` (its parameters whose rate factor is then 0 frozen), loaded in ORT */
async function compileStep(model: Module, opts: TrainingSessionOptions, step: number): Promise<{ graph: StepGraph; variant: Variant }> {
  const frozen = frozenAt(opts.paramGroups, step);
  const graph = buildStepGraph(model, { ...opts, frozen: new Set(frozen) });
  return { graph, variant: { frozen, session: await createSession(graph.onnx, opts) } };
}

/** the keys of the parameters whose group's rate factor is 0 at 1-based `step`, sorted */
function frozenAt(groups: ReadonlyMap<string, ParamGroup> | undefined, step: number): string[] {
  return [...(groups ?? [])].filter(([, g]) => g.lrFactor?.value(step) === 0).map(([key]) => key).sort();
}

function copyInto(from: ort.Tensor, to: ort.Tensor): void {
  const src = from.data;
  const dst = to.data;
  if (src instanceof Float32Array && dst instanceof Float32Array) dst.set(src);
  else if (src instanceof BigInt64Array && dst instanceof BigInt64Array) dst.set(src);
  else throw new Error(`training step output ${from.type} cannot be copied into ${to.type}`);
}

function tensor(data: Data, dims: number[]): ort.Tensor {
  return data instanceof BigInt64Array ? new ort.Tensor('int64', data, dims) : new ort.Tensor('float32', data, dims);
}
