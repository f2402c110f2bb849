/**
 * Bundles the web page's script (./page.ts, with the browser entry ./index.ts and every model
 * family of the zoo) into ES modules with esbuild, for the browser: "#platform/*" resolves
 * to src/platform/browser/, onnxruntime-web to its build that loads the .wasm/.mjs files from a
 * folder at run time. What the page imports only when it needs it (onnxruntime-web's WebGPU
 * build, ./backend.ts) goes into chunks of its own. Node-only; runs from the compiled dist/ files.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { modelFiles } from '../models/index.js';

/** dist/src/ (this file is dist/src/web/bundle.js) */
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Files of src/models/ that load weights from files or the network (Node's side of "#platform/model-files"), not model families. */
const NODE_ONLY_MODEL_FILES: ReadonlySet<string> = new Set(['./pretrained.js']);

/**
 * onnxruntime-web's files the page loads at run time (copied next to the bundle), in the
 * package's dist/: the WebAssembly build's, then the WebGPU build's (loaded only with WebGPU).
 */
export const ORT_WEB_FILES: readonly string[] = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/** A module the page imports when it needs it, `path` relative to the page's folder. */
export interface BundleChunk {
  readonly path: string;
  readonly code: string;
}

/** Where chunks go, relative to the page's folder. */
const CHUNK_DIR = 'chunks';

/** The bundle and what went into it. */
export interface WebBundle {
  /** the page's script (imports ./chunks/… when it needs them) */
  readonly code: string;
  readonly chunks: readonly BundleChunk[];
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
  const outdir = '/tessera-web';
  const result = await build({
    stdin: { contents, resolveDir: SRC, sourcefile: 'tessera-web-entry.js' },
    bundle: true,
    splitting: true,
    outdir,
    entryNames: 'entry',
    chunkNames: `${CHUNK_DIR}/[name]-[hash]`,
    outExtension: { '.js': '.mjs' },
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
  const files = result.outputFiles.map((f) => ({ path: f.path.slice(outdir.length + 1), code: f.text }));
  const main = files.find((f) => f.path === 'entry.mjs');
  if (!main) throw new Error(`esbuild wrote no entry.mjs (${files.map((f) => f.path).join(', ')})`);
  return { code: main.code, chunks: files.filter((f) => f !== main), inputs: Object.keys(result.metafile.inputs), external };
}
