/**
 * DataLoader: deterministic, prefetching batches decoded and augmented in worker threads, so the
 * main thread stays free for the training step (ONNX Runtime's run).
 *
 * Determinism: epoch e's order is a Fisher–Yates shuffle seeded from (seed, e); sample i of epoch
 * e draws its augmentation from an Rng seeded from (seed, e, i). A batch therefore depends only on
 * (dataset, options, e, batch number): not on the worker count, the timing, or earlier epochs, so
 * any epoch can be replayed on its own (exact resume after a kill).
 *
 * Pixel datasets (CIFAR) are shared with the workers without per-sample copies: at construction
 * every pixel sample goes into one SharedArrayBuffer (or, if the dataset's samples already live in
 * one SharedArrayBuffer, that buffer is used as is), which each worker maps once; a task then only
 * carries sample indices. File samples are decoded with sharp inside the workers.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Batch, ImageDataset, Sample, TransformSpec } from './types.js';
import { validateTransformSpec } from './transforms.js';
import { DatasetError } from './errors.js';
import {
  CancelledError,
  WORKER_KIND,
  epochOrder,
  prepareBatch,
  type BatchTask,
  type FromWorker,
  type PixelPool,
  type DecodeCache,
  type PreparedBatch,
  type SourceRef,
  type ToWorker,
  type WorkerInit,
} from './worker.js';

export { epochOrder, sampleRng, seedFrom } from './worker.js';

export interface DataLoaderOptions {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  /** drop the last, smaller batch of an epoch */
  readonly dropLast: boolean;
  readonly transform: TransformSpec;
  /** worker threads; default max(1, cores − 1); 0 runs everything on the main thread, one batch at a time */
  readonly workers?: number;
  /** batches being prepared ahead of consumption, per worker (as PyTorch's prefetch_factor); default 2 */
  readonly prefetch?: number;
  /**
   * keep decoded file images (size×size, before augmentation) in shared memory so each file is
   * decoded once rather than every epoch; default: on when that takes at most 1 GiB
   */
  readonly decodeCache?: boolean;
  /**
   * a sampler: epoch e's order of dataset indices (as many as the dataset has; an index may
   * repeat), replacing the shuffle; it must depend on e alone (exact resume). A repeated index
   * draws a fresh augmentation for each repeat.
   */
  readonly order?: (epoch: number) => Int32Array;
}

const DECODE_CACHE_LIMIT = 1 << 30;

interface WorkerSlot {
  readonly id: number;
  readonly worker: Worker;
  inFlight: number;
  alive: boolean;
}

interface PendingTask {
  readonly slot: WorkerSlot;
  readonly resolve: (b: PreparedBatch) => void;
  readonly reject: (e: Error) => void;
  readonly sourceAt: (position: number) => SourceRef;
}

/** One pass over the dataset: an epoch, or predecode's. */
interface PassPlan {
  /** dataset indices by position */
  readonly order: Int32Array;
  readonly draws: Int32Array | null;
  readonly epoch: number;
  readonly batches: number;
  /** names the pass in errors ("epoch 3") */
  readonly what: string;
  readonly decodeOnly?: boolean;
}

interface Job {
  readonly promise: Promise<PreparedBatch>;
  readonly taskId: number | null;
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The parent's node options minus those that describe the main script (`--input-type`, `-e`,
 * `-p`): a worker inherits them by default and fails to start with `--input-type`.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--input-type' || a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-pe') i++;
    else if (!a.startsWith('--input-type=') && !a.startsWith('--eval=') && !a.startsWith('--print=')) out.push(a);
  }
  return out;
}

/**
 * Batches of an ImageDataset: order, augmentation, decoding and normalization, prepared in worker
 * threads ahead of consumption and yielded in order.
 *
 * - `epoch(e)` yields `batchesPerEpoch` batches; the last one is smaller (`batch.size`) unless
 *   `dropLast`. `input` is NCHW float32, `target` int64; both arrive by transfer, not copy.
 * - A file that fails to decode is replaced by the next sample of the epoch order that decodes
 *   (wrapping), and listed in `batch.skipped` with a one-line reason; the batch keeps its size.
 * - Up to `prefetch` batches per worker are in flight. An error in a worker rejects the iteration
 *   with a message naming the epoch and batch; `close()` terminates the workers (idle workers are
 *   unref'd, so a forgotten `close()` does not keep the process alive).
 * - Decoding uses sharp on libuv's thread pool, shared by all workers: with many workers on a file
 *   dataset, start node with UV_THREADPOOL_SIZE ≥ the number of workers.
 *
 * @example
 *   // 16 grey 32×32 images in two classes, held in memory (openDataset opens real ones)
 *   const trainSet: ImageDataset = {
 *     name: 'grey', classes: ['dark', 'light'], length: 16,
 *     sample: (i) => ({ label: i % 2, source: { kind: 'pixels', data: new Uint8Array(3 * 32 * 32).fill(i % 2 ? 200 : 50), width: 32, height: 32 } }),
 *   };
 *   const loader = new DataLoader(trainSet, {
 *     batchSize: 8, shuffle: true, seed: 0, dropLast: true,
 *     transform: { size: 32, randomCrop: { padding: 4 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD },
 *   });
 *   const session = await TrainingSession.create(createModel('cifar_lenet', { numClasses: 2 }), { inputShape: [8, 3, 32, 32], optimizer: sgd() });
 *   try {
 *     for (let e = 0; e < 2; e++) {
 *       for await (const batch of loader.epoch(e)) await session.step(batch.input, batch.target, 0.01);
 *     }
 *   } finally {
 *     await loader.close();
 *   }
 */
export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly transform: TransformSpec;
  /** number of worker threads (0: main thread) */
  readonly workers: number;
  readonly prefetch: number;
  private readonly order: ((epoch: number) => Int32Array) | undefined;

  private readonly slots: WorkerSlot[] = [];
  private readonly pending = new Map<number, PendingTask>();
  private pool: PixelPool | null = null;
  private cache: DecodeCache | null = null;
  private poolLabels: Int32Array | null = null;
  private nextTaskId = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(dataset: ImageDataset, opts: DataLoaderOptions) {
    const bad = (what: string): never => {
      throw new RangeError(`DataLoader(${dataset.name}): ${what}`);
    };
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) bad(`batchSize must be a positive integer, got ${opts.batchSize}`);
    if (!Number.isSafeInteger(opts.seed)) bad(`seed must be a safe integer, got ${opts.seed}`);
    const workers = opts.workers ?? Math.max(1, availableParallelism() - 1);
    if (!Number.isInteger(workers) || workers < 0) bad(`workers must be a non-negative integer, got ${opts.workers}`);
    const prefetch = opts.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 1) bad(`prefetch must be a positive integer, got ${opts.prefetch}`);
    if (!Number.isInteger(dataset.length) || dataset.length < 0) bad(`dataset length must be a non-negative integer, got ${dataset.length}`);
    try {
      validateTransformSpec(opts.transform);
    } catch (e) {
      bad(errorMessage(e));
    }

    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle;
    this.seed = opts.seed;
    this.dropLast = opts.dropLast;
    this.transform = structuredClone(opts.transform); // workers get a copy too: later edits must not split them
    this.workers = workers;
    this.prefetch = prefetch;
    this.order = opts.order;

    const per = 3 * opts.transform.size * opts.transform.size;
    const hasFiles = dataset.length > 0 && dataset.sample(0).source.kind === 'file';
    // RandomResizedCrop crops the whole decoded image: those files are decoded every epoch
    if (hasFiles && !opts.transform.randomResizedCrop && (opts.decodeCache ?? dataset.length * per <= DECODE_CACHE_LIMIT)) {
      this.cache = { data: new SharedArrayBuffer(dataset.length * per), state: new SharedArrayBuffer(4 * dataset.length), size: opts.transform.size };
    }
    if (workers > 0) {
      this.buildPool();
      const init: WorkerInit = { kind: WORKER_KIND, seed: this.seed, spec: this.transform, pool: this.pool, cache: this.cache };
      for (let id = 0; id < workers; id++) this.spawn(id, init);
    }
  }

  /** Batches per epoch: ⌈length / batchSize⌉, or ⌊length / batchSize⌋ with dropLast. */
  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Whether decoded files are kept (see `decodeCache`), so that `predecode` has work to do. */
  get cachesDecodedFiles(): boolean {
    return this.cache !== null;
  }

  /** Worker threads that have not exited (0 after `close()`). */
  get liveWorkers(): number {
    return this.slots.filter((s) => s.alive).length;
  }

  /**
   * The batches of epoch `e` (a non-negative integer), in order. Breaking out of the loop cancels
   * the batches still being prepared.
   *
   * @example
   *   const black: ImageDataset = {
   *     name: 'black', classes: ['black'], length: 5,
   *     sample: () => ({ label: 0, source: { kind: 'pixels', data: new Uint8Array(3 * 8 * 8), width: 8, height: 8 } }),
   *   };
   *   const loader = new DataLoader(black, { batchSize: 2, shuffle: true, seed: 0, dropLast: false, transform: { size: 8, mean: [0, 0, 0], std: [1, 1, 1] } });
   *   for await (const { input, target, size, skipped } of loader.epoch(3)) console.log(input.length, target.length, size, skipped.length);
   *   // prints 384 2 2 0, 384 2 2 0, then 192 1 1 0 for the last, smaller batch
   *   await loader.close();
   */
  epoch(e: number): AsyncIterable<Batch> {
    if (!Number.isSafeInteger(e) || e < 0) {
      throw new RangeError(`DataLoader(${this.dataset.name}): epoch must be a non-negative integer, got ${e}`);
    }
    return this.iterate(e);
  }

  /**
   * Decodes every file of the dataset into the decode cache now, on all workers, so that the epochs
   * start from decoded pixels rather than decoding beside the training step (airbench's way: the
   * images are in memory before the first step). Without a cache (pixel datasets, RandomResizedCrop,
   * `decodeCache: false`, a cache over 1 GiB) there is nothing to do. Files that fail are left to
   * the epochs, which replace them. `onProgress(done, total)` follows each batch of files.
   *
   * @example
   *   import { mkdirSync, mkdtempSync } from 'node:fs';
   *   import { tmpdir } from 'node:os';
   *   import { join } from 'node:path';
   *   import sharp from 'sharp';
   *   const dir = mkdtempSync(join(tmpdir(), 'predecode-'));
   *   for (const name of ['red', 'blue']) {
   *     mkdirSync(join(dir, name));
   *     await sharp({ create: { width: 8, height: 8, channels: 3, background: name } }).png().toFile(join(dir, name, '0.png'));
   *   }
   *   const loader = new DataLoader(await openDataset(dir, { split: 'train' }), { batchSize: 1, shuffle: true, seed: 0, dropLast: false, transform: { size: 8, mean: [0, 0, 0], std: [1, 1, 1] } });
   *   const result = await loader.predecode();
   *   result.decoded; // → 2
   *   await loader.close();
   */
  async predecode(onProgress?: (done: number, total: number) => void): Promise<{ readonly decoded: number; readonly failed: Batch['skipped'] }> {
    this.checkUsable();
    const n = this.cache ? this.dataset.length : 0;
    const batches = Math.ceil(n / this.batchSize);
    const failed: Batch['skipped'][number][] = [];
    let done = 0;
    const pass: PassPlan = { order: Int32Array.from({ length: n }, (_, i) => i), draws: null, epoch: 0, batches, what: 'decoding', decodeOnly: true };
    for await (const prepared of this.prepared(pass)) {
      failed.push(...prepared.skipped);
      onProgress?.(++done, batches);
    }
    return { decoded: n - failed.length, failed };
  }

  /**
   * Terminates the workers; iterations still running reject. Idempotent.
   *
   * @example
   *   const black: ImageDataset = {
   *     name: 'black', classes: ['black'], length: 4,
   *     sample: () => ({ label: 0, source: { kind: 'pixels', data: new Uint8Array(3 * 8 * 8), width: 8, height: 8 } }),
   *   };
   *   const loader = new DataLoader(black, { batchSize: 2, shuffle: false, seed: 0, dropLast: false, transform: { size: 8, mean: [0, 0, 0], std: [1, 1, 1] } });
   *   for await (const batch of loader.epoch(0)) break; // leaving early cancels the rest of the epoch
   *   await loader.close();
   */
  async close(): Promise<void> {
    this.closed = true;
    const err = new Error('the DataLoader was closed');
    for (const [id, task] of this.pending) {
      this.pending.delete(id);
      task.reject(err);
    }
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.alive) await slot.worker.terminate();
        slot.alive = false;
      }),
    );
  }

  private async *iterate(e: number): AsyncGenerator<Batch, void, undefined> {
    this.checkUsable();
    const order = this.order ? this.sampledOrder(e) : epochOrder(this.dataset.length, this.shuffle, this.seed, e);
    const draws = this.order ? repeats(order) : null;
    for await (const { input, target, indices, skipped } of this.prepared({ order, draws, epoch: e, batches: this.batchesPerEpoch, what: `epoch ${e}` })) {
      yield { input, target, indices, skipped, size: indices.length };
    }
  }

  private checkUsable(): void {
    const name = this.dataset.name;
    if (this.closed) throw new Error(`DataLoader(${name}): the DataLoader is closed`);
    if (this.failure) throw new Error(`DataLoader(${name}): unusable after a worker failure: ${this.failure.message}`);
  }

  /** The batches of a pass over `order`, prepared `prefetch` per worker ahead and yielded in order. */
  private async *prepared(pass: PassPlan): AsyncGenerator<PreparedBatch, void, undefined> {
    const window = this.workers === 0 ? 1 : this.prefetch * this.workers;
    const queue: Job[] = [];
    let next = 0;
    try {
      for (let b = 0; b < pass.batches; b++) {
        while (next < pass.batches && next < b + window) queue.push(this.start(pass, next++));
        const job = queue.shift()!;
        let prepared: PreparedBatch;
        try {
          prepared = await job.promise;
          if (this.closed) throw new Error('the DataLoader was closed');
        } catch (err) {
          const message = `DataLoader(${this.dataset.name}): ${pass.what}, batch ${b}: ${errorMessage(err)}`;
          throw err instanceof DatasetError ? new DatasetError(message) : new Error(message, { cause: err });
        }
        yield prepared;
      }
    } finally {
      this.cancel(queue);
    }
  }

  /** The sampler's order of epoch `e`, checked. */
  private sampledOrder(e: number): Int32Array {
    const order = this.order!(e);
    const n = this.dataset.length;
    if (order.length !== n || order.some((i) => i < 0 || i >= n)) {
      throw new RangeError(`DataLoader(${this.dataset.name}): the sampler's order of epoch ${e} must hold ${n} indices in [0, ${n}), got ${order.length}`);
    }
    return order;
  }

  /** Starts preparing batch `b` of a pass (in a worker, or on this thread). */
  private start(pass: PassPlan, b: number): Job {
    const { order, draws } = pass;
    const first = b * this.batchSize;
    const count = Math.min(this.batchSize, order.length - first);
    const inWorker = this.workers > 0;
    const sourceAt = (position: number) => this.sourceRef(order[position], inWorker);
    let job: Job;
    try {
      const sources: SourceRef[] = [];
      for (let s = 0; s < count; s++) sources.push(sourceAt(first + s));
      const task: BatchTask = { epoch: pass.epoch, first, total: order.length, sources, draws: draws ? Array.from(draws.subarray(first, first + count)) : undefined, decodeOnly: pass.decodeOnly };
      job = inWorker
        ? this.dispatch(task, sourceAt)
        : { promise: prepareBatch(task, { seed: this.seed, spec: this.transform, pool: null, cache: this.cache, sourceAt }), taskId: null };
    } catch (err) {
      job = { promise: Promise.reject(err as Error), taskId: null };
    }
    job.promise.catch(() => {}); // rejections surface when the batch is awaited, in order
    return job;
  }

  private dispatch(task: BatchTask, sourceAt: (position: number) => SourceRef): Job {
    if (this.closed) throw new Error('the DataLoader was closed');
    if (this.failure) throw this.failure;
    let slot: WorkerSlot | null = null;
    for (const s of this.slots) if (s.alive && (!slot || s.inFlight < slot.inFlight)) slot = s;
    if (!slot) throw new Error('no worker is running');
    const id = this.nextTaskId++;
    const chosen = slot;
    const promise = new Promise<PreparedBatch>((resolve, reject) => {
      this.pending.set(id, { slot: chosen, resolve, reject, sourceAt });
    });
    if (chosen.inFlight++ === 0) chosen.worker.ref();
    this.post(chosen, { type: 'task', id, task });
    return { promise, taskId: id };
  }

  /** Asks the workers to drop tasks nobody will consume. */
  private cancel(jobs: readonly Job[]): void {
    const bySlot = new Map<WorkerSlot, number[]>();
    for (const job of jobs) {
      const task = job.taskId === null ? undefined : this.pending.get(job.taskId);
      if (!task) continue;
      const ids = bySlot.get(task.slot) ?? [];
      ids.push(job.taskId!);
      bySlot.set(task.slot, ids);
    }
    for (const [slot, ids] of bySlot) this.post(slot, { type: 'cancel', ids });
  }

  private post(slot: WorkerSlot, m: ToWorker): void {
    if (slot.alive) slot.worker.postMessage(m);
  }

  private finish(id: number): PendingTask | undefined {
    const task = this.pending.get(id);
    if (!task) return undefined;
    this.pending.delete(id);
    if (--task.slot.inFlight === 0 && task.slot.alive) task.slot.worker.unref();
    return task;
  }

  private spawn(id: number, init: WorkerInit): void {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, execArgv: workerExecArgv() });
    const slot: WorkerSlot = { id, worker, inFlight: 0, alive: true };
    this.slots.push(slot);
    worker.unref();
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    worker.on('error', (err) => this.onFailure(slot, `worker ${id} crashed: ${errorMessage(err)}`));
    worker.on('messageerror', (err) => this.onFailure(slot, `worker ${id} sent an unreadable message: ${errorMessage(err)}`));
    worker.on('exit', (code) => {
      const wasAlive = slot.alive;
      slot.alive = false;
      if (wasAlive && !this.closed) this.onFailure(slot, `worker ${id} exited unexpectedly with code ${code}`);
    });
  }

  private onFailure(slot: WorkerSlot, what: string): void {
    const err = new Error(what);
    this.failure ??= err;
    for (const [id, task] of this.pending) {
      if (task.slot !== slot) continue;
      this.finish(id);
      task.reject(err);
    }
  }

  private onMessage(slot: WorkerSlot, m: FromWorker): void {
    switch (m.type) {
      case 'done':
        this.finish(m.id)?.resolve(m);
        break;
      case 'error':
        this.finish(m.id)?.reject(m.dataset ? new DatasetError(m.message) : new Error(m.message));
        break;
      case 'cancelled':
        this.finish(m.id)?.reject(new CancelledError());
        break;
      case 'need': {
        const task = this.pending.get(m.id);
        let reply: ToWorker;
        try {
          if (!task) throw new Error('task cancelled');
          reply = { type: 'source', req: m.req, source: task.sourceAt(m.position) };
        } catch (err) {
          reply = { type: 'source', req: m.req, error: errorMessage(err) };
        }
        this.post(slot, reply);
        break;
      }
    }
  }

  private label(i: number, sample: Sample): number {
    const { label } = sample;
    const n = this.dataset.classes.length;
    if (!Number.isSafeInteger(label) || label < 0 || (n > 0 && label >= n)) {
      throw new RangeError(`sample ${i} has label ${label}; expected an integer in [0, ${n})`);
    }
    return label;
  }

  /** How a worker (or this thread) finds sample `index`; inline pixels are copied for workers. */
  private sourceRef(index: number, forWorker: boolean): SourceRef {
    if (this.pool && this.poolLabels && this.pool.offsets[index] >= 0) {
      return { index, label: this.poolLabels[index], kind: 'pool' };
    }
    const sample = this.dataset.sample(index);
    const label = this.label(index, sample);
    const src = sample.source;
    if (src.kind === 'file') return { index, label, kind: 'file', path: src.path };
    // a copy of just this view (structured clone would copy a subarray's whole buffer; a Buffer's slice is a view)
    const data = forWorker ? new Uint8Array(src.data) : src.data;
    return { index, label, kind: 'pixels', data, width: src.width, height: src.height };
  }

  /**
   * Collects the pixel samples into one SharedArrayBuffer that every worker maps (no per-sample
   * copies later). Skipped when sample 0 is a file: file datasets send paths with each task.
   */
  private buildPool(): void {
    const ds = this.dataset;
    const n = ds.length;
    if (n === 0 || ds.sample(0).source.kind !== 'pixels') return;
    const offsets = new Float64Array(new SharedArrayBuffer(8 * n)).fill(-1);
    const widths = new Int32Array(new SharedArrayBuffer(4 * n));
    const heights = new Int32Array(new SharedArrayBuffer(4 * n));
    const labels = new Int32Array(n);
    const views: (Uint8Array | null)[] = new Array(n).fill(null);
    let total = 0;
    let common: SharedArrayBuffer | null = null;
    let allShared = true;
    for (let i = 0; i < n; i++) {
      const sample = ds.sample(i);
      const src = sample.source;
      if (src.kind !== 'pixels') continue;
      const { width, height, data } = src;
      if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || data.length !== 3 * width * height) {
        throw new RangeError(`DataLoader(${ds.name}): sample ${i}: a ${width}x${height} RGB image needs ${3 * width * height} bytes, got ${data.length}`);
      }
      labels[i] = this.label(i, sample);
      widths[i] = width;
      heights[i] = height;
      views[i] = data;
      total += data.length;
      const buf = data.buffer;
      if (!(buf instanceof SharedArrayBuffer) || (common !== null && buf !== common)) allShared = false;
      else common = buf;
    }
    let data: SharedArrayBuffer;
    if (allShared && common) {
      data = common;
      for (let i = 0; i < n; i++) if (views[i]) offsets[i] = views[i]!.byteOffset;
    } else {
      data = new SharedArrayBuffer(total);
      const bytes = new Uint8Array(data);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const v = views[i];
        if (!v) continue;
        bytes.set(v, off);
        offsets[i] = off;
        off += v.length;
      }
    }
    this.pool = { data, offsets, widths, heights };
    this.poolLabels = labels;
  }
}

/** How often each position's index came earlier in `order` (0 for its first draw). */
function repeats(order: Int32Array): Int32Array {
  const seen = new Map<number, number>();
  return order.map((i) => {
    const k = seen.get(i) ?? 0;
    seen.set(i, k + 1);
    return k;
  });
}
