/**
 * torchvision Swin Transformer V1 and V2 port: state-dict keys and their order, initialization,
 * the shift mask, and argument errors. Fixture parity (float64 and float32; V2 against the shared
 * tv_swin_v2, V1 against test/data/fixtures/tv_swin_v1.safetensors, made by make_swin_v1.py beside
 * it: a 36×20 input, so windows are padded and one stage shifts along one axis only):
 * parity-*.test.ts. Every config's counts: zoo.test.ts; real forward and training step:
 * zoo-run-*.test.ts.
 */
import { test } from 'node:test';
import { SMALL_SWIN as smallSwin, SMALL_SWIN_V2 as smallSwinV2 } from '../test-support/fixture-cases.js';
import assert from 'node:assert/strict';
import { Buffer as StateBuffer } from '../src/nn/module.js';
import { JsonArgs, createFromConstructor } from '../src/models/index.js';
import { shiftedWindowMask } from '../src/models/swin-blocks.js';

// ---- state dict and initialization -----------------------------------------------------------

/** the first keys of each version, in torchvision's state_dict() order */
const keyOrders = [
  {
    name: 'V1',
    args: smallSwin,
    params: 35942,
    keys: 67,
    first: ['features.0.0.weight', 'features.0.0.bias', 'features.0.2.weight', 'features.0.2.bias', 'features.1.0.norm1.weight', 'features.1.0.norm1.bias', 'features.1.0.attn.relative_position_bias_table', 'features.1.0.attn.relative_position_index', 'features.1.0.attn.qkv.weight', 'features.1.0.attn.qkv.bias', 'features.1.0.attn.proj.weight', 'features.1.0.attn.proj.bias', 'features.1.0.norm2.weight', 'features.1.0.norm2.bias', 'features.1.0.mlp.0.weight', 'features.1.0.mlp.0.bias', 'features.1.0.mlp.3.weight', 'features.1.0.mlp.3.bias'],
  },
  {
    name: 'V2',
    args: smallSwinV2,
    params: 47590,
    keys: 83,
    first: ['features.0.0.weight', 'features.0.0.bias', 'features.0.2.weight', 'features.0.2.bias', 'features.1.0.norm1.weight', 'features.1.0.norm1.bias', 'features.1.0.attn.logit_scale', 'features.1.0.attn.relative_coords_table', 'features.1.0.attn.relative_position_index', 'features.1.0.attn.qkv.weight', 'features.1.0.attn.qkv.bias', 'features.1.0.attn.proj.weight', 'features.1.0.attn.proj.bias', 'features.1.0.attn.cpb_mlp.0.weight', 'features.1.0.attn.cpb_mlp.0.bias', 'features.1.0.attn.cpb_mlp.2.weight', 'features.1.0.norm2.weight'],
  },
];

for (const k of keyOrders) {
  test(`SwinTransformer ${k.name}: torchvision state-dict keys in order, parameter count, int64 index buffers`, () => {
    const model = createFromConstructor('SwinTransformer', k.args);
    const sd = model.stateDict();
    const keys = [...sd.keys()];
    assert.deepEqual(keys.slice(0, k.first.length), k.first);
    assert.ok(keys.includes('features.2.reduction.weight') && keys.includes('features.2.norm.weight'), 'patch merging keys');
    assert.deepEqual(keys.slice(-4), ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    assert.equal(keys.length, k.keys);
    assert.equal(model.parameterCount(), k.params);
    const index = sd.get('features.1.0.attn.relative_position_index')!;
    assert.ok(index instanceof StateBuffer && index.dtype === 'int64', 'relative_position_index is an int64 buffer');
    assert.deepEqual(index.shape, [256]);
    // token 0 against itself: offset (0, 0) is row (4−1)·(2·4−1) + (4−1) = 24 of the 7×7 table
    assert.equal(index.data[0], 24n);
  });
}

test('SwinTransformer V2: initialization (zero key bias, logit_scale log 10, zero Linear biases, log-spaced coords)', () => {
  const sd = createFromConstructor('SwinTransformer', smallSwinV2).stateDict();
  assert.ok([...sd.get('features.1.0.attn.qkv.bias')!.data].every((v) => v === 0), 'every Linear bias is zero-initialized');
  assert.ok([...sd.get('head.bias')!.data].every((v) => v === 0));
  assert.ok([...sd.get('features.1.0.attn.logit_scale')!.data].every((v) => Math.abs(Number(v) - Math.log(10)) < 1e-6));
  const coords = sd.get('features.1.0.attn.relative_coords_table')!;
  assert.deepEqual(coords.shape, [1, 7, 7, 2]);
  // first entry: offset −3 of a 4-window → −8 → −log2(9)/3
  assert.ok(Math.abs(Number(coords.data[0]) + Math.log2(9) / 3) < 1e-6);
});

// ---- the shift mask --------------------------------------------------------------------------

test('shiftedWindowMask: torchvision region labels, also with one axis unshifted (the window covers it)', () => {
  // 8×8, window 4, shift 2 on both axes: the bottom-right window mixes four regions
  const full = shiftedWindowMask(8, 8, [4, 4], [2, 2]);
  assert.equal(full.length, 4 * 16 * 16);
  assert.ok(full.slice(0, 256).every((v) => v === 0), 'the top-left window is one region');
  const last = full.slice(3 * 256);
  assert.equal(last[0 * 16 + 1], 0, 'tokens (0,0) and (0,1): same region');
  assert.equal(last[0 * 16 + 2], -100, 'tokens (0,0) and (0,2): across the shifted column boundary');
  assert.equal(last[0 * 16 + 8], -100, 'tokens (0,0) and (2,0): across the shifted row boundary');
  // 8×4, window 4, shift [2, 0]: rows split as usual, columns are one region
  const rows = shiftedWindowMask(8, 4, [4, 4], [2, 0]);
  assert.ok(rows.slice(0, 256).every((v) => v === 0), 'the top window is one region');
  const bottom = rows.slice(256);
  assert.equal(bottom[0 * 16 + 3], 0, 'tokens (0,0) and (0,3): same row, no column split');
  assert.equal(bottom[0 * 16 + 8], -100, 'tokens (0,0) and (2,0): across the row boundary');
});

// ---- argument errors -------------------------------------------------------------------------

const argumentErrors: { name: string; args: JsonArgs; message: RegExp }[] = [
  { name: 'a missing required argument', args: { ...smallSwin, patchSize: undefined }, message: /^SwinTransformer: argument patchSize is required \(two positive integers \[height, width\]\)$/ },
  { name: 'an unknown block class', args: { ...smallSwin, block: 'SwinBlock' }, message: /^argument block must be one of SwinTransformerBlock, SwinTransformerBlockV2 \(a class name\), got "SwinBlock"$/ },
  { name: 'an unknown downsample class', args: { ...smallSwin, downsampleLayer: 'PatchMergingV3' }, message: /^argument downsampleLayer must be one of PatchMerging, PatchMergingV2/ },
  { name: 'a one-number window', args: { ...smallSwin, windowSize: [4] }, message: /^argument windowSize must be two positive integers \[height, width\], got \[4\]$/ },
  { name: 'fewer head counts than stages', args: { ...smallSwin, numHeads: [2] }, message: /numHeads has 1 entries for 2 stages/ },
  { name: 'heads that do not divide the width', args: { ...smallSwin, numHeads: [3, 4] }, message: /dim 16 is not divisible by num_heads 3/ },
  { name: 'a single block (torchvision divides by zero)', args: { ...smallSwin, depths: [1] }, message: /float division by zero/ },
  { name: 'an unknown argument', args: { ...smallSwin, normLayer: 'LayerNorm' }, message: /^SwinTransformer: unknown argument\(s\) normLayer; accepted: / },
];

for (const e of argumentErrors) {
  test(`SwinTransformer rejects ${e.name} in one line`, () => {
    const args = Object.fromEntries(Object.entries(e.args).filter(([, v]) => v !== undefined));
    assert.throws(
      () => createFromConstructor('SwinTransformer', args),
      (err: Error) => e.message.test(err.message) && !err.message.includes('\n'),
    );
  });
}
