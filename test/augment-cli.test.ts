/**
 * `tessera augment --op`: a table of good calls (the PNGs written, their sizes and pixels as the
 * library computes them) and a table of bad ones (exit 2, one line saying what is wrong, nothing
 * written).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { opCall } from '../src/augment/op-table.js';
import { fromInterleaved } from '../src/data/transforms.js';
import { runCli } from '../test-support/cli.js';
import { makeImageFolder } from '../test-support/image-folder.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-augment-'));
const folder = join(dir, 'images');
/** a 32×32 PNG from test-support/image-folder.ts */
const IMAGE = join(folder, 'red', '00.png');

test.before(async () => {
  await makeImageFolder(folder, ['red'], 1);
  writeFileSync(join(dir, 'not-an-image.png'), 'hello');
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function decodePng(path: string) {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return fromInterleaved(new Uint8Array(data), info.width, info.height);
}

const GOOD: { call: string; file: string; size: [number, number] }[] = [
  { call: "rotate(angle=30, interpolation='nearest')", file: '00_rotate_30_nearest.png', size: [32, 32] },
  { call: 'affine(angle=0, translate=[3,-2], scale=1.0, shear=[15.0, 0.0])', file: '00_affine_0_3,-2_1_15,0.png', size: [32, 32] },
  { call: 'adjust_hue(hue_factor=0.1)', file: '00_adjust_hue_0.1.png', size: [32, 32] },
  { call: 'posterize(bits=3)', file: '00_posterize_3.png', size: [32, 32] },
  { call: "pad(padding=[4,2], padding_mode='reflect')", file: '00_pad_4,2_reflect.png', size: [40, 36] },
  { call: "resize(size=[48,40], interpolation='bicubic', antialias=True)", file: '00_resize_48,40_bicubic_True.png', size: [40, 48] },
  { call: 'rotate(img, -45, InterpolationMode.BILINEAR, True)', file: '00_rotate_-45_bilinear_True.png', size: [46, 46] },
  { call: 'erase(1, 2, 3, 4, v=[255, 0, 0])', file: '00_erase_1_2_3_4_255,0,0.png', size: [32, 32] },
];

test('augment --op: the good calls write the PNG the library computes', async () => {
  const input = await decodePng(IMAGE);
  const results = await Promise.all(GOOD.map((g, k) => runCli(['augment', IMAGE, '--op', g.call, '--out', join(dir, `good-${k}`)])));
  for (const [k, g] of GOOD.entries()) {
    const r = results[k];
    const path = join(dir, `good-${k}`, g.file);
    assert.equal(r.code, 0, `${g.call}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), path, g.call);
    assert.deepEqual(readdirSync(join(dir, `good-${k}`)), [g.file], g.call);
    const out = await decodePng(path);
    assert.deepEqual([out.width, out.height], g.size, `${g.call}: PNG size`);
    assert.deepEqual(out.data, opCall(g.call).apply(input).data, `${g.call}: pixels`);
  }
});

test('augment --op: several images, one PNG each', async () => {
  await makeImageFolder(join(dir, 'more'), ['blue'], 2);
  const out = join(dir, 'several');
  const r = await runCli(['augment', join(dir, 'more', 'blue', '00.png'), join(dir, 'more', 'blue', '01.png'), '--op', 'invert()', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['00_invert.png', '01_invert.png']);
});

const BAD: { name: string; args: string[]; stderr: RegExp }[] = [
  { name: 'an unknown op names the closest and the valid ones', args: ['--op', 'rotat(angle=3)'], stderr: /--op: unknown op "rotat" \(did you mean rotate\?\); ops: hflip, vflip, .*adjust_hue, erase$/ },
  { name: 'an unknown op far from any', args: ['--op', 'gaussian_blur(kernel_size=3)'], stderr: /unknown op "gaussian_blur"; ops: hflip/ },
  { name: 'an unknown argument', args: ['--op', 'rotate(angel=3)'], stderr: /rotate\(\): unknown argument "angel" \(did you mean angle\?\); arguments: rotate\(angle, interpolation='nearest', expand=False, center=None, fill=None\)$/ },
  { name: 'out of range', args: ['--op', 'posterize(bits=9)'], stderr: /posterize\(\): bits: expected a whole number from 0 to 8, got 9$/ },
  { name: 'wrong type', args: ['--op', "adjust_hue(hue_factor='a')"], stderr: /adjust_hue\(\): hue_factor: expected a number from -0.5 to 0.5, got 'a'$/ },
  { name: 'a float where an int is needed', args: ['--op', 'posterize(bits=3.0)'], stderr: /bits: expected a whole number from 0 to 8, got 3.0$/ },
  { name: 'a list of the wrong length', args: ['--op', 'affine(angle=0, translate=[1], scale=1, shear=0)'], stderr: /affine\(\): translate: expected a list of 2 numbers, got \[1\]$/ },
  { name: 'an unknown interpolation', args: ['--op', 'rotate(angle=3, interpolation=InterpolationMode.BICUBIC)'], stderr: /interpolation: expected one of 'nearest', 'bilinear' .*got InterpolationMode.BICUBIC$/ },
  { name: 'a missing argument', args: ['--op', 'crop(1, 2, 3)'], stderr: /crop\(\): missing width: crop\(top, left, height, width\)$/ },
  { name: 'too many arguments', args: ['--op', 'posterize(3, 4)'], stderr: /posterize\(\) takes 1 argument after the image, got 2/ },
  { name: 'an argument given twice', args: ['--op', 'posterize(3, bits=4)'], stderr: /posterize\(\): bits given twice$/ },
  { name: 'a syntax error says where', args: ['--op', 'rotate(angle=)'], stderr: /syntax error at column 14 of "rotate\(angle=\)": expected a value, got "\)"$/ },
  { name: 'an unclosed call', args: ['--op', 'rotate(angle=3'], stderr: /syntax error at column 15 .*expected "," or "\)", got the end$/ },
  { name: 'a range that depends on the image', args: ['--op', "pad(padding=40, padding_mode='reflect')"], stderr: /pad\(\): reflect padding must be smaller than the image side \(32x32\), got 40$/ },
  { name: '--n with --op', args: ['--op', 'invert()', '--n', '3'], stderr: /--n: for random draws; an --op call is deterministic/ },
  { name: 'no --op', args: [], stderr: /--op CALL is required/ },
  { name: 'an unreadable image names the file', args: ['--op', 'invert()', join('MISSING', 'x.png')], stderr: /MISSING\/x\.png: cannot read the image: no such file/ },
  { name: 'a file that is not an image', args: ['--op', 'invert()', 'NOT'], stderr: /not-an-image\.png: cannot read the image \(/ },
];

test('augment --op: bad calls exit 2 with one line and write nothing', async () => {
  const results = await Promise.all(
    BAD.map((b, k) => runCli(['augment', IMAGE, ...b.args.map((a) => (a === 'NOT' ? join(dir, 'not-an-image.png') : a)), '--out', join(dir, `bad-${k}`)])),
  );
  for (const [k, b] of BAD.entries()) {
    const r = results[k];
    assert.equal(r.code, 2, `${b.name}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${b.name}: one line, got ${r.stderr}`);
    assert.match(lines[0], /^tessera( augment)?: /, b.name);
    assert.match(lines[0], b.stderr, b.name);
    assert.equal(existsSync(join(dir, `bad-${k}`)), false, `${b.name}: nothing written`);
  }
});
