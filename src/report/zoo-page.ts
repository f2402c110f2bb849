/**
 * The zoo as a page (`tessera models --html FILE [--bench FILE ...]`): every model with family,
 * year, paper, parameters, multiply-accumulates, published ImageNet-1K top-1 and, where
 * `tessera bench --json` results are given, measured images/s; and the classic chart, ImageNet
 * top-1 against GMACs on a log axis, one colour per family, labelled points.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { BenchReport } from '../cli/bench.js';
import { ZooPoint, renderSvg, zooSpec } from './charts.js';
import { Cell, figure, notes, page, raw, table, escapeHtml } from './html.js';
import type { ZooRow } from './zoo-rows.js';

/** The measured throughput of one model (the last --bench result given for it). */
export type BenchFigures = Pick<BenchReport, 'model' | 'batchSize' | 'threads' | 'trainImagesPerSec' | 'inferImagesPerSec'>;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function isBenchFigures(x: unknown): x is BenchFigures {
  return isRecord(x) && typeof x.model === 'string' && typeof x.batchSize === 'number' && typeof x.threads === 'number' && typeof x.inferImagesPerSec === 'number' && (x.trainImagesPerSec === null || typeof x.trainImagesPerSec === 'number');
}

/**
 * The `tessera bench --json` results in `paths`: each file holds one result object (what
 * `bench --json` prints) or a JSON array of them. A file that is missing or holds anything else
 * is one UserError line naming it.
 *
 * @example
 * readBenchFiles(['bench-resnet18.json', 'bench-all.json']).length; // the results, in order
 */
export function readBenchFiles(paths: readonly string[]): BenchFigures[] {
  return paths.flatMap((path) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UserError(`--bench ${path}: cannot read it as JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); give the output of tessera bench --json`);
    }
    const items = Array.isArray(parsed) ? parsed : [parsed];
    const bad = items.findIndex((x) => !isBenchFigures(x));
    if (bad >= 0) throw new UserError(`--bench ${path}: ${Array.isArray(parsed) ? `item ${bad + 1} is` : 'it is'} not a tessera bench --json result (model, batchSize, threads, inferImagesPerSec)`);
    return items.filter(isBenchFigures);
  });
}

/** 11173962 → "11.2M", 4.09e9 → "4.09G" */
const human = (n: number | null): string => (n === null ? '–' : n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}K`);
const rate = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toFixed(1));

/** The chart's points: models with a published top-1 and a MAC count. */
export function zooPoints(rows: readonly ZooRow[]): ZooPoint[] {
  return rows.flatMap((r) => (r.macs !== null && r.info.pretrained ? [{ name: r.info.name, family: r.info.family, gmacs: r.macs / 1e9, top1: r.info.pretrained.top1 }] : []));
}

/**
 * The zoo page of `rows` with the bench results (the last one given per model counts).
 *
 * @example
 * writeFileSync('zoo.html', await zooPage(zooRows(), readBenchFiles(['bench.json'])));
 */
export async function zooPage(rows: readonly ZooRow[], bench: readonly BenchFigures[]): Promise<string> {
  const measured = new Map(bench.map((b) => [b.model, b]));
  const unknown = [...measured.keys()].filter((m) => !rows.some((r) => r.info.name === m));
  const points = zooPoints(rows);
  const chart = points.length ? figure('zoo', await renderSvg(zooSpec(points))) : '<p>No model here has a published ImageNet top-1.</p>';
  const body: Cell[][] = rows.map((r) => {
    const b = measured.get(r.info.name);
    const name: Cell = raw(`<b>${escapeHtml(r.info.name)}</b>${r.error ? ` <span title="${escapeHtml(r.error)}">(cannot be built)</span>` : ''}`);
    return [name, r.info.family, r.info.source, r.info.year, r.info.paper, r.info.inputSize, human(r.params), human(r.macs), r.info.pretrained ? r.info.pretrained.top1.toFixed(2) : '–', rate(b?.trainImagesPerSec), rate(b?.inferImagesPerSec), b ? `${b.batchSize} / ${b.threads}` : ''];
  });
  const headers = ['model', 'family', 'source', 'year', 'paper', 'input', 'params', 'MACs', 'ImageNet top-1', 'train img/s', 'infer img/s', 'batch / threads'];
  const benchNote = bench.length
    ? [`measured images/s: ${measured.size} model(s) from ${bench.length} tessera bench --json result(s) (the last per model)${unknown.length ? `; not in this listing: ${unknown.join(', ')}` : ''}`]
    : ['no measured images/s: give tessera bench --json results with --bench FILE'];
  const families = new Set(rows.map((r) => r.info.family)).size;
  return page('Tessera model zoo', `${rows.length} models in ${families} families; ${points.length} with a published ImageNet-1K top-1`, [
    { title: 'ImageNet-1K top-1 against multiply-accumulates', body: chart },
    { title: 'models', body: `${notes(benchNote)}${table(headers, body, { numeric: [3, 5, 6, 7, 8, 9, 10] })}` },
  ]);
}
