/**
 * `tessera serve` in process on a loopback port: every route against what `tessera predict` and a
 * direct model run answer, the error codes, dynamic batching (concurrent requests share runs and
 * get the unbatched answers), 503 with Retry-After on a full queue, a disconnecting client's slot
 * given back, and 413 before an oversized body is read.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyImages } from '../src/cli/predict.js';
import { writeEvalImage } from '../src/data/eval-image.js';
import { loadServedModel, type ServedModel } from '../src/serve/model.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/serve/server.js';
import { tesseraVersion } from '../src/train/setup.js';
import { RawReply, RawRequest, SERVE_CLASSES, gatedModel, metricValue, replyError, replyJson, send, testServeOptions, tinyServeRun } from '../test-support/serve.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-serve-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const { run, data } = await tinyServeRun(scratch);
const model = await loadServedModel(run, { ema: false, tta: 'none', threads: 1 });
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.drain();
  await model.release();
});

/** a server for `served`, drained after the tests */
async function serve(served: ServedModel, more: Partial<ServeOptions> = {}): Promise<RunningServer> {
  const s = await startServer(served, testServeOptions(more));
  servers.push(s);
  return s;
}

const IMAGES = SERVE_CLASSES.flatMap((c) => [0, 1, 2].map((i) => join(data, c, `0${i}.png`)));
const png = (i: number) => readFileSync(IMAGES[i]);
const predicted = await classifyImages(run, IMAGES, { topk: 3, threads: 1 });
/** what `tessera predict` answers for image i, as the server writes it */
const predictAnswer = (i: number, k = 3) => predicted.predictions[i].top.slice(0, k).map((t) => ({ label: t.class, score: t.probability }));

const input = new Float32Array(3 * 32 * 32);
await writeEvalImage(IMAGES[0], model.transform, input, 0);
const logits = Array.from(await model.run(input, 1));
const inferBody = (more: object = {}) => JSON.stringify({ id: 'q1', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(input) }], ...more });

function multipart(parts: readonly Buffer[]): RawRequest {
  const b = 'tessera-test-boundary';
  const body = Buffer.concat([...parts.flatMap((p, i) => [Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="i${i}"; filename="i${i}.png"\r\nContent-Type: image/png\r\n\r\n`), p, Buffer.from('\r\n')]), Buffer.from(`--${b}--\r\n`)]);
  return { method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${b}` }, body };
}

const server = await serve(model);
const metadata = { name: 'lenet', versions: ['1'], platform: 'onnxruntime_onnx', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 32, 32] }], outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 3] }] };
const top2 = [0, 1, 2].sort((a, b) => logits[b] - logits[a]).slice(0, 2);

interface RouteCase {
  readonly name: string;
  readonly path: string;
  readonly request?: RawRequest;
  readonly status: number;
  /** the JSON answer; absent for errors ({error: text}) and for /metrics */
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

const routeCases: RouteCase[] = [
  { name: 'TorchServe ping', path: '/ping', status: 200, json: { status: 'Healthy' } },
  { name: 'v2 server metadata', path: '/v2', status: 200, json: { name: 'tessera', version: tesseraVersion(), extensions: ['classification'] } },
  { name: 'v2 live', path: '/v2/health/live', status: 200, json: { live: true } },
  { name: 'v2 ready', path: '/v2/health/ready', status: 200, json: { ready: true } },
  { name: 'v2 model metadata', path: '/v2/models/lenet', status: 200, json: metadata },
  { name: 'v2 model metadata, version 1', path: '/v2/models/lenet/versions/1', status: 200, json: metadata },
  { name: 'v2 model ready', path: '/v2/models/lenet/ready', status: 200, json: { name: 'lenet', ready: true } },
  { name: 'predictions: one PNG, ?topk=2', path: '/predictions/lenet?topk=2', request: { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png(0) }, status: 200, json: predictAnswer(0, 2) },
  { name: 'predictions: PUT without a content type (curl -T), default topk', path: '/predictions/lenet', request: { method: 'PUT', body: png(4) }, status: 200, json: predictAnswer(4) },
  { name: 'predictions: multipart with three images', path: '/predictions/lenet', request: multipart([png(0), png(3), png(8)]), status: 200, json: [predictAnswer(0), predictAnswer(3), predictAnswer(8)] },
  {
    name: 'v2 infer: the logits of a direct run',
    path: '/v2/models/lenet/infer',
    request: { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: inferBody() },
    status: 200,
    json: { model_name: 'lenet', model_version: '1', id: 'q1', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 3], data: logits }] },
  },
  {
    name: 'v2 infer: classification extension (score:index:label)',
    path: '/v2/models/lenet/versions/1/infer',
    request: { method: 'POST', body: inferBody({ outputs: [{ name: 'logits', parameters: { classification: 2 } }] }) },
    status: 200,
    json: { model_name: 'lenet', model_version: '1', id: 'q1', outputs: [{ name: 'logits', datatype: 'BYTES', shape: [1, 2], data: top2.map((c) => `${logits[c]}:${c}:${SERVE_CLASSES[c]}`) }] },
  },
  { name: 'metrics (Prometheus text)', path: '/metrics', status: 200 },
  { name: 'unknown route: 404', path: '/v1/models', status: 404 },
  { name: 'unknown model: 404', path: '/v2/models/resnet50', status: 404 },
  { name: 'unknown model version: 404', path: '/v2/models/lenet/versions/2/ready', status: 404 },
  { name: 'predictions of an unknown model: 404', path: '/predictions/other', request: { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png(0) }, status: 404 },
  { name: 'wrong method: 405 with Allow', path: '/v2/health/live', request: { method: 'DELETE' }, status: 405, headers: { allow: 'GET' } },
  { name: 'a text body: 415', path: '/predictions/lenet', request: { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'a cat' }, status: 415 },
  { name: 'topk over the classes: 400', path: '/predictions/lenet?topk=4', request: { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png(0) }, status: 400 },
  { name: 'v2 infer as text/plain: 415', path: '/v2/models/lenet/infer', request: { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: inferBody() }, status: 415 },
];

/** the reply checked against the case: status, headers, JSON (or {error} for 4xx), Prometheus text */
function assertReply(c: RouteCase, reply: RawReply): void {
  assert.equal(reply.status, c.status, reply.text);
  for (const [k, v] of Object.entries(c.headers ?? {})) assert.equal(reply.headers[k], v, k);
  if (c.path === '/metrics') {
    assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    for (const name of ['tessera_requests_total', 'tessera_request_duration_seconds_bucket', 'tessera_queue_seconds_bucket', 'tessera_batch_size_bucket', 'tessera_images_per_second']) assert.match(reply.text, new RegExp(`^${name}`, 'm'), name);
    return;
  }
  assert.equal(reply.headers['content-type'], 'application/json');
  const json = replyJson(reply);
  if (c.json !== undefined) assert.deepEqual(json, c.json);
  else assert.match(replyError(reply), /\w/, 'an {error} message');
}

for (const c of routeCases) test(`serve route: ${c.name} → ${c.status}`, async () => assertReply(c, await send(server.url + c.path, c.request)));

test('serve metrics: requests counted by route and status, batch sizes and images', async () => {
  const text = (await send(`${server.url}/metrics`)).text;
  assert.ok(metricValue(text, 'tessera_requests_total{route="predictions",code="200"}') >= 3);
  assert.ok(metricValue(text, 'tessera_requests_total{route="other",code="404"}') >= 1);
  assert.ok(metricValue(text, 'tessera_images_total') >= 7);
  assert.equal(metricValue(text, 'tessera_batch_size_count'), server.batcher.runs);
  assert.equal(metricValue(text, 'tessera_queue_images'), 0);
});

test('serve batching: 9 concurrent requests share fewer than 9 runs; each answer is the unbatched one', async () => {
  const unbatched: unknown[] = [];
  for (let i = 0; i < IMAGES.length; i++) unbatched.push(replyJson(await send(`${server.url}/predictions/lenet`, { method: 'POST', body: png(i) })));
  const batching = await serve(model, { maxBatch: 16, maxDelayMs: 300, decodeWorkers: 2 });
  const replies = await Promise.all(IMAGES.map((_, i) => send(`${batching.url}/predictions/lenet`, { method: 'POST', body: png(i) })));
  assert.ok(batching.batcher.runs < IMAGES.length, `${batching.batcher.runs} runs for ${IMAGES.length} requests`);
  assert.deepEqual(replies.map(replyJson), unbatched);
  assert.deepEqual(unbatched, IMAGES.map((_, i) => predictAnswer(i)));
});

/** waits until the server's metric reaches `value` */
async function metricReaches(s: RunningServer, series: string, value: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (metricValue((await send(`${s.url}/metrics`)).text, series) === value) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${series} never reached ${value}`);
}

const post = (s: RunningServer, i: number, signal?: AbortSignal) => send(`${s.url}/predictions/lenet`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png(i) }, signal);

test('serve full queue: 503 with Retry-After at once; the admitted requests are answered', async () => {
  const gated = gatedModel(model);
  const s = await serve(gated.model, { maxQueue: 2, maxBatch: 1, maxDelayMs: 0 });
  const running = post(s, 0);
  await metricReaches(s, 'tessera_queue_images', 1);
  const queued = post(s, 1);
  await metricReaches(s, 'tessera_queue_images', 2);
  const refused = await post(s, 2);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '1');
  assert.match(replyError(refused), /queue is full/);
  gated.open();
  assert.deepEqual((await Promise.all([running, queued])).map(replyJson), [predictAnswer(0), predictAnswer(1)]);
});

test('serve client disconnect: a queued client that leaves frees its slot and never runs', async () => {
  const gated = gatedModel(model);
  const s = await serve(gated.model, { maxQueue: 2, maxBatch: 1, maxDelayMs: 0 });
  const running = post(s, 0);
  await metricReaches(s, 'tessera_queue_images', 1);
  const leaving = new AbortController();
  const left = post(s, 1, leaving.signal).catch((e: Error) => e.name);
  await metricReaches(s, 'tessera_queue_images', 2);
  leaving.abort();
  assert.equal(await left, 'AbortError');
  await metricReaches(s, 'tessera_queue_images', 1);
  const next = post(s, 2);
  await metricReaches(s, 'tessera_queue_images', 2);
  gated.open();
  assert.deepEqual((await Promise.all([running, next])).map(replyJson), [predictAnswer(0), predictAnswer(2)]);
  assert.equal(s.batcher.runs, 2, 'the leaving client\'s image never ran');
});

const oversized: { name: string; request: RawRequest }[] = [
  { name: 'Content-Length over --max-body, body never sent whole', request: { method: 'POST', headers: { 'Content-Type': 'image/png', 'Content-Length': 50_000_000 }, body: png(0), open: true } },
  { name: 'chunked body growing past --max-body', request: { method: 'POST', headers: { 'Content-Type': 'image/png' }, pieces: Array.from({ length: 6 }, () => ({ data: Buffer.alloc(300_000, 7), afterMs: 5 })), open: true } },
];
for (const c of oversized) {
  test(`serve 413 before the body is read whole: ${c.name}`, async () => {
    const reply = await send(`${server.url}/predictions/lenet`, c.request);
    assert.equal(reply.status, 413);
    assert.equal(reply.headers.connection, 'close');
    assert.match(replyError(reply), /over the server's limit of 1000000 bytes/);
  });
}
