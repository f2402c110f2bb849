/** Training plugins that tests use to steer a run (they replace the old TESSERA_* environment hooks). */
import type { TrainPlugin } from '../src/train/hooks.js';

/** Fills the images of global step `step` (1-based) with NaN: the divergence path. */
export function nanAtStep(step: number): TrainPlugin {
  return {
    name: 'nan-at-step',
    transformBatch: (batch, s) => {
      if (s.step === step) batch.input.fill(NaN);
      return batch;
    },
  };
}

/** Sleeps `ms` after each epoch's checkpoints and metrics line, so a test can signal the run between epochs. */
export function pauseAfterEpoch(ms: number): TrainPlugin {
  return { name: 'pause-after-epoch', epochEnd: () => new Promise<void>((r) => setTimeout(r, ms)) };
}
