/**
 * `npm run bench`: Tessera's training and inference throughput (images/s) on one model, then
 * PyTorch's on the same model, batch and thread count (bench/torch_bench.py run by Debian's
 * /usr/bin/python3 as a child process, after Tessera is done: never concurrently), and the
 * results written into BENCHMARKS.md at the repository root (one section per model; a rerun
 * replaces only that model's section).
 *
 * Both engines reuse one fixed random batch (seeded) for every step: the numbers measure the
 * engine, not data loading or augmentation.
 *
 *   npm run bench -- --model cifar_resnet18 --batch 128 --threads 2 --steps 20 --warmup 3
 *   node dist/bench/train_bench.js --model cifar_lenet --no-torch
 *   node dist/bench/train_bench.js --profile      # ORT per-op profile of the training step, top 15 ops
 *   npm run bench -- --model resnet50 --batch 8 --threads 2 --inference-only   # 224×224, torchvision's resnet50 in PyTorch
 *   node dist/bench/train_bench.js --model cifar_airbench94 --batch 1024 --no-torch --no-write --freeze 0.bias   # a step with that parameter frozen
 *
 * Flags: --model NAME, --batch N, --threads N, --steps N, --warmup N, --no-torch, --profile, --inference-only,
 * --size N (input side; default the model's input size),
 * --freeze KEY[,KEY...] (train with these parameters frozen: their rate factor 0, so the step graph
 * computes no gradient for them, as airbench's whitening bias after epoch 3),
 * --no-write (do not touch BENCHMARKS.md), --python PATH (default /usr/bin/python3),
 * --torch-malloc auto|tcmalloc|jemalloc|glibc (PyTorch's allocator, bench/torch_malloc.py; auto: tcmalloc
 * when Debian's libtcmalloc-minimal4 is installed, as PyTorch's CPU tuning guide recommends).
 * With --profile or --freeze the timings are not the model's plain step, so BENCHMARKS.md is not written.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_MALLOCS, type TorchMalloc, type TorchResult, torchCounterpart, measureInference, measureTraining, median, randomBatch, runTorchBench } from '../src/bench/measure.js';
import { createModel, modelInfo } from '../src/models/index.js';
import { ort } from '../src/runtime/ort.js';
import { nchwcBlockFor } from '../src/runtime/conv-layout.js';

// ---------------------------------------------------------------- arguments

interface Args {
  model: string;
  batch: number;
  threads: number;
  steps: number;
  warmup: number;
  torch: boolean;
  profile: boolean;
  inferenceOnly: boolean;
  /** input side (default: the model's inputSize) */
  size: number | null;
  /** trainable parameters (state-dict keys) frozen in the training step */
  freeze: string[];
  write: boolean;
  python: string;
  /** PyTorch's memory allocator (torch_bench.py --malloc) */
  torchMalloc: TorchMalloc;
}

const USAGE = `usage: node dist/bench/train_bench.js [--model cifar_resnet18] [--batch 128] [--threads 2] [--steps 20] [--warmup 3]
                                       [--no-torch] [--profile] [--inference-only] [--size N] [--freeze KEY[,KEY...]] [--no-write] [--python /usr/bin/python3]
                                       [--torch-malloc auto|tcmalloc|jemalloc|glibc]`;

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { model: 'cifar_resnet18', batch: 128, threads: 2, steps: 20, warmup: 3, torch: true, profile: false, inferenceOnly: false, size: null, freeze: [], write: true, python: '/usr/bin/python3', torchMalloc: 'auto' };
  const oneOf = <T extends string>(flag: string, v: string | undefined, choices: readonly T[]): T =>
    choices.find((c) => c === v) ?? fail(`${flag} needs one of ${choices.join(', ')}, got ${v ?? 'nothing'}`);
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) fail(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--model': a.model = value() ?? fail('--model needs a name'); break;
      case '--batch': a.batch = int(flag, value(), 1); break;
      case '--threads': a.threads = int(flag, value(), 1); break;
      case '--steps': a.steps = int(flag, value(), 1); break;
      case '--warmup': a.warmup = int(flag, value(), 0); break;
      case '--python': a.python = value() ?? fail('--python needs a path'); break;
      case '--torch-malloc': a.torchMalloc = oneOf(flag, value(), TORCH_MALLOCS); break;
      case '--no-torch': a.torch = false; break;
      case '--profile': a.profile = true; break;
      case '--inference-only': a.inferenceOnly = true; break;
      case '--size': a.size = int(flag, value(), 1); break;
      case '--freeze': a.freeze = (value() ?? fail('--freeze needs parameter keys, e.g. 0.bias')).split(','); break;
      case '--no-write': a.write = false; break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
      default: fail(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

function fail(msg: string): never {
  console.error(`train_bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------- helpers

/** The repository root: the nearest folder above this file holding package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

const fmt = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const ratio = (x: number | null | undefined, y: number | null | undefined): string => (x && y ? `${(x / y).toFixed(2)}x` : 'n/a');

// ---------------------------------------------------------------- ORT profile

interface ProfileEvent {
  cat?: string;
  name?: string;
  dur?: number;
  ts?: number;
  args?: { op_name?: string };
}

/**
 * Top ops of an ORT JSON profile, aggregated by op_name over kernel-time events of the measured
 * steps: every step runs the same kernels, so the first `warmup` steps' share of the events
 * (in time order) is left out: they include first-touch page faults and allocations.
 */
function summarizeProfile(file: string, warmup: number, steps: number, top = 15): string[] {
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  const nodes = events.filter((e) => e.cat === 'Node' && typeof e.dur === 'number');
  // each node has *_fence_before, *_kernel_time, *_fence_after events; count the kernel time only
  const kernels = nodes.filter((e) => e.name?.endsWith('_kernel_time'));
  const all = (kernels.length ? kernels : nodes).sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
  const perStep = all.length / (warmup + steps);
  const skipWarmup = Number.isInteger(perStep);
  const used = skipWarmup ? all.slice(warmup * perStep) : all;
  const stepsProfiled = skipWarmup ? steps : warmup + steps;
  const byOp = new Map<string, { us: number; calls: number }>();
  for (const e of used) {
    const op = e.args?.op_name ?? e.name ?? '?';
    const agg = byOp.get(op) ?? { us: 0, calls: 0 };
    agg.us += e.dur!;
    agg.calls++;
    byOp.set(op, agg);
  }
  const total = [...byOp.values()].reduce((s, x) => s + x.us, 0);
  const rows = [...byOp.entries()].sort((x, y) => y[1].us - x[1].us).slice(0, top);
  const lines = [
    `ORT profile ${file}`,
    `  ${used.length} kernel events over ${stepsProfiled} ${skipWarmup ? 'measured steps (warmup left out)' : 'steps (warmup + measured)'}, ${(total / 1000).toFixed(1)} ms of kernel time, ${(total / 1000 / stepsProfiled).toFixed(1)} ms/step`,
    `  ${'op'.padEnd(28)} ${'total ms'.padStart(10)} ${'ms/step'.padStart(9)} ${'share'.padStart(7)} ${'calls'.padStart(7)} ${'avg us'.padStart(9)}`,
  ];
  for (const [op, { us, calls }] of rows) {
    lines.push(
      `  ${op.padEnd(28)} ${(us / 1000).toFixed(1).padStart(10)} ${(us / 1000 / stepsProfiled).toFixed(2).padStart(9)} ${`${((100 * us) / total).toFixed(1)}%`.padStart(7)} ${String(calls).padStart(7)} ${(us / calls).toFixed(0).padStart(9)}`,
    );
  }
  return lines;
}

/** The newest file in `dir` starting with `prefix` and ending .json (ORT appends a timestamp). */
function findProfile(dir: string, prefix: string): string | null {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => join(dir, f))
    .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs);
  return files[0] ?? null;
}

// ---------------------------------------------------------------- PyTorch

/** the PyTorch row's name: version and allocator ('PyTorch 1.13.0a0 (malloc: tcmalloc)') */
function torchName(t: TorchResult): string {
  return `PyTorch ${t.torch} (malloc: ${t.malloc.split(' ')[0]})`;
}

function runTorch(a: Args, size: number, root: string): { result: TorchResult | null; note: string; command: string | null } {
  return runTorchBench({ ...a, size, malloc: a.torchMalloc, train: !a.inferenceOnly, root, onStart: (command) => console.log(`\nrunning PyTorch: ${command}`) });
}

// ---------------------------------------------------------------- machine

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** the SIMD features of /proc/cpuinfo's flags that decide ONNX Runtime's kernels (AVX, FMA, AVX-512, AMX) */
function cpuFeatures(): string {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? [];
    const simd = flags.filter((f) => /^(avx|fma|amx|f16c)/.test(f));
    return simd.length ? simd.join(' ') : 'none of AVX/FMA/AVX-512/AMX';
  } catch {
    return 'unknown (no /proc/cpuinfo)';
  }
}

/** how the training step's convolutions are written (src/runtime/conv-layout.ts) */
function convLayoutNote(): string {
  const block = nchwcBlockFor();
  return block ? `ONNX Runtime NCHWc kernels, block ${block} (weights reordered in the graph)` : 'standard ONNX Conv';
}

function ortVersion(root: string): string {
  const v = (ort.env.versions as Record<string, string | undefined>).node;
  if (v) return v;
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- BENCHMARKS.md

const HEADER = `# Benchmarks

Training and inference throughput of Tessera (the whole training step in onnxruntime-node) and
PyTorch on the CPU, same model, batch, thread count and dtype. Written by \`npm run bench\`
(bench/train_bench.ts, with bench/torch_bench.py for PyTorch); rerunning a model replaces only
that model's section. Both engines reuse one fixed random batch for every step, so the numbers
measure the engine, not data loading.
`;

function updateBenchmarks(file: string, model: string, section: string): void {
  const begin = `<!-- bench:${model} -->`;
  const end = `<!-- /bench:${model} -->`;
  const block = `${begin}\n${section.trim()}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  const i = text.indexOf(begin);
  const j = i >= 0 ? text.indexOf(end, i) : -1;
  if (i >= 0 && j >= 0) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const root = repoRoot();
  const info = modelInfo(a.model);
  const size = a.size ?? info.inputSize;
  const inputShape = [a.batch, 3, size, size];
  const load0 = loadavg()[0];
  console.log(`Tessera bench: ${a.model}, input [${inputShape.join(', ')}], float32, ${a.threads} threads, ${a.warmup} warmup + ${a.steps} measured steps`);
  console.log(`(one fixed random batch reused every step; load average at start ${load0.toFixed(2)})`);
  console.log(`training-step convolutions: ${convLayoutNote()}; CPU ${cpuModel()}, features ${cpuFeatures()}`);
  console.log(`Tessera's malloc: GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'} (npm run bench sets glibc.malloc.hugetlb=1: huge pages, see README)`);

  const { images, labels } = randomBatch(inputShape, info.numClasses);
  const model = createModel(a.model);
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([key]) => key);
  for (const key of a.freeze) if (!trainable.includes(key)) fail(`--freeze ${key}: ${a.model} has no trainable parameter ${key} (its first ones: ${trainable.slice(0, 4).join(', ')})`);
  if (a.freeze.length) console.log(`frozen in the training step: ${a.freeze.join(', ')}`);

  // ---- training
  let profileDir: string | null = null;
  const profileName = 'tessera-train';
  if (a.profile) profileDir = mkdtempSync(join(tmpdir(), 'tessera-profile-'));
  const profilePrefix = profileDir ? join(profileDir, profileName) : undefined;
  const bench = { inputShape, images, labels, threads: a.threads, steps: a.steps, warmup: a.warmup, log: console.log };
  const trained = a.inferenceOnly ? null : await measureTraining(model, { ...bench, profilePrefix, frozen: a.freeze });
  const train = trained?.timing ?? null;
  if (trained) console.log(`[tessera] last loss ${trained.lastLoss.toFixed(4)}`);
  let profileLines: string[] = [];
  if (profileDir) {
    const file = findProfile(profileDir, profileName);
    profileLines = file ? summarizeProfile(file, a.warmup, a.steps) : [`no ORT profile found in ${profileDir}`];
  }

  // ---- inference (built after training, so it bakes in the trained weights; any weights do)
  const { timing: infer, buildSec: inferBuildSec } = await measureInference(model, bench);

  // ---- PyTorch, strictly after Tessera
  let torch: TorchResult | null = null;
  let torchNote = '';
  let torchCommand: string | null = null;
  if (a.torch) {
    const r = runTorch(a, size, root);
    torch = r.result;
    torchNote = r.note;
    torchCommand = r.command;
  } else torchNote = 'PyTorch not run (--no-torch)';
  if (torchNote) console.log(`note: ${torchNote}`);

  // ---- report
  const rows: [string, string, string][] = [
    ['engine', 'train img/s', 'infer img/s'],
    ['Tessera (onnxruntime-node)', fmt(train?.imagesPerSec), fmt(infer.imagesPerSec)],
  ];
  if (torch) {
    rows.push([torchName(torch), fmt(torch.trainImagesPerSec), fmt(torch.inferImagesPerSec)]);
    rows.push(['Tessera / PyTorch', ratio(train?.imagesPerSec, torch.trainImagesPerSec), ratio(infer.imagesPerSec, torch.inferImagesPerSec)]);
  }
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
  console.log('');
  for (const [k, r] of rows.entries()) {
    console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`);
    if (k === 0) console.log(`${'-'.repeat(w[0])}  ${'-'.repeat(w[1])}  ${'-'.repeat(w[2])}`);
  }
  console.log(
    `Tessera step time: train median ${fmt(train && median(train.stepMs))} ms, infer median ${fmt(median(infer.stepMs))} ms (batch ${a.batch}); session build: train ${fmt(trained?.buildSec, 2)} s, infer ${inferBuildSec.toFixed(2)} s`,
  );
  if (profileLines.length) console.log(`\n${profileLines.join('\n')}`);

  if (!a.write) return;
  if (a.profile || a.freeze.length) {
    console.log(`\nBENCHMARKS.md not updated: ${a.profile ? '--profile timings include ORT profiling overhead' : '--freeze measures another step than the model\'s plain one'}`);
    return;
  }

  const torchModel = torchCounterpart(a.model);
  const npm = process.env.npm_lifecycle_event === 'bench';
  const argv = process.argv.slice(2).join(' ');
  const command = npm ? `npm run bench${argv ? ` -- ${argv}` : ''}` : `node dist/bench/train_bench.js${argv ? ` ${argv}` : ''}`;
  const envVars = ['GLIBC_TUNABLES', 'OPENBLAS_CORETYPE', 'OMP_NUM_THREADS', 'TESSERA_THREADS', 'TESSERA_CONV_LAYOUT', 'TESSERA_WGRAD'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const md: string[] = [
    `## ${a.model}`,
    '',
    `Measured ${new Date().toISOString()}.`,
    '',
    '| engine | train img/s | infer img/s |',
    '| --- | ---: | ---: |',
    `| Tessera (onnxruntime-node ${ortVersion(root)}) | ${fmt(train?.imagesPerSec)} | ${fmt(infer.imagesPerSec)} |`,
  ];
  if (torch) {
    md.push(`| ${torchName(torch)} | ${fmt(torch.trainImagesPerSec)} | ${fmt(torch.inferImagesPerSec)} |`);
    md.push(`| **Tessera / PyTorch** | **${ratio(train?.imagesPerSec, torch.trainImagesPerSec)}** | **${ratio(infer.imagesPerSec, torch.inferImagesPerSec)}** |`);
  }
  md.push(
    '',
    'Command:',
    '',
    '```sh',
    `${envVars.length ? `${envVars.join(' ')} ` : ''}${command}`,
    '```',
    '',
  );
  if (torchCommand && torch) md.push(`PyTorch was run afterwards (not concurrently) as \`${torchCommand}\`.`, '');
  md.push(
    'Settings:',
    '',
    `- model \`${a.model}\`${torchModel ? ` (PyTorch: \`${torchModel}\` in bench/torch_bench.py${torchModel.startsWith('tv:') ? ', torchvision 0.14, random weights' : ', defined there'})` : ''}, input [${inputShape.join(', ')}], dtype float32`,
    `- batch ${a.batch}, threads ${a.threads} (ORT intra-op threads; \`torch.set_num_threads\`)`,
    `- ${a.warmup} warmup steps, then ${a.steps} measured steps; images/s = steps × batch / measured wall time`,
    a.inferenceOnly ? '- training: not measured (--inference-only)' : '- training: train mode, cross-entropy, forward + backward + SGD (lr 0.1, momentum 0.9, Nesterov, weight decay 5e-4)',
    ...(a.inferenceOnly ? [] : [`- training-step convolutions: ${convLayoutNote()}`]),
    '- inference: eval mode (Tessera: weights baked in as initializers, ORT graph optimization `all`; PyTorch: `torch.no_grad()`)',
    '- data: one fixed random batch (seeded, normal pixels, random labels) reused for every step',
    `- Tessera median step: train ${fmt(train && median(train.stepMs))} ms, infer ${fmt(median(infer.stepMs))} ms; session build: train ${fmt(trained?.buildSec, 2)} s, infer ${inferBuildSec.toFixed(2)} s`,
    '',
    'Machine:',
    '',
    `- CPU: ${cpuModel()}, ${cpus().length} logical cores; memory ${gib(totalmem())} (${gib(freemem())} free at the end)`,
    `- CPU features (/proc/cpuinfo flags): ${cpuFeatures()}`,
    `- load average (1 min) at start: ${load0.toFixed(2)}`,
    `- Node ${process.version}, onnxruntime-node ${ortVersion(root)}`,
    `- PyTorch: ${torch ? `${torch.torch}, ${torch.threads} threads; malloc: ${torch.malloc}; BLAS: ${torch.blas}` : torchNote}`,
  );
  const file = join(root, 'BENCHMARKS.md');
  updateBenchmarks(file, a.model, md.join('\n'));
  console.log(`\nwrote the ${a.model} section of ${resolve(file)}`);
}

await main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
