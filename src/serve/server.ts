/**
 * `tessera serve`'s HTTP server (Node's own `http`): routes, dynamic batching, decode workers,
 * bounds and metrics around one served model, and a graceful drain.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Batcher } from './batcher.js';
import { DecodePool } from './decode-pool.js';
import { ClientGone, HttpError, SlotPool } from './limits.js';
import { ServerMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { Answer, ServeContext, findRoute } from './routes.js';

export interface ServeOptions {
  /** the model's name in the routes */
  readonly name: string;
  readonly host: string;
  /** 0: any free port */
  readonly port: number;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  /** images admitted and not yet answered */
  readonly maxQueue: number;
  /** request body bytes */
  readonly maxBody: number;
  /** a body must arrive whole within this many milliseconds */
  readonly bodyTimeoutMs: number;
  /** decode worker threads */
  readonly decodeWorkers: number;
  /** the largest image (width × height) decoded */
  readonly maxPixels: number;
}

/** A listening server. */
export interface RunningServer {
  /** http://HOST:PORT */
  readonly url: string;
  readonly port: number;
  readonly metrics: ServerMetrics;
  readonly batcher: Batcher;
  /**
   * Graceful shutdown: stops accepting connections, answers 503 to new requests, runs what is
   * queued at once, waits for every request in progress to be answered, then closes.
   */
  drain(): Promise<void>;
}

/**
 * Starts serving `model`; resolves once it listens.
 *
 * @example
 * const server = await startServer(await loadServedModel('runs/lenet', { ema: false, tta: 'none', threads: 2 }), { ...options, port: 0 });
 * await fetch(`${server.url}/v2/health/ready`); // 200 {"ready":true}
 * await server.drain();
 */
export async function startServer(model: ServedModel, opts: ServeOptions): Promise<RunningServer> {
  const size = model.transform.size;
  const slots = new SlotPool(opts.maxQueue);
  const metrics = new ServerMetrics(opts.maxBatch, () => slots.used);
  const batcher = new Batcher((input, n) => model.run(input, n), {
    maxBatch: opts.maxBatch,
    maxDelayMs: opts.maxDelayMs,
    floatsPerImage: 3 * size * size,
    outputsPerImage: model.classes.length,
    observe: (n, seconds, queued) => {
      metrics.batch(n, seconds);
      for (const q of queued) metrics.queueTime.observe(q);
    },
  });
  const decoder = new DecodePool(opts.decodeWorkers, model.transform, opts.maxPixels);
  let draining = false;
  const ctx: ServeContext = {
    signature: { name: opts.name, size, classes: model.classes },
    model,
    batcher,
    decoder,
    slots,
    metrics,
    body: { maxBytes: opts.maxBody, timeoutMs: opts.bodyTimeoutMs },
    draining: () => draining,
  };
  const inFlight = new InFlight();
  const server = createServer((req, res) => {
    inFlight.enter();
    res.once('close', () => inFlight.leave());
    void answer(req, res, ctx);
  });
  server.headersTimeout = opts.bodyTimeoutMs;
  server.requestTimeout = opts.bodyTimeoutMs * 2;
  const port = await listen(server, opts.host, opts.port).catch(async (e: unknown) => {
    await decoder.close();
    throw e;
  });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const drain = async () => {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await batcher.drain();
    await inFlight.idle();
    server.closeIdleConnections();
    await closed;
    await decoder.close();
  };
  return { url: `http://${host}:${port}`, port, metrics, batcher, drain };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error(`the server listens on ${address}, not a TCP port`));
      else resolve(address.port);
    });
  });
}

/** Requests being answered, and a wait for none. */
class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Routes one request and writes its answer (JSON errors included), counting it in the metrics. */
async function answer(req: IncomingMessage, res: ServerResponse, ctx: ServeContext): Promise<void> {
  const started = performance.now();
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  const url = new URL(req.url ?? '/', 'http://localhost');
  let route = 'other';
  let result: Answer;
  let headers: Readonly<Record<string, string>> = {};
  try {
    const found = findRoute(req.method ?? 'GET', url.pathname);
    if (found instanceof HttpError) throw found;
    route = found.route.name;
    result = await found.route.handle({ req, url, params: found.params, signal: gone.signal }, ctx);
  } catch (e) {
    if (e instanceof ClientGone || gone.signal.aborted) return;
    if (!(e instanceof HttpError)) process.stderr.write(`tessera serve: ${req.method} ${url.pathname}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    const error = e instanceof HttpError ? e : new HttpError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`);
    result = { status: error.status, json: { error: error.message } };
    headers = error.headers;
  }
  // a body left unread (refused early) is not read whole: the connection closes after the answer
  const unread = !req.complete;
  const body = result.text ?? JSON.stringify(result.json);
  res.writeHead(result.status, {
    ...headers,
    'Content-Type': result.text === undefined ? 'application/json' : 'text/plain; version=0.0.4; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...(unread ? { Connection: 'close' } : {}),
  });
  if (unread) closeAfterLinger(req, res, body, Math.min(LINGER_MS, ctx.body.timeoutMs));
  else res.end(body);
  ctx.metrics.requests.inc({ route, code: String(result.status) });
  ctx.metrics.latency.observe((performance.now() - started) / 1000, { route });
}

/** how long a refused body is still read (and dropped) after its answer, at most */
const LINGER_MS = 2000;

/**
 * Staged close (RFC 9112 §9.6) for an answer given before its request body was read: the answer
 * goes out whole (its Content-Length completes it for the client), what the client still sends is
 * read and dropped, and the response ends, closing the connection, once the body has ended, the
 * client has gone, or `ms` have passed. Closing at once would leave unread bytes behind, the
 * kernel would answer them with a reset, and a client still sending could lose the answer to it.
 */
function closeAfterLinger(req: IncomingMessage, res: ServerResponse, body: string, ms: number): void {
  res.write(body);
  const end = () => {
    clearTimeout(timer);
    req.off('end', end);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(end, ms);
  req.once('end', end);
  res.once('close', end);
  req.resume();
}
