/**
 * `tessera train --model NAME --data DIR|cifar10|cifar100 [options]`: trains a registered model
 * into a run folder (see src/train/trainer.ts), with pytorch-cifar's defaults.
 *
 * Options come from, lowest first: the defaults, the run's config.json (with --resume), a flat
 * YAML file (--config), the command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from '../data/errors.js';
import { CheckpointError as TorchCheckpointError } from '../io/pytorch.js';
import { PretrainedWeightsError, findPretrainedFile, modelInfo } from '../models/index.js';
import { defaultThreads } from '../runtime/ort.js';
import { CheckpointError, readResumeTarget } from '../train/checkpoint.js';
import { SCHEDULES } from '../train/schedule.js';
import { TRAIN_DEFAULTS, TrainHooks, TrainOptions, TrainSetupError, TrainingDivergedError, train } from '../train/trainer.js';
import { editDistance } from '../util/text.js';
import { FlagSpec, ParsedArgs, UsageError, boolFlag, parseArgs } from './args.js';

type Kind = 'int' | 'number' | 'bool' | 'string' | 'list';

interface OptionSpec {
  /** the TrainOptions key */
  readonly key: keyof TrainOptions;
  readonly kind: Kind;
  readonly choices?: readonly string[];
  /** [min, max] for numbers; `minExclusive` excludes min */
  readonly range?: readonly [number, number];
  readonly minExclusive?: boolean;
  readonly help: string;
  /** the value's placeholder in --help */
  readonly arg?: string;
}

/** Every training option, by flag name (also the key in --config files). */
export const TRAIN_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  model: { arg: 'NAME', key: 'model', kind: 'string', help: 'a registered model (tessera models)' },
  data: { arg: 'SPEC', key: 'data', kind: 'string', help: 'cifar10, cifar100 or an ImageFolder directory' },
  'val-split': { arg: 'N', key: 'valSplit', kind: 'int', range: [1, Infinity], help: 'hold out the last N images of every class for validation' },
  val: { arg: 'DIR', key: 'val', kind: 'string', help: 'validate on this ImageFolder' },
  epochs: { arg: 'N', key: 'epochs', kind: 'int', range: [1, 1e6], help: `epochs (default ${TRAIN_DEFAULTS.epochs})` },
  'batch-size': { arg: 'N', key: 'batchSize', kind: 'int', range: [1, 1 << 16], help: `images per step (default ${TRAIN_DEFAULTS.batchSize}; the last partial batch of an epoch is dropped)` },
  lr: { arg: 'X', key: 'lr', kind: 'number', range: [0, Infinity], minExclusive: true, help: `learning rate (default ${TRAIN_DEFAULTS.lr}; the maximum for onecycle)` },
  momentum: { arg: 'X', key: 'momentum', kind: 'number', range: [0, 1], help: `SGD momentum (default ${TRAIN_DEFAULTS.momentum})` },
  nesterov: { key: 'nesterov', kind: 'bool', help: 'Nesterov momentum' },
  'weight-decay': { arg: 'X', key: 'weightDecay', kind: 'number', range: [0, Infinity], help: `weight decay (default ${TRAIN_DEFAULTS.weightDecay})` },
  optimizer: { arg: 'NAME', key: 'optimizer', kind: 'string', choices: ['sgd', 'adamw'], help: 'sgd (default) or adamw' },
  sched: { arg: 'NAME', key: 'sched', kind: 'string', choices: SCHEDULES, help: 'cosine (default, per epoch), step (×0.1 at 50% and 75%), onecycle (per iteration)' },
  milestones: { arg: 'E1,E2', key: 'milestones', kind: 'list', help: 'step schedule epochs, e.g. 100,150' },
  'warmup-epochs': { arg: 'N', key: 'warmupEpochs', kind: 'number', range: [0, 1e6], help: 'linear warmup, per iteration (default 0)' },
  'label-smoothing': { arg: 'X', key: 'labelSmoothing', kind: 'number', range: [0, 1], help: 'label smoothing (default 0)' },
  seed: { arg: 'N', key: 'seed', kind: 'int', range: [0, 2 ** 32 - 1], help: 'initialization, shuffling and augmentation seed (default 0)' },
  threads: { arg: 'N', key: 'threads', kind: 'int', range: [1, 1024], help: 'ONNX Runtime intra-op threads (default: the CPU count or TESSERA_THREADS)' },
  workers: { arg: 'N', key: 'workers', kind: 'int', range: [0, 256], help: "data loader worker threads (default: the loader's)" },
  out: { arg: 'DIR', key: 'out', kind: 'string', help: 'run folder (default runs/<model>-<date>-<time>)' },
  'cache-dir': { arg: 'DIR', key: 'cacheDir', kind: 'string', help: 'where cifar10/cifar100 are cached' },
  offline: { key: 'offline', kind: 'bool', help: 'never download datasets' },
  resume: { arg: 'RUN', key: 'resume', kind: 'string', help: "continue a run (folder or checkpoint); options default to the run's" },
};

/** The flags `tessera train` accepts. */
export const FLAGS: Record<string, FlagSpec> = {
  ...Object.fromEntries(Object.entries(TRAIN_OPTIONS).map(([name, o]) => [name, { type: o.kind === 'bool' ? 'boolean' : 'string', choices: o.choices } as FlagSpec])),
  config: { type: 'string' },
  pretrained: { type: 'string' },
  help: { type: 'boolean' },
};

/** Usage text of `tessera train`. */
export const TRAIN_USAGE = `usage: tessera train --model NAME --data DIR|cifar10|cifar100 [options]

Trains a model into a run folder: config.json, metrics.jsonl (one line per epoch), checkpoints
last and best (by validation top-1) as .safetensors with a readable .json twin. Defaults are
pytorch-cifar's: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule, batch 128,
random crop (padding 4) + horizontal flip, CIFAR mean/std, the model's input size. Training
drops the last partial batch of every epoch (the training graph has a fixed batch shape).

options:
${Object.entries(TRAIN_OPTIONS)
  .map(([name, o]) => `  --${(name + (o.arg ? ` ${o.arg}` : '')).padEnd(20)}${o.help}`)
  .join('\n')}
  --config FILE.yaml    flat YAML of the options above (key: value lines); flags override it
  --pretrained [FILE]   start from pretrained weights: FILE (.pth/.pt/.safetensors; torchvision's,
                        timm's or pytorch-cifar's key names), or without FILE the model's published
                        weights from the torch hub or Tessera cache; a classifier of another class
                        count is re-initialised (and says so)
  -h, --help            show this help

exit status: 0 trained, 1 the loss diverged (NaN/inf; the last good checkpoint is kept) or an
internal error, 2 usage or input error`;

/** A value with where it came from, for error messages. */
interface Given {
  readonly value: string | number | boolean;
  readonly from: string;
}

/** TrainOptions plus the weights a new run starts from (a checkpoint file). */
export type TrainOptionsWithWeights = TrainOptions & { readonly pretrained?: string };

/**
 * Runs `tessera train`; resolves to the exit status (0 trained, 1 diverged). Usage and input
 * errors are thrown (as UsageError) for `main` to report. `hooks` reach `train` (plugins; tests).
 *
 * @example
 * process.exitCode = await trainCommand(['--model', 'cifar_lenet', '--data', 'cifar10', '--epochs', '2', '--out', 'runs/lenet']);
 * await trainCommand(['--model', 'resnet18', '--data', 'flowers/', '--pretrained', '--epochs', '5']);
 */
export async function trainCommand(argv: readonly string[], hooks: TrainHooks = {}): Promise<number> {
  const parsed = parseArgs(withPretrainedValue(argv), FLAGS, 'tessera train');
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return 0;
  }
  if (parsed.positionals.length) throw new UsageError(`tessera train: unexpected argument ${parsed.positionals[0]} (options are --name value; see tessera train --help)`);
  if (typeof parsed.flags.pretrained === 'string' && parsed.flags.resume !== undefined) {
    throw new UsageError('--pretrained starts a new run from weights, --resume continues a run from its checkpoint: give one of them');
  }
  const opts = resolveOptions(parsed);
  const pretrained = resolvePretrained(parsed, opts);
  try {
    const withWeights: TrainOptionsWithWeights = pretrained === undefined ? opts : { ...opts, pretrained };
    await train(withWeights, hooks);
    return 0;
  } catch (e) {
    if (e instanceof TrainingDivergedError) {
      process.stderr.write(`tessera: ${e.message}\n`);
      return 1;
    }
    if (e instanceof DatasetError || e instanceof CheckpointError || e instanceof TrainSetupError || e instanceof TorchCheckpointError || e instanceof PretrainedWeightsError) throw new UsageError(e.message);
    throw e;
  }
}

/** The value `--pretrained` stands for when no FILE follows it: the model's published weights. */
const FROM_CACHE = '';

/**
 * `--pretrained` takes an optional FILE: a bare `--pretrained` (last, or followed by another
 * option) becomes `--pretrained=` for the parser, meaning the published weights.
 */
function withPretrainedValue(argv: readonly string[]): string[] {
  return argv.map((a, i) => (a === '--pretrained' && (i + 1 === argv.length || argv[i + 1].startsWith('-')) ? `--pretrained=${FROM_CACHE}` : a));
}

/**
 * The checkpoint file `--pretrained` names, or the model's published weights found in the caches
 * (one line saying where to put them when absent); undefined without the flag.
 */
function resolvePretrained(parsed: ParsedArgs, opts: TrainOptions): string | undefined {
  const given = parsed.flags.pretrained;
  if (typeof given !== 'string') return undefined;
  try {
    if (given === FROM_CACHE) return findPretrainedFile(modelInfo(opts.model));
  } catch (e) {
    if (e instanceof PretrainedWeightsError) throw new UsageError(e.message);
    throw e;
  }
  if (!existsSync(given)) throw new UsageError(`--pretrained ${given}: no such file`);
  return given;
}

/**
 * Merges defaults, the resumed run's options, the --config file and the flags into TrainOptions;
 * every invalid value is a UsageError naming where it came from (flag or file:line).
 *
 * @example
 * resolveOptions(parseArgs(['--model', 'cifar_lenet', '--data', 'cifar10', '--lr', '0.05'], FLAGS, 'tessera train')).lr; // 0.05
 */
export function resolveOptions(parsed: ParsedArgs): TrainOptions {
  const given = new Map<string, Given>();
  const cli = new Map<string, Given>();
  for (const [name, value] of Object.entries(parsed.flags)) if (name !== 'config' && name !== 'help' && name !== 'pretrained') cli.set(name, { value, from: `--${name}` });

  const resume = cli.get('resume')?.value as string | undefined;
  if (resume !== undefined) {
    let target: ReturnType<typeof readResumeTarget>;
    try {
      target = readResumeTarget(resume);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { runDir, config } = target;
    const saved = (config?.options ?? {}) as Record<string, unknown>;
    for (const [name, spec] of Object.entries(TRAIN_OPTIONS)) {
      if (name === 'out' || name === 'resume') continue;
      const v = saved[spec.key];
      if (v === undefined || v === null) continue;
      given.set(name, { value: Array.isArray(v) ? v.join(',') : (v as string | number | boolean), from: `${join(runDir, 'config.json')} ${name}` });
    }
    given.set('out', { value: runDir, from: '--resume' });
  }
  const configFile = parsed.flags.config;
  if (typeof configFile === 'string') {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`--config ${configFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    }
    for (const [name, v] of configEntries(parseFlatYaml(text, configFile), configFile)) given.set(name, v);
  }
  for (const [name, v] of cli) given.set(name, v);

  const out: Record<string, unknown> = { ...TRAIN_DEFAULTS, threads: defaultThreads() };
  for (const [name, g] of given) out[TRAIN_OPTIONS[name].key] = convert(name, g);
  if (!out.model && resume !== undefined) throw new UsageError(`--resume ${resume}: its folder holds no config.json; give --model NAME and --data to resume a bare checkpoint`);
  if (!out.model) throw new UsageError('tessera train: --model NAME is required (see tessera models)');
  if (!out.data) throw new UsageError('tessera train: --data is required: cifar10, cifar100 or an ImageFolder directory');
  if (!out.out) out.out = join('runs', `${out.model as string}-${timestamp()}`);
  const o = out as unknown as TrainOptions;
  if (o.nesterov && (o.optimizer !== 'sgd' || !(o.momentum > 0))) throw new UsageError('--nesterov needs --optimizer sgd and a momentum > 0');
  if (o.milestones && o.sched !== 'step') throw new UsageError('--milestones applies to --sched step only');
  if (o.warmupEpochs > o.epochs) throw new UsageError(`--warmup-epochs ${o.warmupEpochs} is longer than --epochs ${o.epochs}`);
  if (o.valSplit !== undefined && o.val !== undefined) throw new UsageError('give either --val-split N or --val DIR, not both');
  return o;
}

function convert(name: string, g: Given): unknown {
  const spec = TRAIN_OPTIONS[name];
  const bad = (what: string): never => {
    throw new UsageError(`${g.from}: ${what} (got ${JSON.stringify(g.value)})`);
  };
  if (spec.kind === 'bool') {
    if (typeof g.value !== 'boolean') bad('must be true or false');
    return g.value;
  }
  if (typeof g.value === 'boolean') bad('needs a value, not a boolean');
  const text = String(g.value).trim();
  if (spec.kind === 'string') {
    if (!text) bad('must not be empty');
    if (spec.choices && !spec.choices.includes(text)) bad(`must be one of ${spec.choices.join(', ')}`);
    return text;
  }
  if (spec.kind === 'list') {
    const parts = text.split(',').map((s) => s.trim());
    const nums = parts.map(Number);
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p))) bad('must be whole epoch numbers separated by commas, e.g. 100,150');
    if (nums.some((n, i) => i > 0 && n <= nums[i - 1])) bad('must increase');
    return nums;
  }
  const n = Number(text);
  if (!text || !Number.isFinite(n)) bad('must be a number');
  if (spec.kind === 'int' && !Number.isInteger(n)) bad('must be a whole number');
  const [lo, hi] = spec.range ?? [-Infinity, Infinity];
  if (n < lo || n > hi || (spec.minExclusive && n === lo)) bad(`must be ${spec.minExclusive ? `> ${lo}` : `≥ ${lo}`}${hi < Infinity ? ` and ≤ ${hi}` : ''}`);
  return n;
}

function configEntries(entries: Map<string, YamlEntry>, file: string): Map<string, Given> {
  const out = new Map<string, Given>();
  const known = Object.keys(TRAIN_OPTIONS);
  for (const [rawKey, { value, line }] of entries) {
    const name = rawKey.replace(/_/g, '-');
    if (!Object.hasOwn(TRAIN_OPTIONS, name)) {
      const close = known.filter((k) => editDistance(k, name) <= 2);
      throw new UsageError(`${file}:${line}: unknown option "${rawKey}"${close.length ? `; did you mean ${close.join(' or ')}?` : `; accepted: ${known.join(', ')}`}`);
    }
    out.set(name, { value, from: `${file}:${line} ${rawKey}` });
  }
  return out;
}

/** One `key: value` of a flat YAML file. */
export interface YamlEntry {
  readonly value: string | number | boolean;
  /** 1-based line number */
  readonly line: number;
}

/**
 * Parses the flat YAML subset --config accepts: `key: value` lines, `#` comments, blank lines and
 * a leading `---`. Values are numbers, true/false, or strings (bare, "double" or 'single'
 * quoted). Anything else (nesting, lists, flow collections, anchors, tags, block scalars, null,
 * duplicate keys) is rejected as a UsageError naming the line.
 *
 * @example
 * parseFlatYaml('model: cifar_lenet  # small\nlr: 5e-2\nnesterov: true\n', 'a.yaml');
 * // Map { 'model' => { value: 'cifar_lenet', line: 1 }, 'lr' => { value: 0.05, line: 2 }, 'nesterov' => { value: true, line: 3 } }
 */
export function parseFlatYaml(text: string, file: string): Map<string, YamlEntry> {
  const out = new Map<string, YamlEntry>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const fail = (what: string): never => {
      throw new UsageError(`${file}:${line}: ${what}`);
    };
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed === '---') {
      if (out.size) fail('only one YAML document is supported');
      return;
    }
    if (/^\s/.test(raw)) fail('indented lines (nested mappings) are not supported; write flat `key: value` lines');
    if (trimmed.startsWith('- ') || trimmed === '-') fail('lists are not supported; write flat `key: value` lines');
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)\s*:(.*)$/.exec(raw.trimEnd());
    if (!m) fail(`expected \`key: value\`, got ${JSON.stringify(trimmed.length > 40 ? `${trimmed.slice(0, 37)}...` : trimmed)}`);
    const [, key, rest] = m!;
    if (rest !== '' && !/^\s/.test(rest)) fail(`put a space after the colon of "${key}:"`);
    const value = parseScalar(rest.trim(), fail);
    if (out.has(key)) fail(`"${key}" is given twice (first on line ${out.get(key)!.line})`);
    out.set(key, { value, line });
  });
  return out;
}

const YAML_NUMBER = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

function parseScalar(text: string, fail: (what: string) => never): string | number | boolean {
  if (text === '' || text.startsWith('#')) fail('a value is missing (nested mappings are not supported)');
  const q = text[0];
  if (q === '"' || q === "'") {
    let end = -1;
    for (let i = 1; i < text.length; i++) {
      if (q === '"' && text[i] === '\\') i++;
      else if (text[i] === q) {
        if (q === "'" && text[i + 1] === "'") i++;
        else {
          end = i;
          break;
        }
      }
    }
    if (end < 0) fail(`unterminated ${q === '"' ? 'double' : 'single'}-quoted string`);
    const after = text.slice(end + 1).trim();
    if (after && !after.startsWith('#')) fail(`unexpected text after the quoted string: ${after}`);
    const body = text.slice(1, end);
    if (q === "'") return body.replace(/''/g, "'");
    try {
      return JSON.parse(`"${body}"`) as string;
    } catch {
      return fail('invalid escape in the double-quoted string');
    }
  }
  const value = text.replace(/\s+#.*$/, '').trim();
  if (/^[[{]/.test(value)) fail('flow lists and mappings ([...], {...}) are not supported; for milestones write 100,150');
  if (/^[&*!|>%@`]/.test(value)) fail(`"${value[0]}" (anchors, aliases, tags, block scalars, reserved characters) is not supported`);
  if (/^(null|Null|NULL|~)$/.test(value)) fail('null is not a value here; leave the line out for the default');
  if (/^(true|True|TRUE)$/.test(value)) return true;
  if (/^(false|False|FALSE)$/.test(value)) return false;
  if (/^(yes|no|on|off|y|n)$/i.test(value)) fail(`"${value}" is ambiguous in YAML; write true or false (or quote it)`);
  if (YAML_NUMBER.test(value)) return Number(value);
  if (/^[-+]?\.(inf|nan)$/i.test(value)) fail(`${value} is not accepted`);
  if (value.includes(': ')) fail('a value may not contain ": " unless quoted');
  return value;
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
