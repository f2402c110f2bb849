/**
 * The CLI's tiny argument parser: `--name value`, `--name=value`, boolean flags (`--json`),
 * positionals, and `--` to end the options. Every mistake (an unknown flag, a missing value,
 * a value outside its choices) is reported as one `UsageError` that names the command.
 */
import { editDistance } from '../util/text.js';

/** A mistake in how the CLI was called or in what it was given; `main` prints it as one line (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option a command accepts. */
export interface FlagSpec {
  /** 'boolean' flags take no value (`--json`, or `--json=true|false`) */
  readonly type: 'string' | 'boolean';
  /** the only values a string flag accepts */
  readonly choices?: readonly string[];
}

/** What `parseArgs` found: flag values by name (absent flags are missing) and the positionals in order. */
export interface ParsedArgs {
  readonly flags: Readonly<Record<string, string | boolean>>;
  readonly positionals: readonly string[];
}

/**
 * Parses `argv` against the flags `spec` allows; `command` (e.g. 'tessera verify') names the
 * command in error messages.
 *
 * @example
 * const { flags, positionals } = parseArgs(['a.safetensors', '--model=LeNet', '--json'],
 *   { model: { type: 'string' }, json: { type: 'boolean' } }, 'tessera verify');
 * // flags: { model: 'LeNet', json: true }, positionals: ['a.safetensors']
 */
export function parseArgs(argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>, command: string): ParsedArgs {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
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
    if (!a.startsWith('--')) {
      if (a === '-h' && Object.hasOwn(spec, 'help')) {
        setFlag(flags, 'help', true, command);
        continue;
      }
      throw new UsageError(`${command}: unknown option ${a}${suggestFlag(a.replace(/^-+/, ''), spec)}`);
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    const f = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!f) throw new UsageError(`${command}: unknown option --${name}${suggestFlag(name, spec)}`);
    if (f.type === 'boolean') {
      if (inline === undefined) setFlag(flags, name, true, command);
      else if (inline === 'true' || inline === 'false') setFlag(flags, name, inline === 'true', command);
      else throw new UsageError(`${command}: --${name} takes no value (got "${inline}")`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${command}: --${name} needs a value`);
      value = next;
      i++;
    }
    if (f.choices && !f.choices.includes(value)) {
      throw new UsageError(`${command}: --${name} must be one of ${f.choices.join(', ')} (got "${value}")`);
    }
    setFlag(flags, name, value, command);
  }
  return { flags, positionals };
}

function setFlag(flags: Record<string, string | boolean>, name: string, value: string | boolean, command: string): void {
  if (Object.hasOwn(flags, name)) throw new UsageError(`${command}: --${name} given more than once`);
  flags[name] = value;
}

function suggestFlag(name: string, spec: Readonly<Record<string, FlagSpec>>): string {
  const known = Object.keys(spec);
  const close = known.filter((k) => k.startsWith(name) || name.startsWith(k) || editDistance(k, name) <= 2);
  const list = known.map((k) => `--${k}`).join(', ');
  return close.length ? `; did you mean ${close.map((k) => `--${k}`).join(' or ')}?` : known.length ? `; accepted: ${list}` : '';
}

/** Reads a string flag that `parseArgs` accepted (undefined when absent). */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Reads a boolean flag that `parseArgs` accepted (false when absent). */
export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true;
}
