/**
 * The `tessera` command line: dispatches to one module per command and turns every error into
 * one line on stderr. Mistakes in the call or its inputs (unknown model, unreadable or foreign
 * fixture, bad --args) exit with 2; internal errors exit with 1 and say how to get the stack
 * (TESSERA_DEBUG=1 prints the stack for every error).
 *
 * @example
 * import { main } from 'tessera/dist/src/cli/main.js';
 * process.exitCode = await main(['verify', 'pc_lenet.safetensors', '--model', 'cifar_lenet']);
 */
import { UserError } from '../errors.js';
import { SafetensorsError } from '../io/safetensors.js';
import { UnknownModelError } from '../models/registry.js';
import { StateDictError } from '../nn/module.js';
import { ShapeError } from '../ops/registry.js';
import { UsageError } from './args.js';

interface Command {
  readonly summary: string;
  /** runs the command with the arguments after its name; resolves to the exit status */
  readonly run: (argv: readonly string[]) => Promise<number>;
}

// Commands load on demand, so `tessera --help` needs neither the model zoo nor ONNX Runtime.
const COMMANDS: Readonly<Record<string, Command>> = {
  verify: {
    summary: 'check a model against a PyTorch reference fixture (logits, loss, gradients, BatchNorm statistics)',
    run: async (argv) => (await import('./verify.js')).verifyCommand(argv),
  },
  models: {
    summary: 'list the registered models with their parameter counts',
    run: async (argv) => (await import('./models.js')).modelsCommand(argv),
  },
  convert: {
    summary: 'convert a PyTorch checkpoint (.pt/.pth, tensors only, nothing run) to safetensors',
    run: async (argv) => (await import('./convert.js')).convertCommand(argv),
  },
  import: { summary: 'import an ONNX classifier (e.g. from torch.onnx.export) as a trainable model; writes its state dict', run: async (argv) => (await import('./import.js')).importCommand(argv) },
  train: {
    summary: 'train a model into a run folder (config, metrics, checkpoints; --resume continues one)',
    run: async (argv) => (await import('./train.js')).trainCommand(argv),
  },
  eval: {
    summary: 'evaluate a training checkpoint: top-1/top-5, per-class accuracy, confusion matrix',
    run: async (argv) => (await import('./eval.js')).evalCommand(argv),
  },
  predict: {
    summary: 'classify images with a training checkpoint (top-k softmax probabilities)',
    run: async (argv) => (await import('./predict.js')).predictCommand(argv),
  },
  export: {
    summary: 'write a checkpoint as ONNX for inference (BatchNorm folded, dynamic batch, preprocessing metadata)',
    run: async (argv) => (await import('./export.js')).exportCommand(argv),
  },
  bench: {
    summary: 'measure training, inference and data loader throughput (images/s) and peak memory',
    run: async (argv) => (await import('./bench.js')).benchCommand(argv),
  },
};

/** Usage text of `tessera` itself. */
export const USAGE = `usage: tessera <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`)
  .join('\n')}
  help [CMD]  show this help, or a command's

Run \`tessera <command> --help\` for a command's options. Set TESSERA_DEBUG=1 to see stack traces.`;

const commandList = () => [...Object.keys(COMMANDS), 'help'].join(', ');

/**
 * Runs the CLI with `argv` (the arguments after `tessera`) and resolves to the exit status:
 * 0 success, 1 a check failed or an internal error, 2 a usage or input error. It never
 * rejects: every error is printed to stderr as one line `tessera: <message>`.
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    if (name === '--help' || name === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (name === 'help') {
      if (rest.length === 0) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      return await commandNamed(rest[0]).run(['--help']);
    }
    return await commandNamed(name).run(rest);
  } catch (e) {
    return await reportError(e);
  }
}

function commandNamed(name: string): Command {
  const c = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (c) return c;
  const what = name.startsWith('-') ? 'option' : 'command';
  throw new UsageError(`unknown ${what} "${name}"; commands: ${commandList()} (tessera --help for usage)`);
}

/** Whether `e` is the user's mistake (exit 2) rather than a bug (exit 1). */
async function isUserError(e: unknown): Promise<boolean> {
  if (
    e instanceof UserError ||
    e instanceof UsageError ||
    e instanceof UnknownModelError ||
    e instanceof SafetensorsError ||
    e instanceof StateDictError ||
    e instanceof ShapeError
  ) {
    return true;
  }
  // a file the user named that is missing or unreadable
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof Error && typeof code === 'string' && ['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM'].includes(code)) return true;
  // loaded only here: the parity checker brings in ONNX Runtime (already loaded if verify ran)
  try {
    const { FixtureError } = await import('../verify/parity.js');
    return e instanceof FixtureError;
  } catch {
    return false;
  }
}

/** Prints `e` as one line on stderr (plus its stack with TESSERA_DEBUG) and returns the exit status. */
async function reportError(e: unknown): Promise<number> {
  const debug = !!process.env.TESSERA_DEBUG && process.env.TESSERA_DEBUG !== '0';
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim() || (e instanceof Error ? e.name : 'unknown error');
  const user = await isUserError(e);
  if (user) process.stderr.write(`tessera: ${message}\n`);
  else process.stderr.write(`tessera: ${message}${debug ? '' : ' (internal error; rerun with TESSERA_DEBUG=1 for the stack)'}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return user ? 2 : 1;
}
