/**
 * Load test of `tessera serve` (loopback only, bounded in time): images/s and p50/p99 latency at
 * 1, 8 and 32 concurrent clients (autocannon, one image per request) for a CIFAR model and for
 * resnet50 at 224, against the same model run directly through onnxruntime-node in a loop (the
 * ceiling: batch 1 and batch --max-batch), and the server's resident memory over a soak run at the
 * highest load (sampled every second: first and last tenth, peak VmHWM), which must stay flat.
 * The weights are a seeded random initialization: speed does not depend on them.
 *
 *   npm run build && node dist/bench/serve_load.js [--models cifar_resnet18,resnet50]
 *     [--connections 1,8,32] [--duration 20] [--soak 120] [--threads N] [--workers 2] [--max-batch 32]
 *
 * Prints the machine (CPU model, cores, SIMD flags as lscpu shows them) and one table.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createModel } from '../src/models/index.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/models/torchvision-weights.js';
import { manualSeed } from '../src/nn/init.js';
import { machineInfo } from '../src/report/machine.js';
import { defaultThreads } from '../src/runtime/ort.js';
import { loadServedModel } from '../src/serve/model.js';
import { CheckpointMeta, saveCheckpoint } from '../src/train/checkpoint.js';
import { cifarTransforms } from '../src/train/setup.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'tessera.js');

interface Settings {
  readonly models: string[];
  readonly connections: number[];
  readonly duration: number;
  readonly soak: number;
  readonly threads: number;
  readonly workers: number;
  readonly maxBatch: number;
}

function parseArgs(argv: readonly string[]): Settings {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`usage: serve_load.js [--models A,B] [--connections 1,8,32] [--duration S] [--soak S] [--threads N] [--workers N] [--max-batch N]; got ${argv[i]}`);
    flags.set(argv[i].slice(2), argv[i + 1]);
  }
  const num = (k: string, d: number) => (flags.has(k) ? Number(flags.get(k)) : d);
  return {
    models: (flags.get('models') ?? 'cifar_resnet18,resnet50').split(','),
    connections: (flags.get('connections') ?? '1,8,32').split(',').map(Number),
    duration: num('duration', 20),
    soak: num('soak', 120),
    threads: num('threads', defaultThreads()),
    workers: num('workers', 2),
    maxBatch: num('max-batch', 32),
  };
}

/** a seeded random checkpoint of `model` (CIFAR models 10 classes at 32, torchvision ones 1000 at 224 after resize 256) */
function benchCheckpoint(dir: string, model: string): string {
  const cifar = model.startsWith('cifar_');
  const numClasses = cifar ? 10 : 1000;
  manualSeed(1);
  const module = createModel(model, { numClasses });
  const t = cifar ? cifarTransforms(32) : { eval: { size: 224, resize: 256, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] }, train: { size: 224, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] } };
  const classes = Array.from({ length: numClasses }, (_, i) => `class${i}`);
  const meta: CheckpointMeta = { epoch: 0, stepCount: 0, model, numClasses, classes, transform: t.eval, trainTransform: t.train, bestTop1: null, bestEpoch: null, metrics: null, optimizer: { name: 'none' }, seed: 1, version: 'bench' };
  return saveCheckpoint(dir, model, module, new Map(), meta);
}

/** the request body: a noisy 32×32 PNG for CIFAR models, a 500×375 JPEG (quality 90) for 224 ones */
async function benchImage(model: string): Promise<{ body: Buffer; type: string }> {
  const [w, h] = model.startsWith('cifar_') ? [32, 32] : [500, 375];
  let seed = 12345;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  return w === 32 ? { body: await img.png().toBuffer(), type: 'image/png' } : { body: await img.jpeg({ quality: 90 }).toBuffer(), type: 'image/jpeg' };
}

interface Row {
  readonly model: string;
  readonly what: string;
  readonly imagesPerSecond: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly note: string;
}

/** the model run directly in a loop for `seconds`: images/s, and per-run latency (ms) percentiles */
async function directLoop(checkpoint: string, batch: number, seconds: number, threads: number): Promise<{ ips: number; p50: number; p99: number }> {
  const m = await loadServedModel(checkpoint, { ema: false, tta: 'none', threads });
  try {
    const input = new Float32Array(batch * 3 * m.transform.size ** 2).fill(0.1);
    await m.run(input, batch);
    const times: number[] = [];
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      const t = performance.now();
      await m.run(input, batch);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return { ips: (times.length * batch) / ((performance.now() - start) / 1000), p50: at(0.5), p99: at(0.99) };
  } finally {
    await m.release();
  }
}

interface Child {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<number | null>;
}

function startServer(checkpoint: string, s: Settings): Promise<Child> {
  const args = ['serve', '--checkpoint', checkpoint, '--model-name', 'm', '--port', '0', '--threads', String(s.threads), '--workers', String(s.workers), '--max-batch', String(s.maxBatch)];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = / at (http:\/\/\S+)\n/.exec(out);
      if (m && child.pid !== undefined) resolve({ url: m[1], pid: child.pid, stop: () => (child.kill('SIGTERM'), exited) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`tessera serve exited (${code}): ${out}`)));
  });
}

/** a field of /proc/PID/status in bytes (VmRSS, VmHWM), NaN off Linux */
function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function load(url: string, body: Buffer, type: string, connections: number, duration: number): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/predictions/m?topk=1`, method: 'POST', headers: { 'content-type': type }, body, connections, duration, timeout: 120 });
}

const fmt = (x: number | null, digits = 1) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const MiB = 1024 * 1024;

async function benchModel(model: string, s: Settings, dir: string): Promise<Row[]> {
  const checkpoint = benchCheckpoint(dir, model);
  const { body, type } = await benchImage(model);
  const rows: Row[] = [];
  for (const batch of [...new Set([1, s.maxBatch])]) {
    const d = await directLoop(checkpoint, batch, s.duration, s.threads);
    rows.push({ model, what: `direct ORT loop, batch ${batch}`, imagesPerSecond: d.ips, p50: d.p50, p99: d.p99, note: 'ceiling; latency per run, no decoding' });
  }
  const server = await startServer(checkpoint, s);
  try {
    await load(server.url, body, type, 1, Math.min(3, s.duration)); // warm-up, not reported
    for (const c of s.connections) {
      const r = await load(server.url, body, type, c, s.duration);
      rows.push({ model, what: `tessera serve, ${c} client(s)`, imagesPerSecond: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, note: `${r.non2xx + r.errors + r.timeouts} failed of ${r.requests.total}` });
    }
    if (s.soak > 0) {
      const top = Math.max(...s.connections);
      const samples: number[] = [];
      const timer = setInterval(() => samples.push(procStatus(server.pid, 'VmRSS')), 1000);
      const r = await load(server.url, body, type, top, s.soak);
      clearInterval(timer);
      const tenth = Math.max(1, Math.floor(samples.length / 10));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const first = mean(samples.slice(0, tenth));
      const last = mean(samples.slice(-tenth));
      rows.push({
        model,
        what: `soak ${s.soak} s, ${top} clients`,
        imagesPerSecond: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        note: `RSS first tenth ${fmt(first / MiB)} MiB, last tenth ${fmt(last / MiB)} MiB, peak (VmHWM) ${fmt(procStatus(server.pid, 'VmHWM') / MiB)} MiB; ${r.non2xx + r.errors + r.timeouts} failed`,
      });
    }
  } finally {
    await server.stop();
  }
  return rows;
}

function table(rows: readonly Row[]): string {
  const head = ['model', 'run', 'images/s', 'p50 ms', 'p99 ms', 'note'];
  const body = rows.map((r) => [r.model, r.what, fmt(r.imagesPerSecond), fmt(r.p50), fmt(r.p99), r.note]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  const m = machineInfo();
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.simd.join(' ') || 'no AVX/FMA/AMX flags'}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`);
  console.log(`settings: --threads ${s.threads} --workers ${s.workers} --max-batch ${s.maxBatch} (--max-delay-ms 5), ${s.duration} s per load, soak ${s.soak} s, one image per request, loopback`);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-serve-load-'));
  try {
    const rows: Row[] = [];
    for (const model of s.models) {
      console.log(`${model}...`);
      rows.push(...(await benchModel(model, s, dir)));
    }
    console.log(table(rows));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
