/**
 * Image decoding off the main thread: a few worker threads (decode-worker.ts) turn uploaded bytes
 * into the model's input floats. Tasks wait in a queue bounded by the admitted images; a task
 * whose client left is dropped before it reaches a worker.
 */
import { Worker } from 'node:worker_threads';
import type { TransformSpec } from '../data/types.js';
import { DECODE_WORKER_KIND, type DecodeReply, type DecodeTask, type DecodeWorkerInit } from './decode-worker.js';
import { ClientGone, HttpError } from './limits.js';

interface Task {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly resolve: (data: Float32Array) => void;
  readonly reject: (e: unknown) => void;
  readonly signal?: AbortSignal;
}

interface Slot {
  worker: Worker;
  task: Task | null;
}

/** What an image's first bytes say it is: the three formats the server decodes, or null. */
export function sniffImage(bytes: Uint8Array): 'jpeg' | 'png' | 'webp' | null {
  const at = (i: number, ...b: number[]) => b.every((x, k) => bytes[i + k] === x);
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return null;
}

/**
 * @example
 * const pool = new DecodePool(2, checkpoint.meta.transform, 50e6);
 * const floats = await pool.decode(readFileSync('cat.jpg')); // 3 × size × size
 * await pool.close();
 */
export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    workers: number,
    private readonly spec: TransformSpec,
    private readonly maxPixels: number,
  ) {
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn());
  }

  /** The image's input floats; rejects with a 400 HttpError (413 over the pixel limit) when it does not decode. */
  decode(bytes: Uint8Array, signal?: AbortSignal): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new HttpError(503, 'the server is shutting down'));
    if (signal?.aborted) return Promise.reject(new ClientGone());
    return new Promise((resolve, reject) => {
      const task: Task = { id: this.nextId++, bytes, resolve, reject, signal };
      // a client that leaves is answered nothing: its task leaves the queue (or its result is dropped) at once
      signal?.addEventListener('abort', () => {
        const at = this.waiting.indexOf(task);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new ClientGone());
      }, { once: true });
      this.waiting.push(task);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.waiting.splice(0)) t.reject(new HttpError(503, 'the server is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const init: DecodeWorkerInit = { kind: DECODE_WORKER_KIND, spec: this.spec, maxPixels: this.maxPixels };
    const slot: Slot = { worker: new Worker(new URL('./decode-worker.js', import.meta.url), { workerData: init }), task: null };
    slot.worker.unref();
    slot.worker.on('message', (m: DecodeReply) => this.settle(slot, m));
    slot.worker.on('error', (e) => this.replace(slot, e));
    return slot;
  }

  private settle(slot: Slot, m: DecodeReply): void {
    const task = slot.task;
    slot.task = null;
    if (task && task.id === m.id) {
      if ('data' in m) task.resolve(m.data);
      else task.reject(decodeError(m.error, this.maxPixels));
    }
    this.dispatch();
  }

  /** a worker that crashed: its task fails (500), a new worker takes its place */
  private replace(slot: Slot, e: Error): void {
    slot.task?.reject(new Error(`decode worker crashed: ${e.message}`));
    slot.task = null;
    if (this.closed) return;
    this.slots.splice(this.slots.indexOf(slot), 1, this.spawn());
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.task) continue;
      const task = this.waiting.shift();
      if (!task) return;
      slot.task = task;
      const message: DecodeTask = { id: task.id, bytes: task.bytes };
      slot.worker.postMessage(message);
    }
  }
}

function decodeError(reason: string, maxPixels: number): HttpError {
  if (/pixel limit/i.test(reason)) return new HttpError(413, `the image has more than ${maxPixels} pixels, the server's limit`);
  return new HttpError(400, `cannot decode the image (${reason})`);
}
