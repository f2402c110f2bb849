/** The loader's shared decode cache: files decode once, and batches are identical with or without it. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openImageFolder } from '../src/data/imagefolder.js';
import { DataLoader } from '../src/data/loader.js';
import { Batch, CIFAR10_MEAN, CIFAR10_STD } from '../src/data/types.js';

async function makeFolder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cache-'));
  for (const [c, cls] of ['a', 'b'].entries()) {
    mkdirSync(join(dir, cls));
    for (let i = 0; i < 5; i++) {
      const raw = Buffer.alloc(12 * 10 * 3, 0);
      for (let p = 0; p < raw.length; p++) raw[p] = (p * 7 + i * 31 + c * 101) % 256;
      await sharp(raw, { raw: { width: 12, height: 10, channels: 3 } }).png().toFile(join(dir, cls, `${i}.png`));
    }
  }
  return dir;
}

async function epochs(dir: string, decodeCache: boolean, workers: number): Promise<Batch[]> {
  const loader = new DataLoader(openImageFolder(dir), {
    batchSize: 4,
    shuffle: true,
    seed: 7,
    dropLast: false,
    workers,
    decodeCache,
    transform: { size: 8, randomCrop: { padding: 2 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD },
  });
  const out: Batch[] = [];
  try {
    for (const e of [0, 1, 2]) for await (const b of loader.epoch(e)) out.push(b);
  } finally {
    await loader.close();
  }
  return out;
}

const cases = [
  { name: 'main thread', workers: 0 },
  { name: 'two workers', workers: 2 },
];

for (const c of cases) {
  test(`decode cache gives the same batches as decoding every epoch (${c.name})`, async () => {
    const dir = await makeFolder();
    try {
      const [cached, fresh] = [await epochs(dir, true, c.workers), await epochs(dir, false, c.workers)];
      assert.equal(cached.length, fresh.length);
      cached.forEach((b, i) => {
        assert.deepEqual(b.indices, fresh[i].indices);
        assert.deepEqual(b.input, fresh[i].input);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
