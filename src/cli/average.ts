/**
 * `tessera average RUN|FILE... --out FILE.safetensors [--ema]`: averages the weights of training
 * checkpoints of one model as timm's avg_checkpoints does (the arithmetic mean of every float
 * tensor, summed in float64), integer buffers (num_batches_tracked) taken from the first. The
 * result is a training checkpoint (`tessera eval`, `predict`, `export` read it) without optimizer
 * state.
 */
import { basename, dirname } from 'node:path';
import type { HostTensor } from '../graph/ir.js';
import { checkpointModel } from '../train/run-model.js';
import { CheckpointError, CheckpointMeta, LoadedCheckpoint, loadCheckpoint, resolveCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { checkpointWeights } from '../train/ema.js';
import { tesseraVersion } from '../train/setup.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';

/** How `tessera average` is called: its options, help and checks. */
export const AVERAGE = defineCommand({
  name: 'average',
  usage: 'RUN|FILE... --out FILE.safetensors [--ema]',
  description: `Averages the weights of training checkpoints of one model (timm's avg_checkpoints: the mean
of every float tensor; integer buffers from the first checkpoint). A run folder means its
best.safetensors, else last. Writes a training checkpoint with a .json twin, no optimizer state.`,
  positionals: { name: 'RUN|FILE', min: 1 },
  options: {
    out: { kind: 'path', placeholder: 'FILE.safetensors', required: true, help: 'the checkpoint to write (its .json twin beside it)' },
    ema: { kind: 'boolean', help: "average the checkpoints' EMA weights (runs trained with --model-ema)" },
  },
  notes: 'exit status: 0 written, 2 usage or input error (a missing, foreign or mismatched checkpoint)',
});

/**
 * The mean of the checkpoints' weights (their EMA weights with `ema`); the checkpoints must be of
 * one model with the same tensors and shapes, else a CheckpointError names the first difference.
 *
 * @example
 * const avg = averageCheckpoints([loadCheckpoint('runs/a/last.safetensors'), loadCheckpoint('runs/b/last.safetensors')], false);
 * model.loadStateDict(avg);
 */
export function averageCheckpoints(ckpts: readonly LoadedCheckpoint[], ema: boolean): Map<string, HostTensor> {
  const [first, ...rest] = ckpts;
  const states = ckpts.map((c) => checkpointWeights(c, ema));
  for (const [i, c] of rest.entries()) checkSameModel(first, states[0], c, states[i + 1]);
  const out = new Map<string, HostTensor>();
  for (const [key, t] of states[0]) {
    if (!(t.data instanceof Float32Array)) {
      out.set(key, t);
      continue;
    }
    const sum = new Float64Array(t.data.length);
    for (const s of states) s.get(key)!.data.forEach((v, j) => (sum[j] += Number(v)));
    out.set(key, { dtype: 'float32', shape: t.shape, data: Float32Array.from(sum, (v) => v / states.length) });
  }
  return out;
}

function checkSameModel(a: LoadedCheckpoint, sa: ReadonlyMap<string, HostTensor>, b: LoadedCheckpoint, sb: ReadonlyMap<string, HostTensor>): void {
  const fail = (why: string): never => {
    throw new CheckpointError(`${b.path} cannot be averaged with ${a.path}: ${why}; average checkpoints of one model`);
  };
  if (a.meta.model !== b.meta.model) fail(`it is a ${b.meta.model} checkpoint, the first a ${a.meta.model} one`);
  if (a.meta.numClasses !== b.meta.numClasses) fail(`it has ${b.meta.numClasses} classes, the first ${a.meta.numClasses}`);
  for (const [key, t] of sa) {
    const u = sb.get(key);
    if (!u) fail(`it has no tensor ${key}`);
    else if (u.dtype !== t.dtype || u.shape.join() !== t.shape.join()) fail(`${key} is ${u.dtype} [${u.shape.join(', ')}] there, ${t.dtype} [${t.shape.join(', ')}] in the first`);
  }
  const extra = [...sb.keys()].find((k) => !sa.has(k));
  if (extra !== undefined) fail(`it has a tensor ${extra} the first lacks`);
}

/**
 * Runs `tessera average`; resolves to the exit status.
 *
 * @example
 * await averageCommand(['runs/a', 'runs/b', 'runs/c', '--out', 'soup.safetensors']);
 */
export async function averageCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(AVERAGE, argv);
  if (!parsed) return 0;
  const { out, ema } = parsed.opts;
  if (!out.endsWith('.safetensors')) throw new UsageError(`tessera average: --out ${out}: the checkpoint's name must end in .safetensors`);
  const ckpts = parsed.positionals.map((arg) => loadCheckpoint(resolveCheckpoint(arg, 'best')));
  const state = averageCheckpoints(ckpts, ema);
  const { meta } = ckpts[0];
  const model = checkpointModel(meta);
  model.loadStateDict(state);
  const averaged: CheckpointMeta = {
    ...meta,
    bestTop1: null,
    bestEpoch: null,
    metrics: null,
    optimizer: { name: 'none', averageOf: ckpts.map((c) => c.path).join(', '), ema },
    version: tesseraVersion(),
  };
  const path = saveCheckpoint(dirname(out), basename(out, '.safetensors'), model, new Map(), averaged);
  process.stdout.write(`wrote ${path}: the mean of ${ckpts.length} ${meta.model} checkpoint(s)${ema ? ' (EMA weights)' : ''}\n`);
  return 0;
}

/** `tessera average` as `main` runs it. */
export const command: CliCommand = { declaration: AVERAGE, run: averageCommand };
