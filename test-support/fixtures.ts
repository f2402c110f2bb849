/** Where the shared PyTorch reference fixtures live (../shared/fixtures beside the checkout). */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHARED_FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

export function sharedFixture(file: string): string {
  return join(SHARED_FIXTURES, file);
}
