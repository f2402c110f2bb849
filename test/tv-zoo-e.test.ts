/**
 * torchvision VisionTransformer port: state-dict keys, init and argument checks. Every config's
 * counts: zoo.test.ts; its real forward and training step: zoo-run-*.test.ts; fixture parity
 * (tv_vit): parity-*.test.ts; AdamW steps against PyTorch: trajectory.test.ts.
 */
import { test } from 'node:test';
import { SMALL_VIT as smallViT } from '../test-support/fixture-cases.js';
import assert from 'node:assert/strict';
import { createFromConstructor } from '../src/models/index.js';

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
