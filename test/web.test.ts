/**
 * Tessera in the browser (issue 11): the bundle reaches nothing Node-only; an exported page,
 * served with COOP/COEP and opened in Debian's headless Chromium, gives Node's top-5 for two
 * bundled images, trains 10 SGD steps to Node's losses and weights (traj_sgd_lenet's
 * tolerances), answers #selftest, lists a non-image as skipped, explains file://, and logs no
 * console error. A second Chromium has a WebGPU adapter (SwiftShader) and a fake camera: the
 * page classifies there on WebGPU with Node's logits (cifar_lenet's 6-channel conv2 is the case
 * onnxruntime-web's channels-last WebGPU Conv gets wrong), falls back to WASM when WebGPU gives
 * no device, and classifies a camera capture.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleWebPage } from '../src/web/bundle.js';
import { Preprocessing, topK } from '../src/web/images.js';
import { PageModel, TeachSample, checkpointBytes, fineTune, modelForClasses, pageModel, tooLargeMessage } from '../src/web/teach.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';
import { decodeImageFile } from '../src/data/worker.js';
import { ROOT } from '../test-support/cli.js';
import { runCli } from '../test-support/cli.js';
import { HeadlessChromium, OpenedPage, WEBGPU_AND_FAKE_CAMERA } from '../test-support/browser.js';
import { ServedPage, browserClassifierLogits, browserLogits, browserTrajectory, nodeLogits, nodeTrajectory, openReady, servedLenetPage, trajectoryTolerances } from '../test-support/web-page.js';
import { cameraErrorMessage } from '../src/web/camera.js';

const IMAGES = ['cat.jpg', 'ship.jpg'];
const SAMPLE = join(ROOT, 'examples', 'cifar10-sample', 'test');
let served: ServedPage;
/** the second browser: a WebGPU adapter and a fake camera */
let gpuBrowser: HeadlessChromium;
const opened: OpenedPage[] = [];

before(async () => {
  served = await servedLenetPage();
  gpuBrowser = await HeadlessChromium.launch(WEBGPU_AND_FAKE_CAMERA);
});
after(async () => {
  await gpuBrowser?.close();
  await served?.close();
});

async function open(hash = '', query = '', browser = served.browser, initScript?: string): Promise<OpenedPage> {
  const o = await openReady(served, hash, query, browser, initScript);
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
  const { code, chunks, inputs, external } = await bundleWebPage();
  assert.deepEqual(external, []);
  assert.deepEqual(inputs.filter((f) => /onnxruntime-node|sharp|src\/(cli|data\/(loader|worker|download))\//.test(f)), []);
  for (const c of [code, ...chunks.map((chunk) => chunk.code)]) assert.doesNotMatch(c, /\bfrom\s*["']node:|\bimport\s*\(?\s*["']node:/);
  assert.ok(chunks.some((c) => c.code.includes('ort-wasm-simd-threaded.asyncify')), "onnxruntime-web's WebGPU build is a chunk of its own");
  assert.doesNotMatch(code, /ort-wasm-simd-threaded\.asyncify/);
});

/** The browser's logits for IMAGES against Node's: the same top-5, logits within float32 tolerance. */
async function assertSameAsNode(web: readonly number[][]): Promise<void> {
  const prep = JSON.parse(readFileSync(join(served.dir, 'preprocessing.json'), 'utf8')) as Preprocessing;
  const classes = JSON.parse(readFileSync(join(served.dir, 'classes.json'), 'utf8')) as string[];
  const node = await nodeLogits(served.dir, prep, IMAGES);
  IMAGES.forEach((name, i) => {
    assert.deepEqual(topK(web[i], classes).map((r) => r.label), topK(node[i], classes).map((r) => r.label), `${name}: top-5`);
    assertClose(`${name}: logits`, web[i], node[i], 1e-4, 0);
  });
}

test('two bundled images: the page gives the same logits and top-5 as Node', async () => {
  const { page } = await open();
  await assertSameAsNode(await browserLogits(page, IMAGES));
});

/** Run in the page before its scripts: the WebGPU adapter is there, but no device can be made from it. */
const DEVICE_REFUSED = `GPUAdapter.prototype.requestDevice = () => Promise.reject(new Error('device refused by the test'));`;

const BACKEND_CASES: readonly { name: string; webgpu: boolean; initScript?: string; backend: RegExp; status: RegExp }[] = [
  { name: 'no WebGPU adapter (--disable-gpu): WASM', webgpu: false, backend: /^WASM, \d threads?$/, status: /^ready: classifying on WASM, \d threads?; training on WASM/ },
  { name: 'a WebGPU adapter (SwiftShader): WebGPU', webgpu: true, backend: /^WebGPU$/, status: /^ready: classifying on WebGPU; training on WASM/ },
  {
    name: 'a WebGPU adapter that gives no device: WASM, and the page says why',
    webgpu: true,
    initScript: DEVICE_REFUSED,
    backend: /^WASM, \d threads?$/,
    status: /^ready: classifying on WASM, \d threads? \(WebGPU could not run this model: onnxruntime-web's WebGPU backend failed to start \(\d+\); using WebAssembly instead\); training on WASM/,
  },
];

for (const c of BACKEND_CASES) {
  test(`${c.name}: the page says which backend classifies (status, #selftest) and gives Node's top-5 and logits`, async () => {
    const { page } = await open('#selftest', '', c.webgpu ? gpuBrowser : served.browser, c.initScript);
    assert.match(await page.$eval('#status', (e) => e.textContent ?? ''), c.status);
    await page.waitForFunction(() => document.getElementById('selftest')?.textContent, { timeout: 60_000 });
    assert.match((JSON.parse(await page.$eval('#selftest', (e) => e.textContent ?? '')) as { backend: string }).backend, c.backend);
    const { backend, rows } = await browserClassifierLogits(page, IMAGES);
    assert.match(backend, c.backend);
    await assertSameAsNode(rows);
  });
}

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

test("Camera (Chromium's fake device): a capture is classified (while dropped images are); captures for teach classes go to their shelves and fine-tune a model that classifies on WebGPU", async () => {
  const { page } = await open('', '', gpuBrowser);
  await page.click('#camera');
  await page.waitForFunction(() => document.getElementById('camera-controls')?.hidden === false || document.getElementById('camera-status')?.className === 'error', { timeout: 10_000 });
  assert.match(await page.$eval('#camera-status', (e) => e.textContent ?? ''), /^camera on \(\d+×\d+\)$/);
  // captured while two dropped images are still being classified: the runs queue, none hangs
  const pick = await page.$('input#pick');
  assert.ok(pick);
  await pick.uploadFile(...IMAGES.map((f) => join(served.dir, f)));
  await page.click('#capture');
  await page.waitForFunction(() => document.querySelectorAll('#results > li.result').length === 3, { timeout: 30_000 });
  assert.equal(await page.$$eval('#results > li.result ol.bars > li', (l) => l.length), 15);
  for (const timing of await page.$$eval('#results > li.result .timing', (l) => l.map((e) => e.textContent ?? ''))) assert.match(timing, /^\d+\.\d ms, WebGPU$/);
  await page.type('#class-name', 'mine');
  await page.click('#add-class');
  await page.select('#camera-target', '0');
  await page.click('#capture');
  await page.waitForFunction(() => document.querySelectorAll('#teach-classes .shelf canvas').length === 1, { timeout: 10_000 });
  assert.equal(await page.$$eval('#results > li', (l) => l.length), 3);
  // a second class from the camera too, then fine-tune on the two captures: the result classifies on WebGPU
  await page.click('#add-class');
  await page.select('#camera-target', '1');
  await page.click('#capture');
  await page.waitForFunction(() => document.querySelectorAll('#teach-classes .shelf canvas').length === 2, { timeout: 10_000 });
  for (const [id, value] of [['#steps', '2'], ['#batch', '2']]) await page.$eval(id, (e, v) => void (e instanceof HTMLInputElement && (e.value = v)), value);
  await page.click('#train');
  await page.waitForFunction(() => document.getElementById('teach-status')?.textContent?.startsWith('done'), { timeout: 30_000 });
  assert.match(await page.$eval('#teach-status', (e) => e.textContent ?? ''), /^done: 2 steps, .*classifying with the fine-tuned model now \(WebGPU\)$/);
});

test('Camera where the browser has none says so in one line', async () => {
  const { page } = await open();
  await page.click('#camera');
  await page.waitForFunction(() => document.getElementById('camera-status')?.className === 'error', { timeout: 10_000 });
  assert.equal(await page.$eval('#camera-status', (e) => e.textContent), cameraErrorMessage(new DOMException('Requested device not found', 'NotFoundError')));
});

const CAMERA_ERROR_CASES: readonly { error: unknown; message: RegExp }[] = [
  { error: new DOMException('Permission denied', 'NotAllowedError'), message: /^camera permission denied: allow the camera for this page .*, then press Camera again$/ },
  { error: new DOMException('Requested device not found', 'NotFoundError'), message: /^no camera found: connect one/ },
  { error: new DOMException('Could not start video source', 'NotReadableError'), message: /^the camera could not be started \(another program may be using it\)/ },
  { error: new TypeError('odd'), message: /^the camera could not be started: TypeError: odd$/ },
];

test('camera failures get one line saying what to do', () => {
  for (const c of CAMERA_ERROR_CASES) assert.match(cameraErrorMessage(c.error), c.message);
});

test('no console errors or failed requests on any page opened over HTTP', () => {
  assert.ok(opened.length >= 4);
  for (const o of opened) {
    assert.deepEqual(o.consoleErrors, []);
    assert.deepEqual(o.failedRequests, []);
    assert.deepEqual(o.externalRequests.filter((u) => !u.startsWith(served.server.url)), []);
  }
});

/** the page's models teach mode fine-tunes: a plain one, and a linear probe of a ViT trained with --patch-size 8 */
const TEACH_MODELS: PageModel[] = [{ model: 'cifar_lenet' }, { model: 'vit_tiny_cifar', modelArgs: { patchSize: 8 }, linearProbe: true }];
for (const pageNet of TEACH_MODELS) {
  test(`fine-tuned weights from teach mode are a checkpoint that tessera eval loads: ${JSON.stringify(pageNet)}`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'tessera-teach-'));
    try {
      const classes = ['airplane', 'automobile'];
      const prep: Preprocessing = { ...pageNet, size: 32, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
      const samples: TeachSample[] = [];
      for (const [label, c] of classes.entries()) {
        mkdirSync(join(root, 'data', c), { recursive: true });
        for (const f of readdirSync(join(SAMPLE, c)).slice(0, 4)) {
          copyFileSync(join(SAMPLE, c, f), join(root, 'data', c, f));
          samples.push({ image: await decodeImageFile(join(SAMPLE, c, f)), label });
        }
      }
      const opts = { layers: 'head', steps: 3, batch: 4, lr: 0.01 } as const;
      const net = modelForClasses(pageNet, pageModel(pageNet, 10).stateDict(), classes.length, opts.layers);
      const losses = await fineTune(net, samples, prep, opts);
      writeFileSync(join(root, 'tuned.safetensors'), checkpointBytes(net, prep, classes, losses.length, opts, null));
      const r = await runCli(['eval', '--checkpoint', join(root, 'tuned.safetensors'), '--data', join(root, 'data'), '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { images: number }).images, 8);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
