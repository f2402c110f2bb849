/**
 * torchvision MaxVit port: the `maxvit_t` registry entry (with its pretrained-weights record) and
 * a traced forward at batch 1, 224×224 (tracing only), state-dict keys and order, the
 * stochastic-depth schedule, one-line argument errors, and parity with
 * test/data/fixtures/tv_maxvit.safetensors (written by make_maxvit.py beside it, in the shared
 * fixtures' format: ../shared/README.md) through the `MaxVit` constructor's JSON form, in
 * process and through `tessera verify`. Parameter / state-dict / buffer counts against
 * zoo_params.json are checked in zoo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BatchNorm2d, GELU, SiLU } from '../src/nn/layers.js';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor, modelInfo } from '../src/models/index.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { checkFixture, fixtureStateDict } from '../src/verify/parity.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';
import { ROOT, runCli } from '../test-support/cli.js';

/** relative to the repo root */
const FIXTURE = 'test/data/fixtures/tv_maxvit.safetensors';

/** the fixture's model: MaxVit(input_size=(64,64), stem_channels=8, partition_size=4, block_channels=[8,16], block_layers=[1,2], head_dim=4, stochastic_depth_prob=0.1, num_classes=10) */
const smallMaxVit: JsonArgs = { inputSize: 64, stemChannels: 8, partitionSize: 4, blockChannels: [8, 16], blockLayers: [1, 2], headDim: 4, stochasticDepthProb: 0.1, numClasses: 10 };

// ---- registry and tracing --------------------------------------------------------------------

test('maxvit_t: registry entry (torchvision, maxvit, 224px, 2022, IMAGENET1K_V1 weights); traces at 1×3×224×224 to [1, 1000]', () => {
  const info = modelInfo('maxvit_t');
  assert.equal(info.source, 'torchvision');
  assert.equal(info.family, 'maxvit');
  assert.equal(info.reference, 'maxvit_t');
  assert.equal(info.inputSize, 224);
  assert.equal(info.numClasses, 1000);
  assert.equal(info.year, 2022);
  assert.equal(info.paper, 'MaxViT: Multi-Axis Vision Transformer');
  assert.equal(info.minInputSize, 224, 'the grid sizes are fixed at construction');
  assert.deepEqual(info.pretrained, {
    url: 'https://download.pytorch.org/models/maxvit_t-bc5ab103.pth',
    licence: 'BSD-3-Clause (torchvision); trained on ImageNet-1K',
    inputSize: 224,
    resizeSize: 224,
    cropFraction: 1,
    interpolation: 'bicubic',
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    classifier: 'classifier.5',
    top1: 83.7,
    top5: 96.722,
  });
  const model = buildWithConstantInit('maxvit_t').eval();
  const sd = model.stateDict();
  assert.deepEqual(sd.get(`${info.pretrained!.classifier}.weight`)?.shape, [1000, 512], 'the classifier prefix names the last Linear');
  const trace = new Trace(model, { weights: 'constants' });
  const out = traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, 224, 224], 'float32')));
  assert.deepEqual(out.shape, [1, 1000], 'maxvit_t: logits shape');
});

// ---- structure -------------------------------------------------------------------------------

test('MaxVit: torchvision state-dict keys in order, int64 relative position index, stochastic-depth schedule', () => {
  const model = createFromConstructor('MaxVit', smallMaxVit);
  const sd = model.stateDict();
  const keys = [...sd.keys()];
  const layer = 'blocks.0.layers.0.layers';
  const spots: [number, string][] = [
    [0, 'stem.0.0.weight'],
    [1, 'stem.0.1.weight'],
    [6, 'stem.1.0.weight'],
    [7, 'stem.1.0.bias'],
    [8, `${layer}.MBconv.proj.1.weight`],
    [10, `${layer}.MBconv.layers.pre_norm.weight`],
    [keys.indexOf(`${layer}.MBconv.layers.squeeze_excitation.fc1.weight`), `${layer}.MBconv.layers.squeeze_excitation.fc1.weight`],
    [keys.indexOf(`${layer}.window_attention.attn_layer.0.weight`) + 2, `${layer}.window_attention.attn_layer.1.relative_position_bias_table`],
    [keys.indexOf(`${layer}.window_attention.attn_layer.0.weight`) + 3, `${layer}.window_attention.attn_layer.1.relative_position_index`],
    [keys.indexOf(`${layer}.window_attention.attn_layer.0.weight`) + 4, `${layer}.window_attention.attn_layer.1.to_qkv.weight`],
    [keys.length - 5, 'classifier.2.weight'],
    [keys.length - 1, 'classifier.5.weight'],
  ];
  for (const [i, key] of spots) assert.equal(keys[i], key, `state-dict key #${i}`);
  for (const absent of ['blocks.1.layers.1.layers.MBconv.proj.0.weight', 'classifier.5.bias']) assert.ok(!sd.has(absent), `${absent} must not exist`);
  assert.equal(keys.filter((k) => k.endsWith('relative_position_index')).length, 6);

  const index = sd.get(`${layer}.grid_attention.attn_layer.1.relative_position_index`)!;
  assert.equal(index.dtype, 'int64');
  assert.deepEqual(index.shape, [16, 16]);
  // _get_relative_position_index(4, 4): (Δy + 3)·7 + (Δx + 3); position 0 is (0, 0), 5 is (1, 1), 15 is (3, 3)
  const at = (i: number, j: number) => Number(index.data[i * 16 + j]);
  assert.deepEqual([at(0, 0), at(0, 5), at(5, 0), at(0, 15), at(15, 0)], [24, 16, 32, 0, 48]);
  assert.deepEqual(sd.get(`${layer}.window_attention.attn_layer.1.relative_position_bias_table`)!.shape, [49, 2]);

  const probs = [...model.namedModules()].filter(([path, m]) => m instanceof StochasticDepth && path.endsWith('MBconv.stochastic_depth')).map(([, m]) => (m as StochasticDepth).p);
  assert.deepEqual(probs, [0, 0.05, 0.1], 'numpy.linspace(0, 0.1, 3) over the three layers');
});

// ---- argument errors -------------------------------------------------------------------------

const argumentErrors: { name: string; args: JsonArgs; error: RegExp }[] = [
  { name: 'a block input not divisible by the partition', args: { ...smallMaxVit, partitionSize: 3 }, error: /^MaxVit: input size \[16,16\] of block 0 is not divisible by partition size 3; .*block input sizes: \[16,16\], \[8,8\]/ },
  { name: 'channels not divisible by the head dim', args: { ...smallMaxVit, headDim: 3 }, error: /feat_dim 8 must be divisible by head_dim 3/ },
  { name: 'a missing required argument', args: { ...smallMaxVit, headDim: undefined }, error: /^MaxVit: argument headDim is required$/ },
  { name: 'block lists of different lengths', args: { ...smallMaxVit, blockLayers: [1] }, error: /blockChannels \(2 blocks\) and blockLayers \(1 blocks\) must have the same length/ },
  { name: 'an empty block list', args: { ...smallMaxVit, blockChannels: [] }, error: /argument blockChannels must be a non-empty array of positive integers, got \[\]/ },
  { name: 'an unknown argument', args: { ...smallMaxVit, windowSize: 7 }, error: /^MaxVit: unknown argument\(s\) windowSize; accepted: inputSize, / },
  { name: 'an unknown activation', args: { ...smallMaxVit, activationLayer: 'Swish' }, error: /argument activationLayer must name a torch.nn activation \(GELU, SiLU, .*\), got "Swish"/ },
  { name: 'a norm layer that is not BatchNorm2d', args: { ...smallMaxVit, normLayer: { type: 'LayerNorm' } }, error: /argument normLayer.type must be "BatchNorm2d"/ },
  { name: 'a stochastic depth probability above 1', args: { ...smallMaxVit, stochasticDepthProb: 1.5 }, error: /argument stochasticDepthProb must be a number in \[0, 1\], got 1.5/ },
  { name: 'a squeeze ratio leaving no channels', args: { ...smallMaxVit, squeezeRatio: 0.1 }, error: /MBConv: int\(8 channels · squeezeRatio 0.1\) is 0; raise squeezeRatio/ },
  { name: 'maxvit_t with a fixed argument', args: { builder: 'maxvit_t', headDim: 16 }, error: /^maxvit_t: unknown argument\(s\) headDim; accepted: inputSize, / },
];

for (const c of argumentErrors) {
  test(`MaxVit argument error: ${c.name} (one line)`, () => {
    const { builder, ...args } = c.args;
    const json = JSON.parse(JSON.stringify(args)) as JsonArgs; // drops the undefined entries, as JSON would
    assert.throws(
      () => createFromConstructor(typeof builder === 'string' ? builder : 'MaxVit', json),
      (e: unknown) => e instanceof Error && c.error.test(e.message) && !e.message.includes('\n'),
    );
  });
}

test('MaxVit: JSON options reach the layers (normLayer, activationLayer, inputSize pair)', () => {
  const model = createFromConstructor('MaxVit', { ...smallMaxVit, inputSize: [64, 64], normLayer: { type: 'BatchNorm2d', eps: 0.001 }, activationLayer: 'SiLU' });
  const modules = new Map(model.namedModules());
  const bn = modules.get('stem.0.1');
  assert.ok(bn instanceof BatchNorm2d && bn.eps === 0.001 && bn.opts.momentum === 0.1, 'partial(BatchNorm2d, eps=0.001) keeps the torch default momentum 0.1');
  assert.ok(modules.get('stem.0.2') instanceof SiLU);
  assert.ok(modules.get('blocks.0.layers.0.layers.window_attention.mlp_layer.2') instanceof SiLU);
  const defaults = new Map(createFromConstructor('MaxVit', smallMaxVit).namedModules());
  const defaultBn = defaults.get('stem.0.1');
  assert.ok(defaultBn instanceof BatchNorm2d);
  assert.deepEqual(defaultBn.opts, { eps: 1e-3, momentum: 0.99 });
  assert.ok(defaults.get('stem.0.2') instanceof GELU);
});

test('MaxVit: an input of another size than inputSize is one clear error', () => {
  const model = createFromConstructor('MaxVit', smallMaxVit).eval();
  const trace = new Trace(model, { weights: 'constants' });
  assert.throws(
    () => traceWith(trace, () => model.call(trace.graph.addInput('input', [1, 3, 32, 32], 'float32'))),
    (e: unknown) => e instanceof Error && /MaxVit: expected \[batch, 3, 64, 64\] \(the inputSize it was built for\), got \[1,3,32,32\]/.test(e.message) && !e.message.includes('\n'),
  );
});

// ---- parity ----------------------------------------------------------------------------------

test('tv_maxvit: the model has the fixture state dict, keys in the same order', () => {
  const file = readSafetensors(join(ROOT, FIXTURE));
  assert.deepEqual([...createFromConstructor('MaxVit', smallMaxVit).stateDict().keys()], [...fixtureStateDict(file).keys()]);
});

test('tv_maxvit: parity with the torchvision fixture (float64)', async () => {
  const file = readSafetensors(join(ROOT, FIXTURE));
  const report = await checkFixture(createFromConstructor('MaxVit', smallMaxVit), file);
  const failing = report.checks.filter((c) => !c.ok);
  assert.ok(report.checks.some((c) => c.kind === 'grad') && report.checks.some((c) => c.kind === 'running'), 'tv_maxvit: gradients and running statistics checked');
  assert.ok(report.ok, `tv_maxvit: ${failing.map((c) => `${c.key} max error ${c.maxError.toExponential(3)} > ${c.allowed.toExponential(3)}`).join('; ')}`);
});

test('tv_maxvit: tessera verify --model MaxVit --args exits 0', async () => {
  const r = await runCli(['verify', FIXTURE, '--model', 'MaxVit', '--args', JSON.stringify(smallMaxVit)]);
  assert.equal(r.code, 0, `tessera verify failed:\n${r.stdout}${r.stderr}`);
});
