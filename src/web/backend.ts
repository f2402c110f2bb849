/**
 * Where the page classifies: onnxruntime-web's WebGPU execution provider when the browser gives
 * a WebGPU adapter, WebAssembly otherwise or when WebGPU cannot run the model (an unsupported
 * op, a lost device). The WebGPU build of onnxruntime-web (its own module and
 * ort-wasm-simd-threaded.asyncify.{mjs,wasm}) is imported only when an adapter exists: esbuild
 * puts it in a chunk of its own (./bundle.ts). Training always runs on WebAssembly.
 */
import { ort } from '#platform/runtime';

/** One preprocessed image (NCHW float32, batch 1) in, its logits out; `backend` says where it ran. */
export interface Classifier {
  /** "WebGPU" or "WASM, N threads" */
  readonly backend: string;
  /** the logits, and the milliseconds the model took (waiting for an earlier run not counted) */
  run(input: Float32Array): Promise<{ readonly logits: Float32Array; readonly ms: number }>;
}

/** A classifier and, when WebGPU was there but could not be used, why (for the page to say). */
export interface ChosenClassifier {
  readonly classifier: Classifier;
  readonly webgpuFailure: string | null;
}

/** The part of the WebGPU API the page uses (TypeScript's DOM library does not declare it yet). */
interface WebGpu {
  requestAdapter(): Promise<object | null>;
}

function hasWebGpu(nav: Navigator): nav is Navigator & { readonly gpu: WebGpu } {
  return 'gpu' in nav && typeof nav.gpu === 'object' && nav.gpu !== null && 'requestAdapter' in nav.gpu && typeof nav.gpu.requestAdapter === 'function';
}

/** The browser's WebGPU adapter, or null when it has none (no API, no adapter, or the request failed). */
export async function webGpuAdapter(): Promise<object | null> {
  if (typeof navigator === 'undefined' || !hasWebGpu(navigator)) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

/** The name the page shows for WebAssembly with `threads` threads. */
export function wasmBackendName(threads: number): string {
  return `WASM, ${threads} thread${threads === 1 ? '' : 's'}`;
}

/**
 * `run` queued one call at a time and timed from its own start: an onnxruntime-web session runs
 * one call at once (images dropped while a camera capture is being classified would start a
 * second one, on which the WebGPU build hangs the page).
 */
function oneAtATime(run: (input: Float32Array) => Promise<Float32Array>): Classifier['run'] {
  let last: Promise<unknown> = Promise.resolve();
  return (input) => {
    const next = last.then(async () => {
      const t0 = performance.now();
      const logits = await run(input);
      return { logits, ms: performance.now() - t0 };
    });
    last = next.catch(() => undefined);
    return next;
  };
}

/** The logits output of a run, checked to be float32. */
function logitsOf(out: Readonly<Record<string, { readonly data: unknown }>>): Float32Array {
  const data = out.logits?.data;
  if (!(data instanceof Float32Array)) throw new Error('the model gave no float32 "logits" output');
  return data;
}

/** `model` (ONNX bytes with input "input" [N, 3, size, size] and output "logits") on WebAssembly. */
export async function wasmClassifier(model: Uint8Array, size: number): Promise<Classifier> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return {
    backend: wasmBackendName(ort.env.wasm.numThreads ?? 1),
    run: oneAtATime(async (input) => logitsOf(await session.run({ input: new ort.Tensor('float32', input, [1, 3, size, size]) }))),
  };
}

/**
 * The WebGPU execution provider's options. Channels-first: onnxruntime-web 1.30's default for
 * WebGPU is channels-last, whose vectorized Conv miscomputes when the input channels are a
 * multiple of 3 but not of 4 (6 or 18 channels, k > 1: cifar_lenet's conv2 gave logits off by 15%
 * on SwiftShader; the same convolutions channels-first match WASM to 1e-6; compare
 * microsoft/onnxruntime#29651, a related open report).
 */
const WEBGPU_PROVIDER = { name: 'webgpu', preferredLayout: 'NCHW' } as const;

/** `model` on WebGPU through `adapter`, with onnxruntime-web's WebGPU build (loaded on first use, set up like the WebAssembly one). */
export async function webGpuClassifier(model: Uint8Array, size: number, adapter: object): Promise<Classifier> {
  const gpuOrt = await import('onnxruntime-web/webgpu');
  gpuOrt.env.wasm.wasmPaths = ort.env.wasm.wasmPaths;
  gpuOrt.env.wasm.numThreads = ort.env.wasm.numThreads;
  gpuOrt.env.logLevel = 'error';
  gpuOrt.env.webgpu.adapter = adapter;
  const session = await gpuOrt.InferenceSession.create(model, { executionProviders: [WEBGPU_PROVIDER], graphOptimizationLevel: 'all' });
  return {
    backend: 'WebGPU',
    run: oneAtATime(async (input) => logitsOf(await session.run({ input: new gpuOrt.Tensor('float32', input, [1, 3, size, size]) }))),
  };
}

/**
 * The classifier for `model`: WebGPU when `adapter` is given and a session can be made there,
 * WebAssembly otherwise (with the reason WebGPU failed, when it did).
 */
export async function chooseClassifier(model: Uint8Array, size: number, adapter: object | null): Promise<ChosenClassifier> {
  if (adapter) {
    try {
      return { classifier: await webGpuClassifier(model, size, adapter), webgpuFailure: null };
    } catch (e) {
      // onnxruntime-web throws a bare number (an Emscripten exception) when its WebGPU device cannot be set up
      const why = e instanceof Error ? e.message.split('\n')[0] : `onnxruntime-web's WebGPU backend failed to start (${String(e)})`;
      return { classifier: await wasmClassifier(model, size), webgpuFailure: why };
    }
  }
  return { classifier: await wasmClassifier(model, size), webgpuFailure: null };
}
