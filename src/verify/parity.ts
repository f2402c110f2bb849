/**
 * Parity against PyTorch reference fixtures (format: shared/README.md): loads the stored weights,
 * recomputes eval logits, train logits, loss, gradients and running statistics, and compares
 * each reference tensor with its tolerance from the fixture's metadata.
 */
import { UserError } from '../errors.js';
import { HostTensor } from '../graph/ir.js';
import { Module } from '../nn/module.js';
import { Dropout } from '../nn/layers.js';
import { StochasticDepth } from '../nn/stochastic.js';
import { readSafetensors, SafetensorsFile } from '../io/safetensors.js';
import { buildStepGraph } from '../runtime/step-graph.js';
import { InferenceModel } from '../runtime/inference.js';
import { createSession, ort, toOrt } from '../runtime/ort.js';

export type TensorKind = 'logits' | 'loss' | 'grad' | 'running';

export interface TensorCheck {
  readonly key: string;
  readonly kind: TensorKind;
  readonly maxError: number;
  /** the largest error the rule allows */
  readonly allowed: number;
  readonly rtol: number;
  readonly ok: boolean;
}

export interface ParityReport {
  readonly checks: readonly TensorCheck[];
  readonly ok: boolean;
}

const REFERENCE_PREFIXES = ['input', 'target', 'logits.', 'loss.', 'grad.', 'running.'];
const isReference = (k: string) => REFERENCE_PREFIXES.some((p) => k === p || (p.endsWith('.') && k.startsWith(p)));

/** A fixture that is unreadable or lacks what the check needs; the user's to fix. */
export class FixtureError extends UserError {}

/** The state dict stored in a fixture (every entry that is not a reference tensor). */
export function fixtureStateDict(f: SafetensorsFile): Map<string, HostTensor> {
  return new Map([...f.tensors].filter(([k]) => !isReference(k)));
}

/**
 * Sets every Dropout's and StochasticDepth's probability, and every numeric `dropConnectRate` (drop-connect / stochastic
 * depth), to zero (the fixtures' train-mode outputs are computed so).
 */
export function disableDropout(model: Module): void {
  for (const [, m] of model.namedModules()) {
    if (m instanceof Dropout || m instanceof StochasticDepth) m.p = 0;
    else if (typeof (m as { dropConnectRate?: unknown }).dropConnectRate === 'number') Object.assign(m, { dropConnectRate: 0 });
  }
}

/** How `checkFixture` runs the model. */
export interface ParityOptions {
  /**
   * 'float64' (default) runs the graphs in double, as the references were computed, so the check
   * measures the port and not float32 rounding (which can flip a ReLU mask at a pre-activation of
   * 1e-9 and move a gradient far outside the fixture tolerances); 'float32' runs the training precision.
   */
  readonly precision?: 'float32' | 'float64';
}

/**
 * Checks `model` against a fixture file; `model` gets the fixture's weights.
 *
 * @example
 * // ../shared/fixtures (see ../shared/README.md): the PyTorch reference for pytorch-cifar's LeNet
 * const report = await checkFixture(createModel('cifar_lenet'), '../shared/fixtures/pc_lenet.safetensors');
 * // ok: every tensor is within its tolerance
 * report.ok; // → true
 */
export async function checkFixture(model: Module, path: string | SafetensorsFile, opts: ParityOptions = {}): Promise<ParityReport> {
  const precision = opts.precision ?? 'float64';
  const feed = (t: HostTensor) => toOrt(precision === 'float64' ? toFloat64(t) : t);
  // ORT's extended fusions (e.g. x·sigmoid(x) into a float32-only QuickGelu) do not exist in double
  const optimization = precision === 'float64' ? 'basic' : 'all';
  const f = typeof path === 'string' ? readSafetensors(path) : path;
  const rtol = parseJson<Record<string, number>>(f.metadata.rtol, 'rtol');
  const floorMeta = parseJson<Record<string, number>>(f.metadata.floor, 'floor');
  const input = need(f, 'input');
  const target = need(f, 'target');
  const state = fixtureStateDict(f);
  model.loadStateDict(state);
  disableDropout(model);
  const checks: TensorCheck[] = [];
  const compare = (key: string, kind: TensorKind, ours: ArrayLike<number>) => {
    const ref = need(f, key);
    checks.push(compareTensor(key, kind, ours, ref.data as Float32Array, rtol[key] ?? 1e-4, kind === 'loss' ? 0 : floorMeta[kind] ?? 0));
  };

  if (f.tensors.has('logits.eval')) {
    const inf = await InferenceModel.create(model, { inputShape: input.shape, precision, optimization });
    compare('logits.eval', 'logits', toNumbers((await inf.session.run({ input: feed(input) })).logits.data));
    await inf.release();
  }

  const graph = buildStepGraph(model, { inputShape: input.shape, precision });
  const session = await createSession(graph.onnx, { optimization });
  const feeds: Record<string, ort.Tensor> = { input: feed(input), target: feed(target) };
  for (const [key, t] of [...graph.params, ...graph.fixed, ...graph.buffers]) feeds[key] = feed(t);
  const out = await session.run(feeds);
  await session.release();
  if (f.tensors.has('logits.train')) compare('logits.train', 'logits', toNumbers(out.logits.data));
  if (f.tensors.has('loss.train')) compare('loss.train', 'loss', toNumbers(out.loss.data));
  for (const key of f.tensors.keys()) {
    if (key.startsWith('grad.')) {
      const o = out[key];
      if (!o) throw new FixtureError(`fixture has ${key} but the model has no trainable parameter ${key.slice(5)}`);
      compare(key, 'grad', toNumbers(o.data));
    } else if (key.startsWith('running.')) {
      const bufferKey = key.slice(8);
      const o = out[`new.${bufferKey}`];
      // a BatchNorm the forward pass never runs keeps its statistics, as in PyTorch
      const unchanged = state.get(bufferKey);
      if (!o && !unchanged) throw new FixtureError(`fixture has ${key} but the model has no buffer ${bufferKey}`);
      compare(key, 'running', o ? toNumbers(o.data) : toNumbers(unchanged!.data));
    }
  }
  return { checks, ok: checks.every((c) => c.ok) };
}

function toNumbers(d: ort.Tensor['data']): ArrayLike<number> {
  if (d instanceof BigInt64Array) return Array.from(d, Number);
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  throw new FixtureError('unexpected non-numeric output');
}

/** float32 tensors as float64 (other dtypes unchanged) */
function toFloat64(t: HostTensor): HostTensor {
  return t.data instanceof Float32Array ? { dtype: 'float64', shape: t.shape, data: Float64Array.from(t.data) } : t;
}

/** The fixture rule: max|ours − ref| ≤ rtol · max(max|ref|, floor) (loss: rtol · |ref|). */
export function compareTensor(key: string, kind: TensorKind, ours: ArrayLike<number>, ref: ArrayLike<number>, rtol: number, floor: number): TensorCheck {
  if (ours.length !== ref.length) return { key, kind, maxError: Infinity, allowed: 0, rtol, ok: false };
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(ours[i] - ref[i]);
    if (!(e <= maxErr)) maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  const allowed = rtol * Math.max(maxRef, floor);
  return { key, kind, maxError: maxErr, allowed, rtol, ok: maxErr <= allowed };
}

function need(f: SafetensorsFile, key: string): HostTensor {
  const t = f.tensors.get(key);
  if (!t) throw new FixtureError(`fixture has no "${key}" tensor`);
  return t;
}

function parseJson<T>(s: string | undefined, what: string): T {
  if (s === undefined) throw new FixtureError(`fixture metadata has no "${what}"`);
  try {
    return JSON.parse(s) as T;
  } catch {
    throw new FixtureError(`fixture metadata "${what}" is not JSON`);
  }
}
