/**
 * Where the shared PyTorch reference fixtures are: `../shared/fixtures` beside the project root
 * (format and contents: ../shared/README.md). Tests that need them skip when the folder is absent.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared fixtures folder (absolute, with a trailing separator); from dist/test-support/ up to the project's parent. */
export const SHARED_FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** The absolute path of `file` (e.g. 'pc_lenet.safetensors' or 'onnx/tv_vit.onnx') in the shared fixtures. */
export function sharedFixture(file: string): string {
  return join(SHARED_FIXTURES, file);
}
