/**
 * The README's recipe study: what each recipe component does to one small model at one budget,
 * on the JPEG copy of the CIFAR-10 training set with `--val-split 500` (the last 500 images of
 * every class validate). It runs, one after the other, every training row of `STUDY` through the
 * CLI (`node bin/tessera.js train ...`), the EMA, TTA and ensemble evaluations of the final
 * checkpoints (`last.safetensors`) on the same validation slice (`tessera eval --val-split 500`),
 * then prints the results as a Markdown table, with the
 * machine (lscpu model) and every command.
 *
 *   npm run build && node dist/bench/recipe_study.js --data /tmp/cifar/train --out runs/study [--epochs 15] [--model cifar_lenet]
 *
 * A row whose run folder already holds a finished run (its metrics.jsonl has `--epochs` lines)
 * is not retrained, so an interrupted study continues where it stopped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const CLI = join(ROOT, 'bin/tessera.js');

interface StudyArgs {
  readonly data: string;
  readonly out: string;
  readonly epochs: number;
  readonly model: string;
}

/** One training run of the study: its folder name and the flags it adds to the common ones. */
interface TrainRow {
  readonly run: string;
  readonly flags: readonly string[];
}

/** One line of the results table: the run it reads, or an evaluation over runs. */
interface TableRow {
  readonly label: string;
  /** the training run whose last validation the row reports */
  readonly run?: string;
  /** `tessera eval` over these runs (an ensemble when several) with these flags */
  readonly evaluate?: { readonly runs: readonly string[]; readonly flags: readonly string[] };
}

const POLICY = ['--aa', 'ta_wide'];
const MIX = [...POLICY, '--mixup', '0.2', '--cutmix', '1.0'];
const EMA = [...MIX, '--model-ema', '--model-ema-decay', '0.999'];
const LT = ['--imbalance-ratio', '100'];

const TRAIN_ROWS: readonly TrainRow[] = [
  { run: 'baseline', flags: [] },
  { run: 'policy', flags: POLICY },
  { run: 'mix', flags: MIX },
  { run: 'ema', flags: EMA },
  { run: 'ema-seed1', flags: [...EMA, '--seed', '1'] },
  { run: 'ema-seed2', flags: [...EMA, '--seed', '2'] },
  { run: 'lt-ce', flags: LT },
  { run: 'lt-effective', flags: [...LT, '--class-weights', 'effective:0.999'] },
  { run: 'lt-sampler', flags: [...LT, '--sampler', 'balanced'] },
];

const TABLE: readonly TableRow[] = [
  { label: 'baseline (crop + flip)', run: 'baseline' },
  { label: '+ TrivialAugmentWide', run: 'policy' },
  { label: '+ Mixup 0.2 / CutMix 1.0', run: 'mix' },
  { label: '+ EMA (EMA weights)', evaluate: { runs: ['ema'], flags: ['--ema'] } },
  { label: '+ TTA flip (EMA weights)', evaluate: { runs: ['ema'], flags: ['--ema', '--tta', 'flip'] } },
  { label: 'ensemble of 3 seeds (EMA weights, TTA flip)', evaluate: { runs: ['ema', 'ema-seed1', 'ema-seed2'], flags: ['--ema', '--tta', 'flip'] } },
  { label: 'CIFAR-10-LT ×100, cross-entropy', run: 'lt-ce' },
  { label: 'CIFAR-10-LT ×100, --class-weights effective:0.999', run: 'lt-effective' },
  { label: 'CIFAR-10-LT ×100, --sampler balanced', run: 'lt-sampler' },
];

function parseArgs(argv: readonly string[]): StudyArgs {
  const get = (flag: string, fallback?: string): string => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? argv[i + 1] : fallback;
    if (v === undefined) throw new Error(`recipe_study: ${flag} is required`);
    return v;
  };
  return { data: get('--data'), out: get('--out', 'runs/study'), epochs: Number(get('--epochs', '15')), model: get('--model', 'cifar_lenet') };
}

function commonFlags(a: StudyArgs): string[] {
  return ['--model', a.model, '--data', a.data, '--val-split', '500', '--epochs', String(a.epochs), '--batch-size', '128', '--threads', '2'];
}

function metricsOf(dir: string): Record<string, number | null>[] {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function trainRow(a: StudyArgs, row: TrainRow): string {
  const dir = join(a.out, row.run);
  const argv = ['train', ...commonFlags(a), ...row.flags, '--out', dir];
  const done = metricsOf(dir).length >= a.epochs;
  if (!done) {
    console.log(`[study] tessera ${argv.join(' ')}`);
    const r = spawnSync(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`recipe_study: training ${row.run} exited ${r.status}`);
  }
  return `tessera ${argv.join(' ')}`;
}

interface EvalJson {
  readonly top1: number;
  /** an ensemble's members, each evaluated alone */
  readonly members?: readonly { readonly top1: number }[];
}

function evaluateRow(a: StudyArgs, runs: readonly string[], flags: readonly string[]): { result: EvalJson; command: string } {
  const argv = ['eval', ...runs.flatMap((r) => ['--checkpoint', join(a.out, r, 'last.safetensors')]), '--data', a.data, '--val-split', '500', ...flags, '--threads', '2', '--json'];
  console.log(`[study] tessera ${argv.join(' ')}`);
  const out = execFileSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return { result: JSON.parse(out), command: `tessera ${argv.join(' ')}` };
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(2)}%`);

function main(): void {
  const a = parseArgs(process.argv.slice(2));
  const commands = TRAIN_ROWS.map((row) => trainRow(a, row));
  // the validation slice is balanced (500 per class), so balanced accuracy equals top-1 there
  const lines = ['| row | val top-1, final weights | best epoch |', '| --- | ---: | ---: |'];
  for (const row of TABLE) {
    if (row.run) {
      const m = metricsOf(join(a.out, row.run));
      const last = m[m.length - 1];
      const best = Math.max(...m.map((x) => x.valTop1 ?? 0));
      lines.push(`| ${row.label} | ${pct(last.valTop1)} | ${pct(best)} |`);
    } else if (row.evaluate) {
      const { result, command } = evaluateRow(a, row.evaluate.runs, row.evaluate.flags);
      commands.push(command);
      const members = result.members ? ` (members ${result.members.map((m) => pct(m.top1)).join(', ')})` : '';
      lines.push(`| ${row.label} | ${pct(result.top1)}${members} | |`);
    }
  }
  const cpu = execFileSync('lscpu', { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('Model name'))?.replace(/\s+/g, ' ');
  console.log(`\n${cpu}; model ${a.model}, ${a.epochs} epochs, data ${a.data}\n`);
  console.log(lines.join('\n'));
  console.log(`\n${commands.join('\n')}`);
}

main();
