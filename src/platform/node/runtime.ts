/**
 * The Node side of Tessera's platform seam (package.json `imports` "#platform/runtime", condition
 * `default`): ONNX Runtime is onnxruntime-node, files and the environment are Node's. The
 * browser build resolves "#platform/runtime" to ../browser/runtime.ts instead, which has the same exports.
 */
import { readFileSync } from 'node:fs';

export * as ort from 'onnxruntime-node';
export { readFileSync };
export { basename } from 'node:path';
export { writeFileAtomic } from '../../util/files.js';
export { dirname } from 'node:path';
export { readFileRange, stageOnnxFiles, withModelFiles } from '../../onnx/onnx-files.js';

/** Where the engine runs. */
export const PLATFORM: 'node' | 'browser' = 'node';

/** Whether `session.run(feeds, fetches)` writes the outputs into the pre-allocated fetch tensors. */
export const PREALLOCATED_OUTPUTS: boolean = true;

/** An environment variable, or undefined where it is not set. */
export function environment(name: string): string | undefined {
  return process.env[name];
}

/** The CPU description the NCHWc layout reads its flags from ('' where there is no /proc/cpuinfo: not Linux). */
export function cpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}
