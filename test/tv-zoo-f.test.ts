/**
 * torchvision Swin Transformer V1 and V2 port: the registry entry (with its pretrained config)
 * and a traced forward at the config's input size for every config (tracing only); fixture
 * parity through the `SwinTransformer` constructor's JSON form, in float64 as the references
 * were computed and in float32 (the training precision) within the same tolerances — V2 against
 * the shared tv_swin_v2 fixture, V1 against test/data/fixtures/tv_swin_v1.safetensors (made by
 * make_swin_v1.py beside it: a 36×20 input, so windows are padded and one stage shifts along one
 * axis only); state-dict keys and their order, initialization, the shift mask, and argument
 * errors. Parameter / state-dict / buffer counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trace, traceWith } from '../src/nn/trace.js';
import { Buffer as StateBuffer } from '../src/nn/module.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { shiftedWindowMask } from '../src/models/swin-blocks.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { checkFixture, fixtureStateDict } from '../src/verify/parity.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

const SHARED_FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const OWN_FIXTURES = fileURLToPath(new URL('../../test/data/fixtures/', import.meta.url));

/** the fixtures' models: SwinTransformer(patch_size=[4,4], embed_dim=16, depths=[2,2], num_heads=[2,4], window_size=[4,4], stochastic_depth_prob=0.1, num_classes=10, ...) */
const smallSwin: JsonArgs = { patchSize: [4, 4], embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: [4, 4], stochasticDepthProb: 0.1, numClasses: 10 };
const smallSwinV2: JsonArgs = { ...smallSwin, block: 'SwinTransformerBlockV2', downsampleLayer: 'PatchMergingV2' };

// ---- registry and tracing --------------------------------------------------------------------

const V1_PAPER = { year: 2021, paper: 'Swin Transformer: Hierarchical Vision Transformer using Shifted Windows' };
const V2_PAPER = { year: 2022, paper: 'Swin Transformer V2: Scaling Up Capacity and Resolution' };

/** name, paper, input size, torchvision's weights file, resize size, ImageNet-1K top-1 / top-5 */
const configs = [
  { name: 'swin_t', ...V1_PAPER, size: 224, file: 'swin_t-704ceda3.pth', resize: 232, top1: 81.474, top5: 95.776 },
  { name: 'swin_s', ...V1_PAPER, size: 224, file: 'swin_s-5e29d889.pth', resize: 246, top1: 83.196, top5: 96.36 },
  { name: 'swin_b', ...V1_PAPER, size: 224, file: 'swin_b-68c6b09e.pth', resize: 238, top1: 83.582, top5: 96.64 },
  { name: 'swin_v2_t', ...V2_PAPER, size: 256, file: 'swin_v2_t-b137f0e2.pth', resize: 260, top1: 82.072, top5: 96.132 },
  { name: 'swin_v2_s', ...V2_PAPER, size: 256, file: 'swin_v2_s-637d8ceb.pth', resize: 260, top1: 83.712, top5: 96.816 },
  { name: 'swin_v2_b', ...V2_PAPER, size: 256, file: 'swin_v2_b-781e5279.pth', resize: 272, top1: 84.112, top5: 96.864 },
];

for (const c of configs) {
  test(`${c.name}: registry entry (torchvision, swin, ${c.size}px, ${c.year}, pretrained config); traces at 1×3×${c.size}×${c.size} to [1, 1000]`, () => {
    const info = modelInfo(c.name);
    assert.equal(info.source, 'torchvision');
    assert.equal(info.family, 'swin');
    assert.equal(info.reference, c.name);
    assert.equal(info.inputSize, c.size);
    assert.equal(info.numClasses, 1000);
    assert.equal(info.year, c.year);
    assert.equal(info.paper, c.paper);
    assert.deepEqual(info.pretrained, {
      url: `https://download.pytorch.org/models/${c.file}`,
      licence: 'BSD-3-Clause (torchvision); trained on ImageNet-1K',
      inputSize: c.size,
      resizeSize: c.resize,
      cropFraction: c.size / c.resize,
      interpolation: 'bicubic',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      classifier: 'head',
      top1: c.top1,
      top5: c.top5,
    });
    const model = buildWithConstantInit(c.name).eval();
    const trace = new Trace(model, { weights: 'constants' });
    const out = traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, c.size, c.size], 'float32')));
    assert.deepEqual(out.shape, [1, 1000], `${c.name}: logits shape`);
  });
}

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

// ---- parity ----------------------------------------------------------------------------------

/** float64 as the references were computed; float32 (the training precision, ORT's full graph optimizations) within the same tolerances */
const parityCases = [
  { fixture: 'tv_swin_v2', dir: SHARED_FIXTURES, args: smallSwinV2, precision: 'float64' },
  { fixture: 'tv_swin_v1', dir: OWN_FIXTURES, args: smallSwin, precision: 'float64' },
  { fixture: 'tv_swin_v2', dir: SHARED_FIXTURES, args: smallSwinV2, precision: 'float32' },
  { fixture: 'tv_swin_v1', dir: OWN_FIXTURES, args: smallSwin, precision: 'float32' },
] as const;

for (const p of parityCases) {
  test(`${p.fixture}: ${p.precision} parity with the torchvision fixture; state-dict keys in the fixture's order`, async (t) => {
    const path = join(p.dir, `${p.fixture}.safetensors`);
    if (!existsSync(path)) {
      // the shared fixture may be absent (../shared/README.md); the committed V1 fixture may not
      assert.ok(p.dir === SHARED_FIXTURES, `${path} is missing (regenerate it with test/data/fixtures/make_swin_v1.py)`);
      return t.skip(`${path} not found (see ../shared/README.md)`);
    }
    const file = readSafetensors(path);
    const model = createFromConstructor('SwinTransformer', p.args);
    assert.deepEqual([...model.stateDict().keys()], [...fixtureStateDict(file).keys()], `${p.fixture}: state-dict keys and order`);
    const report = await checkFixture(model, file, { precision: p.precision });
    const failing = report.checks.filter((c) => !c.ok);
    assert.ok(report.checks.length > 3, `${p.fixture}: too little checked (${report.checks.length} tensors)`);
    assert.ok(report.ok, `${p.fixture} (${p.precision}): ${failing.map((c) => `${c.key} max error ${c.maxError.toExponential(3)} > ${c.allowed.toExponential(3)}`).join('; ')}`);
  });
}
