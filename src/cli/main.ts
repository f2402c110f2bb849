/**
 * The `tessera` command line: dispatches to one module per command and turns every error into
 * one line on stderr. Mistakes in the call or its inputs (every `UserError`: unknown model,
 * unreadable or foreign file, bad --args, a full disk) exit with 2; internal errors exit with 1 and
 * say how to get the stack (TESSERA_DEBUG=1 prints the stack for every error).
 *
 * @example
 * import { main } from 'tessera/dist/src/cli/main.js';
 * process.exitCode = await main(['verify', 'pc_lenet.safetensors', '--model', 'cifar_lenet']);
 */
import { UserError, asUserError } from '../errors.js';
import { CliCommand, UsageError } from './args.js';

interface Command {
  readonly summary: string;
  /** loads the command's module: its declaration (options, --help) and its entry point */
  readonly load: () => Promise<{ readonly command: CliCommand }>;
}

/** Every command by name. They load on demand, so `tessera --help` needs neither the model zoo nor ONNX Runtime. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  quickstart: {
    summary: 'train, evaluate and use a small network on the bundled CIFAR-10 sample (offline, about a minute)',
    load: () => import('./quickstart.js'),
  },
  verify: {
    summary: 'check a model against a PyTorch reference fixture (logits, loss, gradients, BatchNorm statistics)',
    load: () => import('./verify.js'),
  },
  models: {
    summary: 'list the registered models with their parameter counts',
    load: () => import('./models.js'),
  },
  convert: {
    summary: 'convert a PyTorch checkpoint (.pt/.pth, tensors only, nothing run) to safetensors',
    load: () => import('./convert.js'),
  },
  import: { summary: 'import an ONNX classifier (e.g. from torch.onnx.export) as a trainable model; writes its state dict', load: () => import('./import.js') },
  train: {
    summary: 'train a model into a run folder (config, metrics, checkpoints; --resume continues one)',
    load: () => import('./train.js'),
  },
  pretrain: {
    summary: 'pre-train a ViT encoder on unlabelled images (MAE) into a run folder; fine-tune it with train --pretrained RUN',
    load: () => import('./pretrain.js'),
  },
  eval: {
    summary: 'evaluate a training checkpoint: top-1/top-5, per-class accuracy, confusion matrix',
    load: () => import('./eval.js'),
  },
  predict: {
    summary: 'classify images with a training checkpoint (top-k softmax probabilities)',
    load: () => import('./predict.js'),
  },
  export: {
    summary: 'write a checkpoint as ONNX for inference (BatchNorm folded, dynamic batch, preprocessing metadata)',
    load: () => import('./export.js'),
  },
  average: {
    summary: "average the weights of checkpoints of one model (timm's avg_checkpoints)",
    load: () => import('./average.js'),
  },
  bench: {
    summary: 'measure training, inference and data loader throughput (images/s) and peak memory',
    load: () => import('./bench.js'),
  },
  augment: {
    summary: 'write images transformed by a torchvision functional call (--op) as PNGs, to check an augmentation',
    load: () => import('./augment.js'),
  },
  serve: {
    summary: 'serve a checkpoint over HTTP: /predictions, KServe v2 protocol, dynamic batching, Prometheus metrics',
    load: () => import('./serve.js'),
  },
  report: {
    summary: "write a run's HTML report (curves, confusion matrix, misclassified images), or compare several runs",
    load: () => import('./report.js'),
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
      return await run(commandNamed(rest[0]), ['--help']);
    }
    return await run(commandNamed(name), rest);
  } catch (e) {
    return reportError(e);
  }
}

async function run(c: Command, argv: readonly string[]): Promise<number> {
  return (await c.load()).command.run(argv);
}

function commandNamed(name: string): Command {
  const c = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (c) return c;
  const what = name.startsWith('-') ? 'option' : 'command';
  throw new UsageError(`unknown ${what} "${name}"; commands: ${commandList()} (tessera --help for usage)`);
}

/**
 * Prints the error as one line on stderr (plus its stack with TESSERA_DEBUG) and returns the exit
 * status: 2 for a `UserError` (a file-system error the user can fix counts, see `asUserError`), 1
 * for anything else.
 */
function reportError(thrown: unknown): number {
  const debug = !!process.env.TESSERA_DEBUG && process.env.TESSERA_DEBUG !== '0';
  const e = asUserError(thrown);
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim() || (e instanceof Error ? e.name : 'unknown error');
  // the one place that decides: the user's to fix (exit 2) or a bug (exit 1)
  const user = e instanceof UserError;
  // a message that already names its command (`tessera train: --lr: …`) is not prefixed twice
  const line = /^tessera[ :]/.test(message) ? message : `tessera: ${message}`;
  process.stderr.write(`${line}${user || debug ? '' : ' (internal error; rerun with TESSERA_DEBUG=1 for the stack)'}\n`);
  if (debug && thrown instanceof Error && thrown.stack) process.stderr.write(`${thrown.stack}\n`);
  return user ? 2 : 1;
}
