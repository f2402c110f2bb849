/**
 * The one way a `tessera` command declares its options, and the one parser for them. A command
 * states its usage line, description, options (kind, default, range or choices, placeholder, help
 * line, whether a `--config` file may set it) and positionals in a `defineCommand` table; from
 * that table come its flags, value checks, `--help` text, `--config` keys and a typed result
 * (`opts.lr` is a number, `opts.json` a boolean, a choice its union of literals).
 *
 * Flags are `--name value`, `--name=value`, bare booleans (`--json`, or `--json=true|false`),
 * positionals, and `--` to end the options; `-h`/`--help` is every command's. Each mistake is one
 * `UsageError` line that says where: `tessera train: --lr: expected a number > 0, got "abc"`.
 */
import { UserError } from '../errors.js';
import { editDistance } from '../util/text.js';

/** A mistake in how the CLI was called or in what it was given; `main` prints it as one line (exit 2). */
export class UsageError extends UserError {}

/** A default value, or a function computing it when the option is absent. */
type Default<V> = V | (() => V);

interface OptionBase {
  /** the help line (a '\n' starts a continuation line) */
  readonly help: string;
  /** the value's name in --help and in messages, e.g. 'N', 'DIR' */
  readonly placeholder?: string;
  /** whether a `--config` file may set it (commands that read one) */
  readonly config?: boolean;
  /** absent is an error (`--checkpoint RUN|FILE is required`) */
  readonly required?: boolean;
}

/** `--json`: true when given (or `--json=true`), false otherwise. */
export interface BooleanOption extends OptionBase {
  readonly kind: 'boolean';
}

/** A whole number within [min, max]. */
export interface IntOption extends OptionBase {
  readonly kind: 'int';
  readonly min?: number;
  readonly max?: number;
  readonly default?: Default<number>;
}

/** A finite number ≥ min (or > above) and ≤ max. */
export interface NumberOption extends OptionBase {
  readonly kind: 'number';
  readonly min?: number;
  /** exclusive lower bound */
  readonly above?: number;
  readonly max?: number;
  readonly default?: Default<number>;
}

/** Whole numbers ≥ 0 separated by commas (`100,150`). */
export interface ListOption extends OptionBase {
  readonly kind: 'list';
  /** each must exceed the one before */
  readonly increasing?: boolean;
  readonly default?: Default<readonly number[]>;
}

/** One of a fixed set of words. */
export interface ChoiceOption extends OptionBase {
  readonly kind: 'choice';
  readonly choices: readonly string[];
  readonly default?: string;
}

/** A file or folder (not empty; whether it exists is the command's to check). */
export interface PathOption extends OptionBase {
  readonly kind: 'path';
  readonly default?: Default<string>;
  /** the flag may stand alone (`--pretrained` or `--pretrained FILE`); alone, its value is `true` */
  readonly optionalValue?: boolean;
}

/** Files or folders, the flag given once or more (`--checkpoint A --checkpoint B`): a list in the order given. */
export interface PathsOption extends OptionBase {
  readonly kind: 'paths';
  readonly default?: Default<readonly string[]>;
}

/** Any text (a model name, a filter, JSON). */
export interface StringOption extends OptionBase {
  readonly kind: 'string';
  readonly default?: Default<string>;
}

export type OptionSpec = BooleanOption | IntOption | NumberOption | ListOption | ChoiceOption | PathOption | PathsOption | StringOption;
export type OptionKind = OptionSpec['kind'];

/** A command's options by key; the flag is the key in kebab case (`batchSize` is `--batch-size`). */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

type KindValue<O> = O extends { readonly kind: 'boolean' }
  ? boolean
  : O extends { readonly kind: 'int' | 'number' }
    ? number
    : O extends { readonly kind: 'list' }
      ? readonly number[]
      : O extends { readonly kind: 'paths' }
        ? readonly string[]
      : O extends { readonly choices: readonly (infer C extends string)[] }
        ? C
        : O extends { readonly optionalValue: true }
          ? string | true
          : string;

/** The parsed value of option `O`: undefined when absent unless it is boolean, has a default or is required. */
export type OptionValue<O> = O extends { readonly kind: 'boolean' } | { readonly default: unknown } | { readonly required: true } ? KindValue<O> : KindValue<O> | undefined;

/** The parsed options of a table, typed from its declaration. */
export type OptionValues<T extends OptionTable> = { readonly [K in keyof T]: OptionValue<T[K]> };

/** What a command takes besides options, e.g. `{ name: 'IMAGE', min: 1 }`; none when absent. */
export interface PositionalSpec {
  /** as in the usage line, e.g. 'FIXTURE.safetensors' */
  readonly name: string;
  readonly min: number;
  /** default: no limit */
  readonly max?: number;
}

/** Everything a command states about how it is called. */
export interface CommandDeclaration<T extends OptionTable = OptionTable> {
  /** the command's name after `tessera`, e.g. 'eval' */
  readonly name: string;
  /** the usage line after `tessera NAME`, e.g. '--checkpoint RUN|FILE [options]' */
  readonly usage: string;
  /** the paragraph(s) between the usage line and the options */
  readonly description: string;
  readonly options: T;
  readonly positionals?: PositionalSpec;
  /** text after the options (exit status, notes); a function when it is computed */
  readonly notes?: string | (() => string);
}

/** A command as `main` runs it: its declaration and its entry point (resolves to the exit status). */
export interface CliCommand {
  readonly declaration: CommandDeclaration;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

/**
 * Declares a command; its option types are inferred from the table (choices as literal unions).
 *
 * @example
 * const HELLO = defineCommand({
 *   name: 'hello', usage: '[--times N]', description: 'Greets.',
 *   options: { times: { kind: 'int', min: 1, default: 1, placeholder: 'N', help: 'how often' } },
 * });
 * readCommandLine(HELLO, ['--times', '3'])?.opts.times; // 3 (a number)
 */
export function defineCommand<const T extends OptionTable>(declaration: CommandDeclaration<T>): CommandDeclaration<T> {
  for (const [key, o] of Object.entries(declaration.options)) {
    if (key === 'help') throw new Error(`tessera ${declaration.name}: "help" is every command's option; do not declare it`);
    if (o.kind === 'choice' && o.default !== undefined && !o.choices.includes(o.default)) throw new Error(`tessera ${declaration.name}: --${flagName(key)} defaults to "${o.default}", not one of its choices`);
  }
  return declaration;
}

/** The flag of an option key: `batchSize` → `batch-size`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A raw value and where it came from (`tessera train: --lr`, `a.yaml:3 lr`), before its check. */
export interface Given {
  /** a list for a `paths` option given more than once */
  readonly value: string | number | boolean | readonly string[];
  readonly from: string;
}

/** The result of `readCommandLine`: typed options, positionals, and the raw flags given (by key). */
export interface CommandLine<T extends OptionTable> {
  readonly opts: OptionValues<T>;
  readonly positionals: readonly string[];
  readonly given: ReadonlyMap<string, Given>;
}

/**
 * Parses a command's arguments against its declaration. With `-h`/`--help` it prints the
 * generated help on stdout and returns undefined (the command then exits 0); every mistake is a
 * `UsageError` naming the command and the flag.
 *
 * @example
 * const line = readCommandLine(EVAL, ['--checkpoint', 'runs/a', '--data', 'cifar10', '--batch-size', '64']);
 * line?.opts.batchSize; // 64
 */
export function readCommandLine<T extends OptionTable>(declaration: CommandDeclaration<T>, argv: readonly string[]): CommandLine<T> | undefined {
  const { given, positionals, help } = tokenize(declaration, argv);
  if (help) {
    process.stdout.write(`${helpText(declaration)}\n`);
    return undefined;
  }
  checkPositionals(declaration, positionals);
  const opts = convertOptions(declaration.options, given);
  const missing = Object.entries(declaration.options).filter(([key, o]) => o.required && !given.has(key));
  if (missing.length) {
    const names = missing.map(([key, o]) => `--${flagName(key)}${o.placeholder ? ` ${o.placeholder}` : ''}`);
    const list = names.length === 1 ? `${names[0]} is` : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are`;
    throw new UsageError(`${commandOf(declaration)}: ${list} required (see ${commandOf(declaration)} --help)`);
  }
  return { opts, positionals, given };
}

const commandOf = (declaration: CommandDeclaration): string => `tessera ${declaration.name}`;

/** Splits argv into raw flag values (by option key) and positionals; syntax errors only. */
function tokenize(declaration: CommandDeclaration, argv: readonly string[]): { given: Map<string, Given>; positionals: string[]; help: boolean } {
  const command = commandOf(declaration);
  const byFlag = new Map(Object.entries(declaration.options).map(([key, o]) => [flagName(key), { key, o }]));
  const given = new Map<string, Given>();
  const positionals: string[] = [];
  let help = false;
  const set = (key: string, flag: string, value: string | boolean) => {
    const before = given.get(key);
    if (before && byFlag.get(flag)?.o.kind === 'paths' && typeof value === 'string') {
      given.set(key, { value: [...(Array.isArray(before.value) ? before.value : [String(before.value)]), value], from: before.from });
      return;
    }
    if (before) throw new UsageError(`${command}: --${flag}: given more than once; give it once`);
    given.set(key, { value, from: `${command}: --${flag}` });
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') ? (eq < 0 ? a.slice(2) : a.slice(2, eq)) : a;
    const inline = a.startsWith('--') && eq >= 0 ? a.slice(eq + 1) : undefined;
    if (flag === 'help' || flag === '-h') {
      help = true;
      continue;
    }
    const found = byFlag.get(flag);
    if (!found || !a.startsWith('--')) throw new UsageError(`${command}: unknown option ${a.startsWith('--') ? `--${flag}` : a}${suggestFlag(flag.replace(/^-+/, ''), [...byFlag.keys(), 'help'])}`);
    const { key, o } = found;
    if (inline !== undefined || o.kind === 'boolean') {
      set(key, flag, inline ?? true);
      continue;
    }
    const next = argv[i + 1];
    const bare = next === undefined || (next.startsWith('--') && next.length > 2);
    if (o.kind === 'path' && o.optionalValue && (bare || next.startsWith('-'))) {
      set(key, flag, true);
      continue;
    }
    if (bare) throw new UsageError(`${command}: --${flag}: expected ${describe(o)}, got nothing`);
    set(key, flag, next);
    i++;
  }
  return { given, positionals, help };
}

function checkPositionals(declaration: CommandDeclaration, positionals: readonly string[]): void {
  const command = commandOf(declaration);
  const spec = declaration.positionals ?? { name: '', min: 0, max: 0 };
  const max = spec.max ?? Infinity;
  if (positionals.length < spec.min) throw new UsageError(`${command}: missing ${spec.name} (see ${command} --help)`);
  if (positionals.length <= max) return;
  if (max === 0) throw new UsageError(`${command}: unexpected argument ${positionals[0]} (options are --name value; see ${command} --help)`);
  throw new UsageError(`${command}: expected ${max === 1 ? 'one' : `at most ${max}`} ${spec.name}, got ${positionals.length}: ${positionals.join(' ')}`);
}

function suggestFlag(name: string, known: readonly string[]): string {
  const close = known.filter((k) => k.startsWith(name) || name.startsWith(k) || editDistance(k, name) <= 2);
  return close.length ? `; did you mean ${close.map((k) => `--${k}`).join(' or ')}?` : `; accepted: ${known.map((k) => `--${k}`).join(', ')}`;
}

/**
 * Checks and converts raw values (from the command line, a `--config` file, a saved run) against
 * a table; absent options get their defaults. Every bad value is one `UsageError` line:
 * `<where>: expected <what the kind accepts>, got <the value>`.
 *
 * @example
 * convertOptions(EVAL.options, new Map([['batchSize', { value: '64', from: 'tessera eval: --batch-size' }]])).batchSize; // 64
 */
export function convertOptions<T extends OptionTable>(table: T, given: ReadonlyMap<string, Given>): OptionValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(table)) {
    const g = given.get(key);
    values[key] = g === undefined ? defaultOf(o) : convertValue(o, g);
  }
  // the one place where the runtime walk over the table meets its mapped type: every key of the
  // table has just been set from its own spec by the kind-checked conversion above
  return values as OptionValues<T>;
}

function defaultOf(o: OptionSpec): unknown {
  if (o.kind === 'boolean') return false;
  return typeof o.default === 'function' ? o.default() : o.default;
}

/** What a kind accepts, for messages: "a whole number ≥ 1", "one of sgd, adamw". */
function describe(o: OptionSpec): string {
  switch (o.kind) {
    case 'boolean':
      return 'true or false';
    case 'int':
      return `a whole number${range(o.min, undefined, o.max)}`;
    case 'number':
      return `a number${range(o.min, o.above, o.max)}`;
    case 'list':
      return `${o.increasing ? 'increasing ' : ''}whole numbers separated by commas${o.placeholder ? ` (${o.placeholder})` : ''}`;
    case 'choice':
      return `one of ${o.choices.join(', ')}`;
    case 'path':
      return `a path${o.placeholder ? ` (${o.placeholder})` : ''}`;
    case 'paths':
      return `a path${o.placeholder ? ` (${o.placeholder})` : ''} (the flag may be given more than once)`;
    case 'string':
      return `a value${o.placeholder ? ` (${o.placeholder})` : ''}`;
  }
}

function range(min: number | undefined, above: number | undefined, max: number | undefined): string {
  const hasMax = max !== undefined && max < Infinity;
  if (above !== undefined) return ` > ${above}${hasMax ? ` and ≤ ${max}` : ''}`;
  if (min !== undefined && hasMax) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  return hasMax ? ` ≤ ${max}` : '';
}

function convertValue(o: OptionSpec, g: Given): unknown {
  const bad = (): never => {
    throw new UsageError(`${g.from}: expected ${describe(o)}, got ${typeof g.value === 'string' ? JSON.stringify(g.value) : String(g.value)}`);
  };
  const { value } = g;
  if (o.kind === 'boolean') {
    if (typeof value === 'boolean') return value;
    return value === 'true' ? true : value === 'false' ? false : bad();
  }
  if (value === true && o.kind === 'path' && o.optionalValue) return true;
  if (typeof value === 'boolean') return bad();
  if (o.kind === 'paths') {
    const list = typeof value === 'object' ? value : [String(value)];
    return list.every((p) => p.trim() !== '') ? list : bad();
  }
  if (typeof value === 'object') return bad();
  const text = String(value).trim();
  switch (o.kind) {
    case 'int':
    case 'number': {
      const n = Number(text);
      if (!text || !Number.isFinite(n)) return bad();
      if (o.kind === 'int' && (!Number.isSafeInteger(n) || (typeof value === 'string' && !/^[-+]?\d+$/.test(text)))) return bad();
      const above = o.kind === 'number' ? o.above : undefined;
      if ((o.min !== undefined && n < o.min) || (above !== undefined && n <= above) || (o.max !== undefined && n > o.max)) return bad();
      return n;
    }
    case 'list': {
      const parts = text.split(',').map((s) => s.trim());
      if (parts.some((p) => !/^\d+$/.test(p))) return bad();
      const nums = parts.map(Number);
      if (o.increasing && nums.some((n, i) => i > 0 && n <= nums[i - 1])) return bad();
      return nums;
    }
    case 'choice':
      return o.choices.includes(text) ? text : bad();
    case 'path':
      return text ? String(value) : bad();
    case 'string':
      return String(value);
  }
}

/**
 * The raw values a flat `--config` file sets (key → value with its line), checked against the
 * keys of `table` that allow `config`; a YAML key is the flag, `_` or `-` between words.
 *
 * @example
 * givenFromConfig(TRAIN.options, parseFlatYaml('label_smoothing: 0.1\n', 'a.yaml'), 'a.yaml');
 * // Map { 'labelSmoothing' => { value: 0.1, from: 'a.yaml:1 label_smoothing' } }
 */
export function givenFromConfig(table: OptionTable, entries: ReadonlyMap<string, { readonly value: string | number | boolean; readonly line: number }>, file: string): Map<string, Given> {
  const keys = new Map(Object.entries(table).filter(([, o]) => o.config).map(([key]) => [flagName(key), key]));
  const out = new Map<string, Given>();
  for (const [rawKey, { value, line }] of entries) {
    const name = rawKey.replace(/_/g, '-');
    const key = keys.get(name);
    if (key === undefined) {
      throw new UsageError(`${file}:${line}: unknown option "${rawKey}"; ${closestKey(name, [...keys.keys()])}`);
    }
    out.set(key, { value, from: `${file}:${line} ${rawKey}` });
  }
  return out;
}

/** `did you mean a?` for a close key (edit distance ≤ 2), else `the closest option is a` */
function closestKey(name: string, known: readonly string[]): string {
  const scored = known.map((k) => ({ k, d: editDistance(k, name) }));
  const best = Math.min(...scored.map((s) => s.d));
  const closest = scored.filter((s) => s.d === best).map((s) => s.k);
  return best <= 2 ? `did you mean ${closest.join(' or ')}?` : `the closest option is ${closest[0]}`;
}

/**
 * A command's `--help`: the usage line, its description, every option with its help line (and
 * `-h, --help`), then its notes.
 *
 * @example
 * console.log(helpText(EVAL)); // usage: tessera eval --checkpoint RUN|FILE ...
 */
export function helpText(declaration: CommandDeclaration): string {
  const rows: (readonly [string, string])[] = Object.entries(declaration.options).map(([key, o]) => [`--${flagName(key)}${o.placeholder ? ` ${o.placeholder}` : ''}`, o.help]);
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = rows.map(([left, help]) => `  ${left.padEnd(width)}${help.split('\n').join(`\n  ${' '.repeat(width)}`)}`);
  const notes = typeof declaration.notes === 'function' ? declaration.notes() : declaration.notes;
  return [`usage: ${commandOf(declaration)} ${declaration.usage}`, declaration.description, `options:\n${lines.join('\n')}`, ...(notes ? [notes] : [])].join('\n\n');
}
