/**
 * Training progress for one epoch (or another pass over batches: `label`). On a terminal: one bar
 * redrawn in place with `\r` (loss, accuracy, images/s, ETA), at most ~10 times a second.
 * Otherwise (a log file, CI): a plain line every `everyBatches` batches or every `everySeconds`
 * seconds, whichever comes first. Either way `finish` prints the pass's summary line.
 *
 * @example
 * const bar = new EpochProgress({ epoch: 1, epochs: 200, batches: 390 });
 * bar.update({ batch: 1, images: 128, loss: 2.30, correct: 13 });
 * bar.finish('epoch 1/200: train loss 1.52 acc 44.1% | val top-1 55.0%');
 */

/** Where progress goes: a stream with `write` (and `isTTY`/`columns` on a terminal). */
export interface ProgressSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** 1-based */
  readonly epoch: number;
  readonly epochs: number;
  /** batches in this epoch */
  readonly batches: number;
  /** what the line starts with; default `epoch <epoch>/<epochs>` */
  readonly label?: string;
  /** default process.stdout */
  readonly sink?: ProgressSink;
  /** default: the sink's isTTY */
  readonly tty?: boolean;
  /** plain mode: a line every this many batches (default 50) */
  readonly everyBatches?: number;
  /** plain mode: or every this many seconds (default 10) */
  readonly everySeconds?: number;
  /** milliseconds clock (tests) */
  readonly now?: () => number;
}

/** Running totals of the epoch so far. */
export interface ProgressStats {
  /** batches done (1-based count) */
  readonly batch: number;
  /** images trained on so far */
  readonly images: number;
  /** mean loss so far (null for a pass that does not train: decoding) */
  readonly loss: number | null;
  /** correct top-1 predictions so far (null when the run does not classify: MAE pre-training) */
  readonly correct: number | null;
}

const REDRAW_MS = 100;

export class EpochProgress {
  private readonly sink: ProgressSink;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private lastDraw = -Infinity;
  private lastLineBatch = 0;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.sink = opts.sink ?? process.stdout;
    this.tty = opts.tty ?? !!this.sink.isTTY;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.lastDraw = this.tty ? -Infinity : this.start;
  }

  /** Reports the totals after a batch; draws only when due. */
  update(s: ProgressStats): void {
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw < REDRAW_MS && s.batch < this.opts.batches) return;
      this.lastDraw = t;
      this.drawn = true;
      this.sink.write(`\r${this.barLine(s, t)}\x1b[K`);
      return;
    }
    const every = this.opts.everyBatches ?? 50;
    const seconds = this.opts.everySeconds ?? 10;
    if (s.batch - this.lastLineBatch >= every || t - this.lastDraw >= seconds * 1000) {
      this.lastDraw = t;
      this.lastLineBatch = s.batch;
      this.sink.write(`${this.plainLine(s, t)}\n`);
    }
  }

  /** Clears the bar (on a terminal) and prints the epoch summary. */
  finish(summary: string): void {
    if (this.tty && this.drawn) this.sink.write('\r\x1b[K');
    this.sink.write(`${summary}\n`);
  }

  /** Clears the bar without a summary (training stopped mid-epoch). */
  abort(): void {
    if (this.tty && this.drawn) this.sink.write('\n');
  }

  private rates(s: ProgressStats, t: number) {
    const seconds = Math.max(1e-9, (t - this.start) / 1000);
    const perSecond = s.images / seconds;
    const eta = s.batch > 0 ? (seconds / s.batch) * (this.opts.batches - s.batch) : NaN;
    const acc = s.correct === null ? '' : ` acc ${(s.images > 0 ? (100 * s.correct) / s.images : 0).toFixed(1)}%`;
    const loss = s.loss === null ? '' : ` loss ${s.loss.toFixed(4)}`;
    return { perSecond, eta, acc, loss };
  }

  private barLine(s: ProgressStats, t: number): string {
    const { perSecond, eta, acc, loss } = this.rates(s, t);
    const head = this.head();
    const tail = `${s.batch}/${this.opts.batches}${loss}${acc} ${Math.round(perSecond)} img/s ETA ${formatDuration(eta)}`;
    const columns = this.sink.columns ?? 100;
    const width = Math.max(10, Math.min(30, columns - head.length - tail.length - 4));
    const filled = Math.round((width * s.batch) / Math.max(1, this.opts.batches));
    return `${head} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${tail}`;
  }

  private plainLine(s: ProgressStats, t: number): string {
    const { perSecond, eta, acc, loss } = this.rates(s, t);
    return `${this.head()} batch ${s.batch}/${this.opts.batches}:${loss}${acc} ${Math.round(perSecond)} img/s eta ${formatDuration(eta)}`;
  }

  private head(): string {
    return this.opts.label ?? `epoch ${this.opts.epoch}/${this.opts.epochs}`;
  }
}

/**
 * Seconds as `m:ss` or `h:mm:ss` ('?' when unknown).
 *
 * @example
 * formatDuration(75); // '1:15'
 * formatDuration(3725); // '1:02:05'
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
