/**
 * The server's routes: TorchServe-style `/predictions/NAME` and `/ping`, the KServe v2 routes and
 * `/metrics`. Each handler checks what it can before reading the body (model name, topk, content
 * type, a full queue), then admits the request's images, decodes them off the main thread and
 * waits for their batch.
 */
import type { IncomingMessage } from 'node:http';
import { tesseraVersion } from '../train/setup.js';
import { softmax } from '../train/test-time.js';
import type { Batcher } from './batcher.js';
import { sniffImage, type DecodePool } from './decode-pool.js';
import { BodyLimits, HttpError, SlotPool, queueFull, readBody } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { parseMultipart, type Part } from './multipart.js';
import { ModelSignature, inferResponse, modelMetadata, parseInferRequest, topClasses } from './v2.js';

/** Everything a handler uses. */
export interface ServeContext {
  readonly signature: ModelSignature;
  readonly model: ServedModel;
  readonly batcher: Batcher;
  readonly decoder: DecodePool;
  readonly slots: SlotPool;
  readonly metrics: ServerMetrics;
  readonly body: BodyLimits;
  readonly draining: () => boolean;
}

/** What a handler answers: a JSON value, or text (the metrics). */
export interface Answer {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
}

/** One request as a handler sees it. */
export interface Call {
  readonly req: IncomingMessage;
  readonly url: URL;
  /** the path's captures: model name, version */
  readonly params: readonly (string | undefined)[];
  /** aborts when the client disconnects before its answer */
  readonly signal: AbortSignal;
}

interface Route {
  /** the metrics label */
  readonly name: string;
  readonly methods: readonly string[];
  readonly path: RegExp;
  readonly handle: (call: Call, ctx: ServeContext) => Answer | Promise<Answer>;
}

const ok = (json: unknown): Answer => ({ status: 200, json });
const MODEL = '/v2/models/([^/]+)(?:/versions/([^/]+))?';

/** Every route, matched in order against the path. */
export const ROUTES: readonly Route[] = [
  { name: 'ping', methods: ['GET'], path: /^\/ping$/, handle: (_, ctx) => (ctx.draining() ? { status: 503, json: { status: 'Unhealthy' } } : ok({ status: 'Healthy' })) },
  { name: 'predictions', methods: ['POST', 'PUT'], path: /^\/predictions\/([^/]+)$/, handle: predictions },
  { name: 'v2_server', methods: ['GET'], path: /^\/v2\/?$/, handle: () => ok({ name: 'tessera', version: tesseraVersion(), extensions: ['classification'] }) },
  { name: 'v2_live', methods: ['GET'], path: /^\/v2\/health\/live$/, handle: () => ok({ live: true }) },
  { name: 'v2_ready', methods: ['GET'], path: /^\/v2\/health\/ready$/, handle: (_, ctx) => readiness(ctx, {}) },
  { name: 'v2_model_ready', methods: ['GET'], path: new RegExp(`^${MODEL}/ready$`), handle: (call, ctx) => readiness(ctx, { name: servedName(call, ctx) }) },
  { name: 'v2_infer', methods: ['POST'], path: new RegExp(`^${MODEL}/infer$`), handle: infer },
  { name: 'v2_model', methods: ['GET'], path: new RegExp(`^${MODEL}$`), handle: (call, ctx) => ok(modelMetadata({ ...ctx.signature, name: servedName(call, ctx) })) },
  { name: 'metrics', methods: ['GET'], path: /^\/metrics$/, handle: (_, ctx) => ({ status: 200, text: ctx.metrics.render() }) },
];

/** The route of a method and path, or the HttpError (404, 405) that answers it; throws a 400 HttpError for a path segment that does not decode. */
export function findRoute(method: string, path: string): { route: Route; params: (string | undefined)[] } | HttpError {
  for (const route of ROUTES) {
    const m = route.path.exec(path);
    if (!m) continue;
    if (!route.methods.includes(method)) return new HttpError(405, `${method} ${path}: use ${route.methods.join(' or ')}`, { Allow: route.methods.join(', ') });
    return { route, params: m.slice(1).map((p) => (p === undefined ? undefined : decodeSegment(p))) };
  }
  return new HttpError(404, `no route ${method} ${path}; see GET /v2/models/NAME, POST /predictions/NAME, POST /v2/models/NAME/infer, GET /metrics`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `${JSON.stringify(segment)} is not a valid percent-encoded path segment`);
  }
}

function readiness(ctx: ServeContext, extra: object): Answer {
  const ready = !ctx.draining();
  return { status: ready ? 200 : 503, json: { ...extra, ready } };
}

/** the model's name when the call names it (and version 1, if any), else 404 */
function servedName(call: Call, ctx: ServeContext): string {
  const [name, version] = call.params;
  if (name !== ctx.signature.name) throw new HttpError(404, `no model ${JSON.stringify(name)}; this server serves "${ctx.signature.name}"`);
  if (version !== undefined && version !== '1') throw new HttpError(404, `model "${name}" has no version ${JSON.stringify(version)}; its only version is "1"`);
  return name;
}

/** 503 while draining or when the queue is full, before the body is read */
function admitting(ctx: ServeContext): void {
  if (ctx.draining()) throw new HttpError(503, 'the server is shutting down', { 'Retry-After': '1' });
  if (ctx.slots.full) throw queueFull(`${ctx.slots.used} of ${ctx.slots.max} images waiting`);
}

/** Takes `n` slots around `work`, giving them back when it settles (answered, failed or the client gone). */
async function withSlots<T>(ctx: ServeContext, n: number, work: () => Promise<T>): Promise<T> {
  if (n > ctx.slots.max) throw new HttpError(413, `${n} images in one request; the server takes at most ${ctx.slots.max} (--max-queue)`);
  if (!ctx.slots.tryTake(n)) throw queueFull(`${ctx.slots.used} of ${ctx.slots.max} images waiting, ${n} more asked`);
  try {
    return await work();
  } finally {
    ctx.slots.release(n);
  }
}

const mediaType = (req: IncomingMessage) => (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream', ''];

/**
 * `?topk=K`: a whole number from 1 to the number of classes (default 5, at most the classes).
 *
 * @example
 * parseTopk(null, 10); // → 5
 * parseTopk('3', 10); // → 3
 */
export function parseTopk(text: string | null, numClasses: number): number {
  if (text === null) return Math.min(5, numClasses);
  const k = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(k >= 1 && k <= numClasses)) throw new HttpError(400, `topk ${JSON.stringify(text)}: expected a whole number from 1 to ${numClasses} (the model's classes)`);
  return k;
}

/** the images of a predictions body: the body itself, or each part of a multipart one */
function uploadedImages(body: Buffer, req: IncomingMessage): Part[] {
  const type = mediaType(req);
  const parts = type === 'multipart/form-data' ? parseMultipart(body, req.headers['content-type'] ?? '') : [{ contentType: type, bytes: body }];
  parts.forEach((p, i) => {
    const which = parts.length > 1 ? `part ${i + 1}: ` : '';
    if (!IMAGE_TYPES.includes(p.contentType)) throw new HttpError(415, `${which}content type ${p.contentType}; send a JPEG, PNG or WebP image`);
    if (p.bytes.length === 0) throw new HttpError(400, `${which}the image is empty`);
    if (!sniffImage(p.bytes)) throw new HttpError(415, `${which}not a JPEG, PNG or WebP image (by its first bytes)`);
  });
  return parts;
}

async function predictions(call: Call, ctx: ServeContext): Promise<Answer> {
  const { req, url, signal } = call;
  servedName(call, ctx);
  const topk = parseTopk(url.searchParams.get('topk'), ctx.signature.classes.length);
  const type = mediaType(req);
  if (type !== 'multipart/form-data' && !IMAGE_TYPES.includes(type)) throw new HttpError(415, `content type ${type}; send a JPEG, PNG or WebP image (image/jpeg, image/png, image/webp) or multipart/form-data`);
  admitting(ctx);
  const images = uploadedImages(await readBody(req, ctx.body), req);
  const logits = await withSlots(ctx, images.length, async () => {
    const floats = await Promise.all(images.map((p) => ctx.decoder.decode(p.bytes, signal)));
    return ctx.batcher.submit(floats, signal);
  });
  const answers = logits.map((row) => {
    const p = softmax(row);
    return topClasses(p, topk).map((c) => ({ label: ctx.signature.classes[c], score: p[c] }));
  });
  return ok(type === 'multipart/form-data' ? answers : answers[0]);
}

async function infer(call: Call, ctx: ServeContext): Promise<Answer> {
  const { req, signal } = call;
  servedName(call, ctx);
  const type = mediaType(req);
  if (type !== 'application/json' && type !== '') throw new HttpError(415, `content type ${type}; a v2 infer request is JSON (application/json)`);
  admitting(ctx);
  const body = await readBody(req, ctx.body);
  let json;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `malformed JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const request = parseInferRequest(json, ctx.signature, ctx.slots.max);
  const per = 3 * ctx.signature.size ** 2;
  const rows = await withSlots(ctx, request.n, () => ctx.batcher.submit(Array.from({ length: request.n }, (_, i) => request.data.subarray(i * per, (i + 1) * per)), signal));
  const logits = new Float32Array(rows.length * ctx.signature.classes.length);
  rows.forEach((r, i) => logits.set(r, i * r.length));
  return ok(inferResponse(ctx.signature, request, logits));
}
