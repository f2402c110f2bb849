/**
 * An exported web page served over HTTP (COOP/COEP) and opened in Debian's headless Chromium,
 * and the Node side of the comparisons the web tests make: the same images through the same
 * model.onnx in onnxruntime-node, the same training steps in Node's TrainingSession.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { exportCommand } from '../src/cli/export.js';
import { HostTensor } from '../src/graph/ir.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import { sgd } from '../src/optim/sgd.js';
import { createSession, fromOrt, toOrt } from '../src/runtime/ort.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { decodeImageFile } from '../src/data/worker.js';
import { Preprocessing, toInput } from '../src/web/images.js';
import { StaticServer, serveFolder } from '../src/web/static-server.js';
import { HeadlessChromium, OpenedPage } from './browser.js';
import { sharedFixture } from './fixtures.js';

/** The trajectory fixture the in-browser training is checked with (its init weights, batches, rtol and floor). */
export const TRAJECTORY = 'traj_sgd_lenet.safetensors';

/** An exported cifar_lenet page (seeded weights), served, and a browser. */
export interface ServedPage {
  readonly dir: string;
  readonly server: StaticServer;
  readonly browser: HeadlessChromium;
  close(): Promise<void>;
}

/** Exports cifar_lenet with seeded weights to a temporary folder (plus the trajectory fixture) and serves it. */
export async function servedLenetPage(): Promise<ServedPage> {
  const root = mkdtempSync(join(tmpdir(), 'tessera-web-'));
  manualSeed(7);
  const weights = join(root, 'lenet.safetensors');
  writeSafetensors(weights, createModel('cifar_lenet').stateDict());
  const dir = join(root, 'page');
  const status = await exportCommand(['--web', dir, '--checkpoint', weights, '--model', 'cifar_lenet']);
  if (status !== 0) throw new Error(`export --web exited ${status}`);
  copyFileSync(sharedFixture(TRAJECTORY), join(dir, TRAJECTORY));
  const server = await serveFolder(dir);
  const browser = await HeadlessChromium.launch();
  return {
    dir,
    server,
    browser,
    close: async () => {
      await browser.close();
      await server.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Opens the page (with `hash`, in `browser`, after `initScript`) and waits until it is ready or says what went wrong. */
export async function openReady(served: ServedPage, hash = '', query = '', browser = served.browser, initScript?: string): Promise<OpenedPage> {
  const opened = await browser.openUrl(`${served.server.url}index.html${query}${hash}`, undefined, initScript);
  await opened.page.waitForFunction(() => document.body.dataset.ready === 'true' || document.getElementById('status')?.className === 'error', { timeout: 30_000 });
  return opened;
}

/** Logits of the page's model.onnx for each image, computed in the page (browser decoding, onnxruntime-web). */
export function browserLogits(page: Page, images: readonly string[]): Promise<number[][]> {
  return page.evaluate(async (names: readonly string[]) => {
    const t = window.tessera;
    const prep = (await (await fetch('preprocessing.json')).json()) as Preprocessing;
    const session = await t.ort.InferenceSession.create(new Uint8Array(await (await fetch('model.onnx')).arrayBuffer()));
    const rows: number[][] = [];
    for (const name of names) {
      const img = await t.decodeImage(await (await fetch(name)).blob());
      if (!img) throw new Error(`${name} did not decode`);
      const out = await session.run({ input: new t.ort.Tensor('float32', t.toInput(img, prep), [1, 3, prep.size, prep.size]) });
      rows.push(Array.from(out.logits.data, Number));
    }
    return rows;
  }, images);
}

/** Logits of the page's model.onnx for each image from the classifier the page would choose (WebGPU where it has an adapter), and its backend. */
export function browserClassifierLogits(page: Page, images: readonly string[]): Promise<{ backend: string; rows: number[][] }> {
  return page.evaluate(async (names: readonly string[]) => {
    const t = window.tessera;
    const prep = (await (await fetch('preprocessing.json')).json()) as Preprocessing;
    const model = new Uint8Array(await (await fetch('model.onnx')).arrayBuffer());
    const { classifier } = await t.chooseClassifier(model, prep.size, await t.webGpuAdapter());
    const rows: number[][] = [];
    for (const name of names) {
      const img = await t.decodeImage(await (await fetch(name)).blob());
      if (!img) throw new Error(`${name} did not decode`);
      rows.push(Array.from((await classifier.run(t.toInput(img, prep))).logits, Number));
    }
    return { backend: classifier.backend, rows };
  }, images);
}

/** Logits of the same model.onnx for the same images in Node (sharp decoding, onnxruntime-node). */
export async function nodeLogits(dir: string, prep: Preprocessing, images: readonly string[]): Promise<number[][]> {
  const session = await createSession(readFileSync(join(dir, 'model.onnx')), { threads: 1 });
  const rows: number[][] = [];
  try {
    for (const name of images) {
      const img = await decodeImageFile(join(dir, name));
      const input: HostTensor = { dtype: 'float32', shape: [1, 3, prep.size, prep.size], data: toInput(img, prep) };
      rows.push(Array.from(fromOrt((await session.run({ input: toOrt(input) })).logits).data, Number));
    }
  } finally {
    await session.release();
  }
  return rows;
}

/** What N training steps leave: each step's loss and the final state dict. */
export interface Trajectory {
  readonly losses: number[];
  readonly weights: Record<string, number[]>;
}

/** The trajectory case: traj_sgd_lenet's init weights, its four batches cycled, its optimizer and loss. */
export const TRAJECTORY_RUN = { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4, labelSmoothing: 0.1, batch: 8 } as const;

/** `steps` SGD steps in the page (onnxruntime-web, `threads` WASM threads). */
export function browserTrajectory(page: Page, steps: number): Promise<Trajectory> {
  return page.evaluate(
    async (file: string, n: number, run: typeof TRAJECTORY_RUN) => {
      const t = window.tessera;
      const f = t.parseSafetensors(new Uint8Array(await (await fetch(file)).arrayBuffer()));
      const model = t.createModel('cifar_lenet');
      model.loadStateDict(new Map([...f.tensors].filter(([k]) => k.startsWith('init.')).map(([k, v]) => [k.slice(5), v])));
      const session = await t.TrainingSession.create(model, { inputShape: [run.batch, 3, 32, 32], optimizer: t.sgd(run), loss: { kind: 'ce', labelSmoothing: run.labelSmoothing } });
      const losses: number[] = [];
      for (let i = 0; i < n; i++) {
        const input = f.tensors.get(`step${i % 4}.input`)?.data;
        const target = f.tensors.get(`step${i % 4}.target`)?.data;
        if (!(input instanceof Float32Array) || !(target instanceof BigInt64Array)) throw new Error(`no step${i % 4} batch`);
        losses.push((await session.step(input, target, run.lr)).loss);
      }
      await session.release();
      const weights: Record<string, number[]> = {};
      for (const [k, v] of model.stateDict()) weights[k] = Array.from(v.data, Number);
      return { losses, weights };
    },
    TRAJECTORY,
    steps,
    TRAJECTORY_RUN,
  );
}

/** The same steps in Node (onnxruntime-node, one thread). */
export async function nodeTrajectory(steps: number): Promise<Trajectory> {
  const f = readSafetensors(sharedFixture(TRAJECTORY));
  const model = createModel('cifar_lenet');
  model.loadStateDict(new Map([...f.tensors].filter(([k]) => k.startsWith('init.')).map(([k, v]) => [k.slice(5), v])));
  const run = TRAJECTORY_RUN;
  const session = await TrainingSession.create(model, { inputShape: [run.batch, 3, 32, 32], optimizer: sgd(run), loss: { kind: 'ce', labelSmoothing: run.labelSmoothing }, threads: 1 });
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const input = f.tensors.get(`step${i % 4}.input`)?.data;
      const target = f.tensors.get(`step${i % 4}.target`)?.data;
      if (!(input instanceof Float32Array) || !(target instanceof BigInt64Array)) throw new Error(`${TRAJECTORY}: no step${i % 4} batch`);
      losses.push((await session.step(input, target, run.lr)).loss);
    }
  } finally {
    await session.release();
  }
  const weights: Record<string, number[]> = {};
  for (const [k, v] of model.stateDict()) weights[k] = Array.from(v.data, Number);
  return { losses, weights };
}

/** The trajectory fixture's tolerances: rtol by key (`step<i>.loss`, `final.<key>`) and the floor. */
export function trajectoryTolerances(): { rtol: Record<string, number>; floor: number } {
  const f = readSafetensors(sharedFixture(TRAJECTORY));
  return { rtol: JSON.parse(f.metadata.rtol) as Record<string, number>, floor: Number(f.metadata.floor) };
}
