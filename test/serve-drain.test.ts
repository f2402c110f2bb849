/**
 * `tessera serve` as a command: SIGTERM drains (queued requests are answered, then it exits 0 and
 * stops listening), and bad flags, a missing checkpoint or a port in use are one line, exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyImages } from '../src/cli/predict.js';
import { runCli } from '../test-support/cli.js';
import { SERVE_CLASSES, metricValue, replyJson, send, spawnServe, stopServe, tinyServeRun } from '../test-support/serve.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-serve-drain-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const { run, data } = await tinyServeRun(scratch);
const IMAGES = SERVE_CLASSES.map((c) => join(data, c, '03.png'));

test('serve SIGTERM: the queued requests are answered, then it exits 0 and stops listening', async () => {
  const server = await spawnServe(['--checkpoint', run, '--model-name', 'lenet', '--threads', '1', '--max-delay-ms', '60000']);
  const replies = Promise.all(IMAGES.map((p) => send(`${server.url}/predictions/lenet`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: readFileSync(p) })));
  // with a minute's --max-delay-ms they wait in the queue until the drain runs them
  for (let i = 0; i < 500 && metricValue((await send(`${server.url}/metrics`)).text, 'tessera_queue_images') !== IMAGES.length; i++) await new Promise((r) => setTimeout(r, 10));
  const exited = stopServe(server);
  const expected = (await classifyImages(run, IMAGES, { topk: 3, threads: 1 })).predictions.map((p) => p.top.map((t) => ({ label: t.class, score: t.probability })));
  assert.deepEqual((await replies).map(replyJson), expected);
  assert.equal(await exited, 0, server.output());
  assert.match(server.output(), /SIGTERM: draining \d+ queued image\(s\)[^]*stopped/);
  await assert.rejects(send(`${server.url}/v2/health/live`), /ECONNREFUSED/);
});

/** a TCP port something else listens on */
async function busyPort(): Promise<{ port: number; close(): void }> {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return { port: address.port, close: () => blocker.close() };
}

const busy = await busyPort();
/** flags over `--checkpoint RUN --threads 1 --port 0` */
const refusals: { name: string; args: Record<string, string>; says: RegExp }[] = [
  { name: 'a size that is not one', args: { '--max-body': '10XB' }, says: /--max-body 10XB: expected a size such as 10MB/ },
  { name: 'a model name that is no path segment', args: { '--model-name': 'a/b' }, says: /--model-name a\/b: use letters, digits/ },
  { name: 'a port in use', args: { '--port': String(busy.port) }, says: new RegExp(`127\\.0\\.0\\.1:${busy.port} is in use; pick another --port`) },
  { name: 'an unknown TTA mode', args: { '--tta': 'rotate' }, says: /--tta/ },
  { name: 'no checkpoint there', args: { '--checkpoint': join(scratch, 'missing') }, says: /missing does not exist/ },
];
for (const r of refusals) {
  test(`serve refuses ${r.name}: one line, exit 2`, async () => {
    const flags = { '--checkpoint': run, '--threads': '1', '--port': '0', ...r.args };
    const { code, stderr } = await runCli(['serve', ...Object.entries(flags).flat()]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, r.says);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });
}
test.after(() => busy.close());
