/**
 * airbench's test-time augmentation (src/train/airbench-tta.ts) against its definition: the
 * weights of `infer_mirror_translate`, and the views as reflect-pad-1 crops followed by a mirror.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AirbenchTtaView, airbenchTtaViews, applyAirbenchView, combineViewLogits } from '../src/train/airbench-tta.js';
import { crop, hflip, pad, type RgbImage } from '../src/data/transforms.js';
import { Rng } from '../src/nn/init.js';

test("level 2's weights are airbench's: ½·(½a + ½b) + ½·mean(½c + ½d, ½e + ½f)", () => {
  const logits = [1, 2, 4, 8, 16, 32].map((v) => Float32Array.of(v));
  const [a, b, c, d, e, f] = logits.map((l) => l[0]);
  const expected = 0.5 * (0.5 * a + 0.5 * b) + 0.5 * ((0.5 * c + 0.5 * d + (0.5 * e + 0.5 * f)) / 2);
  assert.equal(combineViewLogits(logits, airbenchTtaViews(2))[0], expected);
  for (const level of [0, 1, 2] as const) assert.equal(airbenchTtaViews(level).reduce((s, v) => s + v.weight, 0), 1, `level ${level} weights sum to 1`);
  assert.deepEqual(airbenchTtaViews(1), [
    { dy: 0, dx: 0, flip: false, weight: 0.5 },
    { dy: 0, dx: 0, flip: true, weight: 0.5 },
  ]);
});

/** a random uint8 image */
function randomImage(size: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  return { width: size, height: size, data: Uint8Array.from({ length: 3 * size * size }, () => rng.int(256)) };
}

/** airbench's definition of each level-2 view: reflect-pad 1, crop at (0, 0) / (1, 1) / (2, 2), mirror the crop */
function definedView(img: RgbImage, view: AirbenchTtaView): RgbImage {
  const at = 1 - view.dy; // dy = dx here: (1, 1) is the crop at 0, (−1, −1) at 2
  const shifted = crop(pad(img, 1, { mode: 'reflect' }), at, at, img.height, img.width);
  return view.flip ? hflip(shifted) : shifted;
}

test('each level-2 view is the reflect-pad-1 crop airbench takes, mirrored after the shift', () => {
  const size = 6;
  const images = [randomImage(size, 1), randomImage(size, 2)];
  const src = Float32Array.from(images.flatMap((img) => [...img.data]));
  for (const view of airbenchTtaViews(2)) {
    const out = new Float32Array(src.length);
    applyAirbenchView(src, 2, 3, size, view, out);
    const expected = images.flatMap((img) => [...definedView(img, view).data]);
    assert.deepEqual([...out], expected, `view ${JSON.stringify(view)}`);
  }
  assert.throws(() => applyAirbenchView(src, 2, 3, size, { dy: 6, dx: 0, flip: false, weight: 1 }, new Float32Array(src.length)), /view shift \(6, 0\) needs images larger than 6×6/);
});
