/**
 * `tessera export --web DIR`: a static folder that classifies and fine-tunes in the browser,
 * offline, from any static file server: index.html, the bundle of the page script, the model
 * (model.onnx for inference; weights.safetensors + the model name in preprocessing.json for
 * training), classes.json, two bundled images for `#selftest`, the modules the page loads only
 * when it needs them under chunks/ (onnxruntime-web's WebGPU build), onnxruntime-web's .wasm/.mjs
 * files under ort/ (copied from node_modules: nothing from a CDN), and serve.mjs (a static
 * server with the COOP/COEP headers threads need). Written to a temporary folder, then renamed.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { serializeSafetensors } from '../io/safetensors.js';
import { Module } from '../nn/module.js';
import { exportInferenceOnnx } from '../runtime/inference.js';
import { ORT_WEB_FILES, WebBundle, bundleWebPage } from './bundle.js';
import type { Preprocessing } from './images.js';
import { pageHtml } from './page-html.js';

/** A model with what the page needs to prepare its input and name its classes. */
export interface WebModel {
  readonly model: Module;
  readonly name: string;
  readonly classes: readonly string[];
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly size: number;
  /** the builder arguments and linear probe its checkpoint records (see checkpointModel) */
  readonly structure?: Pick<Preprocessing, 'modelArgs' | 'linearProbe'>;
}

/** What an exported folder holds (file names relative to it). */
export const WEB_FILES = { page: 'index.html', script: 'tessera-web.mjs', onnx: 'model.onnx', weights: 'weights.safetensors', classes: 'classes.json', prep: 'preprocessing.json', selftest: 'selftest.json', server: 'serve.mjs' } as const;

/** examples/images/ of the installed package: two of its images are the page's self-test */
const SELFTEST_IMAGES = ['cat.jpg', 'ship.jpg'].map((f) => fileURLToPath(new URL(`../../../examples/images/${f}`, import.meta.url)));

/**
 * Writes the page folder `dir` (replacing an earlier export there; any other non-empty folder is
 * refused). Resolves to the files written, sorted.
 */
export async function exportWeb(m: WebModel, dir: string, metadata: Readonly<Record<string, string>>): Promise<string[]> {
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length && !existsSync(join(target, WEB_FILES.prep))) {
    throw new UserError(`${dir} exists and is not an exported page: give an empty or new folder to --web`);
  }
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    writeFolder(m, tmp, metadata, await bundleWebPage());
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return listFiles(target);
}

function writeFolder(m: WebModel, dir: string, metadata: Readonly<Record<string, string>>, bundle: WebBundle): void {
  mkdirSync(join(dir, 'ort'), { recursive: true });
  const prep: Preprocessing = { model: m.name, ...m.structure, size: m.size, mean: m.mean, std: m.std };
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  writeFileSync(join(dir, WEB_FILES.page), pageHtml(`Tessera: ${m.name}`, WEB_FILES.script));
  writeFileSync(join(dir, WEB_FILES.script), bundle.code);
  for (const chunk of bundle.chunks) {
    mkdirSync(dirname(join(dir, chunk.path)), { recursive: true });
    writeFileSync(join(dir, chunk.path), chunk.code);
  }
  writeFileSync(join(dir, WEB_FILES.onnx), exportInferenceOnnx(m.model, { inputShape: [1, 3, m.size, m.size], dynamicBatch: true, foldBatchNorms: true, metadata }));
  writeFileSync(join(dir, WEB_FILES.weights), serializeSafetensors(m.model.stateDict(), { model: m.name }));
  writeFileSync(join(dir, WEB_FILES.classes), json(m.classes));
  writeFileSync(join(dir, WEB_FILES.prep), json(prep));
  writeFileSync(join(dir, WEB_FILES.selftest), json(SELFTEST_IMAGES.map((f) => basename(f))));
  for (const image of SELFTEST_IMAGES) copyFileSync(image, join(dir, basename(image)));
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  for (const f of ORT_WEB_FILES) copyFileSync(join(ortDist, f), join(dir, 'ort', f));
  copyFileSync(fileURLToPath(new URL('./static-server.js', import.meta.url)), join(dir, WEB_FILES.server));
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** `tessera export --web DIR` after the checkpoint is loaded: writes the folder, prints what it holds. */
export async function exportWebCommand(m: WebModel, dir: string, metadata: Readonly<Record<string, string>>): Promise<number> {
  const files = await exportWeb(m, dir, metadata);
  process.stdout.write(`wrote ${dir}/ (${m.name}, ${m.classes.length} classes, ${files.length} files: ${files.join(', ')})\nserve it with:  node ${join(dir, WEB_FILES.server)}   (then open the address it prints)\n`);
  return 0;
}
