/**
 * Command options come from one declaration per command (src/cli/args.ts): every command's
 * `--help` is generated from it and lists every declared option, and each kind of bad value is
 * one line `tessera: <where>: expected <what>, got <value>` with exit 2, whatever the command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, defineCommand, flagName, givenFromConfig, helpText, readCommandLine } from '../src/cli/args.js';
import { COMMANDS } from '../src/cli/main.js';
import { TRAIN, parseFlatYaml, resolveOptions } from '../src/cli/train.js';
import { listRecipes, recipeFile } from '../src/cli/recipes.js';
import type { TrainOptions } from '../src/train/options.js';
import { runTransforms } from '../src/train/run-transforms.js';
import { UserError } from '../src/errors.js';
import { runCli } from '../test-support/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-options-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// ---- --help of every command, from its declaration -------------------------------------------

for (const [name, entry] of Object.entries(COMMANDS)) {
  test(`tessera ${name} --help is generated from its declaration and lists every option`, async () => {
    const { declaration } = (await entry.load()).command;
    assert.equal(declaration.name, name);
    const r = await runCli([name, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${helpText(declaration)}\n`);
    assert.match(r.stdout, new RegExp(`^usage: tessera ${name} `));
    const listed = (flag: string) => new RegExp(`^  ${flag.replace(/[|[\]().]/g, '\\$&')}  `, 'm');
    for (const [key, o] of Object.entries(declaration.options)) assert.match(r.stdout, listed(`--${flagName(key)}${o.placeholder ? ` ${o.placeholder}` : ''}`), `--${flagName(key)} missing from --help`);
    assert.match(r.stdout, listed('-h, --help'));
  });
}

// ---- one error line per kind of mistake ------------------------------------------------------

const BAD_YAML = join(scratch, 'bad.yaml');
writeFileSync(BAD_YAML, 'epochs: 3\nmomentum: 1.5\n');
const TYPO_YAML = join(scratch, 'typo.yaml');
writeFileSync(TYPO_YAML, 'label_smothing: 0.1\n');
const RECIPE_TYPO = join(scratch, 'recipe-typo.yaml');
writeFileSync(RECIPE_TYPO, '# a recipe\nlr: 0.2\nwarmup_epoch: 5\n');
const TRAIN_ARGS = ['train', '--model', 'cifar_lenet', '--data', 'cifar10'];

interface ErrorCase {
  readonly what: string;
  readonly args: readonly string[];
  /** the whole stderr line after `tessera: ` */
  readonly line: string;
}

const errorCases: ErrorCase[] = [
  { what: 'int: not a whole number', args: ['eval', '--checkpoint', 'x', '--data', 'y', '--batch-size', '6.5'], line: 'tessera eval: --batch-size: expected a whole number ≥ 1, got "6.5"' },
  { what: 'int: below its minimum', args: ['bench', '--model', 'cifar_lenet', '--batch-size', '4', '--threads', '1', '--warmup', '-1'], line: 'tessera bench: --warmup: expected a whole number ≥ 0, got "-1"' },
  { what: 'int: outside its range', args: ['export', '--checkpoint', 'x', '--out', 'y', '--opset', '18'], line: 'tessera export: --opset: expected a whole number from 13 to 17, got "18"' },
  { what: 'number: not a number', args: ['train', '--lr', 'abc'], line: 'tessera train: --lr: expected a number > 0, got "abc"' },
  { what: 'number: outside its range', args: ['train', '--momentum', '1.5'], line: 'tessera train: --momentum: expected a number from 0 to 1, got "1.5"' },
  { what: 'choice: not one of its choices', args: ['eval', '--checkpoint', 'x', '--data', 'y', '--split', 'val'], line: 'tessera eval: --split: expected one of test, train, got "val"' },
  { what: 'list: not whole numbers', args: ['train', '--decay-milestones', '100,x'], line: 'tessera train: --decay-milestones: expected increasing whole numbers separated by commas (E1,E2), got "100,x"' },
  { what: 'list: not increasing', args: ['train', '--decay-milestones', '150,100'], line: 'tessera train: --decay-milestones: expected increasing whole numbers separated by commas (E1,E2), got "150,100"' },
  { what: 'boolean given a value', args: ['predict', '--checkpoint', 'x', 'a.png', '--json=yes'], line: 'tessera predict: --json: expected true or false, got "yes"' },
  { what: 'path given empty', args: ['convert', 'a.pt', '--out='], line: 'tessera convert: --out: expected a path (FILE.safetensors), got ""' },
  { what: 'unknown flag, with a suggestion', args: ['models', '--filtr', 'lenet'], line: 'tessera models: unknown option --filtr; did you mean --filter?' },
  { what: 'unknown flag, nothing close', args: ['import', 'a.onnx', '--zzzzzzz'], line: 'tessera import: unknown option --zzzzzzz; accepted: --out, --help' },
  { what: 'missing value', args: ['verify', 'a.safetensors', '--model'], line: 'tessera verify: --model: expected a value (NAME), got nothing' },
  { what: 'missing value (the next token is a flag)', args: ['train', '--epochs', '--lr', '0.1'], line: 'tessera train: --epochs: expected a number > 0 and ≤ 1000000, got nothing' },
  { what: 'repeated flag', args: ['train', '--seed', '1', '--seed=2'], line: 'tessera train: --seed: given more than once; give it once' },
  { what: 'required options absent', args: ['bench', '--model', 'cifar_lenet'], line: 'tessera bench: --batch-size N and --threads T are required (see tessera bench --help)' },
  { what: 'a positional where none is taken', args: ['models', 'lenet'], line: 'tessera models: unexpected argument lenet (options are --name value; see tessera models --help)' },
  { what: 'too many positionals', args: ['convert', 'a.pt', 'b.pt', '--out', 'c.safetensors'], line: 'tessera convert: expected one CHECKPOINT, got 2: a.pt b.pt' },
  { what: 'a --config value, named by file and line', args: ['train', '--config', BAD_YAML], line: `${BAD_YAML}:2 momentum: expected a number from 0 to 1, got 1.5` },
  { what: 'an unknown --config key, with a suggestion', args: ['train', '--config', TYPO_YAML], line: `${TYPO_YAML}:1: unknown option "label_smothing"; did you mean label-smoothing?` },
  { what: 'an unknown recipe key, with the closest option', args: ['train', '--recipe', RECIPE_TYPO], line: `${RECIPE_TYPO}:3: unknown option "warmup_epoch"; did you mean warmup-epochs?` },
  { what: 'an unknown recipe name', args: [...TRAIN_ARGS, '--recipe', 'pytorch-cifr'], line: `--recipe pytorch-cifr: unknown recipe; did you mean pytorch-cifar? (recipes: ${listRecipes().map((r) => r.name).join(', ')}; or give a FILE.yaml)` },
  { what: 'a recipe with --resume', args: ['train', '--recipe', 'pytorch-cifar', '--resume', 'runs/a'], line: '--recipe sets up a new run; a resumed run keeps the options in its config.json (change them with --config or flags)' },
  { what: '--layer-decay on a family without a layer-id rule', args: [...TRAIN_ARGS, '--layer-decay', '0.75'], line: '--layer-decay: cifar_lenet (family lenet) has no layer-id rule; the families that support it are convnext, swin, vit' },
  { what: '--lr-mult with a bad entry', args: [...TRAIN_ARGS, '--lr-mult', 'fc3=2,fc1'], line: '--lr-mult: expected PATTERN=X entries separated by commas (X a number ≥ 0), got "fc1"' },
  { what: 'plateau per iteration', args: [...TRAIN_ARGS, '--sched', 'plateau', '--sched-on-updates'], line: '--sched plateau steps per epoch only (it follows the validation top-1); drop --sched-on-updates' },
  { what: '--decay-milestones without multistep', args: [...TRAIN_ARGS, '--decay-milestones', '3,6'], line: '--decay-milestones applies to --sched multistep only' },
];

/** Runs the CLI and asserts exit 2 and exactly `line` on stderr (prefixed `tessera: ` unless it names its command), nothing on stdout. */
async function assertUsageLine(args: readonly string[], line: string): Promise<void> {
  const r = await runCli(args);
  const shown = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 2, shown);
  assert.equal(r.stderr, `${line.startsWith('tessera ') ? line : `tessera: ${line}`}\n`, shown);
  assert.equal(r.stdout, '', shown);
}

for (const c of errorCases) test(`${c.what}: tessera ${c.args.join(' ')}`, () => assertUsageLine(c.args, c.line));

// ---- the parser, in process ------------------------------------------------------------------

test('a UsageError is a UserError (exit 2 through the one user-error type)', () => {
  assert.throws(
    () => readCommandLine(TRAIN, ['--lr', '0']),
    (e: unknown) => e instanceof UsageError && e instanceof UserError && e.name === 'UsageError' && e.message === 'tessera train: --lr: expected a number > 0, got "0"',
  );
});

test('train layers defaults < --config file < command line, typed from the table', () => {
  const yaml = join(scratch, 'layers.yaml');
  writeFileSync(yaml, 'model: cifar_lenet\ndata: cifar10\nlr: 0.05\nepochs: 30\nsched: multistep\ndecay_milestones: 10,20\nnesterov: true\n');
  const parsed = readCommandLine(TRAIN, ['--config', yaml, '--epochs', '40', '--out', join(scratch, 'run')]);
  assert.ok(parsed);
  const opts = resolveOptions(parsed);
  // typed without casts: a number, a boolean, a choice's union, a list
  const lr: number = opts.lr;
  const nesterov: boolean = opts.nesterov;
  const sched: 'cosine' | 'linear' | 'multistep' | 'step' | 'onecycle' | 'plateau' | 'airbench' = opts.sched;
  const milestones: readonly number[] | undefined = opts.decayMilestones;
  assert.deepEqual({ lr, nesterov, sched, milestones, epochs: opts.epochs, momentum: opts.momentum, model: opts.model }, { lr: 0.05, nesterov: true, sched: 'multistep', milestones: [10, 20], epochs: 40, momentum: 0.9, model: 'cifar_lenet' });
});

test('train layers defaults < recipe < --config < flags; a far unknown recipe key names the closest option', () => {
  const recipe = join(scratch, 'mine.yaml');
  writeFileSync(recipe, '# mine\nlr: 0.2\nepochs: 50\nlabel_smoothing: 0.1\nsched: linear\n');
  const yaml = join(scratch, 'over.yaml');
  writeFileSync(yaml, 'epochs: 30\n');
  const opts = resolveOptions(readCommandLine(TRAIN, [...TRAIN_ARGS.slice(1), '--recipe', recipe, '--config', yaml, '--lr', '0.3', '--out', join(scratch, 'r')])!);
  assert.deepEqual([opts.lr, opts.epochs, opts.labelSmoothing, opts.sched, opts.momentum], [0.3, 30, 0.1, 'linear', 0.9]);
  writeFileSync(recipe, 'zzzzzzzzzzzzzz: 1\n');
  assert.throws(() => resolveOptions(readCommandLine(TRAIN, [...TRAIN_ARGS.slice(1), '--recipe', recipe])!), /mine\.yaml:1: unknown option "zzzzzzzzzzzzzz"; the closest option is [a-z-]+$/);
});

test('the pytorch-cifar recipe is the defaults, and tessera train --help lists every recipe', () => {
  const file = recipeFile('pytorch-cifar');
  const entries = parseFlatYaml(readFileSync(file, 'utf8'), file);
  const given = givenFromConfig(TRAIN.options, entries, file);
  const fromRecipe = resolveOptions(readCommandLine(TRAIN, [...TRAIN_ARGS.slice(1), '--recipe', 'pytorch-cifar', '--out', 'x'])!);
  const plain = resolveOptions(readCommandLine(TRAIN, [...TRAIN_ARGS.slice(1), '--out', 'x'])!);
  assert.ok(given.size >= 8);
  // the same options, with the recipe's name kept for config.json and reports
  assert.deepEqual({ ...fromRecipe, recipe: undefined }, plain);
  assert.equal(fromRecipe.recipe, 'pytorch-cifar');
  const help = helpText(TRAIN);
  for (const r of listRecipes()) assert.match(help, new RegExp(`^  ${r.name} +${r.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
});

/** What each shipped recipe must set (the issue's list for torchvision-v2); a recipe without a row fails. */
const RECIPE_SETTINGS: Record<string, Partial<TrainOptions>> = {
  'pytorch-cifar': { lr: 0.1, weightDecay: 5e-4, sched: 'cosine', batchSize: 128 },
  'torchvision-v2': {
    lr: 0.5,
    warmupEpochs: 5,
    sched: 'cosine',
    aa: 'ta_wide',
    reprob: 0.1,
    labelSmoothing: 0.1,
    mixup: 0.2,
    cutmix: 1,
    modelEma: true,
    normWeightDecay: 0,
    trainCropSize: 176,
    valResizeSize: 232,
  },
  airbench94: { model: 'cifar_airbench94', airbench: 'airbench94', epochs: 9.9, batchSize: 1024, sched: 'airbench', lossReduction: 'sum', flip: 'alternating', paddingMode: 'reflect' },
  airbench96: { model: 'cifar_airbench96', airbench: 'airbench96', epochs: 37, batchSize: 1024, sched: 'airbench', lossReduction: 'sum', flip: 'alternating', paddingMode: 'reflect', cropPadding: 4, cutout: 12 },
};

for (const r of listRecipes()) {
  test(`the ${r.name} recipe resolves to valid options with its settings, and flags override it`, () => {
    const settings = RECIPE_SETTINGS[r.name];
    assert.ok(settings, `recipe ${r.name} has no row in RECIPE_SETTINGS`);
    // a recipe that names its model is run with it
    const args = settings.model ? ['--model', settings.model, '--data', 'cifar10'] : TRAIN_ARGS.slice(1);
    const opts = resolveOptions(readCommandLine(TRAIN, [...args, '--recipe', r.name, '--out', 'x'])!);
    for (const [key, want] of Object.entries(settings)) assert.deepEqual(Reflect.get(opts, key), want, key);
    assert.equal(resolveOptions(readCommandLine(TRAIN, [...args, '--recipe', r.name, '--lr', '0.01', '--out', 'x'])!).lr, 0.01);
  });
}

test('torchvision-v2 trains on RandomResizedCrop 176 and evaluates Resize 232 + CenterCrop 224', () => {
  const opts = resolveOptions(readCommandLine(TRAIN, [...TRAIN_ARGS.slice(1), '--recipe', 'torchvision-v2', '--out', 'x'])!);
  const { train, eval: evalSpec } = runTransforms(opts, 224);
  assert.equal(train.size, 176);
  assert.ok(train.randomResizedCrop);
  assert.equal(train.policy, 'ta_wide');
  assert.equal(evalSpec.size, 224);
  assert.equal(evalSpec.resize, 232);
});

test('adding an option is one table row: its flag, value check, --help line and --config key follow', () => {
  const DEMO = defineCommand({
    name: 'demo',
    usage: '[options]',
    description: 'A throwaway command.',
    options: { stepSize: { kind: 'number', min: 0, default: 1, placeholder: 'X', config: true, help: 'how far to step' } },
  });
  assert.match(helpText(DEMO), /^ {2}--step-size X {2,}how far to step$/m);
  const stepSize: number | undefined = readCommandLine(DEMO, ['--step-size', '2.5'])?.opts.stepSize;
  assert.equal(stepSize, 2.5);
  assert.equal(readCommandLine(DEMO, [])?.opts.stepSize, 1);
  assert.throws(() => readCommandLine(DEMO, ['--step-size', '-1']), { message: 'tessera demo: --step-size: expected a number ≥ 0, got "-1"' });
  const given = givenFromConfig(DEMO.options, parseFlatYaml('step_size: 4\n', 'demo.yaml'), 'demo.yaml');
  assert.deepEqual([...given], [['stepSize', { value: 4, from: 'demo.yaml:1 step_size' }]]);
});
