/**
 * Tessera's browser entry (package.json `exports` condition "browser", or `tessera/web`): the
 * graph IR, ops, autodiff, modules, the model zoo's registry, safetensors from bytes, the step
 * graph and training session, inference, running on onnxruntime-web. Node-only parts (sharp,
 * files, worker threads, the CLI) are not reachable from here; the model families register
 * themselves when their files are imported (the page bundle imports them all, see ./bundle.ts).
 *
 * @example
 * import { configureWasm, createModel, TrainingSession, sgd } from 'tessera';
 * configureWasm({ wasmPaths: './ort/', threads: 4 });
 * const session = await TrainingSession.create(createModel('cifar_lenet'), { inputShape: [8, 3, 32, 32], optimizer: sgd({ momentum: 0.9 }) });
 */
import { ort } from '#platform/runtime';

export { ort, PLATFORM } from '#platform/runtime';
export * from '../graph/ir.js';
export * from '../ops/index.js';
export { gradients } from '../autodiff/grad.js';
export { writeOnnx } from '../onnx/write.js';
export * from '../nn/module.js';
export * from '../nn/layers.js';
export { Rng, manualSeed } from '../nn/init.js';
export * from '../optim/optimizer.js';
export * from '../optim/sgd.js';
export * from '../optim/adamw.js';
export { createModel, createFromConstructor, listModels, modelInfo } from '../models/registry.js';
export { parseSafetensors, serializeSafetensors } from '../io/safetensors.js';
export type { SafetensorsFile } from '../io/safetensors.js';
export { buildStepGraph } from '../runtime/step-graph.js';
export type { StepGraph, StepGraphOptions, LossSpec } from '../runtime/step-graph.js';
export { TrainingSession } from '../runtime/training-session.js';
export type { StepResult, TrainingSessionOptions } from '../runtime/training-session.js';
export { InferenceModel, exportInferenceOnnx } from '../runtime/inference.js';
export { createSession, fromOrt, toOrt } from '../runtime/ort.js';
export { applyTransform, fromInterleaved, normalizeInto, resizeCenterCrop } from '../data/transforms.js';
export type { RgbImage } from '../data/transforms.js';
export * from './images.js';
export * from './teach.js';
export { decodeImage, pixelsOf } from './decode.js';
export * from './backend.js';
export { cameraErrorMessage } from './camera.js';

/** Where onnxruntime-web finds its .wasm/.mjs files, and how many threads it may use. */
export interface WasmSetup {
  /** a URL folder ending in '/' (the exported page copies the files to `ort/`) */
  readonly wasmPaths: string;
  /** 1 runs single-threaded; more needs a cross-origin isolated page (COOP/COEP headers) */
  readonly threads: number;
}

/**
 * Sets up onnxruntime-web before the first session: its files' folder and the thread count
 * (reduced to 1 where the page is not cross-origin isolated, since threads need SharedArrayBuffer).
 * Returns the thread count in force.
 */
export function configureWasm(setup: WasmSetup): number {
  const isolated = typeof globalThis.crossOriginIsolated === 'boolean' && globalThis.crossOriginIsolated;
  const threads = isolated ? Math.max(1, Math.floor(setup.threads)) : 1;
  ort.env.wasm.wasmPaths = setup.wasmPaths;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return threads;
}
