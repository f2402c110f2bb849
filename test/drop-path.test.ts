/**
 * `--drop-path` (stochastic depth through createModel), `--patch-size` and `--opt-betas`: the
 * ViTs' drop-path schedule (no new keys), eval outputs independent of the rate, the per-sample
 * drop of a residual branch with its 1/(1 − p) scaling and its gradient in training, the families
 * that take a rate and the refusal of those that do not, and a run whose checkpoint records its
 * patch size so `tessera eval` and `predict` rebuild the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostTensor, Value } from '../src/graph/ir.js';
import { add, mul } from '../src/ops/elementwise.js';
import { stochasticDepth } from '../src/ops/random.js';
import { writeOnnx } from '../src/onnx/write.js';
import { createSession, fromOrt, toOrt } from '../src/runtime/ort.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { Trace, traceWith } from '../src/nn/trace.js';
import { manualSeed } from '../src/nn/init.js';
import { Module } from '../src/nn/module.js';
import { StochasticDepth } from '../src/nn/stochastic.js';
import { builderArguments, createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { EncoderBlock, dropPathRates } from '../src/models/vit.js';
import { readCommandLine } from '../src/cli/args.js';
import { TRAIN, resolveOptions } from '../src/cli/train.js';
import { PRETRAIN, pretrainOptions } from '../src/cli/pretrain.js';
import { train } from '../src/train/trainer.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { mulberry32 } from '../src/util/random.js';
import { SMALL_VIT } from '../test-support/fixture-cases.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';
import { runCli } from '../test-support/cli.js';
import { assertClose, gradCheck, valuesOf } from '../test-support/gradcheck.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-drop-path-'));
const quiet = { write: () => true };

/** the drop-path rate of every StochasticDepth module, by path */
const rates = (model: Module): [string, number][] => [...model.namedModules()].flatMap(([path, m]): [string, number][] => (m instanceof StochasticDepth ? [[path, m.p]] : []));

const random = (shape: number[], seed: number): HostTensor => {
  const rand = mulberry32(seed);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * rand() - 1) };
};

// ---- the ViTs' schedule, keys and eval outputs --------------------------------------------------

for (const { name, build, depth } of [
  { name: 'torchvision VisionTransformer', build: (rate?: number) => createFromConstructor('VisionTransformer', { ...SMALL_VIT, ...(rate === undefined ? {} : { stochasticDepthProb: rate }) }), depth: 2 },
  { name: 'vit_tiny_cifar', build: (rate?: number) => createModel('vit_tiny_cifar', { stochasticDepthProb: rate }), depth: 12 },
]) {
  test(`${name}: drop path rises linearly over depth to the rate on both branches of every block, with no new keys`, () => {
    const rate = 0.3;
    const model = build(rate);
    const expected = dropPathRates(rate, depth).map((p, i): [string, number] => [`encoder.layers.encoder_layer_${i}.drop_path`, p]);
    assert.deepEqual(rates(model), expected);
    assert.equal(expected[0][1], 0);
    assert.ok(Math.abs(expected[depth - 1][1] - rate) < 1e-15 && expected.every(([, p], i) => i === 0 || Math.abs(p - expected[i - 1][1] - rate / (depth - 1)) < 1e-12));
    const plain = build();
    assert.ok(rates(plain).every(([, p]) => p === 0), 'the default rate is 0');
    assert.deepEqual([...model.stateDict()].map(([k, t]) => [k, t.shape]), [...plain.stateDict()].map(([k, t]) => [k, t.shape]));
  });
}

test('eval outputs do not depend on the drop-path rate', async () => {
  const forward = async (rate: number) => {
    manualSeed(11);
    const model = createFromConstructor('VisionTransformer', { ...SMALL_VIT, stochasticDepthProb: rate });
    // torchvision zero-initialises the head: a random one makes the logits show the encoder
    model.loadStateDict(new Map([...model.stateDict(), ['heads.head.weight', random([10, 32], 3)]]));
    model.eval();
    const net = await InferenceModel.create(model, { inputShape: [3, 3, 32, 32] });
    try {
      return valuesOf(await net.run(random([3, 3, 32, 32], 5)));
    } finally {
      await net.release();
    }
  };
  const [off, on] = [await forward(0), await forward(0.5)];
  assert.ok(off.some((v) => v !== 0));
  assert.deepEqual(on, off);
});

// ---- training mode: per-sample drop with 1/(1 − p), and its gradient ---------------------------

/** runs `build` on x in a graph traced from `model` (its weights as constants) and returns its outputs */
async function runTraced(model: Module, x: HostTensor, build: (x: Value) => Record<string, Value>): Promise<Record<string, number[]>> {
  const trace = new Trace(model, { weights: 'constants' });
  const outs = traceWith(trace, () => build(trace.graph.addInput('x', x.shape, x.dtype)));
  const session = await createSession(writeOnnx(trace.graph, Object.entries(outs).map(([name, value]) => ({ name, value }))), { threads: 1 });
  try {
    const r = await session.run({ x: toOrt(x) });
    return Object.fromEntries(Object.keys(outs).map((k) => [k, valuesOf(fromOrt(r[k]))]));
  } finally {
    await session.release();
  }
}

test('a ViT block in training drops each residual branch per sample and scales the kept ones by 1/(1 − p)', async () => {
  const [n, l, d, p] = [48, 3, 8, 0.5];
  const block = new EncoderBlock(2, d, 16, 0, 0, p);
  const x = random([n, l, d], 9);
  block.train();
  const { y } = await runTraced(block, x, (v) => ({ y: block.call(v) }));
  block.eval();
  // the branches as eval computes them: attention a(x), MLP on x and on x + a/(1 − p)
  const s = 1 / (1 - p);
  const parts = await runTraced(block, x, (v) => {
    const a = block.self_attention.call(block.ln_1.call(v));
    return { a, mlpOfX: block.mlp.call(block.ln_2.call(v)), mlpAfterA: block.mlp.call(block.ln_2.call(add(v, mul(a, s)))) };
  });
  const xs = valuesOf(x);
  const size = l * d;
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const at = (values: readonly number[]) => values.slice(i * size, (i + 1) * size);
    const [xi, ai, bx, ba, yi] = [at(xs), at(parts.a), at(parts.mlpOfX), at(parts.mlpAfterA), at(y)];
    const candidates: Record<string, number[]> = {
      'both dropped': xi,
      'attention dropped, MLP kept': xi.map((v, j) => v + s * bx[j]),
      'attention kept, MLP dropped': xi.map((v, j) => v + s * ai[j]),
      'both kept': xi.map((v, j) => v + s * ai[j] + s * ba[j]),
    };
    const match = Object.entries(candidates).filter(([, c]) => c.every((v, j) => Math.abs(v - yi[j]) <= 1e-5 * (1 + Math.abs(v))));
    assert.equal(match.length, 1, `sample ${i}: its output is ${match.length ? 'ambiguous' : 'none of the drop patterns'}`);
    seen.add(match[0][0]);
  }
  assert.equal(seen.size, 4, `every drop pattern occurs among ${n} samples at p = ${p}: ${[...seen].join('; ')}`);
});

test('drop path on a residual branch: the gradient of the run that drew the mask (x + drop(x²))', async () => {
  const [p, n, k] = [0.5, 40, 3];
  const r = await gradCheck({
    op: 'BernoulliMask',
    name: 'x + stochasticDepth(x²) in training',
    inputs: [{ shape: [n, k] }],
    build: ([x]) => add(x, stochasticDepth(mul(x, x), p, 'row', true)),
    // the mask is drawn anew on every run, so the check below uses the analytic run's own draw
    fd: false,
  });
  const [x, y, w, g] = [valuesOf(r.inputs[0]), valuesOf(r.outputs[0]), valuesOf(r.weights[0]!), valuesOf(r.grads[0]!)];
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const row = [...Array(k).keys()].map((j) => i * k + j);
    const isKept = row.some((j) => y[j] !== x[j]);
    kept += isKept ? 1 : 0;
    const scale = isKept ? 1 / (1 - p) : 0;
    assertClose(row.map((j) => y[j]), row.map((j) => x[j] + scale * x[j] * x[j]), `sample ${i} forward`, 1e-12, 1e-12);
    assertClose(row.map((j) => g[j]), row.map((j) => w[j] * (1 + 2 * scale * x[j])), `sample ${i} gradient`, 1e-12, 1e-12);
  }
  assert.ok(kept > 5 && kept < n - 5, `kept ${kept} of ${n} samples at p = ${p}`);
});

// ---- createModel: the families with stochastic depth, the refusal ------------------------------

test('createModel passes the rate to every family with stochastic depth and refuses it elsewhere', () => {
  for (const name of ['convnext_tiny', 'efficientnet_b0', 'efficientnet_v2_s', 'maxvit_t', 'swin_t', 'swin_v2_t', 'vit_b_16', 'vit_small_cifar']) {
    assert.deepEqual(builderArguments(modelInfo(name), { stochasticDepthProb: 0.25 }), { stochasticDepthProb: 0.25 }, name);
  }
  const efficientnet = rates(createModel('efficientnet_b0', { numClasses: 10, stochasticDepthProb: 0.4 }));
  assert.ok(efficientnet.every(([, p]) => p < 0.4) && Math.max(...efficientnet.map(([, p]) => p)) > 0.3, 'EfficientNet scales its blocks up to the rate');
  assert.deepEqual(builderArguments(modelInfo('cifar_resnet18'), { stochasticDepthProb: 0 }), {}, 'a rate of 0 applies to every model');
  assert.throws(() => createModel('cifar_resnet18', { stochasticDepthProb: 0.1 }), /cifar_resnet18 has no stochastic depth \(drop path\), so a rate of 0\.1 does not apply; .*convnext, efficientnet, maxvit, swin, vit/);
  assert.throws(() => createModel('vit_b_16', { args: { patchSize: 8 } }), /vit_b_16 does not take the argument\(s\) patchSize; it takes imageSize, dropout, attentionDropout, stochasticDepthProb$/);
});

// ---- the command line ---------------------------------------------------------------------------

const trainLine = (...argv: string[]) => resolveOptions(readCommandLine(TRAIN, ['--data', scratch, ...argv])!);

test('train and pretrain read --drop-path, --patch-size and --opt-betas', () => {
  const o = trainLine('--model', 'vit_tiny_cifar', '--drop-path', '0.1', '--patch-size', '2', '--optimizer', 'adamw', '--opt-betas', '0.9,0.95');
  assert.deepEqual([o.dropPath, o.patchSize, o.optBetas], [0.1, 2, [0.9, 0.95]]);
  const plain = trainLine('--model', 'cifar_resnet18', '--drop-path', '0');
  assert.deepEqual([plain.dropPath, plain.patchSize, plain.optBetas], [0, undefined, undefined]);
  const pretrain = (...argv: string[]) => pretrainOptions(readCommandLine(PRETRAIN, ['--model', 'vit_tiny_cifar', '--data', scratch, ...argv])!);
  assert.deepEqual(pretrain().optBetas, [0.9, 0.95], "MAE's betas by default");
  assert.deepEqual([pretrain('--opt-betas', '0.9,0.99', '--patch-size', '2').optBetas, pretrain('--patch-size', '2').patchSize], [[0.9, 0.99], 2]);
});

for (const [what, args, message] of [
  ['--drop-path for a model without stochastic depth', ['--model', 'cifar_resnet18', '--drop-path', '0.1'], /^tessera: cifar_resnet18 has no stochastic depth \(drop path\), so a rate of 0\.1 does not apply; give 0 or leave it out, or pick a model of the convnext, efficientnet, maxvit, swin, vit families\n$/],
  ['--patch-size for a model without one', ['--model', 'vit_b_16', '--patch-size', '8'], /^tessera: vit_b_16 does not take the argument\(s\) patchSize; it takes imageSize, dropout, attentionDropout, stochasticDepthProb\n$/],
  ['--opt-betas with SGD', ['--model', 'vit_tiny_cifar', '--opt-betas', '0.9,0.95'], /^tessera: --opt-betas applies to --optimizer adamw only\n$/],
  ['--opt-betas with one beta', ['--model', 'vit_tiny_cifar', '--optimizer', 'adamw', '--opt-betas', '0.9'], /^tessera: --opt-betas: expected B1,B2 with each in \[0, 1\) \(e\.g\. 0\.9,0\.95\), got "0\.9"\n$/],
] as const) {
  test(`tessera train refuses ${what} in one line (exit 2)`, async () => {
    const r = await runCli(['train', '--data', scratch, '--epochs', '1', '--out', join(scratch, 'refused'), ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!readdirSync(scratch).includes('refused'), 'nothing written');
  });
}

// ---- a run: its checkpoint records the patch size for eval and predict ---------------------------

test('a run with --patch-size 8 and --drop-path trains; its checkpoint records the patch size, and eval and predict rebuild the model', async () => {
  const data = join(scratch, 'images');
  const out = join(scratch, 'vit-run');
  await makeImageFolder(data, ['blue', 'green'], 8);
  const result = await train(tinyRunOptions(data, out, { model: 'vit_tiny_cifar', patchSize: 8, dropPath: 0.2, optimizer: 'adamw', optBetas: [0.9, 0.95], lr: 1e-3, weightDecay: 0.05, epochs: 1 }), { sink: quiet });
  assert.ok(Number.isFinite(result.metrics[0].trainLoss));
  const ckpt = loadCheckpoint(join(out, 'last.safetensors'));
  assert.deepEqual(ckpt.meta.modelArgs, { patchSize: 8 });
  assert.deepEqual(ckpt.modelState.get('encoder.pos_embedding')!.shape, [1, 17, 192]);
  const evaluated = await runCli(['eval', '--checkpoint', out, '--data', data, '--val-split', '2', '--threads', '1', '--json']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal(JSON.parse(evaluated.stdout).top1, result.metrics[0].valTop1, 'eval of the held-out images agrees with the run');
  const predicted = await runCli(['predict', '--checkpoint', out, join(data, 'blue', '00.png'), '--threads', '1', '--json']);
  assert.equal(predicted.code, 0, predicted.stderr);
});
