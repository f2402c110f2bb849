/**
 * `tessera models [--json] [--filter TEXT]`: lists the registered models with their family,
 * reference source, input size, parameter count, multiply-accumulates, the published ImageNet-1K
 * top-1 of their reference weights (blank where there are none), year and paper. Parameters and
 * multiply-accumulates come from the table computed once (src/models/zoo-counts.ts); a model
 * missing from it (registered at run time) is built and traced, and its row printed when ready.
 */
import { ModelInfo, listModels } from '../models/index.js';
import { CliCommand, UsageError, defineCommand, readCommandLine } from './args.js';
import { writeFileAtomic } from '../util/files.js';
import { readBenchFiles, zooPage } from '../report/zoo-page.js';
import { modelComplexity, zooRows } from '../report/zoo-rows.js';

/** How `tessera models` is called: its options, help and checks. */
export const MODELS = defineCommand({
  name: 'models',
  usage: '[--filter TEXT] [--json] [--html FILE [--bench FILE ...]]',
  description: `Lists every registered model: name, family, reference source, input size, parameters,
multiply-accumulates of one image at the input size (computed from the traced graph), the
published ImageNet-1K top-1 accuracy of the reference's pretrained weights (blank where it has
none), year, paper.`,
  options: {
    filter: { kind: 'string', placeholder: 'TEXT', help: 'only models whose name, family, source or paper contains TEXT (any case)' },
    json: {
      kind: 'boolean',
      help: `print a JSON array (one object per line, written as each is computed),
with each model's pretrained config (weights URL, licence, preprocessing,
classifier layer, top-1, top-5) or null`,
    },
    html: { kind: 'path', placeholder: 'FILE', help: 'write the zoo as a self-contained HTML page (table, and ImageNet top-1 against\nGMACs) instead of listing it' },
    bench: {
      kind: 'paths',
      default: [],
      placeholder: 'FILE',
      help: 'with --html: measured images/s from tessera bench --json output (a file holds\none result or a JSON array of them; give --bench once or more)',
    },
  },
});

/** Whether `info` matches a `--filter` text (case-insensitive substring of name, family, source or paper). */
export function matchesFilter(info: ModelInfo, text: string): boolean {
  const t = text.toLowerCase();
  return [info.name, info.family, info.source, info.paper].some((s) => s.toLowerCase().includes(t));
}

/** 11173962 → "11,173,962" */
const withCommas = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** 555_422_720 → "555.4M", 4.09e9 → "4.09G" */
const humanCount = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}K`);

/**
 * Runs `tessera models` with its arguments (the command name already removed); resolves to the
 * exit status: 0, or 1 when some model failed to build (its row says so and the listing goes on).
 */
export async function modelsCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(MODELS, argv);
  if (!parsed) return 0;
  const { filter, json, html } = parsed.opts;
  if (html !== undefined) return writeZooPage(html, parsed.opts.bench, filter);
  if (parsed.opts.bench.length) throw new UsageError('tessera models: --bench goes with --html FILE (the page shows measured images/s)');
  const infos = listModels().filter((m) => filter === undefined || matchesFilter(m, filter));
  if (!infos.length && !json) {
    process.stdout.write(filter === undefined ? 'no models registered\n' : `no model matches "${filter}"\n`);
    return 0;
  }

  const header = ['name', 'family', 'source', 'input', 'params', 'MACs', 'top-1', 'year', 'paper'];
  const widths = [
    Math.max(4, ...infos.map((m) => m.name.length)),
    Math.max(6, ...infos.map((m) => m.family.length)),
    Math.max(6, ...infos.map((m) => m.source.length)),
    5,
    12,
    7,
    6,
    4,
  ];
  // numbers (input, params, MACs, top-1) right-aligned
  const line = (cells: string[]) => cells.map((c, i) => (i < widths.length ? (i >= 3 && i <= 6 ? c.padStart(widths[i]) : c.padEnd(widths[i])) : c)).join('  ').trimEnd();
  if (json) process.stdout.write('[\n');
  else process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)).concat('-----'))}\n`);

  let failures = 0;
  for (const [i, m] of infos.entries()) {
    let params: number | null = null;
    let macs: number | null = null;
    let error: string | null = null;
    try {
      ({ params, macs } = modelComplexity(m));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      failures++;
    }
    if (json) {
      const row = { name: m.name, family: m.family, source: m.source, reference: m.reference, inputSize: m.inputSize, numClasses: m.numClasses, params, macs, year: m.year, paper: m.paper, pretrained: m.pretrained ?? null, ...(error ? { error } : {}) };
      process.stdout.write(`  ${JSON.stringify(row)}${i < infos.length - 1 ? ',' : ''}\n`);
    } else {
      const p = params === null ? 'error' : withCommas(params);
      process.stdout.write(`${line([m.name, m.family, m.source, `${m.inputSize}`, p, macs === null ? 'error' : humanCount(macs), m.pretrained ? m.pretrained.top1.toFixed(3) : '', String(m.year), m.paper])}\n`);
      if (error) process.stderr.write(`tessera: cannot build ${m.name}: ${error.replace(/\s*\n\s*/g, ' ')}\n`);
    }
    // let the row reach the terminal before the next (possibly slow) build
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (json) process.stdout.write(']\n');
  return failures ? 1 : 0;
}

/** `--html FILE`: the zoo page of the models `filter` keeps (with the --bench results). */
async function writeZooPage(file: string, benchFiles: readonly string[], filter: string | undefined): Promise<number> {
  const bench = readBenchFiles(benchFiles);
  const rows = zooRows((m) => filter === undefined || matchesFilter(m, filter));
  writeFileAtomic(file, await zooPage(rows, bench));
  const failed = rows.filter((r) => r.error).length;
  process.stdout.write(`wrote ${file}: ${rows.length} models${failed ? `, ${failed} could not be built` : ''}\n`);
  return failed ? 1 : 0;
}

/** `tessera models` as `main` runs it. */
export const command: CliCommand = { declaration: MODELS, run: modelsCommand };
