/**
 * `tessera convert CHECKPOINT --out FILE.safetensors [--model NAME]`: reads a PyTorch checkpoint
 * (zip or legacy `.pt` / `.pth`, or a safetensors file), with `--model` maps foreign key names
 * (timm's, the original authors', `module.`) onto the model's through its family's key filter
 * (src/models/key-filters.ts) and proves the result fits by loading it strictly, and writes the
 * tensors as safetensors.
 *
 * `tessera convert RUN|FILE --to pth --out FILE.pth`: the other way, a Tessera run (or training
 * checkpoint, or any of the inputs above) written as a `torch.save` state dict (src/io/torch-save.ts)
 * under PyTorch's key names, for torchvision's `load_state_dict` and training on in PyTorch.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { HostTensor } from '../graph/ir.js';
import { CheckpointInfo, loadTorchCheckpoint } from '../io/pytorch.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { writeTorchCheckpoint } from '../io/torch-save.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { checkpointWeights } from '../train/ema.js';
import type { Module } from '../nn/module.js';
import { StateDictError } from '../nn/module.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';

/** How `tessera convert` is called: its options, help and checks. */
export const CONVERT = defineCommand({
  name: 'convert',
  usage: 'CHECKPOINT --out FILE.safetensors [--model NAME]  |  RUN|CHECKPOINT --to pth --out FILE.pth',
  description: `Converts a PyTorch checkpoint (.pt/.pth from torch.save, zip or legacy format; or a
.safetensors file) to safetensors. Only tensors are read: a pickle that asks for any other
Python global (os.system, builtins.eval, a model class, ...) is refused, and nothing in the file
is ever run. A state dict nested under state_dict, model, model_state_dict, module,
state_dict_ema or net (pytorch-cifar) is unwrapped, a DataParallel "module." prefix on every key
is stripped, and float16/bfloat16 tensors are upcast to float32.
With --to pth it writes the other way: a run folder, a Tessera training checkpoint (its model's
weights, all buffers included) or any input above as a torch.save state dict that
torchvision's model.load_state_dict(torch.load(FILE)) takes.`,
  positionals: { name: 'CHECKPOINT', min: 1, max: 1 },
  options: {
    out: { kind: 'path', placeholder: 'FILE.safetensors', required: true, help: 'the file to write (atomically): safetensors, or FILE.pth with --to pth' },
    to: { kind: 'choice', choices: ['safetensors', 'pth'], default: 'safetensors', placeholder: 'FORMAT', help: 'safetensors (default), or pth: torch.save\'s zip format (PyTorch >= 1.6)' },
    ema: { kind: 'boolean', help: 'from a run or training checkpoint: its EMA weights (a --model-ema run)' },
    model: {
      kind: 'string',
      placeholder: 'NAME',
      help: `build this model (see tessera models), map the keys with its family's key
filter (timm's ViT, ConvNeXt, Swin names and the like become torchvision's)
and load them into it strictly, to check that every key and shape fits
before writing the mapped tensors`,
    },
  },
  notes: 'exit status: 0 written, 2 usage or input error (unreadable, refused or mismatched checkpoint)',
});

/** What was read, for the report. */
interface Converted {
  tensors: Map<string, HostTensor>;
  /** lines describing the container, prefix and format */
  notes: string[];
  /** the stored dtype of each tensor ('float16', 'float32', ...) */
  sourceDtypes: Map<string, string>;
}

const SAFETENSORS_DTYPE: Readonly<Record<string, string>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
};

/**
 * Runs `tessera convert` with its arguments (the command name already removed); resolves to 0
 * once the file is written. Usage and input errors (a refused or malformed checkpoint, keys that
 * do not fit `--model`) are thrown for `main` to report as one line (exit 2).
 *
 * @example
 *   await convertCommand(['lenet.pth', '--out', 'lenet.safetensors', '--model', 'cifar_lenet']);
 */
export async function convertCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(CONVERT, argv);
  if (!parsed) return 0;
  const [input] = parsed.positionals;
  const { out, model: modelName, to, ema } = parsed.opts;
  if (resolve(out) === resolve(input)) throw new UsageError(`tessera convert: --out ${out} is the checkpoint itself; choose another file`);
  if (!existsSync(input)) throw new UsageError(`checkpoint ${input} does not exist`);
  checkOutName(out, to);

  const run = await readRunInput(input, modelName, ema);
  if (!run && ema) throw new UsageError(`tessera convert: --ema takes a run or a Tessera training checkpoint; ${input} is neither`);
  const converted = run ?? (input.endsWith('.safetensors') ? readSafetensorsInput(input) : readTorchInput(input));
  const { notes, sourceDtypes } = converted;
  let tensors = converted.tensors;

  let modelLines = ['model: keys not checked (pass --model NAME to map them with its family\'s key filter and load them into it strictly)'];
  if (run) {
    modelLines = [`model: ${run.model}, all ${tensors.size} tensors of its state dict (keys as PyTorch names them)`];
  } else if (modelName !== undefined) {
    const { model, family } = await buildModel(modelName);
    const { mapForeignStateDict, describeKeyMapping } = await import('../models/key-filters.js');
    const mapped = mapForeignStateDict(family ?? '', tensors);
    tensors = mapped.tensors;
    try {
      model.loadStateDict(tensors, { strict: true });
    } catch (e) {
      if (e instanceof StateDictError) throw new StateDictError(`${input}: keys checked against ${modelName}${mapped.report.layout ? ` after mapping ${mapped.report.layout} names` : ''}: ${e.message}`, e.result);
      throw e;
    }
    modelLines = [
      family === null ? `keys: ${modelName} is a constructor, not a registered model: no family key filter, keys used as stored` : `keys: ${describeKeyMapping(mapped.report)}`,
      `model: keys and shapes checked against ${modelName}: all ${tensors.size} tensors load strictly`,
    ];
  }

  if (to === 'pth') writeTorchCheckpoint(out, tensors);
  else writeSafetensors(out, tensors, { format: 'pt', source: basename(input) });

  const read = converted.tensors;
  let values = 0;
  for (const t of read.values()) values += t.data.length;
  const lines = [
    `read ${input}: ${read.size} tensor${read.size === 1 ? '' : 's'}, ${values} values`,
    ...notes.map((n) => `  ${n}`),
    `  dtypes: ${dtypeSummary(read, sourceDtypes)}`,
    ...modelLines.map((l) => `  ${l}`),
    `wrote ${out}${to === 'pth' ? ' (torch.save zip format; in Python: model.load_state_dict(torch.load(FILE)))' : ''}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `tessera convert` as `main` runs it. */
export const command: CliCommand = { declaration: CONVERT, run: convertCommand };

/** An --out name that says the other format is a mistake: `--to pth` with x.safetensors, or x.pth without it. */
function checkOutName(out: string, to: 'safetensors' | 'pth'): void {
  const torchName = /\.(pth|pt|bin)$/i.test(out);
  if (to === 'pth' && out.toLowerCase().endsWith('.safetensors')) throw new UsageError(`tessera convert: --out ${out} names a safetensors file, but --to pth writes a torch.save checkpoint; name it .pth`);
  if (to === 'safetensors' && torchName) throw new UsageError(`tessera convert: --out ${out} names a PyTorch file, but safetensors is written; add --to pth for a torch.save checkpoint, or name it .safetensors`);
}

/**
 * A run folder or a Tessera training checkpoint: its model's state dict (the EMA weights with
 * `ema`), loaded into the model strictly so that every key and buffer is there, in the model's
 * order; undefined for any other file.
 */
async function readRunInput(input: string, modelName: string | undefined, ema: boolean): Promise<(Converted & { model: string }) | undefined> {
  const path = resolveCheckpoint(input, 'best');
  if (!path.endsWith('.safetensors') || readSafetensors(path).metadata.format !== CHECKPOINT_FORMAT) return undefined;
  const ckpt = loadCheckpoint(path);
  const { meta } = ckpt;
  if (modelName !== undefined && modelName !== meta.model) throw new UsageError(`tessera convert: ${path} is a ${meta.model} checkpoint, not ${modelName}`);
  const { checkpointModel } = await import('../train/run-model.js');
  const model = checkpointModel(meta);
  model.loadStateDict(checkpointWeights(ckpt, ema), { strict: true });
  const tensors = model.stateDict();
  const sourceDtypes = new Map([...tensors].map(([k, t]) => [k, t.dtype] as const));
  const notes = [`format: Tessera training checkpoint ${path} (${meta.model}, ${meta.numClasses} classes, epoch ${meta.epoch}${ema ? ', EMA weights' : ''})`];
  return { tensors, notes, sourceDtypes, model: meta.model };
}

function readTorchInput(path: string): Converted {
  const { tensors, info } = loadTorchCheckpoint(path);
  return { tensors, notes: torchNotes(info, tensors.size), sourceDtypes: info.sourceDtypes };
}

function torchNotes(info: CheckpointInfo, count: number): string[] {
  const format =
    info.format === 'zip'
      ? `zip (torch >= 1.6), folder "${info.archiveName}/", pickle protocol ${info.pickleProtocol}`
      : `legacy (torch < 1.6 or _use_new_zipfile_serialization=False), pickle protocol ${info.pickleProtocol}`;
  const ignored = info.ignoredKeys.length ? ` (ignored: ${info.ignoredKeys.slice(0, 10).join(', ')}${info.ignoredKeys.length > 10 ? ', …' : ''})` : '';
  return [
    `format: ${format}`,
    info.container === null
      ? `container: none, a plain state dict${ignored}`
      : `container: the state dict under "${info.container}"${ignored}`,
    info.strippedPrefix === null ? 'prefix: none stripped' : `prefix: stripped "${info.strippedPrefix}" from all ${count} keys`,
  ];
}

function readSafetensorsInput(path: string): Converted {
  const file = readSafetensors(path);
  const sourceDtypes = new Map([...file.sourceDtypes].map(([k, d]) => [k, SAFETENSORS_DTYPE[d] ?? d] as const));
  return { tensors: file.tensors, notes: ['format: safetensors'], sourceDtypes };
}

/** "10 float16 -> float32" or "kept: 9 float32, 1 int64", joined by "; ". */
function dtypeSummary(tensors: Map<string, HostTensor>, sourceDtypes: Map<string, string>): string {
  const counts = new Map<string, number>();
  for (const [k, t] of tensors) {
    const from = sourceDtypes.get(k) ?? t.dtype;
    const label = from === t.dtype ? t.dtype : `${from} -> ${t.dtype}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const converted = [...counts].filter(([l]) => l.includes('->')).map(([l, n]) => `${n} ${l}`);
  const kept = [...counts].filter(([l]) => !l.includes('->')).map(([l, n]) => `${n} ${l}`);
  return [...(converted.length ? [`converted ${converted.join(', ')}`] : []), ...(kept.length ? [`kept ${kept.join(', ')}`] : [])].join('; ') || 'no tensors';
}

/**
 * Builds the model (loading the zoo only when asked) and names its family (null for a
 * constructor name). A constructor's argument checks throw `UserError`s themselves.
 */
async function buildModel(name: string): Promise<{ model: Module; family: string | null }> {
  const { listModels, resolveModel } = await import('../models/index.js');
  const model = resolveModel(name);
  return { model, family: listModels().find((m) => m.name === name)?.family ?? null };
}
