/**
 * In-browser training throughput (images/s) beside Node's, for the same model, batch and
 * training graph: exports a page for MODEL (fresh weights), serves it with COOP/COEP, and in
 * Debian's headless Chromium times SGD steps on onnxruntime-web (WASM, 1 thread and THREADS
 * threads); then the same steps in Node on onnxruntime-node (NCHW graph as in the page, and the
 * NCHWc layout Node picks by default where the CPU has it). One fixed random batch for every
 * step: the figures measure the engines, not data loading. Run it on a quiet machine:
 *
 *   npx tsc -p tsconfig.json && node dist/bench/web_train_bench.js --model cifar_resnet18 --batch 32 --threads 2 --steps 20 --warmup 3
 *   node dist/bench/web_train_bench.js --model cifar_lenet --batch 8 --steps 3 --warmup 1    # smoke run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportCommand } from '../src/cli/export.js';
import { randomBatch } from '../src/bench/measure.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { createModel, modelInfo } from '../src/models/index.js';
import { sgd } from '../src/optim/sgd.js';
import { ConvLayout } from '../src/runtime/conv-layout.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { serveFolder } from '../src/web/static-server.js';
import { HeadlessChromium } from '../test-support/browser.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'cifar_lenet' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
  },
});
const model = values.model;
const batch = Number(values.batch);
const threads = Number(values.threads);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const size = modelInfo(model).inputSize;
const classes = modelInfo(model).numClasses;

/** images/s from per-step milliseconds: the median step */
function imagesPerSecond(ms: readonly number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return (batch * 1000) / sorted[Math.floor(sorted.length / 2)];
}

async function browserRun(url: string, browser: HeadlessChromium, wasmThreads: number): Promise<number[]> {
  const { page } = await browser.openUrl(`${url}index.html?threads=${wasmThreads}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 60_000 });
  return page.evaluate(
    async (name: string, b: number, s: number, k: number, n: number, w: number, seedImages: number[], seedLabels: number[]) => {
      const t = window.tessera;
      const session = await t.TrainingSession.create(t.createModel(name, { numClasses: k }), { inputShape: [b, 3, s, s], optimizer: t.sgd({ momentum: 0.9, weightDecay: 5e-4, nesterov: true }) });
      const images = Float32Array.from(seedImages);
      const labels = BigInt64Array.from(seedLabels, BigInt);
      const ms: number[] = [];
      for (let i = 0; i < w + n; i++) {
        const t0 = performance.now();
        await session.step(images, labels, 0.01);
        if (i >= w) ms.push(performance.now() - t0);
      }
      await session.release();
      return ms;
    },
    model,
    batch,
    size,
    classes,
    steps,
    warmup,
    Array.from(fixed.images),
    Array.from(fixed.labels, Number),
  );
}

async function nodeRun(convLayout: ConvLayout, nodeThreads: number): Promise<number[]> {
  const session = await TrainingSession.create(createModel(model), { inputShape: [batch, 3, size, size], optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4, nesterov: true }), threads: nodeThreads, convLayout });
  const ms: number[] = [];
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      await session.step(fixed.images, fixed.labels, 0.01);
      if (i >= warmup) ms.push(performance.now() - t0);
    }
  } finally {
    await session.release();
  }
  return ms;
}

const fixed = randomBatch([batch, 3, size, size], classes, 0);
const root = mkdtempSync(join(tmpdir(), 'tessera-web-bench-'));
try {
  const weights = join(root, 'weights.safetensors');
  writeSafetensors(weights, createModel(model).stateDict());
  if ((await exportCommand(['--web', join(root, 'page'), '--checkpoint', weights, '--model', model])) !== 0) throw new Error('export --web failed');
  const server = await serveFolder(join(root, 'page'));
  const browser = await HeadlessChromium.launch();
  const rows: [string, number][] = [];
  try {
    for (const n of [1, threads]) rows.push([`browser, onnxruntime-web WASM, ${n} thread${n > 1 ? 's' : ''}`, imagesPerSecond(await browserRun(server.url, browser, n))]);
  } finally {
    await browser.close();
    await server.close();
  }
  for (const n of [1, threads]) {
    rows.push([`node, onnxruntime-node, NCHW graph, ${n} thread${n > 1 ? 's' : ''}`, imagesPerSecond(await nodeRun('nchw', n))]);
    rows.push([`node, onnxruntime-node, default layout, ${n} thread${n > 1 ? 's' : ''}`, imagesPerSecond(await nodeRun('auto', n))]);
  }
  process.stdout.write(`training throughput: ${model}, batch ${batch}, ${size}x${size}, SGD, median of ${steps} steps after ${warmup} warm-up\n`);
  for (const [what, ips] of rows) process.stdout.write(`  ${what.padEnd(52)} ${ips.toFixed(1).padStart(9)} images/s\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
