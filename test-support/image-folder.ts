/** Small synthetic ImageFolders for training tests: noisy solid-colour 32×32 PNGs, one colour per class. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { TRAIN_DEFAULTS, TrainOptions } from '../src/train/options.js';

const COLORS: Record<string, [number, number, number]> = { blue: [30, 60, 220], green: [40, 200, 60], red: [220, 40, 30] };

/** Writes an ImageFolder of `perClass` noisy solid-colour 32×32 PNGs per class (classes among blue, green, red); `seed` picks the noise. */
export async function makeImageFolder(dir: string, classes: string[], perClass: number, seed = 12345): Promise<void> {
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  for (const name of classes) {
    mkdirSync(join(dir, name), { recursive: true });
    const [r, g, b] = COLORS[name];
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(32 * 32 * 3);
      for (let p = 0; p < 32 * 32; p++) {
        px[3 * p] = Math.max(0, Math.min(255, r + (rand() - 0.5) * 120));
        px[3 * p + 1] = Math.max(0, Math.min(255, g + (rand() - 0.5) * 120));
        px[3 * p + 2] = Math.max(0, Math.min(255, b + (rand() - 0.5) * 120));
      }
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, name, `${String(i).padStart(2, '0')}.png`));
    }
  }
}

/**
 * The options of a seconds-long training run on a folder from `makeImageFolder`: LeNet, the last 2
 * images of every class validating, batch 8, 2 epochs, one ORT thread, no loader threads; `more`
 * overrides any of them.
 *
 * @example
 *   await train(tinyRunOptions(DATA, join(scratch, 'run'), { mixup: 0.2 }), { sink: quiet });
 */
export function tinyRunOptions(data: string, out: string, more: Partial<TrainOptions> = {}): TrainOptions {
  return { ...TRAIN_DEFAULTS, model: 'cifar_lenet', data, valSplit: 2, batchSize: 8, threads: 1, workers: 0, epochs: 2, out, ...more };
}
