/**
 * Fuzzing `tessera serve` (the CLI, as a child process): truncated and foreign images, wrong
 * content types, malformed multipart and JSON, wrong v2 names, shapes, datatypes and data, absurd
 * topk and classification, oversized and slow-loris bodies, bad paths. Each case must get its 4xx
 * with a JSON error line; afterwards the server is still live and answers correctly, no image is
 * left admitted, and its memory after five more rounds of the whole table is back near where the
 * first round left it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawRequest, ServeChild, metricValue, replyError, replyJson, send, spawnServe, stopServe, tinyServeRun } from '../test-support/serve.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-serve-fuzz-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const { run, data } = await tinyServeRun(scratch);
const server: ServeChild = await spawnServe(['--checkpoint', run, '--model-name', 'lenet', '--threads', '1', '--workers', '1', '--max-body', '1MB', '--max-queue', '8', '--body-timeout', '0.5']);
after(() => stopServe(server));

const PNG = readFileSync(join(data, 'red', '00.png'));
const JPEG = await (await import('sharp')).default(PNG).jpeg().toBuffer();

/** CRC-32 (PNG's chunk checksum) */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** a PNG that declares width × height pixels (and holds none of them) */
function pngDeclaring(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const out = Buffer.alloc(8 + body.length + 4);
    out.writeUInt32BE(body.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), 8 + body.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([PNG.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', Buffer.alloc(0)), chunk('IEND', Buffer.alloc(0))]);
}

const image = (body: Uint8Array | string, type = 'image/png'): RawRequest => ({ method: 'POST', headers: { 'Content-Type': type }, body });
const json = (body: string): RawRequest => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
const B = 'fuzz-boundary';
const multipart = (body: string | Buffer): RawRequest => ({ method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${B}` }, body });
const part = (type: string, bytes: Buffer | string) => Buffer.concat([Buffer.from(`--${B}\r\nContent-Type: ${type}\r\n\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);

const INPUT = { name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: new Array<number>(3 * 32 * 32).fill(0.5) };
/** an infer request with the input's fields (and the request's) overridden */
const infer = (input: object, request: object = {}): RawRequest => json(JSON.stringify({ inputs: [{ ...INPUT, ...input }], ...request }));

interface FuzzCase {
  readonly name: string;
  readonly path: string;
  readonly request: RawRequest;
  readonly status: number;
}

const P = '/predictions/lenet';
const V2 = '/v2/models/lenet/infer';
const cases: FuzzCase[] = [
  // images
  { name: 'truncated PNG', path: P, request: image(PNG.subarray(0, PNG.length >> 1)), status: 400 },
  { name: 'truncated JPEG', path: P, request: image(JPEG.subarray(0, JPEG.length >> 1), 'image/jpeg'), status: 400 },
  { name: 'PNG signature only', path: P, request: image(PNG.subarray(0, 8)), status: 400 },
  { name: 'PNG with its pixel data zeroed', path: P, request: image(Buffer.concat([PNG.subarray(0, 40), Buffer.alloc(PNG.length - 40)])), status: 400 },
  { name: 'PNG declaring 10^10 pixels', path: P, request: image(pngDeclaring(100_000, 100_000)), status: 413 },
  { name: 'empty body', path: P, request: image(''), status: 400 },
  { name: 'random bytes as image/png', path: P, request: image(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 255))), status: 415 },
  { name: 'GIF', path: P, request: image(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), 'image/gif'), status: 415 },
  { name: 'GIF bytes sent as image/png', path: P, request: image(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')), status: 415 },
  { name: 'SVG sent as image/png', path: P, request: image('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), status: 415 },
  // content types
  { name: 'text/plain', path: P, request: image('a cat', 'text/plain'), status: 415 },
  { name: 'application/json to predictions', path: P, request: image('{}', 'application/json'), status: 415 },
  { name: 'form-urlencoded (curl --data default)', path: P, request: image(PNG, 'application/x-www-form-urlencoded'), status: 415 },
  { name: 'multipart without a boundary', path: P, request: { ...multipart(part('image/png', PNG)), headers: { 'Content-Type': 'multipart/form-data' } }, status: 400 },
  { name: 'multipart whose boundary never occurs', path: P, request: multipart('just text'), status: 400 },
  { name: 'multipart part not terminated', path: P, request: multipart(Buffer.concat([Buffer.from(`--${B}\r\nContent-Type: image/png\r\n\r\n`), PNG])), status: 400 },
  { name: 'multipart with no part', path: P, request: multipart(`--${B}--\r\n`), status: 400 },
  { name: 'multipart with a text part', path: P, request: multipart(Buffer.concat([part('image/png', PNG), part('text/plain', 'hello'), Buffer.from(`--${B}--\r\n`)])), status: 415 },
  { name: 'multipart with a truncated second image', path: P, request: multipart(Buffer.concat([part('image/png', PNG), part('image/png', PNG.subarray(0, 100)), Buffer.from(`--${B}--\r\n`)])), status: 400 },
  { name: 'multipart with more images than --max-queue', path: P, request: multipart(Buffer.concat([...new Array<Buffer>(9).fill(part('image/png', PNG)), Buffer.from(`--${B}--\r\n`)])), status: 413 },
  // topk
  ...['0', '-1', '4', 'abc', '1e9', '2.5', '99999999999999999999', ''].map((k) => ({ name: `topk=${k}`, path: `${P}?topk=${k}`, request: image(PNG), status: 400 })),
  // bodies
  { name: 'Content-Length over --max-body', path: P, request: { ...image(PNG), headers: { 'Content-Type': 'image/png', 'Content-Length': 2_000_000_000 }, open: true }, status: 413 },
  { name: 'chunked body past --max-body', path: P, request: { method: 'POST', headers: { 'Content-Type': 'image/png' }, pieces: Array.from({ length: 5 }, () => ({ data: Buffer.alloc(400_000, 1), afterMs: 2 })), open: true }, status: 413 },
  { name: 'slow-loris image body (a byte every 150 ms)', path: P, request: { method: 'POST', headers: { 'Content-Type': 'image/png', 'Content-Length': PNG.length }, pieces: Array.from({ length: 8 }, (_, i) => ({ data: PNG.subarray(i, i + 1), afterMs: 150 })), open: true }, status: 408 },
  { name: 'slow-loris JSON body', path: V2, request: { method: 'POST', headers: { 'Content-Type': 'application/json' }, pieces: Array.from({ length: 8 }, () => ({ data: '[', afterMs: 150 })), open: true }, status: 408 },
  // v2 JSON
  { name: 'malformed JSON', path: V2, request: json('{"inputs": ['), status: 400 },
  { name: 'empty JSON body', path: V2, request: json(''), status: 400 },
  { name: 'JSON array', path: V2, request: json('[1, 2]'), status: 400 },
  { name: 'JSON nested 100,000 deep', path: V2, request: json('['.repeat(100_000) + ']'.repeat(100_000)), status: 400 },
  { name: 'no inputs', path: V2, request: json('{"outputs": []}'), status: 400 },
  { name: 'two inputs', path: V2, request: json(JSON.stringify({ inputs: [INPUT, INPUT] })), status: 400 },
  { name: 'input not an object', path: V2, request: json('{"inputs": [7]}'), status: 400 },
  { name: 'input named "images"', path: V2, request: infer({ name: 'images' }), status: 400 },
  { name: 'datatype FP64', path: V2, request: infer({ datatype: 'FP64' }), status: 400 },
  { name: 'datatype UINT8', path: V2, request: infer({ datatype: 'UINT8' }), status: 400 },
  { name: 'shape [1, 3, 16, 16]', path: V2, request: infer({ shape: [1, 3, 16, 16] }), status: 400 },
  { name: 'shape [1, 1, 32, 32]', path: V2, request: infer({ shape: [1, 1, 32, 32] }), status: 400 },
  { name: 'shape NHWC [1, 32, 32, 3]', path: V2, request: infer({ shape: [1, 32, 32, 3] }), status: 400 },
  { name: 'shape [0, 3, 32, 32]', path: V2, request: infer({ shape: [0, 3, 32, 32], data: [] }), status: 400 },
  { name: 'shape [-1, 3, 32, 32]', path: V2, request: infer({ shape: [-1, 3, 32, 32] }), status: 400 },
  { name: 'shape of rank 3', path: V2, request: infer({ shape: [3, 32, 32] }), status: 400 },
  { name: 'shape with 1.5', path: V2, request: infer({ shape: [1.5, 3, 32, 32] }), status: 400 },
  { name: 'shape of strings', path: V2, request: infer({ shape: ['1', '3', '32', '32'] }), status: 400 },
  { name: 'shape N = 10^9', path: V2, request: infer({ shape: [1e9, 3, 32, 32] }), status: 413 },
  { name: 'data one number short', path: V2, request: infer({ data: INPUT.data.slice(1) }), status: 400 },
  { name: 'data one number long', path: V2, request: infer({ data: [...INPUT.data, 0] }), status: 400 },
  { name: 'data holding a string', path: V2, request: infer({ data: ['0.5', ...INPUT.data.slice(1)] }), status: 400 },
  { name: 'data holding null', path: V2, request: infer({ data: [null, ...INPUT.data.slice(1)] }), status: 400 },
  { name: 'data nested deeper than the shape', path: V2, request: infer({ data: [[[[[INPUT.data]]]]] }), status: 400 },
  { name: 'data not an array', path: V2, request: infer({ data: 'AAAA' }), status: 400 },
  { name: 'outputs naming "probs"', path: V2, request: infer({}, { outputs: [{ name: 'probs' }] }), status: 400 },
  { name: 'classification 0', path: V2, request: infer({}, { outputs: [{ name: 'logits', parameters: { classification: 0 } }] }), status: 400 },
  { name: 'classification 10^9', path: V2, request: infer({}, { parameters: { classification: 1e9 } }), status: 400 },
  { name: 'classification "2"', path: V2, request: infer({}, { parameters: { classification: '2' } }), status: 400 },
  { name: 'id a number', path: V2, request: infer({}, { id: 7 }), status: 400 },
  { name: 'v2 infer as text/plain', path: V2, request: { ...infer({}), headers: { 'Content-Type': 'text/plain' } }, status: 415 },
  // paths and methods
  { name: 'unknown route', path: '/v3/models/lenet/infer', request: infer({}), status: 404 },
  { name: 'unknown model', path: '/v2/models/resnet50/infer', request: infer({}), status: 404 },
  { name: 'model version 2', path: '/v2/models/lenet/versions/2/infer', request: infer({}), status: 404 },
  { name: 'bad percent-encoding in the model name', path: '/predictions/%E0%A4%A', request: image(PNG), status: 400 },
  { name: 'GET on infer', path: V2, request: { method: 'GET' }, status: 405 },
  { name: 'DELETE on predictions', path: P, request: { method: 'DELETE' }, status: 405 },
];

/** runs every case once; returns the failures (name: what came back) */
async function fuzzRound(): Promise<string[]> {
  const failures: string[] = [];
  for (const c of cases) {
    const reply = await send(server.url + c.path, c.request);
    try {
      assert.equal(reply.status, c.status);
      assert.equal(reply.headers['content-type'], 'application/json');
      replyError(reply);
    } catch {
      failures.push(`${c.name}: ${reply.status} ${reply.text.slice(0, 160)}`);
    }
  }
  return failures;
}

const memory = async () => {
  const text = (await send(`${server.url}/metrics`)).text;
  return { rss: metricValue(text, 'process_resident_memory_bytes'), heap: metricValue(text, 'nodejs_heap_used_bytes'), queued: metricValue(text, 'tessera_queue_images') };
};

test(`serve fuzz: ${cases.length} bad requests each get their 4xx and a JSON error; the server stays up, correct and flat in memory`, async () => {
  assert.deepEqual(await fuzzRound(), []);
  const baseline = await memory();
  for (let round = 0; round < 5; round++) assert.deepEqual(await fuzzRound(), [], `round ${round + 2}`);
  const end = await memory();
  assert.equal(end.queued, 0, 'no image left admitted');
  const MB = 1024 * 1024;
  assert.ok(end.rss - baseline.rss < 48 * MB, `resident memory grew from ${(baseline.rss / MB).toFixed(1)} to ${(end.rss / MB).toFixed(1)} MiB over 5 rounds`);
  assert.ok(end.heap - baseline.heap < 24 * MB, `heap grew from ${(baseline.heap / MB).toFixed(1)} to ${(end.heap / MB).toFixed(1)} MiB over 5 rounds`);
  assert.deepEqual(replyJson(await send(`${server.url}/v2/health/live`)), { live: true });
  const good = await send(`${server.url}${P}?topk=1`, image(PNG));
  assert.equal(good.status, 200, good.text);
  console.log(`fuzz: ${cases.length} cases × 6 rounds; rss ${(baseline.rss / MB).toFixed(1)} → ${(end.rss / MB).toFixed(1)} MiB, heap ${(baseline.heap / MB).toFixed(1)} → ${(end.heap / MB).toFixed(1)} MiB`);
});
