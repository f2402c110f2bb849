/**
 * MAE (src/mae/): the masking drawn in TypeScript, the graph's un-shuffle, the norm-pix target and
 * the loss against direct computations, a short pre-training run through the trainer whose loss
 * falls, fine-tuning from it (every encoder key loaded, no decoder key), the linear probe, the
 * official checkpoints' key layout, and the bad-input lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, HostTensor, Value, withGraph } from '../src/graph/ir.js';
import { constant } from '../src/graph/constants.js';
import { concat, expand, gatherTokens } from '../src/ops/index.js';
import { writeOnnx } from '../src/onnx/write.js';
import { createSession, fromOrt, toOrt } from '../src/runtime/ort.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { mapForeignStateDict } from '../src/models/key-filters.js';
import { loadPretrainedInto } from '../src/models/pretrained.js';
import { VisionTransformer, vitConfigs } from '../src/models/vit.js';
import { MAE_DECODER_DEFAULTS, MaskedAutoencoder, reconstructionTarget, sincosPositionEmbedding } from '../src/mae/model.js';
import { maskingRng, randomMasking, visiblePatches } from '../src/mae/masking.js';
import { linearProbePlugin } from '../src/mae/linear-probe.js';
import { PretrainSpec } from '../src/mae/spec.js';
import { TRAIN_DEFAULTS, train } from '../src/train/trainer.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { makeImageFolder } from '../test-support/image-folder.js';
import { runCli } from '../test-support/cli.js';
import { assertClose, valuesOf } from '../test-support/gradcheck.js';
import { mulberry32 } from '../src/util/random.js';
import { registeredVitAtDepth } from '../test-support/zoo-counts.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-mae-'));
const quiet = { write: () => true };
const SPEC: PretrainSpec = { method: 'mae', maskRatio: 0.75, normPixLoss: false, blr: 1.5e-4, decoderDim: 32, decoderDepth: 1, decoderHeads: 2 };

/** a small MAE: 32×32 images, 8×8 patches (16 of them), one encoder block */
function smallMae(spec: Partial<PretrainSpec> = {}): MaskedAutoencoder {
  const vit = createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 1, numHeads: 2, hiddenDim: 16, mlpDim: 32, numClasses: 10 });
  assert.ok(vit instanceof VisionTransformer);
  return new MaskedAutoencoder(vit, { ...SPEC, ...spec });
}

/** runs a graph built from named inputs and returns its named outputs */
async function runGraph(inputs: Record<string, HostTensor>, build: (xs: Record<string, Value>) => Record<string, Value>, model?: MaskedAutoencoder): Promise<Record<string, number[]>> {
  const trace = model ? new Trace(model, { weights: 'constants' }) : null;
  const g = trace?.graph ?? new Graph();
  const make = () => build(Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, g.addInput(k, t.shape, t.dtype)])));
  const outs = trace ? traceWith(trace, make) : withGraph(g, make);
  const session = await createSession(writeOnnx(g, Object.entries(outs).map(([name, value]) => ({ name, value }))), { threads: 1 });
  try {
    const r = await session.run(Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, toOrt(t)])));
    return Object.fromEntries(Object.keys(outs).map((k) => [k, Array.from(fromOrt(r[k]).data as Float32Array)]));
  } finally {
    await session.release();
  }
}

const randomImages = (n: number, seed: number): HostTensor => {
  const rand = mulberry32(seed);
  return { dtype: 'float32', shape: [n, 3, 32, 32], data: Float32Array.from({ length: n * 3 * 32 * 32 }, () => 2 * rand() - 1) };
};

// ---- masking ----------------------------------------------------------------------------------

for (const [l, ratio] of [
  [64, 0.75],
  [16, 0.5],
  [256, 0.9],
  [10, 0.33],
] as const) {
  test(`masking ${l} patches at ${ratio}: round(L·(1−ratio)) visible per sample, ids_restore inverts the shuffle`, () => {
    const n = 5;
    const m = randomMasking(n, l, ratio, maskingRng(3, 7));
    assert.equal(m.keep, Math.round(l * (1 - ratio)));
    for (let s = 0; s < n; s++) {
      const mask = Array.from(m.mask.subarray(s * l, (s + 1) * l));
      assert.equal(mask.filter((v) => v === 0).length, m.keep, `sample ${s}: visible count`);
      const restore = Array.from(m.idsRestore.subarray(s * l, (s + 1) * l), Number);
      assert.deepEqual([...restore].sort((a, b) => a - b), [...Array(l).keys()], 'ids_restore is a permutation');
      const keep = Array.from(m.idsKeep.subarray(s * m.keep, (s + 1) * m.keep), Number);
      keep.forEach((patch, rank) => {
        assert.equal(restore[patch], rank, 'ids_restore[ids_keep[k]] = k');
        assert.equal(mask[patch], 0, 'kept patches are unmasked');
      });
    }
  });
}

test('masking is deterministic per (seed, step) and differs between steps and seeds', () => {
  const draw = (seed: number, step: number) => Array.from(randomMasking(4, 64, 0.75, maskingRng(seed, step)).idsKeep, Number);
  assert.deepEqual(draw(0, 5), draw(0, 5));
  assert.notDeepEqual(draw(0, 5), draw(0, 6));
  assert.notDeepEqual(draw(0, 5), draw(1, 5));
});

test('the graph un-shuffle puts every visible token back at its patch and mask tokens elsewhere', async () => {
  const [n, l, d] = [3, 16, 2];
  const m = randomMasking(n, l, 0.75, maskingRng(1, 1));
  // token values name their sample and patch
  const x: HostTensor = { dtype: 'float32', shape: [n, l, d], data: Float32Array.from({ length: n * l * d }, (_, i) => Math.floor(i / d) + 1) };
  const out = await runGraph(
    { x, ids_keep: { dtype: 'int64', shape: [n, m.keep], data: m.idsKeep }, ids_restore: { dtype: 'int64', shape: [n, l], data: m.idsRestore } },
    ({ x: xv, ids_keep, ids_restore }) => {
      const visible = gatherTokens(xv, ids_keep);
      const maskTokens = expand(constant({ dtype: 'float32', shape: [1, 1, d], data: new Float32Array(d).fill(-1) }), [n, l - m.keep, d]);
      return { y: gatherTokens(concat([visible, maskTokens], 1), ids_restore) };
    },
  );
  for (let s = 0; s < n; s++) for (let p = 0; p < l; p++) assert.equal(out.y[(s * l + p) * d], m.mask[s * l + p] ? -1 : s * l + p + 1, `sample ${s} patch ${p}`);
});

// ---- target and loss --------------------------------------------------------------------------

/** patch values of image n as MAE's patchify orders them (row in patch, column, channel) */
function patchesOf(imgs: HostTensor, n: number, p: number): number[][] {
  const size = imgs.shape[2];
  const g = size / p;
  const out: number[][] = [];
  for (let gi = 0; gi < g; gi++) {
    for (let gj = 0; gj < g; gj++) {
      const patch: number[] = [];
      for (let py = 0; py < p; py++) for (let px = 0; px < p; px++) for (let c = 0; c < 3; c++) patch.push(imgs.data[((n * 3 + c) * size + gi * p + py) * size + gj * p + px] as number);
      out.push(patch);
    }
  }
  return out;
}

const normalisePatch = (patch: number[]): number[] => {
  const mean = patch.reduce((a, v) => a + v, 0) / patch.length;
  const variance = patch.reduce((a, v) => a + (v - mean) ** 2, 0) / (patch.length - 1);
  return patch.map((v) => (v - mean) / Math.sqrt(variance + 1e-6));
};

for (const normPixLoss of [false, true]) {
  test(`reconstruction target (normPixLoss ${normPixLoss}) against a direct computation`, async () => {
    const imgs = randomImages(2, 11);
    const out = await runGraph({ imgs }, ({ imgs: v }) => ({ target: reconstructionTarget(v, 8, normPixLoss) }));
    const want = [0, 1].flatMap((n) => patchesOf(imgs, n, 8).flatMap((patch) => (normPixLoss ? normalisePatch(patch) : patch)));
    assertClose(out.target, want, 'target', 1e-4, 1e-5);
  });
}

for (const normPixLoss of [false, true]) {
  test(`the loss counts masked patches only (normPixLoss ${normPixLoss}), as a direct computation gives it`, async () => {
    const mae = smallMae({ normPixLoss });
    const [n, l, p] = [2, mae.numPatches, mae.patchDim];
    const imgs = randomImages(n, 5);
    const m = randomMasking(n, l, 0.75, maskingRng(2, 3));
    const rand = mulberry32(9);
    const pred = Float32Array.from({ length: n * l * p }, () => rand() - 0.5);
    // the same prediction with every visible patch changed
    const changed = pred.map((v, i) => (m.mask[Math.floor(i / p)] ? v : v + 10));
    const lossOf = async (values: Float32Array) =>
      (
        await runGraph(
          { imgs, pred: { dtype: 'float32', shape: [n, l, p], data: values }, mask: { dtype: 'float32', shape: [n, l], data: m.mask } },
          (v) => ({ loss: mae.reconstructionLoss(v.imgs, v.pred, v.mask, normPixLoss) }),
          mae,
        )
      ).loss[0];
    const loss = await lossOf(pred);
    assert.equal(await lossOf(changed), loss, 'visible patches do not enter the loss');
    let [sum, count] = [0, 0];
    for (let s = 0; s < n; s++) {
      patchesOf(imgs, s, mae.patchSize).forEach((patch, k) => {
        if (!m.mask[s * l + k]) return;
        const target = normPixLoss ? normalisePatch(patch) : patch;
        sum += target.reduce((a, t, j) => a + (pred[(s * l + k) * p + j] - t) ** 2, 0) / p;
        count++;
      });
    }
    assertClose([loss], [sum / count], 'loss', 1e-5, 1e-6);
  });
}

test('2-D sin-cos position embedding: class row zero, column in the first half, row in the second', () => {
  const [dim, grid] = [8, 3];
  const pe = sincosPositionEmbedding(dim, grid);
  assert.deepEqual(Array.from(pe.subarray(0, dim)), new Array<number>(dim).fill(0));
  // patch (row 2, column 1): first quarter sin(1·ω), third quarter sin(2·ω)
  const row = 1 + 2 * grid + 1;
  assertClose([pe[row * dim], pe[row * dim + 1], pe[row * dim + 4], pe[row * dim + 5]], [Math.sin(1), Math.sin(1 / 100), Math.sin(2), Math.sin(2 / 100)], 'sincos', 1e-6, 1e-7);
});

// ---- a pre-training run, fine-tuning, linear probe ----------------------------------------------

const DATA = join(scratch, 'images');
const RUN = join(scratch, 'mae-run');
const pretrainOptions = (more: object = {}) => ({
  ...TRAIN_DEFAULTS,
  model: 'vit_tiny_cifar',
  data: join(DATA, 'blue'),
  valSplit: 4,
  epochs: 3,
  batchSize: 8,
  lr: 2e-3,
  optimizer: 'adamw' as const,
  optBetas: [0.9, 0.95] as const,
  weightDecay: 0.05,
  threads: 1,
  workers: 0,
  out: RUN,
  pretrain: SPEC,
  ...more,
});

test('a short pre-training run on a flat folder: its loss falls, the report shows reconstructions', async () => {
  await makeImageFolder(DATA, ['blue', 'green'], 20);
  const result = await train(pretrainOptions(), { sink: quiet });
  const losses = result.metrics.map((m) => m.trainLoss);
  assert.ok(losses[2] < losses[0], `train loss ${losses.join(' → ')} should fall`);
  assert.ok(result.metrics.every((m) => m.trainAcc === null && m.valTop1 === null && typeof Reflect.get(m, 'valMaeLoss') === 'number'));
  const report = readFileSync(join(RUN, 'report.html'), 'utf8');
  assert.match(report, /MAE reconstructions/);
  assert.match(report, /data:image\/png;base64/);
  const config: unknown = JSON.parse(readFileSync(join(RUN, 'config.json'), 'utf8'));
  assert.equal(Reflect.get(Reflect.get(Reflect.get(config as object, 'options'), 'pretrain'), 'method'), 'mae');
});

test('fine-tuning from the run loads every encoder key and no decoder key', () => {
  const model = createModel('vit_tiny_cifar', { numClasses: 2 });
  const load = loadPretrainedInto(model, modelInfo('vit_tiny_cifar'), join(RUN, 'last.safetensors'));
  const saved = loadCheckpoint(join(RUN, 'last.safetensors')).modelState;
  const decoder = [...saved.keys()].filter((k) => k.startsWith('decoder_') || k === 'mask_token');
  assert.ok(decoder.length > 0);
  assert.deepEqual(load.mapping.dropped.map((d) => d.key).sort(), decoder.sort(), 'exactly the decoder is dropped');
  const own = model.stateDict();
  const encoder = [...own.keys()].filter((k) => !k.startsWith('heads.'));
  assert.equal(encoder.length, saved.size - decoder.length, 'every encoder key of the run has a place');
  for (const k of encoder) assert.deepEqual(Array.from(own.get(k)!.data as Float32Array), Array.from(saved.get(k)!.data as Float32Array), k);
  assert.deepEqual(load.reinitialised, ['heads.head']);
});

test('fine-tuning into a ViT whose encoder differs lists the mismatched keys', () => {
  const model = createModel('vit_small_cifar', { numClasses: 2 });
  assert.throws(() => loadPretrainedInto(model, modelInfo('vit_small_cifar'), join(RUN, 'last.safetensors')), /does not fit.*with another shape: .*conv_proj\.weight: checkpoint \[192, 3, 4, 4\], model \[384, 3, 4, 4\]/s);
});

test('linear probe: only the head trains, behind a BatchNorm without affine', async () => {
  const out = join(scratch, 'probe');
  const result = await train({ ...TRAIN_DEFAULTS, model: 'vit_tiny_cifar', data: DATA, valSplit: 4, epochs: 1, batchSize: 8, threads: 1, workers: 0, out, pretrained: join(RUN, 'last.safetensors'), linearProbe: true }, { sink: quiet });
  assert.equal(typeof result.metrics[0].valTop1, 'number');
  const before = loadCheckpoint(join(RUN, 'last.safetensors')).modelState;
  const after = loadCheckpoint(join(out, 'last.safetensors')).modelState;
  assert.deepEqual(Array.from(after.get('encoder.layers.encoder_layer_0.mlp.0.weight')!.data as Float32Array), Array.from(before.get('encoder.layers.encoder_layer_0.mlp.0.weight')!.data as Float32Array), 'the encoder stays frozen');
  assert.ok(after.has('heads.probe_norm.running_mean') && !after.has('heads.probe_norm.weight'), 'BatchNorm without affine before the head');
  const probe = linearProbePlugin().model!(createModel('vit_tiny_cifar'), pretrainOptions(), () => undefined);
  assert.deepEqual([...probe.namedParameters()].filter(([, p]) => p.requiresGrad).map(([k]) => k), ['heads.head.weight', 'heads.head.bias']);
});

test('a linear probe checkpoint loads in tessera eval, predict and export like any run', async () => {
  const probe = join(scratch, 'probe');
  const ckpt = loadCheckpoint(join(probe, 'last.safetensors'));
  assert.equal(ckpt.meta.linearProbe, true);
  const evaluated = await runCli(['eval', '--checkpoint', probe, '--data', DATA, '--val-split', '4', '--threads', '1', '--json']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal(JSON.parse(evaluated.stdout).top1, ckpt.meta.metrics?.valTop1, 'eval of the held-out images agrees with the run');
  const predicted = await runCli(['predict', '--checkpoint', probe, join(DATA, 'green', '00.png'), '--threads', '1', '--json']);
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.equal(JSON.parse(predicted.stdout).predictions.length, 1);
  const exported = await runCli(['export', '--checkpoint', probe, '--out', join(scratch, 'probe.onnx')]);
  assert.equal(exported.code, 0, exported.stderr);
});

// ---- official checkpoints ------------------------------------------------------------------------

/** the released mae_pretrain_vit_{base,large,huge}.pth layout (timm names, no head): key → shape */
function officialLayout(depth: number, dim: number, patch: number, tokens: number): [string, number[]][] {
  const entries: [string, number[]][] = [
    ['cls_token', [1, 1, dim]],
    ['pos_embed', [1, tokens, dim]],
    ['patch_embed.proj.weight', [dim, 3, patch, patch]],
    ['patch_embed.proj.bias', [dim]],
  ];
  for (let i = 0; i < depth; i++) {
    const b = `blocks.${i}`;
    entries.push([`${b}.norm1.weight`, [dim]], [`${b}.norm1.bias`, [dim]], [`${b}.attn.qkv.weight`, [3 * dim, dim]], [`${b}.attn.qkv.bias`, [3 * dim]], [`${b}.attn.proj.weight`, [dim, dim]], [`${b}.attn.proj.bias`, [dim]]);
    entries.push([`${b}.norm2.weight`, [dim]], [`${b}.norm2.bias`, [dim]], [`${b}.mlp.fc1.weight`, [4 * dim, dim]], [`${b}.mlp.fc1.bias`, [4 * dim]], [`${b}.mlp.fc2.weight`, [dim, 4 * dim]], [`${b}.mlp.fc2.bias`, [dim]]);
  }
  entries.push(['norm.weight', [dim]], ['norm.bias', [dim]]);
  return entries;
}

test('mae_pretrain_vit_base layout (synthetic file, exact names and shapes) loads into vit_b_16 with a fresh head', () => {
  const rand = mulberry32(4);
  const sd = new Map<string, HostTensor>(officialLayout(12, 768, 16, 197).map(([k, shape]) => [k, { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand()) }]));
  const file = join(scratch, 'mae_pretrain_vit_base.safetensors');
  writeSafetensors(file, sd);
  const model = createModel('vit_b_16', { numClasses: 10 });
  const load = loadPretrainedInto(model, modelInfo('vit_b_16'), file);
  assert.equal(load.mapping.layout, 'timm');
  assert.deepEqual(load.reinitialised, ['heads.head']);
  const own = model.stateDict();
  for (const [ours, theirs] of [
    ['encoder.layers.encoder_layer_11.self_attention.in_proj_weight', 'blocks.11.attn.qkv.weight'],
    ['class_token', 'cls_token'],
    ['encoder.pos_embedding', 'pos_embed'],
    ['encoder.ln.bias', 'norm.bias'],
  ]) {
    assert.deepEqual(valuesOf(own.get(ours)!), valuesOf(sd.get(theirs)!), `${theirs} → ${ours}`);
  }
});

// vit_l_16 (304M parameters) and vit_h_14 (632M) are too large to build in a test: the released
// files' layouts (depth, width, patch and tokens as published) are checked by name and shape
// against a one-block model built from the registered config, its blocks repeated to its depth
for (const [file, name, depth, dim, patch, tokens] of [
  ['mae_pretrain_vit_large', 'vit_l_16', 24, 1024, 16, 197],
  ['mae_pretrain_vit_huge', 'vit_h_14', 32, 1280, 14, 257],
] as const) {
  test(`${file} → ${name}: every key maps onto the registered config's name and shape (by name and shape only)`, () => {
    const config = vitConfigs.find((c) => c.name === name);
    assert.ok(config, `${name} is registered`);
    assert.deepEqual([config.numLayers, config.hiddenDim, config.mlpDim, config.patchSize], [depth, dim, 4 * dim, patch], `${name}'s registered depth, widths and patch are ${file}'s`);
    const sd = new Map<string, HostTensor>(officialLayout(depth, dim, patch, tokens).map(([k, shape]) => [k, { dtype: 'float32', shape, data: new Float32Array(0) }]));
    const { tensors, report } = mapForeignStateDict('vit', sd);
    assert.equal(report.layout, 'timm');
    const expected = new Map<string, readonly number[]>();
    for (const [k, t] of registeredVitAtDepth(name, 1).stateDict()) {
      if (k.startsWith('heads.')) continue;
      if (!k.startsWith('encoder.layers.encoder_layer_0.')) expected.set(k, t.shape);
      else for (let i = 0; i < config.numLayers; i++) expected.set(k.replace('encoder_layer_0.', `encoder_layer_${i}.`), t.shape);
    }
    assert.deepEqual([...tensors.keys()].sort(), [...expected.keys()].sort());
    for (const [k, t] of tensors) assert.deepEqual(t.shape, expected.get(k), k);
  });
}

// ---- bad input -----------------------------------------------------------------------------------

for (const [what, args, message] of [
  ['a mask ratio of 1', ['--mask-ratio', '1'], /^tessera: --mask-ratio must be between 0 and 1 \(exclusive\), got 1\n$/],
  ['a mask ratio of 0', ['--mask-ratio', '0'], /^tessera: --mask-ratio must be between 0 and 1 \(exclusive\), got 0\n$/],
  ['a folder without images', ['--data', 'EMPTY'], /^tessera: .*empty\w*: no images \(\.jpg, \.jpeg, \.png, \.webp\) in it; give a folder of images.*\n$/],
  ['a folder of images that do not decode', ['--data', 'GARBAGE', '--batch-size', '2'], /^tessera: DataLoader\(.*\): epoch 0, batch 0: none of the 3 samples could be decoded .*give a folder of readable images\n$/],
  ['a model that is no ViT', ['--model', 'cifar_lenet'], /^tessera: --method mae pre-trains a VisionTransformer .*cifar_lenet is not one\n$/],
] as const) {
  test(`tessera pretrain refuses ${what} in one line (exit 2)`, async () => {
    const empty = mkdtempSync(join(scratch, 'empty'));
    writeFileSync(join(empty, 'notes.txt'), 'not an image');
    const garbage = mkdtempSync(join(scratch, 'garbage'));
    for (const name of ['a.jpg', 'b.png', 'c.jpg']) writeFileSync(join(garbage, name), 'not an image either');
    const flags = new Map<string, string>([['--model', 'vit_tiny_cifar'], ['--data', join(DATA, 'blue')], ['--epochs', '1'], ['--batch-size', '4'], ['--threads', '1'], ['--out', join(scratch, `bad-${what.replace(/\W+/g, '-')}`)]]);
    for (let i = 0; i < args.length; i += 2) flags.set(args[i], new Map([['EMPTY', empty], ['GARBAGE', garbage]]).get(args[i + 1]) ?? args[i + 1]);
    const argv = ['pretrain', '--method', 'mae', ...[...flags].flat()];
    const r = await runCli(argv);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  });
}

test('visiblePatches refuses ratios that leave no patch visible or none masked', () => {
  assert.throws(() => visiblePatches(16, 0.99), /leaves 0 of 16 patches visible/);
  assert.throws(() => visiblePatches(16, 0.01), /leaves 16 of 16 patches visible/);
  assert.equal(visiblePatches(64, 0.75), 16);
  assert.equal(MAE_DECODER_DEFAULTS.decoderDim % 4, 0);
});
