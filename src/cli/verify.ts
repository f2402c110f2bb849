/**
 * `tessera verify FIXTURE.safetensors --model NAME [--args JSON] [--source S] [--precision P] [--json]`:
 * loads a PyTorch reference fixture into a model and reports, per kind of reference tensor,
 * how close our outputs, loss, gradients and running statistics come to it.
 */
import { existsSync } from 'node:fs';
import { readSafetensors } from '../io/safetensors.js';
import { JsonArgs, ModelInfo, resolveModel } from '../models/index.js';
import { FixtureError, ParityReport, TensorCheck, checkFixture } from '../verify/parity.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';

type Source = ModelInfo['source'];
type Precision = 'float64' | 'float32';

const SOURCES: readonly Source[] = ['torchvision', 'pytorch-cifar'];
const PRECISIONS: readonly Precision[] = ['float64', 'float32'];

/** How `tessera verify` is called: its options, help and checks. */
export const VERIFY = defineCommand({
  name: 'verify',
  usage: 'FIXTURE.safetensors --model NAME [options]',
  description: `Checks a model against a PyTorch reference fixture: eval and train logits, loss, gradients
and BatchNorm running statistics, each within the fixture's own tolerance.`,
  positionals: { name: 'FIXTURE.safetensors', min: 1, max: 1 },
  options: {
    model: { kind: 'string', placeholder: 'NAME', required: true, help: 'a registered model (tessera models) or a reference constructor (LeNet, ResNet, ...)' },
    args: { kind: 'string', placeholder: 'JSON', help: `constructor arguments as a JSON object, e.g. '{"numClasses": 10}'` },
    source: { kind: 'choice', choices: SOURCES, placeholder: 'S', help: 'torchvision or pytorch-cifar (default: from the fixture\'s "constructor" metadata)' },
    precision: { kind: 'choice', choices: PRECISIONS, default: 'float64', placeholder: 'P', help: 'float64 (default) or float32' },
    json: { kind: 'boolean', help: 'print the report as JSON' },
  },
  notes: 'exit status: 0 all tensors within tolerance, 1 some outside, 2 usage or input error',
});

/** The table's row label of a check: the 'logits' kind splits by key (logits.eval, logits.train). */
const rowOf = (c: TensorCheck): string => (c.kind === 'logits' ? c.key : c.kind);
const ROW_ORDER = ['logits.eval', 'logits.train', 'loss', 'grad', 'running'];

/** A check's error as a fraction of what its tolerance allows (> 1 fails). */
export function errorRatio(c: TensorCheck): number {
  if (Number.isNaN(c.maxError)) return Infinity;
  if (c.allowed > 0) return c.maxError / c.allowed;
  return c.maxError === 0 ? 0 : Infinity;
}

/**
 * Runs `tessera verify` with its arguments (the command name already removed); resolves to the
 * exit status: 0 when every reference tensor is within tolerance, 1 otherwise. Usage and input
 * errors are thrown for `main` to report.
 */
export async function verifyCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(VERIFY, argv);
  if (!parsed) return 0;
  const [fixturePath] = parsed.positionals;
  const { model: name, source: givenSource, precision, json } = parsed.opts;
  const args = parsed.opts.args === undefined ? undefined : parseJsonArgs(parsed.opts.args);

  if (!existsSync(fixturePath)) throw new UsageError(`fixture ${fixturePath} does not exist`);
  const file = readSafetensors(fixturePath);
  // metadata is a plain object: `.constructor` of one without the key would be Object itself
  const constructor = Object.hasOwn(file.metadata, 'constructor') ? file.metadata['constructor'] : undefined;
  const inferred = inferSource(constructor);
  const source = givenSource ?? inferred;
  const model = resolveModel(name, args, source);

  const report = await checkFixture(model, file, { precision });
  if (report.checks.length === 0) throw new FixtureError(`fixture ${fixturePath} holds no reference tensors (logits.*, loss.*, grad.*, running.*)`);

  const context = { fixture: fixturePath, model: name, args: args ?? null, source: source ?? null, constructor: constructor ?? null, precision };
  if (json) {
    process.stdout.write(`${JSON.stringify(reportJson(report, context), null, 2)}\n`);
  } else {
    const from = givenSource ? '' : inferred ? ' (from the fixture)' : '';
    process.stdout.write(`${fixturePath}: model ${name}${args ? ` ${JSON.stringify(args)}` : ''}, source ${source ?? 'any'}${from}, precision ${precision}\n`);
    if (constructor) process.stdout.write(`reference: ${constructor}\n`);
    process.stdout.write(`\n${formatTable(report)}\n\n${summaryLine(report)}\n`);
  }
  return report.ok ? 0 : 1;
}

/** `tessera verify` as `main` runs it. */
export const command: CliCommand = { declaration: VERIFY, run: verifyCommand };

function parseJsonArgs(text: string): JsonArgs {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--args is not valid JSON (${(e as Error).message}): ${text}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`--args must be a JSON object, got ${text}`);
  return v as JsonArgs;
}

/** The reference library a fixture's `constructor` metadata names, if it names one we know. */
function inferSource(constructor: string | undefined): Source | undefined {
  return SOURCES.find((s) => constructor?.startsWith(s));
}

interface Row {
  label: string;
  count: number;
  worst: TensorCheck;
  ok: boolean;
}

function rows(report: ParityReport): Row[] {
  const groups = new Map<string, TensorCheck[]>();
  for (const c of report.checks) {
    const g = groups.get(rowOf(c)) ?? [];
    g.push(c);
    groups.set(rowOf(c), g);
  }
  const order = [...ROW_ORDER.filter((k) => groups.has(k)), ...[...groups.keys()].filter((k) => !ROW_ORDER.includes(k))];
  return order.map((label) => {
    const g = groups.get(label)!;
    const worst = g.reduce((a, b) => (errorRatio(b) > errorRatio(a) ? b : a));
    return { label, count: g.length, worst, ok: g.every((c) => c.ok) };
  });
}

const fmtRatio = (r: number): string => (!Number.isFinite(r) ? 'inf' : r !== 0 && r < 0.001 ? r.toExponential(1) : r.toFixed(3));
const fmtSci = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : 'inf');

/** The per-kind table: kind, tensors checked, worst error/allowed, the worst tensor with its error and rtol, PASS/FAIL. */
export function formatTable(report: ParityReport): string {
  const header = ['kind', 'tensors', 'worst err/allowed', 'worst tensor', 'max error', 'rtol', 'result'];
  const body = rows(report).map((r) => [r.label, String(r.count), fmtRatio(errorRatio(r.worst)), r.worst.key, fmtSci(r.worst.maxError), r.worst.rtol.toExponential(), r.ok ? 'PASS' : 'FAIL']);
  const numeric = [false, true, true, false, true, true, false];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** "N tensors checked: all within tolerance", or "K of N tensors outside tolerance: key1, key2, …". */
export function summaryLine(report: ParityReport): string {
  const n = report.checks.length;
  const failed = report.checks.filter((c) => !c.ok).map((c) => c.key);
  if (!failed.length) return `${n} tensor${n === 1 ? '' : 's'} checked: all within tolerance`;
  const shown = failed.slice(0, 12).join(', ');
  return `${failed.length} of ${n} tensors outside tolerance: ${shown}${failed.length > 12 ? `, … (${failed.length - 12} more)` : ''}`;
}

function reportJson(report: ParityReport, context: Record<string, unknown>) {
  const finite = (x: number) => (Number.isFinite(x) ? x : String(x));
  return {
    ...context,
    ok: report.ok,
    checked: report.checks.length,
    failed: report.checks.filter((c) => !c.ok).map((c) => c.key),
    kinds: rows(report).map((r) => ({ kind: r.label, tensors: r.count, worstRatio: finite(errorRatio(r.worst)), worstKey: r.worst.key, ok: r.ok })),
    checks: report.checks.map((c) => ({ ...c, maxError: finite(c.maxError), ratio: finite(errorRatio(c)) })),
  };
}
