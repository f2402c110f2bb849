/**
 * `tessera import MODEL.onnx --out FILE.safetensors`: imports a foreign ONNX classifier (see
 * src/onnx/import.ts), traces it once to check that every node maps onto the IR, and writes its
 * parameters and buffers (the imported model's state dict) as safetensors, atomically.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { writeSafetensors } from '../io/safetensors.js';
import { type OnnxModule, supportedOnnxOps } from '../onnx/import.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';

/** How `tessera import` is called: its options, help and checks. */
export const IMPORT = defineCommand({
  name: 'import',
  usage: 'MODEL.onnx --out FILE.safetensors',
  description: `Imports an ONNX image classifier (for example one written by torch.onnx.export) as a trainable
Tessera model: float initializers become parameters named after their ONNX names (characters
other than letters, digits, "_" and "." become "_"), BatchNormalization statistics become
buffers, and shape computations are folded while tracing, so any batch size works. The command
checks that the whole graph maps onto Tessera's ops, then writes the state dict.`,
  positionals: { name: 'MODEL.onnx', min: 1, max: 1 },
  options: {
    out: { kind: 'path', placeholder: 'FILE.safetensors', required: true, help: 'the safetensors file to write (atomically)' },
  },
  notes: () => `supported ONNX ops (default domain): ${supportedOnnxOps().join(', ')}

exit status: 0 written, 2 usage or input error (missing file, not ONNX, unsupported op)`,
});

/**
 * Runs `tessera import` with its arguments (the command name already removed); resolves to 0
 * once the file is written. Input problems are thrown as `UsageError`s for `main` to print as
 * one line (exit 2); nothing is written then.
 *
 * @example
 *   await importCommand(['tv_vit.onnx', '--out', 'tv_vit.safetensors']);
 */
export async function importCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(IMPORT, argv);
  if (!parsed) return 0;
  const [input] = parsed.positionals;
  const { out } = parsed.opts;
  if (resolve(out) === resolve(input)) throw new UsageError(`tessera import: --out ${out} is the model itself; choose another file`);
  if (!existsSync(input)) throw new UsageError(`tessera import: ${input} does not exist`);

  const { model, inputShape, logits } = await load(input);

  const state = model.stateDict();
  writeSafetensors(out, state, { format: 'pt', source: basename(input), producer: 'tessera import' });
  process.stdout.write(`${summary(model, input, out, inputShape, logits).join('\n')}\n`);
  return 0;
}

/** `tessera import` as `main` runs it. */
export const command: CliCommand = { declaration: IMPORT, run: importCommand };

function summary(model: OnnxModule, input: string, out: string, inputShape: number[] | null, logits: number[] | null): string[] {
  const params = [...model.namedParameters()];
  let paramValues = 0;
  for (const [, p] of params) paramValues += p.data.length;
  const buffers = [...model.namedBuffers()];
  const ops = [...model.opCounts()].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`);
  const dims = model.input.dims?.map((d) => (d === null ? '?' : String(d))).join(', ') ?? 'unknown';
  return [
    `read ${input}: ONNX opset ${model.opset}, ${model.graph.nodes.length} nodes`,
    `  ops: ${ops.join(', ')}`,
    `  parameters: ${params.length} tensors, ${paramValues} values`,
    `  buffers: ${buffers.length} (BatchNormalization statistics)`,
    `  input "${model.input.name}": [${dims}] (any batch size)`,
    `  classes: ${logits ? logits[logits.length - 1] : 'unknown (the input has symbolic spatial dimensions)'}`,
    `wrote ${out}: ${model.stateDict().size} tensors`,
  ];
}

/** imports and test-traces the model; a file that is not ONNX or not importable throws a UserError */
async function load(input: string): Promise<{ model: OnnxModule; inputShape: number[] | null; logits: number[] | null }> {
  const { importOnnx } = await import('../onnx/import.js');
  const model = importOnnx(input);
  const inputShape = model.inputShape(1);
  return { model, inputShape, logits: inputShape ? model.outputShape(inputShape) : null };
}
