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
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { checkFixture } from '../src/verify/parity.js';
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
