/**
 * The resume phases of a training run: the checkpoint to continue (it must fit the model and the
 * data), its optimizer state, and the metrics lines that precede it.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TrainingSession } from '../runtime/training-session.js';
import { CheckpointError, EpochMetrics, LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';

/** Phase "checkpoint" (resume): loads the checkpoint and checks that it was trained as `model` on `classes`. */
export function loadResume(resumePath: string | undefined, model: string, classes: readonly string[]): LoadedCheckpoint | undefined {
  if (resumePath === undefined) return undefined;
  const ckpt = loadCheckpoint(resumePath);
  checkResumable(ckpt, model, classes);
  return ckpt;
}

function checkResumable(ckpt: LoadedCheckpoint, model: string, classes: readonly string[]): void {
  const m = ckpt.meta;
  if (m.model !== model) throw new CheckpointError(`${ckpt.path} was trained as ${m.model}, not ${model}; it cannot be resumed as another model`);
  if (m.numClasses !== classes.length) throw new CheckpointError(`${ckpt.path} has ${m.numClasses} classes but the data has ${classes.length}; resume it with the data it was trained on`);
  const differ = m.classes.findIndex((c, i) => c !== classes[i]);
  if (differ >= 0) throw new CheckpointError(`${ckpt.path} was trained on other classes (class ${differ} is "${m.classes[differ]}" there, "${classes[differ]}" in the data)`);
}

/** Loads the checkpoint's optimizer state (and step count) into the session; it must have exactly the session's slots. */
export function restoreOptimizer(session: TrainingSession, ckpt: LoadedCheckpoint): void {
  const want = [...session.optimizerState().keys()];
  const missing = want.filter((k) => !ckpt.optimizerState.has(k));
  const extra = [...ckpt.optimizerState.keys()].filter((k) => !want.includes(k));
  if (missing.length || extra.length) {
    throw new CheckpointError(`${ckpt.path}: its optimizer state does not fit this optimizer (${ckpt.meta.optimizer.name ?? '?'} there)${listed('missing', missing)}${listed('unexpected', extra)}`);
  }
  for (const [k, cur] of session.optimizerState()) {
    const saved = ckpt.optimizerState.get(k);
    if (saved && saved.length !== cur.length) throw new CheckpointError(`${ckpt.path}: optimizer state ${k} has ${saved.length} values, the model needs ${cur.length}`);
  }
  session.loadOptimizerState(ckpt.optimizerState, ckpt.meta.stepCount);
}

/**
 * Loads the checkpoint's weight EMA into a session that keeps one (`--model-ema`); the checkpoint
 * must hold exactly the session's EMA tensors. A session without an EMA ignores the checkpoint's.
 */
export function restoreEma(session: TrainingSession, ckpt: LoadedCheckpoint): void {
  const want = session.emaState();
  if (!want.size) return;
  if (!ckpt.emaState.size) throw new CheckpointError(`${ckpt.path} holds no EMA weights (its run was trained without --model-ema), so --model-ema cannot continue it; start a new run or leave out --model-ema`);
  const missing = [...want.keys()].filter((k) => !ckpt.emaState.has(k));
  const extra = [...ckpt.emaState.keys()].filter((k) => !want.has(k));
  if (missing.length || extra.length) throw new CheckpointError(`${ckpt.path}: its EMA does not fit this model${listed('missing', missing)}${listed('unexpected', extra)}`);
  for (const [k, cur] of want) {
    const saved = ckpt.emaState.get(k);
    if (saved && saved.data.length !== cur.data.length) throw new CheckpointError(`${ckpt.path}: EMA tensor ${k} has ${saved.data.length} values, the model needs ${cur.data.length}`);
  }
  session.loadEmaState(ckpt.emaState);
}

/** `; missing a, b, c, …` (nothing for an empty list) */
function listed(what: string, keys: readonly string[]): string {
  return keys.length ? `; ${what} ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}` : '';
}

/**
 * Phase "metrics": the metrics.jsonl lines a run starts from: none for a new run; on resume the
 * lines before the checkpoint's epoch plus the checkpoint's own (a line cut short by a crash is
 * dropped).
 */
export function metricsBefore(metricsPath: string, ckpt: LoadedCheckpoint | undefined): EpochMetrics[] {
  if (!ckpt) return [];
  const lines: EpochMetrics[] = [];
  if (existsSync(metricsPath)) {
    for (const line of readFileSync(metricsPath, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const m = JSON.parse(line) as EpochMetrics;
        if (m.epoch < ckpt.meta.epoch) lines.push(m);
      } catch {
        // a line cut short by a crash
      }
    }
  }
  if (ckpt.meta.metrics) lines.push(ckpt.meta.metrics);
  return lines.filter((m, i) => lines.findIndex((o) => o.epoch === m.epoch) === i).sort((a, b) => a.epoch - b.epoch);
}

/** metrics.jsonl text of `lines` */
export function metricsText(lines: readonly EpochMetrics[]): string {
  return lines.map((m) => `${JSON.stringify(m)}\n`).join('');
}
