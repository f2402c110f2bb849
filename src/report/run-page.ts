/**
 * The run pages: one run's report.html (curves, the latest validation's confusion matrix,
 * per-class accuracy and confused pairs, the configuration and the machine) and the comparison of
 * several runs (curves overlaid, one colour per run, and a summary table).
 */
import type { EpochMetrics } from '../train/checkpoint.js';
import { CurveChart, CurvePoint, curveSpec, renderSvg } from './charts.js';
import { evaluationSections } from './evaluation.js';
import { Section, escapeHtml, facts, figure, notes, page, table } from './html.js';
import type { MachineInfo } from './machine.js';
import { REPORT_DATA, RunRecord } from './run-data.js';
import { readReportSections } from './sections.js';

const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(2)}%`);

/** `1234.5` seconds → `20 min 35 s` */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The points of one metric of one run (epochs where it is null are left out). */
function points(series: string, metrics: readonly EpochMetrics[], pick: (m: EpochMetrics) => number | null): CurvePoint[] {
  return metrics.flatMap((m) => {
    const value = pick(m);
    return value === null || !Number.isFinite(value) ? [] : [{ series, epoch: m.epoch, value }];
  });
}

/** A log axis for learning rates spanning more than a decade and never zero. */
function lrChart(title: string, pts: CurvePoint[]): CurveChart {
  const values = pts.map((p) => p.value);
  const logY = values.length > 0 && Math.min(...values) > 0 && Math.max(...values) / Math.min(...values) > 10;
  return { title, yTitle: 'learning rate (epoch start)', points: pts, logY };
}

async function chartsHtml(charts: readonly (readonly [string, CurveChart])[]): Promise<string> {
  const figures: string[] = [];
  for (const [name, chart] of charts) figures.push(figure(name, await renderSvg(curveSpec(chart))));
  return `<div class="charts">${figures.join('')}</div>`;
}

/** The four charts of one run: loss and accuracy (train and validation), learning rate, images/s. */
function runCharts(metrics: readonly EpochMetrics[]): [string, CurveChart][] {
  return [
    ['loss', { title: 'loss', yTitle: 'cross-entropy', points: [...points('train', metrics, (m) => m.trainLoss), ...points('validation', metrics, (m) => m.valLoss)] }],
    ['accuracy', { title: 'top-1 accuracy', yTitle: 'top-1', percent: true, points: [...points('train', metrics, (m) => m.trainAcc), ...points('validation', metrics, (m) => m.valTop1)] }],
    ['lr', lrChart('learning rate', points('lr', metrics, (m) => m.lr))],
    ['throughput', { title: 'training throughput', yTitle: 'images/s', points: points('train', metrics, (m) => m.imagesPerSecond) }],
  ];
}

/** Best and final validation top-1, wall time. */
function runFigures(run: RunRecord): { best: EpochMetrics | null; last: EpochMetrics; seconds: number } {
  const validated = run.metrics.filter((m) => m.valTop1 !== null);
  const best = validated.reduce<EpochMetrics | null>((b, m) => (b === null || (m.valTop1 ?? 0) > (b.valTop1 ?? 0) ? m : b), null);
  return { best, last: run.metrics[run.metrics.length - 1], seconds: run.metrics.reduce((s, m) => s + m.seconds, 0) };
}

function corruptNote(run: RunRecord): string[] {
  const n = run.corruptLines;
  return n ? [`${run.dir}/metrics.jsonl: ${n} unreadable line${n === 1 ? '' : 's'} skipped (not a metrics object)`] : [];
}

function machineFacts(m: MachineInfo): string {
  return facts([
    ['CPU', m.cpu],
    ['cores', m.cores],
    ['SIMD (AVX, FMA, AVX-512, AMX)', m.simd.length ? m.simd.join(' ') : 'none found'],
    ['memory', `${m.memoryGiB} GiB`],
    ['OS', m.os],
    ['Node.js', m.node],
    ['ONNX Runtime', m.onnxruntime],
  ]);
}

/**
 * One run's report page.
 *
 * @example
 * writeFileSync('runs/a/report.html', await runPage(readRun('runs/a')));
 */
export async function runPage(run: RunRecord): Promise<string> {
  const { best, last, seconds } = runFigures(run);
  const { summary } = run;
  const epochs = `${last.epoch}${summary.epochs === null ? '' : `/${summary.epochs}`}`;
  const overview = facts([
    ['model', summary.model],
    ['data', summary.data],
    ['epochs finished', epochs],
    ['best validation top-1', best ? `${pct(best.valTop1)} (epoch ${best.epoch})` : 'the run does not validate'],
    ['final validation top-1', pct(last.valTop1)],
    ['final training loss', last.trainLoss.toFixed(4)],
    ['wall time', duration(seconds)],
    ['Tessera', summary.version],
  ]);
  const sections: Section[] = [
    { title: 'overview', body: `${notes(corruptNote(run))}${overview}` },
    { title: 'curves', body: await chartsHtml(runCharts(run.metrics)) },
  ];
  const validation = run.data?.validation ?? null;
  if (validation) sections.push(...(await evaluationSections(validation, `validation after epoch ${run.data?.epoch ?? '?'}`)));
  else sections.push({ title: 'validation', body: notes([run.data ? 'this run does not validate (no --val-split or --val): no confusion matrix' : `no ${REPORT_DATA} in ${run.dir}: the confusion matrix and thumbnails are written by tessera train after each epoch`]) });
  sections.push(...readReportSections(run.dir));
  sections.push({ title: 'configuration (config.json)', body: `<pre>${escapeHtml(JSON.stringify(run.config, null, 2))}</pre>` });
  if (run.data) sections.push({ title: 'machine', body: machineFacts(run.data.machine) });
  return page(`Tessera run ${run.name}`, `${summary.model} on ${summary.data}, epoch ${epochs}`, sections);
}

/** Unique series names for runs: folder names, or their paths where two names clash. */
function seriesNames(runs: readonly RunRecord[]): string[] {
  return runs.map((r) => (runs.filter((o) => o.name === r.name).length > 1 ? r.dir : r.name));
}

/**
 * Several runs compared: training loss, validation loss, validation top-1 and learning rate with
 * one colour per run, and a summary table (best and final validation top-1, epochs, wall time,
 * model, recipe).
 *
 * @example
 * writeFileSync('compare.html', await comparePage([readRun('runs/a'), readRun('runs/b')]));
 */
export async function comparePage(runs: readonly RunRecord[]): Promise<string> {
  const names = seriesNames(runs);
  const all = (pick: (m: EpochMetrics) => number | null) => runs.flatMap((r, i) => points(names[i], r.metrics, pick));
  const charts: [string, CurveChart][] = [
    ['val-accuracy', { title: 'validation top-1', yTitle: 'top-1', percent: true, points: all((m) => m.valTop1) }],
    ['val-loss', { title: 'validation loss', yTitle: 'cross-entropy', points: all((m) => m.valLoss) }],
    ['train-loss', { title: 'training loss', yTitle: 'cross-entropy', points: all((m) => m.trainLoss) }],
    ['lr', lrChart('learning rate', all((m) => m.lr))],
  ];
  const rows = runs.map((r, i) => {
    const { best, last, seconds } = runFigures(r);
    const epochs = `${last.epoch}${r.summary.epochs === null ? '' : `/${r.summary.epochs}`}`;
    return [names[i], r.summary.model, r.summary.recipe ?? '–', epochs, best ? `${pct(best.valTop1)} (epoch ${best.epoch})` : '–', pct(last.valTop1), duration(seconds)];
  });
  const summaryTable = table(['run', 'model', 'recipe', 'epochs', 'best val top-1', 'final val top-1', 'wall time'], rows, { numeric: [3, 4, 5, 6] });
  const sections: Section[] = [
    { title: 'summary', body: `${notes(runs.flatMap(corruptNote))}${summaryTable}` },
    { title: 'curves', body: await chartsHtml(charts) },
  ];
  return page(`Tessera: ${runs.length} runs compared`, names.join(' · '), sections);
}
