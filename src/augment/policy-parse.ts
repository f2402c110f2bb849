/**
 * The one parser of augmentation-policy strings (`--aa`, `TransformSpec.policy`) and the one
 * table of policy names. A policy string is a name, then optional `-KEYVALUE` fields in any
 * order (timm's syntax): `rand-m9-mstd0.5-inc1`, `augmix-m3-w3-d-1`, `ra-m9-n2-b31`, `ta_wide`.
 *
 * - `autoaugment-imagenet|cifar10|svhn`: torchvision's AutoAugment with that learned policy.
 * - `ra`: torchvision's RandAugment; n num_ops (2), m magnitude (9, the reference's
 *   --ra-magnitude), b num_magnitude_bins (31).
 * - `ta_wide`: torchvision's TrivialAugmentWide; b num_magnitude_bins (31).
 * - `augmix`: torchvision's AugMix with timm's fields: m severity (3), w mixture_width (3),
 *   d chain_depth (-1: 1 to 3 at random), a alpha (1), all all_ops (1).
 * - `rand`: timm's RandAugment (its op list, level scale and draws) on torchvision's ops: m
 *   magnitude (10), n ops (2), p probability of each op (0.5), mstd magnitude noise (0; above
 *   100: uniform in [0, m]), mmax upper clip of the magnitude (10), inc 1 for the "increasing"
 *   op list (0).
 */
import { UserError } from '../errors.js';
import type { AutoAugmentPolicy } from './policy-tables.js';
import type { TimmRandConfig } from './timm-rand.js';

/** What a policy string asks for. */
export type PolicyConfig =
  | { readonly kind: 'autoaugment'; readonly policy: AutoAugmentPolicy }
  | { readonly kind: 'randaugment'; readonly numOps: number; readonly magnitude: number; readonly numBins: number }
  | { readonly kind: 'trivialaugment'; readonly numBins: number }
  | {
      readonly kind: 'augmix';
      readonly severity: number;
      readonly mixtureWidth: number;
      readonly chainDepth: number;
      readonly alpha: number;
      readonly allOps: boolean;
    }
  | ({ readonly kind: 'timm-rand' } & TimmRandConfig);

/** One `-KEYVALUE` field of a policy: whole or real, its range and default. */
interface FieldSpec {
  readonly whole: boolean;
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

const whole = (min: number, max: number, dflt: number): FieldSpec => ({ whole: true, min, max, default: dflt });
const real = (min: number, max: number, dflt: number): FieldSpec => ({ whole: false, min, max, default: dflt });
const flag = (dflt: 0 | 1): FieldSpec => whole(0, 1, dflt);

/** One row of the policy table: its name, fields and what a parsed field set builds. */
interface PolicyRow {
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly build: (f: Readonly<Record<string, number>>) => PolicyConfig;
  /** a check across fields; returns the problem or null */
  readonly check?: (f: Readonly<Record<string, number>>) => string | null;
}

const autoAugment = (policy: AutoAugmentPolicy): PolicyRow => ({ name: `autoaugment-${policy}`, fields: {}, build: () => ({ kind: 'autoaugment', policy }) });

/** Every policy name, with its fields (the one table). */
const POLICY_TABLE: readonly PolicyRow[] = [
  autoAugment('imagenet'),
  autoAugment('cifar10'),
  autoAugment('svhn'),
  {
    name: 'ra',
    fields: { n: whole(1, 100, 2), m: whole(0, 1000, 9), b: whole(2, 1001, 31) },
    build: (f) => ({ kind: 'randaugment', numOps: f.n, magnitude: f.m, numBins: f.b }),
    check: (f) => (f.m < f.b ? null : `m (magnitude bin) must be below b (the number of bins, ${f.b}), got ${f.m}`),
  },
  { name: 'ta_wide', fields: { b: whole(2, 1001, 31) }, build: (f) => ({ kind: 'trivialaugment', numBins: f.b }) },
  {
    name: 'augmix',
    fields: { m: whole(1, 10, 3), w: whole(1, 100, 3), d: whole(-1, 100, -1), a: real(1e-6, 1e6, 1), all: flag(1) },
    build: (f) => ({ kind: 'augmix', severity: f.m, mixtureWidth: f.w, chainDepth: f.d, alpha: f.a, allOps: f.all === 1 }),
    check: (f) => (f.d === 0 ? 'd (chain depth) must be -1 (random 1 to 3) or at least 1, got 0' : null),
  },
  {
    name: 'rand',
    fields: { m: whole(0, 1000, 10), n: whole(1, 100, 2), p: real(0, 1, 0.5), mstd: real(0, Infinity, 0), mmax: whole(1, 1000, 10), inc: flag(0) },
    build: (f) => ({
      kind: 'timm-rand',
      magnitude: f.m,
      numOps: f.n,
      prob: f.p,
      magnitudeStd: f.mstd > 100 ? Infinity : f.mstd,
      magnitudeMax: f.mmax,
      increasing: f.inc === 1,
    }),
  },
];

function rowUsage(row: PolicyRow): string {
  const keys = Object.keys(row.fields);
  return keys.length ? `${row.name}[-${keys.map((k) => `${k}N`).join('-')}]` : row.name;
}

/**
 * The policy strings `parsePolicy` accepts, one per name, with their fields.
 *
 * @example
 *   policyUsage().startsWith('autoaugment-imagenet, autoaugment-cifar10'); // → true
 */
export function policyUsage(): string {
  return POLICY_TABLE.map(rowUsage).join(', ');
}

/** The field string after the name: `-m9-mstd0.5-d-1` → [['m', '9'], ['mstd', '0.5'], ['d', '-1']]. */
function splitFields(rest: string, fail: (what: string) => never): [string, string][] {
  if (rest === '') return [];
  if (!rest.startsWith('-')) fail('expected -KEYVALUE fields after the name');
  return rest
    .slice(1)
    .split(/-(?=[a-z])/)
    .map((section) => {
      const m = /^([a-z]+)(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)$/.exec(section);
      if (!m) fail(`"${section}" is not a field (KEY followed by a number, e.g. m9)`);
      return [m![1], m![2]];
    });
}

function fieldValue(row: PolicyRow, key: string, text: string, fail: (what: string) => never): number {
  const spec = row.fields[key];
  const value = Number(text);
  const range = spec.max === Infinity ? `≥ ${spec.min}` : `${spec.min}..${spec.max}`;
  if (!Number.isFinite(value) || (spec.whole && !Number.isInteger(value)) || value < spec.min || value > spec.max) {
    fail(`${key} must be ${spec.whole ? 'a whole number' : 'a number'} ${range}, got ${text}`);
  }
  return value;
}

/**
 * Parses a policy string (see the module comment); a string that names no policy, has an unknown
 * field or a value out of range is one UserError line that says what is valid. `where` names the
 * string's source in the message (e.g. `--aa`).
 *
 * @example
 *   parsePolicy('rand-m9-mstd0.5-inc1');
 *   // → { kind: 'timm-rand', magnitude: 9, numOps: 2, prob: 0.5, magnitudeStd: 0.5, magnitudeMax: 10, increasing: true }
 *   parsePolicy('augmix-m3-w3-d-1').kind; // → 'augmix'
 */
export function parsePolicy(text: string, where = 'augmentation policy'): PolicyConfig {
  const row = [...POLICY_TABLE].sort((a, b) => b.name.length - a.name.length).find((r) => text === r.name || text.startsWith(`${r.name}-`));
  if (!row) throw new UserError(`${where} "${text}": unknown policy; valid: ${policyUsage()}`);
  const fail = (what: string): never => {
    throw new UserError(`${where} "${text}": ${what} (${rowUsage(row)})`);
  };
  const values: Record<string, number> = {};
  for (const [key, dflt] of Object.entries(row.fields)) values[key] = dflt.default;
  const seen = new Set<string>();
  for (const [key, raw] of splitFields(text.slice(row.name.length), fail)) {
    if (!Object.hasOwn(row.fields, key)) {
      const keys = Object.keys(row.fields);
      fail(keys.length ? `${key} is not a field of ${row.name}; its fields are ${keys.join(', ')}` : `${row.name} takes no fields`);
    }
    if (seen.has(key)) fail(`${key} is given twice`);
    seen.add(key);
    values[key] = fieldValue(row, key, raw, fail);
  }
  const problem = row.check?.(values) ?? null;
  if (problem !== null) fail(problem);
  return row.build(values);
}
