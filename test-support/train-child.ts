/**
 * `tessera train` with test plugins, for tests that need a training run in a child process
 * (to kill it or signal it):
 *
 *   node dist/test-support/train-child.js [--pause-after-epoch MS] [--nan-at-step N] -- TRAIN_ARGS...
 *
 * Exits like `tessera train` (0 trained, 1 diverged, 2 a user error with one line on stderr).
 */
import { UsageError } from '../src/cli/args.js';
import { trainCommand } from '../src/cli/train.js';
import { UserError } from '../src/errors.js';
import type { TrainPlugin } from '../src/train/hooks.js';
import { nanAtStep, pauseAfterEpoch } from './train-plugins.js';
import { fileURLToPath } from 'node:url';

/** this script, built */
export const TRAIN_CHILD = fileURLToPath(import.meta.url);

const PLUGIN_FLAGS: Record<string, (n: number) => TrainPlugin> = { '--pause-after-epoch': pauseAfterEpoch, '--nan-at-step': nanAtStep };

async function run(argv: readonly string[]): Promise<number> {
  const split = argv.indexOf('--');
  const plugins: TrainPlugin[] = [];
  for (let i = 0; i < split; i += 2) plugins.push(PLUGIN_FLAGS[argv[i]](Number(argv[i + 1])));
  try {
    return await trainCommand(argv.slice(split + 1), { plugins });
  } catch (e) {
    const user = e instanceof UserError || e instanceof UsageError;
    process.stderr.write(`tessera: ${e instanceof Error ? e.message : String(e)}\n`);
    return user ? 2 : 1;
  }
}

if (process.argv[1] === TRAIN_CHILD) process.exitCode = await run(process.argv.slice(2));
