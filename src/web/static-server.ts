/**
 * A static file server for an exported web page, with the headers that make the page
 * cross-origin isolated (COOP/COEP, so onnxruntime-web may use threads). No dependencies but
 * Node's own modules: `tessera export --web` copies this file into the folder as `serve.mjs`
 * (`node serve.mjs [PORT]` serves the folder it is in), and the tests serve exported pages with it.
 */
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.css': 'text/css',
};

/** A running server: its base URL (ending in '/') and how to stop it. */
export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port) with COOP/COEP headers. */
export function serveFolder(dir: string, port = 0): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith(sep) || path === root ? join(path, 'index.html') : path;
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    stat(file)
      .then((s) => (s.isFile() ? readFile(file) : Promise.reject(new Error('not a file'))))
      .then(
        (body) => res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
        () => res.writeHead(404, headers).end('not found'),
      );
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      ok({ url: `http://127.0.0.1:${bound}/`, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

// `node serve.mjs [PORT]` in an exported folder
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && fileURLToPath(import.meta.url).endsWith('serve.mjs')) {
  const port = Number(process.argv[2] ?? 8080);
  serveFolder(fileURLToPath(new URL('.', import.meta.url)), port).then((s) => process.stdout.write(`serving this folder at ${s.url} (Ctrl-C stops)\n`));
}
