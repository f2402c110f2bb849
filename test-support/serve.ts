/**
 * For the `tessera serve` tests: a seconds-long LeNet run on synthetic images, raw HTTP requests
 * (partial, slow or abandoned bodies, which fetch cannot send), the CLI server as a child process,
 * and a model whose runs wait for the test to open a gate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { train } from '../src/train/trainer.js';
import type { ServedModel } from '../src/serve/model.js';
import type { ServeOptions } from '../src/serve/server.js';
import { BIN, ROOT } from './cli.js';
import { makeImageFolder, tinyRunOptions } from './image-folder.js';

/** The classes of `tinyServeRun`'s images. */
export const SERVE_CLASSES = ['blue', 'green', 'red'];

/** Trains LeNet for one epoch on 6 PNGs per class under `dir`; resolves to the run folder and the data folder. */
export async function tinyServeRun(dir: string): Promise<{ run: string; data: string }> {
  const data = join(dir, 'data');
  const run = join(dir, 'run');
  await makeImageFolder(data, SERVE_CLASSES, 6);
  await train(tinyRunOptions(data, run, { epochs: 1 }), { sink: { write: () => true } });
  return { run, data };
}

/** Server options for tests: loopback, any port, small bounds; `more` overrides. */
export function testServeOptions(more: Partial<ServeOptions> = {}): ServeOptions {
  return { name: 'lenet', host: '127.0.0.1', port: 0, maxBatch: 8, maxDelayMs: 5, maxQueue: 16, maxBody: 1_000_000, bodyTimeoutMs: 2000, decodeWorkers: 1, maxPixels: 1_000_000, ...more };
}

/** A raw HTTP request. */
export interface RawRequest {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  /** sent whole */
  readonly body?: Uint8Array | string;
  /** sent piece by piece, each after its delay (slow clients); the request is ended after the last unless `open` */
  readonly pieces?: readonly { readonly data: Uint8Array | string; readonly afterMs: number }[];
  /** leave the body unfinished (the server must answer without it) */
  readonly open?: boolean;
}

export interface RawReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** Sends `r` to `url`; resolves to the answer (status, headers, body text). */
export function send(url: string, r: RawRequest = {}, signal?: AbortSignal): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: r.method ?? 'GET', headers: r.headers, signal, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    // the server may answer and close before a refused body is sent whole: the answer may still be
    // arriving, so a reset fails the request only when no answer follows it
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ECONNRESET') setTimeout(() => reject(new Error(`${url}: the connection was reset (${e.code}) and no answer came`)), 2000);
      else reject(e);
    });
    if (r.body !== undefined) req.write(r.body);
    void (async () => {
      for (const p of r.pieces ?? []) {
        await new Promise((w) => setTimeout(w, p.afterMs));
        if (req.destroyed) return;
        req.write(p.data);
      }
      if (!r.open) req.end();
    })();
  });
}

/** The JSON of a reply (throws naming the text when it is not JSON). */
export function replyJson(reply: RawReply): unknown {
  try {
    return JSON.parse(reply.text);
  } catch {
    throw new Error(`not JSON (status ${reply.status}): ${reply.text.slice(0, 200)}`);
  }
}

/** The `error` line of a JSON error reply (throws when the reply is not one). */
export function replyError(reply: RawReply): string {
  const json = replyJson(reply);
  if (typeof json !== 'object' || json === null || !('error' in json) || typeof json.error !== 'string' || !json.error) throw new Error(`not a JSON error (status ${reply.status}): ${reply.text.slice(0, 200)}`);
  return json.error;
}

/** One value of the Prometheus text, by its full series name (with labels), or NaN. */
export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : NaN;
}

/** `model` whose runs wait until `open()` (and every run after it runs at once). */
export function gatedModel(model: ServedModel): { model: ServedModel; open(): void; readonly started: number } {
  let opened = false;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const state = {
    started: 0,
    model: {
      ...model,
      run: async (input: Float32Array, n: number) => {
        state.started++;
        if (!opened) await gate;
        return model.run(input, n);
      },
    },
    open: () => {
      opened = true;
      release();
    },
  };
  return state;
}

/** `tessera serve` running as a child process. */
export interface ServeChild {
  readonly url: string;
  readonly child: ChildProcess;
  /** everything printed so far */
  output(): string;
  /** resolves to the exit code once it has exited */
  readonly exited: Promise<number | null>;
}

/** Starts `tessera serve ARGS --port 0` and resolves once it prints its URL. */
export function spawnServe(args: readonly string[]): Promise<ServeChild> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = / at (http:\/\/\S+)\n/.exec(out);
      if (m) resolve({ url: m[1], child, output: () => out, exited });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`tessera serve exited (${code}) before listening: ${out}`)));
  });
}

/** SIGTERMs `server` and resolves to its exit code; SIGKILLs it and throws when it has not exited within `ms`. */
export async function stopServe(server: ServeChild, ms = 20_000): Promise<number | null> {
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const code = await Promise.race([server.exited, late]);
  clearTimeout(timer);
  if (code !== 'late') return code;
  server.child.kill('SIGKILL');
  throw new Error(`tessera serve had not exited ${ms / 1000} s after SIGTERM: ${server.output()}`);
}
