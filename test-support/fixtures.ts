/**
 * Where the shared PyTorch reference fixtures are: `../shared/fixtures` beside the project root
 * (format and contents: ../shared/README.md). The tests need them, as CI has them: a missing one
 * fails its test with one line saying so, never a skip (a skipped check proves nothing).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared fixtures folder (absolute, with a trailing separator); from dist/test-support/ up to the project's parent. */
export const SHARED_FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

/** The absolute path of `file` (e.g. 'pc_lenet.safetensors' or 'onnx/tv_vit.onnx') in the shared fixtures; throws when it is missing. */
export function sharedFixture(file: string): string {
  const path = join(SHARED_FIXTURES, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: the tests need ../shared beside the checkout (see ../shared/README.md)`);
  return path;
}
