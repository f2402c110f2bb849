/**
 * The report plugin every training run has (src/train/setup.ts `builtInPlugins`): after each
 * epoch it writes report-data.json (the machine and the validation's confusion matrix and
 * thumbnails of misclassified images) and report.html, each atomically (a temporary file renamed
 * into place), so the page in the run folder is always a whole one.
 */
import { join } from 'node:path';
import type { ImageDataset } from '../data/types.js';
import type { EvalResult } from '../train/evaluate.js';
import type { TrainPlugin } from '../train/hooks.js';
import { writeFileAtomic } from '../util/files.js';
import { evaluationSnapshot } from './evaluation.js';
import { machineInfo } from './machine.js';
import { REPORT_DATA, ReportData, readRun } from './run-data.js';
import { runPage } from './run-page.js';

/** The page every run folder gets. */
export const REPORT_FILE = 'report.html';

/**
 * The plugin: keeps the epoch's validation result (slot 3, adding no metrics field) and writes the
 * report at the epoch's end (slot 4).
 *
 * @example
 * await train({ ...TRAIN_DEFAULTS, model: 'cifar_lenet', data: dir, epochs: 1, out: 'runs/a' }); // runs/a/report.html (built in)
 */
export function reportPlugin(): TrainPlugin {
  let val: { result: EvalResult; dataset: ImageDataset } | null = null;
  return {
    name: 'report',
    evaluate: (view) => {
      val = view.val && view.valSet ? { result: view.val, dataset: view.valSet } : null;
      return { fields: {} };
    },
    epochEnd: async (view) => {
      const validation = val ? await evaluationSnapshot(val.result, val.dataset) : null;
      const data: ReportData = { epoch: view.epoch, machine: machineInfo(), validation };
      writeFileAtomic(join(view.out, REPORT_DATA), `${JSON.stringify(data)}\n`);
      writeFileAtomic(join(view.out, REPORT_FILE), await runPage(readRun(view.out)));
      val = null;
    },
  };
}
