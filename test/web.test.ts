/**
 * Tessera in the browser (issue 11): the bundle reaches nothing Node-only; an exported page,
 * served with COOP/COEP and opened in Debian's headless Chromium, gives Node's top-5 for two
 * bundled images, trains 10 SGD steps to Node's losses and weights (traj_sgd_lenet's
 * tolerances), answers #selftest, lists a non-image as skipped, explains file://, and logs no
 * console error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleWebPage } from '../src/web/bundle.js';
import { Preprocessing, topK } from '../src/web/images.js';
import { TeachSample, checkpointBytes, fineTune, modelForClasses, tooLargeMessage } from '../src/web/teach.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';
import { decodeImageFile } from '../src/data/worker.js';
import { createModel } from '../src/models/index.js';
import { ROOT } from '../test-support/cli.js';
import { runCli } from '../test-support/cli.js';
import { OpenedPage } from '../test-support/browser.js';
import { ServedPage, browserLogits, browserTrajectory, nodeLogits, nodeTrajectory, openReady, servedLenetPage, trajectoryTolerances } from '../test-support/web-page.js';

const IMAGES = ['cat.jpg', 'ship.jpg'];
const SAMPLE = join(ROOT, 'examples', 'cifar10-sample', 'test');
let served: ServedPage;
const opened: OpenedPage[] = [];

before(async () => {
  served = await servedLenetPage();
});
after(async () => {
  await served?.close();
});

async function open(hash = '', query = ''): Promise<OpenedPage> {
  const o = await openReady(served, hash, query);
  opened.push(o);
  assert.equal(await o.page.$eval('#status', (e) => e.className), '', `the page failed: ${await o.page.$eval('#status', (e) => e.textContent)}`);
  return o;
}

/** |a − b| ≤ rtol·max(max|b|, floor) over a whole tensor */
function assertClose(what: string, a: readonly number[], b: readonly number[], rtol: number, floor: number): void {
  assert.equal(a.length, b.length, `${what}: ${a.length} values vs ${b.length}`);
  const scale = Math.max(floor, ...b.map(Math.abs));
  const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(worst <= rtol * scale, `${what}: max |browser − node| ${worst.toExponential(3)} > ${(rtol * scale).toExponential(3)}`);
}

test('the page bundle reaches no node: module, onnxruntime-node or sharp', async () => {
  const { code, inputs, external } = await bundleWebPage();
  assert.deepEqual(external, []);
  assert.deepEqual(inputs.filter((f) => /onnxruntime-node|sharp|src\/(cli|data\/(loader|worker|download))\//.test(f)), []);
  assert.doesNotMatch(code, /\bfrom\s*["']node:|\bimport\s*\(?\s*["']node:/);
});

test('two bundled images: the page gives the same logits and top-5 as Node', async () => {
  const { page } = await open();
  const prep = JSON.parse(readFileSync(join(served.dir, 'preprocessing.json'), 'utf8')) as Preprocessing;
  const classes = JSON.parse(readFileSync(join(served.dir, 'classes.json'), 'utf8')) as string[];
  const web = await browserLogits(page, IMAGES);
  const node = await nodeLogits(served.dir, prep, IMAGES);
  IMAGES.forEach((name, i) => {
    assert.deepEqual(topK(web[i], classes).map((r) => r.label), topK(node[i], classes).map((r) => r.label), `${name}: top-5`);
    assertClose(`${name}: logits`, web[i], node[i], 1e-4, 0);
  });
});

for (const threads of [1, 2]) {
  test(`10 SGD steps in the page (${threads} WASM thread${threads > 1 ? 's' : ''}) match Node's within traj_sgd_lenet's tolerances`, async () => {
    const { page } = await open('', `?threads=${threads}`);
    const steps = 10;
    const [web, node] = [await browserTrajectory(page, steps), await nodeTrajectory(steps)];
    const { rtol, floor } = trajectoryTolerances();
    web.losses.forEach((loss, i) => assertClose(`step ${i} loss`, [loss], [node.losses[i]], rtol[`step${i % 4}.loss`], 0));
    assert.deepEqual(Object.keys(web.weights).sort(), Object.keys(node.weights).sort());
    for (const key of Object.keys(node.weights)) assertClose(key, web.weights[key], node.weights[key], rtol[`final.${key}`], floor);
  });
}

test('#selftest writes {top1, losses, ms} into <pre id="selftest">', async () => {
  const { page } = await open('#selftest');
  await page.waitForFunction(() => document.getElementById('selftest')?.textContent, { timeout: 30_000 });
  const result = JSON.parse(await page.$eval('#selftest', (e) => e.textContent ?? '')) as { top1: string[]; losses: number[]; ms: number };
  const prep = JSON.parse(readFileSync(join(served.dir, 'preprocessing.json'), 'utf8')) as Preprocessing;
  const classes = JSON.parse(readFileSync(join(served.dir, 'classes.json'), 'utf8')) as string[];
  assert.deepEqual(result.top1, (await nodeLogits(served.dir, prep, IMAGES)).map((row) => topK(row, classes, 1)[0].label));
  assert.equal(result.losses.length, 5);
  assert.ok(result.losses.every(Number.isFinite) && result.losses.every((l) => l > 0), `losses ${result.losses}`);
  assert.ok(result.ms > 0);
});

test('a dropped file that is not an image is listed as skipped; an image gets five bars', async () => {
  const { page } = await open();
  const input = await page.$('input#pick');
  assert.ok(input);
  await input.uploadFile(join(served.dir, 'classes.json'), join(served.dir, 'cat.jpg'));
  await page.waitForFunction(() => document.querySelectorAll('#results > li').length === 2, { timeout: 10_000 });
  assert.deepEqual(await page.$$eval('#results > li.skipped', (l) => l.map((e) => e.textContent)), ['skipped classes.json: not an image']);
  assert.equal(await page.$$eval('#results > li.result ol.bars > li', (l) => l.length), 5);
});

test('opened from file://, the page says how to serve it', async () => {
  const o = await served.browser.openUrl(pathToFileURL(join(served.dir, 'index.html')).href);
  await o.page.waitForFunction(() => document.getElementById('status')?.className === 'error', { timeout: 10_000 });
  assert.match(await o.page.$eval('#status', (e) => e.textContent ?? ''), /must be served over HTTP.*node serve\.mjs/);
});

const SIZE_CASES: readonly { model: string; params: number; batch: number; size: number; fits: boolean }[] = [
  { model: 'cifar_lenet', params: 62_006, batch: 8, size: 32, fits: true },
  { model: 'resnet50', params: 25_557_032, batch: 8, size: 224, fits: true },
  { model: 'vit_h_14', params: 632_045_800, batch: 8, size: 224, fits: false },
];

test('a model too large for the page says so before training starts', () => {
  for (const c of SIZE_CASES) {
    const message = tooLargeMessage(c.model, c.params, c.batch, c.size, 2 ** 31);
    assert.equal(message === null, c.fits, `${c.model}: ${message}`);
    if (message) assert.match(message, new RegExp(`^${c.model} needs about [\\d.]+ GB to train in this page, more than the 2.1 GB it can use`));
  }
});

test('no console errors or failed requests on any page opened over HTTP', () => {
  assert.ok(opened.length >= 4);
  for (const o of opened) {
    assert.deepEqual(o.consoleErrors, []);
    assert.deepEqual(o.failedRequests, []);
    assert.deepEqual(o.externalRequests.filter((u) => !u.startsWith(served.server.url)), []);
  }
});

test('fine-tuned weights from teach mode are a checkpoint that tessera eval loads', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tessera-teach-'));
  try {
    const classes = ['airplane', 'automobile'];
    const prep: Preprocessing = { model: 'cifar_lenet', size: 32, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
    const samples: TeachSample[] = [];
    for (const [label, c] of classes.entries()) {
      mkdirSync(join(root, 'data', c), { recursive: true });
      for (const f of readdirSync(join(SAMPLE, c)).slice(0, 4)) {
        copyFileSync(join(SAMPLE, c, f), join(root, 'data', c, f));
        samples.push({ image: await decodeImageFile(join(SAMPLE, c, f)), label });
      }
    }
    const opts = { layers: 'head', steps: 3, batch: 4, lr: 0.01 } as const;
    const net = modelForClasses('cifar_lenet', createModel('cifar_lenet').stateDict(), classes.length, opts.layers);
    const losses = await fineTune(net, samples, prep, opts);
    writeFileSync(join(root, 'tuned.safetensors'), checkpointBytes(net, prep, classes, losses.length, opts, null));
    const r = await runCli(['eval', '--checkpoint', join(root, 'tuned.safetensors'), '--data', join(root, 'data'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { images: number }).images, 8);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
