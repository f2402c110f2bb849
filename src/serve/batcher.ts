/**
 * Dynamic batching: images submitted by concurrent requests wait in one queue and run through the
 * model together, up to `maxBatch` images per run, the oldest waiting at most `maxDelayMs`
 * (a run starts when either bound is reached, or at once when draining). One run at a time: ONNX
 * Runtime already uses every thread it was given.
 */
import { ClientGone } from './limits.js';

/** Runs `n` images (n × floatsPerImage floats) and resolves to n × outputsPerImage floats. */
export type BatchRun = (input: Float32Array, n: number) => Promise<Float32Array>;

export interface BatcherOptions {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly floatsPerImage: number;
  readonly outputsPerImage: number;
  /** told each run: its image count, its seconds and each image's seconds in the queue */
  readonly observe?: (n: number, runSeconds: number, queueSeconds: readonly number[]) => void;
}

interface Pending {
  readonly input: Float32Array;
  readonly queuedAt: number;
  readonly resolve: (out: Float32Array) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * @example
 * const batcher = new Batcher(async (x, n) => x.slice(0, n), { maxBatch: 8, maxDelayMs: 5, floatsPerImage: 1, outputsPerImage: 1 });
 * const outs = await Promise.all([batcher.submit([Float32Array.of(1)]), batcher.submit([Float32Array.of(2)])]);
 * outs.map((o) => o[0][0]); // → [1, 2]
 * batcher.runs; // → 1
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private flushing = false;
  /** model runs so far */
  runs = 0;

  constructor(
    private readonly run: BatchRun,
    private readonly opts: BatcherOptions,
  ) {}

  /** images waiting for a run */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Queues `images` (one Float32Array of floatsPerImage each) and resolves to their outputs in
   * order. When `signal` aborts, the images not yet running leave the queue and it rejects with
   * ClientGone.
   */
  submit(images: readonly Float32Array[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (signal?.aborted) return Promise.reject(new ClientGone());
    const mine: Pending[] = [];
    const outputs = images.map(
      (input) =>
        new Promise<Float32Array>((resolve, reject) => {
          const p: Pending = { input, queuedAt: performance.now(), resolve, reject };
          mine.push(p);
          this.queue.push(p);
        }),
    );
    const all = Promise.all(outputs);
    if (signal) {
      const leave = () => {
        for (const p of mine) {
          const at = this.queue.indexOf(p);
          if (at >= 0) this.queue.splice(at, 1);
          p.reject(new ClientGone());
        }
      };
      signal.addEventListener('abort', leave, { once: true });
      all.then(
        () => signal.removeEventListener('abort', leave),
        () => signal.removeEventListener('abort', leave),
      );
    }
    this.schedule();
    return all;
  }

  /** Runs everything queued now and later without waiting for `maxDelayMs`; resolves when the queue is empty and no run is going. */
  async drain(): Promise<void> {
    this.flushing = true;
    this.schedule();
    while (this.running || this.queue.length) {
      await (this.running ?? new Promise((r) => setImmediate(r)));
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    const waited = performance.now() - this.queue[0].queuedAt;
    if (this.flushing || this.queue.length >= this.opts.maxBatch || waited >= this.opts.maxDelayMs) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.running = this.runBatch(this.queue.splice(0, this.opts.maxBatch)).finally(() => {
        this.running = null;
        this.schedule();
      });
    } else this.timer ??= setTimeout(() => {
      this.timer = null;
      this.schedule();
    }, this.opts.maxDelayMs - waited);
  }

  private async runBatch(batch: readonly Pending[]): Promise<void> {
    const { floatsPerImage: per, outputsPerImage: out } = this.opts;
    const input = new Float32Array(batch.length * per);
    batch.forEach((p, i) => input.set(p.input, i * per));
    const start = performance.now();
    this.runs++;
    try {
      const result = await this.run(input, batch.length);
      const end = performance.now();
      this.opts.observe?.(batch.length, (end - start) / 1000, batch.map((p) => (start - p.queuedAt) / 1000));
      batch.forEach((p, i) => p.resolve(result.slice(i * out, (i + 1) * out)));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}
