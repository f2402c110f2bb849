/**
 * torchvision VisionTransformer port: the registry entry and a traced forward at batch 1, 224×224
 * for every config (tracing only), fixture parity (tv_vit through the `VisionTransformer`
 * constructor's JSON form), and four AdamW training steps against PyTorch
 * (traj_adamw_vit.safetensors, format: ../shared/README.md). Parameter / state-dict / buffer
 * counts against zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostTensor } from '../src/graph/ir.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { SafetensorsFile, readSafetensors } from '../src/io/safetensors.js';
import { checkFixture } from '../src/verify/parity.js';
import { adamw } from '../src/optim/adamw.js';
import { TrainingSession } from '../src/runtime/training-session.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const haveFixtures = existsSync(FIXTURES);

/** the fixtures' model: VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10) */
const smallViT: JsonArgs = { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64, numClasses: 10, dropout: 0, attentionDropout: 0 };

// ---- registry and tracing --------------------------------------------------------------------

for (const name of ['vit_b_16', 'vit_b_32', 'vit_l_16', 'vit_l_32']) {
  test(`${name}: registry entry (torchvision, vit, 224px, 2020); traces at 1×3×224×224 to [1, 1000]`, () => {
    const info = modelInfo(name);
    assert.equal(info.source, 'torchvision');
    assert.equal(info.family, 'vit');
    assert.equal(info.reference, name);
    assert.equal(info.inputSize, 224);
    assert.equal(info.numClasses, 1000);
    assert.equal(info.year, 2020);
    assert.equal(info.paper, 'An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale');
    const model = buildWithConstantInit(name).eval();
    const trace = new Trace(model, { weights: 'constants' });
    const out = traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, 224, 224], 'float32')));
    assert.deepEqual(out.shape, [1, 1000], `${name}: logits shape`);
  });
}

test('VisionTransformer: torchvision state-dict keys, init, and argument checks', () => {
  const model = createFromConstructor('VisionTransformer', smallViT);
  const keys = [...model.stateDict().keys()];
  assert.deepEqual(keys.slice(0, 10), [
    'class_token',
    'conv_proj.weight',
    'conv_proj.bias',
    'encoder.pos_embedding',
    'encoder.layers.encoder_layer_0.ln_1.weight',
    'encoder.layers.encoder_layer_0.ln_1.bias',
    'encoder.layers.encoder_layer_0.self_attention.in_proj_weight',
    'encoder.layers.encoder_layer_0.self_attention.in_proj_bias',
    'encoder.layers.encoder_layer_0.self_attention.out_proj.weight',
    'encoder.layers.encoder_layer_0.self_attention.out_proj.bias',
  ]);
  assert.equal(keys.length, 32);
  assert.equal(model.parameterCount(), 24234);
  const sd = model.stateDict();
  assert.ok([...sd.get('heads.head.weight')!.data].every((v) => v === 0), 'head weight is zero-initialized');
  assert.ok([...sd.get('class_token')!.data].every((v) => v === 0), 'class token is zero-initialized');
  assert.ok([...sd.get('encoder.layers.encoder_layer_0.self_attention.in_proj_bias')!.data].every((v) => v === 0));
  assert.throws(() => createFromConstructor('VisionTransformer', { ...smallViT, patchSize: 7 }), /indivisible by patch size/);
  assert.throws(() => createFromConstructor('VisionTransformer', { ...smallViT, numHeads: 3 }), /divisible by num_heads/);
  const { mlpDim: _, ...noMlp } = smallViT;
  assert.throws(() => createFromConstructor('VisionTransformer', noMlp), /mlpDim is required/);
});

// ---- parity ----------------------------------------------------------------------------------

test('tv_vit: parity with the torchvision fixture', async (t) => {
  if (!haveFixtures) return t.skip(`shared/fixtures not found (${FIXTURES}; see ../shared/README.md)`);
  const file = readSafetensors(join(FIXTURES, 'tv_vit.safetensors'));
  const report = await checkFixture(createFromConstructor('VisionTransformer', smallViT), file);
  const failing = report.checks.filter((c) => !c.ok);
  assert.ok(report.checks.length > 0, 'tv_vit: nothing checked');
  assert.ok(report.ok, `tv_vit: ${failing.map((c) => `${c.key} max error ${c.maxError.toExponential(3)} > ${c.allowed.toExponential(3)}`).join('; ')}`);
});

// ---- AdamW trajectory ------------------------------------------------------------------------

function need(f: SafetensorsFile, key: string): HostTensor {
  const t = f.tensors.get(key);
  assert.ok(t, `fixture has no ${key}`);
  return t;
}

/** the metadata fields that fix the run, each asserted to say what this test does */
const expectedMetadata: [field: string, pattern: RegExp][] = [
  ['model', /^torchvision VisionTransformer\(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10\)$/],
  ['optimizer', /^AdamW lr=1e-3 betas=\(0\.9,0\.999\) eps=1e-8 weight_decay=0\.05\b/],
  ['loss', /^cross-entropy, mean over batch$/],
  ['steps', /^4$/],
  ['batch', /^8$/],
  ['image_size', /^32$/],
];

interface Deviation {
  readonly key: string;
  readonly error: number;
  readonly allowed: number;
}

/** |ours − ref| ≤ rtol·|ref| (loss) */
function lossDeviation(key: string, ours: number, ref: number, rtol: number): Deviation {
  return { key, error: Math.abs(ours - ref), allowed: rtol * Math.abs(ref) };
}

/** max|ours − ref| ≤ rtol·max(max|ref|, floor) (weights) */
function tensorDeviation(key: string, ours: ArrayLike<number>, ref: ArrayLike<number>, rtol: number, floor: number): Deviation {
  assert.equal(ours.length, ref.length, `${key}: ${ours.length} values vs ${ref.length}`);
  let error = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(ours[i] - ref[i]);
    error = Number.isNaN(e) ? Infinity : Math.max(error, e);
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { key, error, allowed: rtol * Math.max(maxRef, floor) };
}

test('traj_adamw_vit: four AdamW steps match PyTorch (losses and final weights)', async (t) => {
  if (!haveFixtures) return t.skip(`shared/fixtures not found at ${FIXTURES} (see ../shared/README.md)`);
  const f = readSafetensors(join(FIXTURES, 'traj_adamw_vit.safetensors'));
  for (const [field, pattern] of expectedMetadata) assert.match(f.metadata[field] ?? '', pattern, `metadata ${field}`);
  const rtol = JSON.parse(f.metadata.rtol) as Record<string, number>;
  const floor = Number(f.metadata.floor);
  assert.ok(Number.isFinite(floor) && floor > 0, `metadata floor ${f.metadata.floor}`);
  const steps = Number(f.metadata.steps);
  const batch = Number(f.metadata.batch);

  const model = createFromConstructor('VisionTransformer', smallViT);
  const init = new Map([...f.tensors].filter(([k]) => k.startsWith('init.')).map(([k, v]) => [k.slice(5), v]));
  model.loadStateDict(init);

  const session = await TrainingSession.create(model, {
    inputShape: [batch, 3, 32, 32],
    optimizer: adamw({ betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05 }),
    threads: 1,
  });
  const deviations: Deviation[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const input = need(f, `step${i}.input`);
      const target = need(f, `step${i}.target`);
      assert.deepEqual([...input.shape], [batch, 3, 32, 32]);
      const { loss } = await session.step(input.data as Float32Array, target.data as BigInt64Array, 1e-3);
      const key = `step${i}.loss`;
      deviations.push(lossDeviation(key, loss, Number(need(f, key).data[0]), rtol[key]));
    }
  } finally {
    await session.release();
  }
  const sd = model.stateDict();
  const finals = [...f.tensors.keys()].filter((k) => k.startsWith('final.'));
  assert.deepEqual(finals.map((k) => k.slice(6)).sort(), [...sd.keys()].sort(), 'final.<key> covers the state dict');
  for (const key of finals) {
    assert.ok(rtol[key] !== undefined, `no rtol for ${key}`);
    deviations.push(tensorDeviation(key, sd.get(key.slice(6))!.data as Float32Array, need(f, key).data as Float32Array, rtol[key], floor));
  }
  const worst = deviations.reduce((w, d) => (d.error / d.allowed > w.error / w.allowed ? d : w));
  t.diagnostic(`worst: ${worst.key} at ${((100 * worst.error) / worst.allowed).toFixed(1)}% of its tolerance`);
  const bad = deviations.filter((d) => !(d.error <= d.allowed));
  assert.deepEqual(
    bad.map((d) => d.key),
    [],
    `out of tolerance:\n${bad.map((d) => `  ${d.key}: error ${d.error.toExponential(3)} > allowed ${d.allowed.toExponential(3)}`).join('\n')}`,
  );
});
