/**
 * The server's Prometheus metrics (text exposition format 0.0.4): counters, histograms and gauges
 * kept in memory and rendered by `GET /metrics`.
 */

/** Label names and values of one series, e.g. `{ route: 'predictions', code: '200' }`. */
export type Labels = Readonly<Record<string, string>>;

const labelText = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

const header = (name: string, help: string, type: string): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];

/** A monotonically increasing count per label set. */
export class Counter {
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const s = this.series.get(key) ?? { labels, value: 0 };
    s.value += by;
    this.series.set(key, s);
  }

  /** the count of one label set (0 when never incremented) */
  value(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    return [...header(this.name, this.help, 'counter'), ...[...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${s.value}`)];
  }
}

/** Observations counted into cumulative buckets (upper bounds `le`), with their sum and count. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    const s = this.series.get(key) ?? { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
    this.buckets.forEach((le, i) => {
      if (value <= le) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
    this.series.set(key, s);
  }

  /** how many observations one label set has */
  count(labels: Labels = {}): number {
    return this.series.get(labelText(labels))?.count ?? 0;
  }

  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    for (const s of this.series.values()) {
      const withLe = (le: string) => labelText({ ...s.labels, le });
      this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket${withLe(String(le))} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${withLe('+Inf')} ${s.count}`, `${this.name}_sum${labelText(s.labels)} ${s.sum}`, `${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** A value read when the metrics are rendered. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string[] {
    return [...header(this.name, this.help, 'gauge'), `${this.name} ${this.read()}`];
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Powers of two up to `max`, and `max` itself: the batch-size buckets. */
export function batchBuckets(max: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < max; b *= 2) out.push(b);
  out.push(max);
  return out;
}

/** Images classified in the last `windowMs`, per second. */
export class RateWindow {
  private readonly events: { at: number; n: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  add(n: number, now = Date.now()): void {
    this.events.push({ at: now, n });
    this.prune(now);
  }

  perSecond(now = Date.now()): number {
    this.prune(now);
    return this.events.reduce((a, e) => a + e.n, 0) / (this.windowMs / 1000);
  }

  private prune(now: number): void {
    while (this.events.length && this.events[0].at <= now - this.windowMs) this.events.shift();
  }
}

/**
 * Every metric `tessera serve` exposes. `queued` reads the images admitted and not yet answered.
 *
 * @example
 * const m = new ServerMetrics(32, () => 0);
 * m.requests.inc({ route: 'predictions', code: '200' });
 * m.render().includes('tessera_requests_total{route="predictions",code="200"} 1'); // → true
 */
export class ServerMetrics {
  readonly requests = new Counter('tessera_requests_total', 'HTTP requests answered, by route and status code');
  readonly latency = new Histogram('tessera_request_duration_seconds', 'time from the request to its answer, by route', LATENCY_BUCKETS);
  readonly queueTime = new Histogram('tessera_queue_seconds', 'time an image waited in the batch queue before its model run', LATENCY_BUCKETS);
  readonly runTime = new Histogram('tessera_inference_seconds', 'time of one model run (one batch)', LATENCY_BUCKETS);
  readonly batchSize: Histogram;
  readonly images = new Counter('tessera_images_total', 'images classified');
  private readonly rate = new RateWindow();
  private readonly gauges: Gauge[];

  constructor(maxBatch: number, queued: () => number) {
    this.batchSize = new Histogram('tessera_batch_size', 'images per model run', batchBuckets(maxBatch));
    this.gauges = [
      new Gauge('tessera_images_per_second', 'images classified per second over the last 10 seconds', () => this.rate.perSecond()),
      new Gauge('tessera_queue_images', 'images admitted and not yet answered (decoding, queued or running)', queued),
      new Gauge('process_resident_memory_bytes', 'resident memory of the server process in bytes', () => process.memoryUsage.rss()),
      new Gauge('nodejs_heap_used_bytes', 'JavaScript heap in use in bytes', () => process.memoryUsage().heapUsed),
    ];
  }

  /** one model run of `n` images that took `seconds` */
  batch(n: number, seconds: number): void {
    this.batchSize.observe(n);
    this.runTime.observe(seconds);
    this.images.inc({}, n);
    this.rate.add(n);
  }

  render(): string {
    const all = [this.requests, this.latency, this.queueTime, this.runTime, this.batchSize, this.images, ...this.gauges];
    return `${all.flatMap((m) => m.render()).join('\n')}\n`;
  }
}
