/**
 * torchvision MaxVit port: state-dict keys and order, the stochastic-depth schedule, one-line
 * argument errors, and `tessera verify` on test/data/fixtures/tv_maxvit.safetensors (written by
 * make_maxvit.py beside it, in the shared fixtures' format: ../shared/README.md). In-process
 * parity: parity-*.test.ts; counts: zoo.test.ts; real forward: zoo-run-*.test.ts.
 */
import { test } from 'node:test';
import { SMALL_MAXVIT as smallMaxVit } from '../test-support/fixture-cases.js';
import assert from 'node:assert/strict';
import { BatchNorm2d, GELU, SiLU } from '../src/nn/layers.js';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { JsonArgs, createFromConstructor } from '../src/models/index.js';
import { runCli } from '../test-support/cli.js';

/** relative to the repo root */
const FIXTURE = 'test/data/fixtures/tv_maxvit.safetensors';

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
  { name: 'maxvit_t with a fixed argument', args: { builder: 'maxvit_t', headDim: 16 }, error: /^maxvit_t: unknown argument\(s\) headDim; accepted: numClasses, inputSize, / },
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

// ---- tessera verify ------------------------------------------------------------------------

test('tv_maxvit: tessera verify --model MaxVit --args exits 0', async () => {
  const r = await runCli(['verify', FIXTURE, '--model', 'MaxVit', '--args', JSON.stringify(smallMaxVit)]);
  assert.equal(r.code, 0, `tessera verify failed:\n${r.stdout}${r.stderr}`);
});
