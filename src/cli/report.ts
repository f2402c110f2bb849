/**
 * `tessera report RUN [RUN...] [--out FILE.html]`: one run's report page (the report.html that
 * training keeps in the run folder, written again), or several runs compared: curves overlaid,
 * one colour per run, and a summary table. A folder that is not a run, or a run with no finished
 * epoch, is one line (exit 2); unreadable metrics.jsonl lines are skipped and counted on the page.
 */
import { dirname, join, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { REPORT_FILE } from '../report/plugin.js';
import { readRun } from '../report/run-data.js';
import { comparePage, runPage } from '../report/run-page.js';
import { writeFileAtomic } from '../util/files.js';
import { CliCommand, defineCommand, readCommandLine } from './args.js';

/** How `tessera report` is called: its options, help and checks. */
export const REPORT = defineCommand({
  name: 'report',
  usage: 'RUN [RUN...] [--out FILE.html]',
  description: `Writes the HTML report of a run folder (curves, confusion matrix, per-class accuracy,
misclassified images, configuration, machine) or, given several runs, a page comparing them
(curves overlaid, one colour per run, and a summary table). The page is self-contained: charts
are inline SVG, images data URIs; it needs no network or scripts to view.`,
  options: {
    out: { kind: 'path', placeholder: 'FILE.html', help: "where to write the page (default: one run's RUN/report.html; required for several runs)" },
  },
  positionals: { name: 'RUN', min: 1 },
  notes: 'exit status: 0 written, 2 usage or input error (not a run, no finished epoch)',
});

/** The page's path: --out, else the one run's report.html. */
function outputPath(out: string | undefined, runs: readonly string[]): string {
  if (out !== undefined) {
    if (existsSync(out) && statSync(out).isDirectory()) throw new UserError(`--out ${out} is a folder; give the page's file name, e.g. ${join(out, 'compare.html')}`);
    if (!existsSync(dirname(resolve(out)))) throw new UserError(`--out ${out}: the folder ${dirname(resolve(out))} does not exist; create it or choose another path`);
    return out;
  }
  if (runs.length > 1) throw new UserError(`tessera report: ${runs.length} runs make a comparison page; name it with --out FILE.html`);
  return join(runs[0], REPORT_FILE);
}

/**
 * Runs `tessera report`; resolves to the exit status.
 *
 * @example
 * await reportCommand(['runs/a', 'runs/b', '--out', 'compare.html']);
 */
export async function reportCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(REPORT, argv);
  if (!parsed) return 0;
  const dirs = parsed.positionals;
  const out = outputPath(parsed.opts.out, dirs);
  // every run is read (and checked) before anything is written
  const runs = dirs.map(readRun);
  const html = runs.length === 1 ? await runPage(runs[0]) : await comparePage(runs);
  writeFileAtomic(out, html);
  const skipped = runs.reduce((n, r) => n + r.corruptLines, 0);
  const note = skipped ? ` (${skipped} unreadable metrics.jsonl line${skipped === 1 ? '' : 's'} skipped)` : '';
  process.stdout.write(`wrote ${out}: ${runs.length === 1 ? `run ${runs[0].name}` : `${runs.length} runs compared`}, ${Math.round(html.length / 1024)} KiB${note}\n`);
  return 0;
}

/** `tessera report` as `main` runs it. */
export const command: CliCommand = { declaration: REPORT, run: reportCommand };
