/**
 * The browser side of Tessera's platform seam (package.json `imports` "#platform/runtime", condition
 * `browser`, which esbuild's browser platform picks): ONNX Runtime is onnxruntime-web, and
 * there is no file system, environment or /proc/cpuinfo. Each export has the type of its Node
 * twin in ../node/runtime.ts, so code written against "#platform/runtime" compiles for both.
 */
import type * as NodePlatform from '../node/runtime.js';

export * as ort from 'onnxruntime-web/wasm';

/** Where the engine runs. */
export const PLATFORM: typeof NodePlatform.PLATFORM = 'browser';

/** onnxruntime-web 1.30 returns pre-allocated CPU output tensors unwritten: let it allocate them. */
export const PREALLOCATED_OUTPUTS: typeof NodePlatform.PREALLOCATED_OUTPUTS = false;

/** A web page has no file system: the Node-only file functions say so when called. */
function noFileSystem(what: string): () => never {
  return () => {
    throw new Error(`${what} needs a file system: in a web page, pass bytes instead (parseSafetensors, serializeSafetensors, exportInferenceOnnx)`);
  };
}

export const readFileSync: typeof NodePlatform.readFileSync = noFileSystem('reading a file');
export const writeFileAtomic: typeof NodePlatform.writeFileAtomic = noFileSystem('writing a file');

/** The last segment of a slash-separated path (a URL's or a file name's). */
export const basename: typeof NodePlatform.basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** A web page has no environment variables. */
export const environment: typeof NodePlatform.environment = () => undefined;

/** A web page cannot read CPU flags: WebAssembly has no NCHWc kernels anyway. */
export const cpuinfo: typeof NodePlatform.cpuinfo = () => '';

/** The folder part of a slash-separated path ('.' where there is none). */
export const dirname: typeof NodePlatform.dirname = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) || '/' : '.');

/** Models with an external data file (over 2 GB of weights) need files: a web page has none. */
export const readFileRange: typeof NodePlatform.readFileRange = noFileSystem('reading ONNX external data');
export const stageOnnxFiles: typeof NodePlatform.stageOnnxFiles = noFileSystem('writing an ONNX model with external data');
export const withModelFiles: typeof NodePlatform.withModelFiles = noFileSystem('running an ONNX model with external data (over 2 GB of weights)');
