/**
 * Test time: TTA view geometry on a tiny image (flip, shifts with black fill, FiveCrop of the
 * zero-padded image rebuilt here from its definition), ensemble weights, ensemble and TTA
 * probabilities against softmax averages computed here from each model's logits, `tessera
 * average` of two checkpoints against their mean, and the one-line errors (exit 2) of --ema on a
 * checkpoint without an EMA, mismatched checkpoints and a wrong number of ensemble weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader } from '../src/data/loader.js';
import { CIFAR10_MEAN, CIFAR10_STD, ImageDataset } from '../src/data/types.js';
import type { HostTensor } from '../src/graph/ir.js';
import { createModel } from '../src/models/index.js';
import { manualSeed } from '../src/nn/init.js';
import type { Module } from '../src/nn/module.js';
import { InferenceModel } from '../src/runtime/inference.js';
import { CheckpointMeta, loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { cifarTransforms } from '../src/train/setup.js';
import { TtaMode, TtaView, applyView, ensembleWeights, evaluateEnsemble, softmax, ttaViews } from '../src/train/test-time.js';
import { CliResult, runCli } from '../test-support/cli.js';
import { makeImageFolder } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-test-time-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// ---- views ----------------------------------------------------------------------------------

const S = 4;
/** one 3×4×4 image: channel c, row y, column x holds 100c + 10y + x */
const IMAGE = Float32Array.from({ length: 3 * S * S }, (_, i) => 100 * Math.floor(i / (S * S)) + 10 * Math.floor((i % (S * S)) / S) + (i % S));
const FILL = [-1, -2, -3];

/** the view, rebuilt pixel by pixel from its definition: flip, then out(y, x) = in(y − dy, x − dx), black outside */
function referenceView(v: TtaView): Float32Array {
  const out = new Float32Array(IMAGE.length);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const sy = y - v.dy;
        const fx = x - v.dx;
        const inside = sy >= 0 && sy < S && fx >= 0 && fx < S;
        out[c * S * S + y * S + x] = inside ? 100 * c + 10 * sy + (v.flip ? S - 1 - fx : fx) : FILL[c];
      }
  return out;
}

/** torchvision FiveCrop(S) of the image zero-padded by p: (tl, tr, bl, br, center), built from the padded canvas */
function fiveCropOfPadded(p: number): Float32Array[] {
  const P = S + 2 * p;
  const canvas = (c: number, y: number, x: number) => (y >= p && y < p + S && x >= p && x < p + S ? IMAGE[c * S * S + (y - p) * S + (x - p)] : FILL[c]);
  const crop = (top: number, left: number) => Float32Array.from({ length: 3 * S * S }, (_, i) => canvas(Math.floor(i / (S * S)), top + Math.floor((i % (S * S)) / S), left + (i % S)));
  const far = P - S;
  return [crop(0, 0), crop(0, far), crop(far, 0), crop(far, far), crop(p, p)];
}

const viewCases: { mode: TtaMode; views: TtaView[] }[] = [
  { mode: 'none', views: [{ flip: false, dx: 0, dy: 0 }] },
  { mode: 'flip', views: [{ flip: false, dx: 0, dy: 0 }, { flip: true, dx: 0, dy: 0 }] },
  {
    mode: 'flip-translate',
    views: [
      { flip: false, dx: 0, dy: 0 },
      { flip: true, dx: 0, dy: 0 },
      { flip: false, dx: 2, dy: 0 },
      { flip: false, dx: -2, dy: 0 },
      { flip: false, dx: 0, dy: 2 },
      { flip: false, dx: 0, dy: -2 },
    ],
  },
];

for (const c of viewCases) {
  test(`TTA ${c.mode}: its views, each applied as defined (flip, then shift with black fill)`, () => {
    assert.deepEqual(ttaViews(c.mode, 1), c.views);
    for (const v of c.views) {
      const out = new Float32Array(IMAGE.length);
      applyView(IMAGE, 1, S, v, FILL, out);
      assert.deepEqual(out, referenceView(v), JSON.stringify(v));
    }
  });
}

test('TTA views: a hand-checked row (flip, then 1 pixel right) and a batch of two', () => {
  const out = new Float32Array(2 * IMAGE.length);
  applyView(Float32Array.from([...IMAGE, ...IMAGE]), 2, S, { flip: true, dx: 1, dy: 0 }, FILL, out);
  assert.deepEqual([...out.subarray(0, 4)], [-1, 3, 2, 1]);
  assert.deepEqual(out.subarray(IMAGE.length), out.subarray(0, IMAGE.length));
});

for (const p of [1, 2]) {
  test(`TTA 5crop (padding ${p}) is torchvision FiveCrop of the zero-padded image, in its order`, () => {
    const views = ttaViews('5crop', p);
    const want = fiveCropOfPadded(p);
    assert.equal(views.length, 5);
    views.forEach((v, i) => {
      const out = new Float32Array(IMAGE.length);
      applyView(IMAGE, 1, S, v, FILL, out);
      assert.deepEqual(out, want[i], `crop ${i}`);
    });
  });
}

// ---- ensembles ------------------------------------------------------------------------------

const weightCases: { text: string | undefined; members: number; want: number[] | RegExp }[] = [
  { text: undefined, members: 3, want: [1 / 3, 1 / 3, 1 / 3] },
  { text: '1,3', members: 2, want: [0.25, 0.75] },
  { text: '0.2, 0.2, 0.6', members: 3, want: [0.2, 0.2, 0.6] },
  { text: '1,2', members: 3, want: /^--ensemble-weights 1,2: 2 weight\(s\) for 3 checkpoint\(s\); give one per --checkpoint$/ },
  { text: '1,-1', members: 2, want: /^--ensemble-weights 1,-1: expected numbers > 0 separated by commas$/ },
  { text: '1,x', members: 2, want: /expected numbers > 0/ },
];

test('ensemble weights: normalized to sum 1, one per checkpoint, each > 0', () => {
  for (const c of weightCases) {
    if (c.want instanceof RegExp) assert.throws(() => ensembleWeights(c.text, c.members), { message: c.want });
    else ensembleWeights(c.text, c.members).forEach((w, i) => assert.ok(Math.abs(w - (c.want as number[])[i]) < 1e-15, `${c.text}: ${w}`));
  }
});

const CLASSES = ['a', 'b', 'c'];
/** five noisy 32×32 images, labels 0, 1, 2, 0, 1 */
const SMALL: ImageDataset = {
  name: 'noise',
  classes: CLASSES,
  length: 5,
  sample: (i) => ({ label: i % 3, source: { kind: 'pixels', data: Uint8Array.from({ length: 3 * 32 * 32 }, (_, j) => (j * (7 + i) + 13 * i) % 256), width: 32, height: 32 } }),
};
const EVAL_TRANSFORM = { size: 32, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
const BLACK = CIFAR10_MEAN.map((m, c) => -m / CIFAR10_STD[c]);

function seededLenet(seed: number): Module {
  manualSeed(seed);
  return createModel('cifar_lenet', { numClasses: 3 });
}

/** per image, Σ_m w_m · mean over views of softmax(model_m(view)), computed from each model's logits */
async function referenceProbabilities(models: readonly Module[], weights: readonly number[], views: readonly TtaView[]): Promise<{ probs: Float64Array[]; labels: number[] }> {
  const per = 3 * 32 * 32;
  const loader = new DataLoader(SMALL, { batchSize: 8, shuffle: false, seed: 0, dropLast: false, transform: EVAL_TRANSFORM, workers: 0 });
  const probs = Array.from({ length: SMALL.length }, () => new Float64Array(3));
  const labels: number[] = [];
  for await (const batch of loader.epoch(0)) {
    labels.push(...Array.from(batch.target, Number));
    for (const [m, model] of models.entries()) {
      const net = await InferenceModel.create(model, { inputShape: [1, 3, 32, 32], threads: 1 });
      for (let i = 0; i < batch.size; i++) {
        for (const v of views) {
          const view = new Float32Array(per);
          applyView(batch.input.subarray(i * per, (i + 1) * per), 1, 32, v, BLACK, view);
          const p = softmax(Array.from((await net.run({ dtype: 'float32', shape: [1, 3, 32, 32], data: view })).data, Number));
          p.forEach((x, c) => (probs[i][c] += (weights[m] * x) / views.length));
        }
      }
      await net.release();
    }
  }
  await loader.close();
  return { probs, labels };
}

const ensembleCases: { name: string; seeds: number[]; weights: number[]; mode: TtaMode }[] = [
  { name: 'one model, TTA flip', seeds: [1], weights: [1], mode: 'flip' },
  { name: 'two models 0.25/0.75, no TTA', seeds: [1, 2], weights: [0.25, 0.75], mode: 'none' },
  { name: 'three models, TTA 5crop', seeds: [1, 2, 3], weights: [1 / 3, 1 / 3, 1 / 3], mode: '5crop' },
];

for (const c of ensembleCases) {
  test(`ensemble (${c.name}): loss and top-1 of the weighted mean of view-averaged softmax, each member's own beside it`, async () => {
    const models = c.seeds.map(seededLenet);
    const views = ttaViews(c.mode, 4);
    const loader = new DataLoader(SMALL, { batchSize: 2, shuffle: false, seed: 0, dropLast: false, transform: EVAL_TRANSFORM, workers: 0 });
    const r = await evaluateEnsemble(models.map((model, i) => ({ model, weight: c.weights[i] })), loader, { size: 32, numClasses: 3, threads: 1, views, fill: BLACK });
    await loader.close();
    const check = async (got: { loss: number; top1: number; images: number }, ms: Module[], ws: number[], what: string) => {
      const { probs, labels } = await referenceProbabilities(ms, ws, views);
      const loss = probs.reduce((s, p, i) => s - Math.log(p[labels[i]]), 0) / probs.length;
      const top1 = probs.filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length / probs.length;
      assert.equal(got.images, SMALL.length, what);
      assert.ok(Math.abs(got.loss - loss) <= 1e-12 * Math.abs(loss), `${what}: loss ${got.loss}, recomputed ${loss}`);
      assert.equal(got.top1, top1, what);
    };
    await check(r.ensemble, models, c.weights, 'ensemble');
    for (const [i, m] of models.entries()) await check(r.members[i], [m], [1], `member ${i}`);
  });
}

// ---- checkpoints: average, eval ensembles, bad input -----------------------------------------

const DATA = join(scratch, 'colors');
const readyData = makeImageFolder(DATA, ['blue', 'green', 'red'], 2);

/** a training checkpoint of a seeded 3-class LeNet (with an EMA: the weights of seed + 100) */
function writeCheckpoint(name: string, seed: number, opts: { model?: string; ema?: boolean; size?: number } = {}): string {
  const modelName = opts.model ?? 'cifar_lenet';
  manualSeed(seed);
  const model = createModel(modelName, { numClasses: 3 });
  const t = cifarTransforms(opts.size ?? 32);
  const meta: CheckpointMeta = { epoch: 1, stepCount: 1, model: modelName, numClasses: 3, classes: ['blue', 'green', 'red'], transform: t.eval, trainTransform: t.train, bestTop1: null, bestEpoch: null, metrics: null, optimizer: { name: 'sgd' }, seed, version: 'test' };
  let ema = new Map<string, HostTensor>();
  if (opts.ema) {
    manualSeed(seed + 100);
    ema = new Map([...createModel(modelName, { numClasses: 3 }).stateDict()].filter(([, v]) => v.dtype === 'float32'));
  }
  return saveCheckpoint(scratch, name, model, new Map(), meta, ema);
}

const A = writeCheckpoint('a', 1, { ema: true });
const B = writeCheckpoint('b', 2, { ema: true });
const PLAIN = writeCheckpoint('plain', 3);
const OTHER = writeCheckpoint('other', 4, { model: 'cifar_resnet18' });
const LARGER = writeCheckpoint('larger', 5, { size: 40 });

for (const ema of [false, true]) {
  test(`tessera average${ema ? ' --ema' : ''} of two checkpoints writes their mean (integer buffers from the first), and eval reads it`, async () => {
    const out = join(scratch, `avg-${ema}.safetensors`);
    const r = await runCli(['average', A, B, '--out', out, ...(ema ? ['--ema'] : [])]);
    assert.equal(r.code, 0, r.stderr);
    const [a, b] = [A, B].map((p) => loadCheckpoint(p));
    const avg = loadCheckpoint(out);
    const source = (c: typeof a) => (ema ? new Map([...c.modelState, ...c.emaState]) : c.modelState);
    for (const [key, t] of avg.modelState) {
      const x = source(a).get(key)!.data;
      const y = source(b).get(key)!.data;
      t.data.forEach((v, i) => assert.equal(v, t.data instanceof Float32Array ? Math.fround((Number(x[i]) + Number(y[i])) / 2) : x[i], key));
    }
    assert.equal(avg.emaState.size, 0);
    await readyData;
    const e = await runCli(['eval', '--checkpoint', out, '--data', DATA, '--threads', '1', '--workers', '0', '--json']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).images, 6);
  });
}

test('tessera eval --checkpoint A --checkpoint B --ema --tta flip --json: each member beside the ensemble', async () => {
  await readyData;
  const r = await runCli(['eval', '--checkpoint', A, '--checkpoint', B, '--ensemble-weights', '1,3', '--ema', '--tta', 'flip', '--data', DATA, '--threads', '1', '--workers', '0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.tta, 'flip');
  assert.deepEqual(out.members.map((m: { checkpoint: string; weight: number }) => [m.checkpoint, m.weight]), [[A, 0.25], [B, 0.75]]);
  for (const m of [...out.members, out]) assert.ok(m.top1 >= 0 && m.top1 <= 1 && Number.isFinite(m.loss));
  const text = await runCli(['eval', '--checkpoint', A, '--checkpoint', B, '--data', DATA, '--threads', '1', '--workers', '0']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ensemble of 2 checkpoints:\n {2}\S+a\.safetensors \(cifar_lenet, epoch 1\) {2}weight 0\.500 {2}top-1 [\d.]+% {2}top-3 [\d.]+% {2}loss [\d.]+\n/);
});

/** exit 2, exactly one line `tessera...` matching `pattern`, no stack */
function assertOneLine(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^tessera[: ]/);
  assert.match(lines[0], pattern);
}

const badCases: { name: string; args: () => string[]; error: RegExp }[] = [
  { name: 'eval --ema of a checkpoint without an EMA', args: () => ['eval', '--checkpoint', PLAIN, '--data', DATA, '--ema'], error: /plain\.safetensors holds no EMA weights \(its run was trained without --model-ema\); leave out --ema$/ },
  { name: 'predict --ema of a checkpoint without an EMA', args: () => ['predict', '--checkpoint', PLAIN, '--ema', join(DATA, 'red', '00.png')], error: /holds no EMA weights/ },
  { name: 'export --ema of a checkpoint without an EMA', args: () => ['export', '--checkpoint', PLAIN, '--ema', '--out', join(scratch, 'x.onnx')], error: /holds no EMA weights/ },
  { name: 'average --ema with a checkpoint without an EMA', args: () => ['average', A, PLAIN, '--ema', '--out', join(scratch, 'x.safetensors')], error: /plain\.safetensors holds no EMA weights/ },
  { name: 'average of checkpoints of two models', args: () => ['average', A, OTHER, '--out', join(scratch, 'x.safetensors')], error: /other\.safetensors cannot be averaged with .*a\.safetensors: it is a cifar_resnet18 checkpoint, the first a cifar_lenet one; average checkpoints of one model$/ },
  { name: 'eval with fewer ensemble weights than checkpoints', args: () => ['eval', '--checkpoint', A, '--checkpoint', B, '--ensemble-weights', '1', '--data', DATA], error: /--ensemble-weights 1: 1 weight\(s\) for 2 checkpoint\(s\); give one per --checkpoint$/ },
  { name: 'eval ensemble of checkpoints with other transforms', args: () => ['eval', '--checkpoint', A, '--checkpoint', LARGER, '--data', DATA], error: /larger\.safetensors evaluates with another transform than .*a\.safetensors \(size 40 vs 32, or mean\/std\); an ensemble's checkpoints must share it$/ },
  { name: 'average --out without .safetensors', args: () => ['average', A, B, '--out', join(scratch, 'x.bin')], error: /--out .*x\.bin: the checkpoint's name must end in \.safetensors$/ },
];

for (const c of badCases) {
  test(`bad input, one line and exit 2: ${c.name}`, async () => {
    await readyData;
    assertOneLine(await runCli(c.args()), c.error);
  });
}
