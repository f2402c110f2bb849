/**
 * ONNX Runtime sessions and conversion between host tensors and ORT tensors. `ort` is
 * onnxruntime-node in Node and onnxruntime-web in the browser build (src/platform/).
 */
import { environment, ort, withModelFiles } from '#platform/runtime';
import { HostTensor, TypedData } from '../graph/ir.js';
import type { OnnxFiles } from '../onnx/external-data.js';

export { ort };

export interface SessionOptions {
  /** intra-op threads (default: 2 or the machine's cores, whichever is smaller... see defaultThreads) */
  readonly threads?: number;
  /** 'all' (default) or 'basic' or 'disabled' */
  readonly optimization?: 'all' | 'basic' | 'extended' | 'disabled';
  /** write ORT's per-op profile to this file prefix */
  readonly profilePrefix?: string;
}

export function defaultThreads(): number {
  const env = Number(environment('TESSERA_THREADS'));
  return env > 0 ? env : Math.max(1, navigatorCores());
}

function navigatorCores(): number {
  return typeof globalThis.navigator !== 'undefined' && globalThis.navigator.hardwareConcurrency ? globalThis.navigator.hardwareConcurrency : 2;
}

/**
 * Creates an ORT CPU session from ONNX bytes, or from a model with its external data file
 * (`writeOnnxFiles`): ONNX Runtime reads external data from beside a model file only, so such
 * a model goes through a temporary folder, removed once the session is created.
 */
export async function createSession(model: Uint8Array | OnnxFiles, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options = sessionOptions(opts);
  if (model instanceof Uint8Array) return ort.InferenceSession.create(model, options);
  if (!model.externalData) return ort.InferenceSession.create(model.model, options);
  return withModelFiles(model, (path) => ort.InferenceSession.create(path, options));
}

function sessionOptions(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    enableProfiling: opts.profilePrefix !== undefined,
    profileFilePrefix: opts.profilePrefix,
    extra: { session: { set_denormal_as_zero: '1' } },
  };
}

const ORT_TYPES = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
} as const;

export function toOrt(t: HostTensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPES[t.dtype], t.data, [...t.shape]);
}

export function fromOrt(t: ort.Tensor): HostTensor {
  const dtype = t.type === 'float32' || t.type === 'float64' || t.type === 'int64' || t.type === 'int32' || t.type === 'bool' || t.type === 'uint8' ? t.type : null;
  const { data } = t;
  if (!dtype || !isTypedData(data)) throw new Error(`unsupported ORT tensor type ${t.type}`);
  return { dtype, shape: [...t.dims], data };
}

function isTypedData(data: ort.Tensor['data']): data is TypedData {
  return data instanceof Float32Array || data instanceof Float64Array || data instanceof BigInt64Array || data instanceof Int32Array || data instanceof Uint8Array;
}
