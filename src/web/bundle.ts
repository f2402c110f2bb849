/**
 * Bundles the web page's script (./page.ts, with the browser entry ./index.ts and every model
 * family of the zoo) into one ES module with esbuild, for the browser: "#platform/*" resolves
 * to src/platform/browser/, onnxruntime-web to its build that loads the .wasm/.mjs files from a
 * folder at run time. Node-only; runs from the compiled dist/ files.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { modelFiles } from '../models/index.js';

/** dist/src/ (this file is dist/src/web/bundle.js) */
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Files of src/models/ that load weights from files or the network (Node's side of "#platform/model-files"), not model families. */
const NODE_ONLY_MODEL_FILES: ReadonlySet<string> = new Set(['./pretrained.js']);

/** onnxruntime-web's files the page loads at run time (copied next to the bundle), in the package's dist/. */
export const ORT_WEB_FILES: readonly string[] = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/** The bundle and what went into it. */
export interface WebBundle {
  readonly code: string;
  /** every module the bundle reached (paths relative to the package root) */
  readonly inputs: readonly string[];
  /** module specifiers left for the browser to resolve (none expected) */
  readonly external: readonly string[];
}

/**
 * The page bundle: the model families first (each registers itself), then ./page.js.
 *
 * @example
 * const { code, inputs } = await bundleWebPage();
 * inputs.some((f) => f.includes('onnxruntime-node')); // → false
 */
export async function bundleWebPage(entry = 'page.js'): Promise<WebBundle> {
  const families = modelFiles().filter((f) => !NODE_ONLY_MODEL_FILES.has(f)).map((f) => join(SRC, 'models', f));
  const contents = [...families, join(SRC, 'web', entry)].map((f) => `import ${JSON.stringify(f)};`).join('\n');
  const external: string[] = [];
  const result = await build({
    stdin: { contents, resolveDir: SRC, sourcefile: 'tessera-web-entry.js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    conditions: ['onnxruntime-web-use-extern-wasm'],
    plugins: [
      {
        name: 'no-node',
        setup(b) {
          // a Node built-in or Node-only package reached from the page is a bug: record it, fail below
          b.onResolve({ filter: /^(node:|onnxruntime-node$|sharp$)/ }, (args) => {
            external.push(`${args.path} (from ${args.importer})`);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  if (external.length) throw new Error(`the web bundle reaches Node-only modules:\n  ${external.join('\n  ')}`);
  return { code: result.outputFiles[0].text, inputs: Object.keys(result.metafile.inputs), external };
}
