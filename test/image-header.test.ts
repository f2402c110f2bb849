/**
 * Image dimensions from JPEG and PNG headers (src/data/image-header.ts) against sharp's own
 * metadata, over the encodings a dataset folder holds; anything else is null (the decoder is
 * asked instead).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imageDimensions } from '../src/data/image-header.js';

const image = (width: number, height: number, channels: 3 | 4 = 3) => sharp({ create: { width, height, channels, background: { r: 200, g: 30, b: 90, alpha: 0.5 } } });

const encoded: readonly { name: string; bytes: () => Promise<Buffer> }[] = [
  { name: 'baseline JPEG', bytes: () => image(32, 32).jpeg().toBuffer() },
  { name: 'progressive JPEG, not square', bytes: () => image(61, 17).jpeg({ progressive: true }).toBuffer() },
  { name: 'JPEG with EXIF and ICC segments before the frame', bytes: () => image(40, 24).withMetadata({ orientation: 6 }).jpeg().toBuffer() },
  { name: 'grayscale JPEG', bytes: () => image(9, 300).toColourspace('b-w').jpeg().toBuffer() },
  { name: 'PNG with alpha', bytes: () => image(300, 7, 4).png().toBuffer() },
  { name: '16-bit PNG', bytes: () => image(12, 10).toColourspace('rgb16').png().toBuffer() },
];

for (const c of encoded) {
  test(`image dimensions from the header: ${c.name}`, async () => {
    const bytes = await c.bytes();
    const meta = await sharp(bytes).metadata();
    assert.deepEqual(imageDimensions(bytes), { width: meta.width, height: meta.height });
  });
}

const unknown: readonly { name: string; bytes: () => Promise<Uint8Array> }[] = [
  { name: 'WebP (not parsed: the decoder is asked)', bytes: () => image(8, 8).webp().toBuffer() },
  { name: 'a JPEG cut before its frame header', bytes: async () => (await image(8, 8).jpeg().toBuffer()).subarray(0, 20) },
  { name: 'a PNG cut inside its header', bytes: async () => (await image(8, 8).png().toBuffer()).subarray(0, 20) },
  { name: 'text', bytes: async () => new TextEncoder().encode('not an image at all') },
  { name: 'empty', bytes: async () => new Uint8Array(0) },
];

for (const c of unknown) {
  test(`image dimensions from the header: null for ${c.name}`, async () => {
    assert.equal(imageDimensions(await c.bytes()), null);
  });
}
