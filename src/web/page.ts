/**
 * The exported page's script: classify dropped or picked images (top-5 bars, timing), "teach"
 * new classes from the user's own images (fine-tune in the page, loss curve, held-back accuracy,
 * classify with the result, download the weights), and `#selftest`. The engine is ./index.ts;
 * this file only wires it to the DOM. The library is also `window.tessera` for scripting.
 */
import * as tessera from './index.js';
import { pageModel, decodeImage, Preprocessing, Ranked, TeachOptions, TeachSample, checkpointBytes, configureWasm, exportInferenceOnnx, fineTune, modelForClasses, parseSafetensors, toInput, tooLargeMessage, topK, RgbImage, HostTensor } from './index.js';
import { Classifier, chooseClassifier, wasmBackendName, webGpuAdapter } from './backend.js';
import { CLASSIFY_TARGET, CameraPanel, CaptureTarget } from './camera.js';

declare global {
  interface Window {
    tessera: typeof tessera;
  }
}

/** What the exporter writes next to index.html. */
interface PageFiles {
  readonly prep: Preprocessing;
  readonly classes: readonly string[];
  readonly onnx: Uint8Array;
  readonly weights: ReadonlyMap<string, HostTensor>;
  readonly selftest: readonly string[];
}

/** wasm32 can address 4 GiB; half of it is what the page lets training take */
const MEMORY_LIMIT = 2 ** 31;

/** The page's element `id`, checked to be a `kind`. */
function $<T extends HTMLElement>(id: string, kind: new () => T): T;
function $(id: string): HTMLElement;
function $(id: string, kind: new () => HTMLElement = HTMLElement): HTMLElement {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) throw new Error(`the page has no ${kind.name} #${id}`);
  return found;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function loadFiles(): Promise<PageFiles> {
  const [prep, classes, selftest, onnx, weights] = await Promise.all([
    fetch('preprocessing.json').then((r) => r.json() as Promise<Preprocessing>),
    fetch('classes.json').then((r) => r.json() as Promise<string[]>),
    fetch('selftest.json').then((r) => r.json() as Promise<string[]>),
    fetchBytes('model.onnx'),
    fetchBytes('weights.safetensors'),
  ]);
  return { prep, classes, selftest, onnx, weights: parseSafetensors(weights, 'weights.safetensors').tensors };
}

/** Classifies one image: its top-5 and the milliseconds the model took. */
async function classify(classifier: Classifier, img: RgbImage, prep: Preprocessing, labels: readonly string[]): Promise<{ top: Ranked[]; ms: number }> {
  const input = toInput(img, prep);
  const { logits, ms } = await classifier.run(input);
  return { top: topK(logits, labels, 5), ms };
}

function thumbnail(img: RgbImage): HTMLCanvasElement {
  const canvas = el('canvas', { width: img.width, height: img.height, className: 'thumb' });
  const ctx = canvas.getContext('2d');
  const n = img.width * img.height;
  if (ctx) {
    const pixels = ctx.createImageData(img.width, img.height);
    for (let i = 0; i < n; i++) pixels.data.set([img.data[i], img.data[n + i], img.data[2 * n + i], 255], 4 * i);
    ctx.putImageData(pixels, 0, 0);
  }
  return canvas;
}

function bar(probability: number): HTMLElement {
  const span = el('span', { className: 'bar' });
  span.style.width = `${(100 * probability).toFixed(1)}%`;
  return span;
}

function bars(top: readonly Ranked[]): HTMLElement {
  return el(
    'ol',
    { className: 'bars' },
    ...top.map((r) => el('li', {}, el('span', { className: 'label', textContent: r.label }), bar(r.probability), el('span', { className: 'pct', textContent: `${(100 * r.probability).toFixed(1)}%` }))),
  );
}

/** One class of teach mode: its images and the shelf of their thumbnails. */
interface TeachClass {
  readonly name: string;
  readonly images: RgbImage[];
  readonly shelf: HTMLElement;
}

/** The page's state: the classifier in use (exported or fine-tuned) and its labels. */
class Page {
  classifier!: Classifier;
  labels: readonly string[];
  /** why WebGPU was not used though the browser has it (null: it was used, or there is none) */
  webgpuFailure: string | null = null;
  private readonly teachClasses: TeachClass[] = [];
  private camera!: CameraPanel;
  private captures = 0;

  constructor(
    readonly files: PageFiles,
    private readonly gpuAdapter: object | null,
  ) {
    this.labels = files.classes;
  }

  /** Classifies with `onnx` from now on, on WebGPU where it can. */
  private async useModel(onnx: Uint8Array): Promise<void> {
    const chosen = await chooseClassifier(onnx, this.files.prep.size, this.gpuAdapter);
    this.classifier = chosen.classifier;
    this.webgpuFailure = chosen.webgpuFailure;
  }

  async start(): Promise<void> {
    await this.useModel(this.files.onnx);
    $('model-name').textContent = `${this.files.prep.model}, ${this.files.classes.length} classes, ${this.files.prep.size}×${this.files.prep.size} input`;
    const pick = $('pick', HTMLInputElement);
    pick.addEventListener('change', () => void this.classifyFiles([...(pick.files ?? [])]));
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => e.preventDefault());
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      void this.classifyFiles([...(e.dataTransfer?.files ?? [])]);
    });
    $('add-class').addEventListener('click', () => this.addTeachClass());
    $('train').addEventListener('click', () => void this.teach());
    this.camera = new CameraPanel(
      {
        start: $('camera', HTMLButtonElement),
        capture: $('capture', HTMLButtonElement),
        stop: $('camera-stop', HTMLButtonElement),
        target: $('camera-target', HTMLSelectElement),
        controls: $('camera-controls'),
        video: $('camera-video', HTMLVideoElement),
        status: $('camera-status'),
      },
      (img, target) => this.captured(img, target),
    );
  }

  /** A camera frame: classified, or added to the teach class `target` names. */
  private async captured(img: RgbImage, target: CaptureTarget): Promise<void> {
    this.captures++;
    const teachClass = target === CLASSIFY_TARGET ? undefined : this.teachClasses[Number(target)];
    if (teachClass) this.addTeachImage(teachClass, img);
    else await this.showResult(`camera capture ${this.captures}`, img);
  }

  /** Classifies `img` and puts its thumbnail, top-5 bars, timing and backend first in the list. */
  private async showResult(name: string, img: RgbImage): Promise<void> {
    const { top, ms } = await classify(this.classifier, img, this.files.prep, this.labels);
    const timing = el('small', { className: 'timing', textContent: `${ms.toFixed(1)} ms, ${this.classifier.backend}` });
    $('results').prepend(el('li', { className: 'result' }, thumbnail(img), el('div', {}, el('b', { textContent: name }), bars(top), timing)));
  }

  async classifyFiles(files: readonly File[]): Promise<void> {
    const list = $('results');
    for (const file of files) {
      const img = await decodeImage(file);
      if (!img) {
        list.prepend(el('li', { className: 'skipped', textContent: `skipped ${file.name}: not an image` }));
        continue;
      }
      await this.showResult(file.name, img);
    }
  }

  addTeachClass(): void {
    const name = $('class-name', HTMLInputElement).value.trim() || `class ${this.teachClasses.length + 1}`;
    const entry: TeachClass = { name, images: [], shelf: el('div', { className: 'shelf' }) };
    this.camera.addTarget(`teach class "${name}"`, String(this.teachClasses.length));
    this.teachClasses.push(entry);
    const input = el('input', { type: 'file', multiple: true, accept: 'image/*' });
    const skipped = el('div', { className: 'skipped' });
    input.addEventListener('change', async () => {
      for (const file of input.files ?? []) {
        const img = await decodeImage(file);
        if (img) this.addTeachImage(entry, img);
        else skipped.append(el('div', { textContent: `skipped ${file.name}: not an image` }));
      }
    });
    $('teach-classes').append(el('fieldset', {}, el('legend', { textContent: name }), input, entry.shelf, skipped));
  }

  private addTeachImage(entry: TeachClass, img: RgbImage): void {
    entry.images.push(img);
    entry.shelf.append(thumbnail(img));
  }

  /** Every 4th image of a class (at least one when it has two or more) is held back for accuracy. */
  private split(): { train: TeachSample[]; held: TeachSample[] } {
    const train: TeachSample[] = [];
    const held: TeachSample[] = [];
    this.teachClasses.forEach((c, label) => c.images.forEach((image, i) => (c.images.length > 1 && i % 4 === 1 ? held : train).push({ image, label })));
    return { train, held };
  }

  async teach(): Promise<void> {
    const status = $('teach-status');
    const classes = this.teachClasses.filter((c) => c.images.length).map((c) => c.name);
    if (classes.length < 2) {
      status.textContent = 'add at least two classes with images first';
      return;
    }
    const opts: TeachOptions = {
      layers: $('layers', HTMLSelectElement).value === 'all' ? 'all' : 'head',
      steps: Number($('steps', HTMLInputElement).value),
      batch: Number($('batch', HTMLInputElement).value),
      lr: Number($('lr', HTMLInputElement).value),
    };
    const { prep } = this.files;
    const net = modelForClasses(prep, this.files.weights, classes.length, opts.layers);
    const tooLarge = tooLargeMessage(prep.model, net.parameterCount(), opts.batch, prep.size, MEMORY_LIMIT);
    if (tooLarge) {
      status.textContent = tooLarge;
      return;
    }
    const { train, held } = this.split();
    const curve = new LossCurve($('loss-curve', HTMLCanvasElement), opts.steps);
    status.textContent = `fine-tuning ${opts.layers === 'head' ? 'the classifier' : 'all layers'} on ${train.length} images…`;
    const t0 = performance.now();
    const losses = await fineTune(net, train, prep, opts, async (step, loss) => {
      curve.add(loss);
      status.textContent = `step ${step + 1}/${opts.steps}: loss ${loss.toFixed(4)}, ${(((step + 1) * opts.batch) / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`;
      await new Promise((r) => setTimeout(r, 0));
    });
    await this.useModel(exportInferenceOnnx(net, { inputShape: [1, 3, prep.size, prep.size], dynamicBatch: true, foldBatchNorms: true }));
    this.labels = classes;
    let correct = 0;
    for (const s of held) if ((await classify(this.classifier, s.image, prep, classes)).top[0].index === s.label) correct++;
    const top1 = held.length ? correct / held.length : null;
    status.textContent = `done: ${losses.length} steps, final loss ${losses[losses.length - 1].toFixed(4)}; held-back accuracy ${top1 === null ? 'n/a (no images held back)' : `${correct}/${held.length}`}; classifying with the fine-tuned model now (${this.classifier.backend})`;
    const blob = new Blob([new Uint8Array(checkpointBytes(net, prep, classes, losses.length, opts, top1))], { type: 'application/octet-stream' });
    const link = $('download', HTMLAnchorElement);
    link.href = URL.createObjectURL(blob);
    link.download = `${prep.model}-finetuned.safetensors`;
    link.hidden = false;
  }
}

/** The loss per step, drawn as a line on a canvas. */
class LossCurve {
  private readonly losses: number[] = [];
  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly steps: number,
  ) {}

  add(loss: number): void {
    this.losses.push(loss);
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    const max = Math.max(...this.losses) * 1.05;
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = '#999';
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    ctx.fillStyle = '#555';
    ctx.font = '11px sans-serif';
    ctx.fillText(`loss (max ${max.toFixed(2)})`, 6, 14);
    ctx.strokeStyle = '#1a73e8';
    ctx.lineWidth = 2;
    ctx.beginPath();
    this.losses.forEach((l, i) => {
      const x = (i / Math.max(1, this.steps - 1)) * (width - 10) + 5;
      const y = height - 5 - (l / max) * (height - 25);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

/** `#selftest`: classify the bundled images, 5 training steps on them, one JSON object in <pre id="selftest">. */
async function selftest(page: Page): Promise<void> {
  const t0 = performance.now();
  const { prep, classes } = page.files;
  const images: RgbImage[] = [];
  for (const name of page.files.selftest) {
    const img = await decodeImage(new Blob([new Uint8Array(await fetchBytes(name))], { type: 'image/jpeg' }));
    if (!img) throw new Error(`${name} is not an image`);
    images.push(img);
  }
  const top1: string[] = [];
  const samples: TeachSample[] = [];
  for (const image of images) {
    const { top } = await classify(page.classifier, image, prep, classes);
    top1.push(top[0].label);
    samples.push({ image, label: top[0].index });
  }
  const net = pageModel(prep, classes.length);
  net.loadStateDict(page.files.weights);
  const losses = await fineTune(net, samples, prep, { layers: 'all', steps: 5, batch: 2, lr: 0.01, seed: 0 });
  $('selftest').textContent = JSON.stringify({ top1, losses, ms: Math.round(performance.now() - t0), backend: page.classifier.backend });
}

async function main(): Promise<void> {
  window.tessera = tessera;
  const threadsParam = new URLSearchParams(location.search).get('threads');
  const threads = configureWasm({ wasmPaths: new URL('ort/', location.href).href, threads: threadsParam ? Number(threadsParam) : Math.min(4, navigator.hardwareConcurrency || 1) });
  const page = new Page(await loadFiles(), await webGpuAdapter());
  await page.start();
  const fallback = page.webgpuFailure === null ? '' : ` (WebGPU could not run this model: ${page.webgpuFailure}; using WebAssembly instead)`;
  $('status').textContent = `ready: classifying on ${page.classifier.backend}${fallback}; training on ${wasmBackendName(threads)}${crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  document.body.dataset.ready = 'true';
  if (location.hash === '#selftest') await selftest(page);
}

main().catch((e: unknown) => {
  const status = document.getElementById('status');
  if (status) {
    status.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
    status.className = 'error';
  }
  console.error(e);
});
