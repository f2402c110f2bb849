/**
 * The model zoo. Every file under src/models/ (and its subfolders) is imported here, so each
 * family file's `defineFamily` call registers its configs: a new family is one new file, with
 * no list to edit. Files that define no family (blocks, helpers) import without effect.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export * from './registry.js';
export { PretrainedWeightsError, downloadPretrained, findPretrainedFile, pretrainedPaths } from './pretrained.js';
export type { PretrainedLoad } from './pretrained.js';

/** The modules under this folder, as import specifiers relative to it, in sorted order. */
export function modelFiles(): string[] {
  const own = fileURLToPath(import.meta.url);
  const ext = own.slice(own.lastIndexOf('.'));
  const dir = fileURLToPath(new URL('.', import.meta.url));
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && f !== `index${ext}`)
    .sort()
    .map((f) => `./${f}`);
}

for (const file of modelFiles()) await import(file);
