/** The loader's shared decode cache: files decode once (or all up front), and batches are identical with or without it. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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

type Decoding = 'every epoch' | 'cached' | 'predecoded';

function openLoader(dir: string, decoding: Decoding, workers: number): DataLoader {
  return new DataLoader(openImageFolder(dir), {
    batchSize: 4,
    shuffle: true,
    seed: 7,
    dropLast: false,
    workers,
    decodeCache: decoding !== 'every epoch',
    transform: { size: 8, randomCrop: { padding: 2 }, hflip: true, mean: CIFAR10_MEAN, std: CIFAR10_STD },
  });
}

async function epochs(dir: string, decoding: Decoding, workers: number): Promise<Batch[]> {
  const loader = openLoader(dir, decoding, workers);
  const out: Batch[] = [];
  try {
    if (decoding === 'predecoded') assert.deepEqual(await loader.predecode(), { decoded: 10, failed: [] });
    for (const e of [0, 1, 2]) for await (const b of loader.epoch(e)) out.push(b);
  } finally {
    await loader.close();
  }
  return out;
}

const cases = [
  { name: 'main thread', workers: 0, decoding: 'cached' },
  { name: 'two workers', workers: 2, decoding: 'cached' },
  { name: 'main thread', workers: 0, decoding: 'predecoded' },
  { name: 'two workers', workers: 2, decoding: 'predecoded' },
] as const;

for (const c of cases) {
  test(`${c.decoding} files give the same batches as decoding every epoch (${c.name})`, async () => {
    const dir = await makeFolder();
    try {
      const [cached, fresh] = [await epochs(dir, c.decoding, c.workers), await epochs(dir, 'every epoch', c.workers)];
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

for (const workers of [0, 2]) {
  test(`predecode lists a file it cannot decode and the epoch replaces it (${workers} workers)`, async () => {
    const dir = await makeFolder();
    try {
      writeFileSync(join(dir, 'a', '2.png'), 'not a png');
      const loader = openLoader(dir, 'predecoded', workers);
      try {
        const progress: string[] = [];
        const { decoded, failed } = await loader.predecode((done, total) => progress.push(`${done}/${total}`));
        assert.deepEqual(progress, ['1/3', '2/3', '3/3']);
        assert.equal(decoded, 9);
        assert.deepEqual(failed.map((f) => f.index), [2]);
        assert.match(failed[0].reason, /2\.png/);
        const batches: Batch[] = [];
        for await (const b of loader.epoch(0)) batches.push(b);
        assert.deepEqual(batches.flatMap((b) => b.skipped.map((s) => s.index)), [2]);
        assert.equal(batches.reduce((n, b) => n + b.size, 0), 10);
      } finally {
        await loader.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('predecode has nothing to do without a decode cache', async () => {
  const dir = await makeFolder();
  try {
    const loader = openLoader(dir, 'every epoch', 0);
    try {
      assert.deepEqual(await loader.predecode(), { decoded: 0, failed: [] });
    } finally {
      await loader.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
