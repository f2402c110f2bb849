/**
 * A run folder as the reports read it: config.json, metrics.jsonl (a line that is not a metrics
 * object is skipped and counted, never fatal) and report-data.json (the machine and the latest
 * validation's confusion matrix and thumbnails, written by the report plugin).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { EpochMetrics } from '../train/checkpoint.js';
import type { EvaluationSnapshot } from './evaluation.js';
import type { MachineInfo } from './machine.js';

/** The file beside metrics.jsonl holding what the report needs beyond the metrics. */
export const REPORT_DATA = 'report-data.json';

/** report-data.json: the machine and the latest validation (null when the run does not validate). */
export interface ReportData {
  /** the epoch the validation snapshot belongs to */
  readonly epoch: number;
  readonly machine: MachineInfo;
  readonly validation: EvaluationSnapshot | null;
}

/** What config.json says that the reports show (the whole object is shown as well). */
export interface RunSummary {
  readonly model: string;
  readonly data: string;
  readonly epochs: number | null;
  readonly recipe: string | null;
  readonly version: string;
}

/** A run folder, read. */
export interface RunRecord {
  readonly dir: string;
  /** the folder's name, naming the run in comparisons */
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly summary: RunSummary;
  /** finished epochs, in order */
  readonly metrics: readonly EpochMetrics[];
  /** metrics.jsonl lines that were not metrics objects (skipped) */
  readonly corruptLines: number;
  readonly data: ReportData | null;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown, fallback: string): string => (typeof x === 'string' ? x : fallback);

/** Whether a parsed metrics.jsonl line carries the fields the reports draw. */
function isEpochMetrics(x: unknown): x is EpochMetrics {
  if (!isRecord(x)) return false;
  const numbers = ['epoch', 'lr', 'trainLoss', 'imagesPerSecond', 'seconds'];
  const nullable = ['trainAcc', 'valLoss', 'valTop1'];
  return numbers.every((k) => typeof x[k] === 'number') && nullable.every((k) => x[k] === null || typeof x[k] === 'number');
}

/**
 * The metrics lines of a metrics.jsonl text and how many lines were skipped (not JSON, or not a
 * metrics object); blank lines are neither.
 *
 * @example
 * parseMetrics('{"epoch":1,"lr":0.1,"trainLoss":2,"trainAcc":0.2,"valLoss":null,"valTop1":null,"imagesPerSecond":900,"seconds":3}\n{"epoch":2,"lr"\n').corrupt; // 1
 */
export function parseMetrics(text: string): { metrics: EpochMetrics[]; corrupt: number } {
  const metrics: EpochMetrics[] = [];
  let corrupt = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      corrupt++;
      continue;
    }
    if (isEpochMetrics(parsed)) metrics.push(parsed);
    else corrupt++;
  }
  return { metrics: metrics.sort((a, b) => a.epoch - b.epoch), corrupt };
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: cannot read the ${what} (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
}

function summarize(config: Readonly<Record<string, unknown>>): RunSummary {
  const model = isRecord(config.model) ? str(config.model.name, '?') : '?';
  const options = isRecord(config.options) ? config.options : {};
  const data = isRecord(config.dataset) ? str(config.dataset.spec, '?') : '?';
  const epochs = typeof options.epochs === 'number' ? options.epochs : null;
  return { model, data, epochs, recipe: typeof options.recipe === 'string' ? options.recipe : null, version: str(config.tessera, '?') };
}

function readReportData(dir: string): ReportData | null {
  const path = join(dir, REPORT_DATA);
  if (!existsSync(path)) return null;
  const data = readJson(path, 'report data');
  return isReportData(data) ? data : null;
}

function isReportData(x: unknown): x is ReportData {
  return isRecord(x) && typeof x.epoch === 'number' && isRecord(x.machine) && (x.validation === null || isRecord(x.validation));
}

/**
 * Reads a run folder. A folder that is not a run (no config.json) or a run with no finished
 * epoch is a UserError of one line.
 *
 * @example
 * readRun('runs/quickstart').metrics.length; // the finished epochs
 */
export function readRun(dir: string): RunRecord {
  const configPath = join(dir, 'config.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder; give a run folder written by tessera train`);
  if (!existsSync(configPath)) throw new UserError(`${dir} is not a run folder (no config.json); give a folder written by tessera train --out`);
  const config = readJson(configPath, 'run configuration');
  if (!isRecord(config)) throw new UserError(`${configPath} is not a run configuration (not a JSON object)`);
  const metricsPath = join(dir, 'metrics.jsonl');
  const { metrics, corrupt } = existsSync(metricsPath) ? parseMetrics(readFileSync(metricsPath, 'utf8')) : { metrics: [], corrupt: 0 };
  if (!metrics.length) {
    const skipped = corrupt ? ` (${corrupt} unreadable metrics.jsonl line${corrupt === 1 ? '' : 's'} skipped)` : '';
    throw new UserError(`${dir} has no finished epoch yet${skipped}; its report is written after the first epoch`);
  }
  return { dir, name: basename(resolve(dir)), config, summary: summarize(config), metrics, corruptLines: corrupt, data: readReportData(dir) };
}
