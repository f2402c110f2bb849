/**
 * Bad input at the API level: each case must fail with the right error class and a message that
 * says where and what (module path and both shapes; missing, unexpected and mismatched state-dict
 * keys; a suggestion for a misspelt model name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostTensor } from '../src/graph/ir.js';
import { Conv2d } from '../src/nn/layers.js';
import { LoadResult, Module, Sequential, StateDictError } from '../src/nn/module.js';
import { ShapeError } from '../src/ops/registry.js';
import { UnknownModelError, createModel, resolveModel } from '../src/models/index.js';
import { sgd } from '../src/optim/sgd.js';
import { InferenceModel, exportInferenceOnnx } from '../src/runtime/inference.js';
import { buildStepGraph } from '../src/runtime/step-graph.js';
import { TrainingSession } from '../src/runtime/training-session.js';

interface ErrorCase {
  readonly name: string;
  /** the call that must fail (a rejected promise counts) */
  readonly act: () => unknown;
  readonly error: new (...args: never[]) => Error;
  /** every pattern must occur in the message */
  readonly message: readonly (RegExp | string)[];
  /** further checks on the error */
  readonly check?: (e: Error) => void;
}

/** a two-level model whose second conv expects 5 channels but gets 4: the error must name "features.1" */
function nestedMismatch(): Module {
  return Sequential.named([['features', new Sequential(new Conv2d(3, 4, 3), new Conv2d(5, 6, 3))]]);
}

/** LeNet's state dict without fc3 and with a stray key: only missing and unexpected keys, no shape mismatch */
function lenetStateWithoutFc3(): Map<string, HostTensor> {
  const sd = new Map(createModel('cifar_lenet').stateDict());
  sd.delete('fc3.weight');
  sd.delete('fc3.bias');
  sd.set('fc4.weight', { dtype: 'float32', shape: [10, 84], data: new Float32Array(840) });
  return sd;
}

const loadResult = (e: Error): LoadResult => (e as StateDictError).result;

const cases: ErrorCase[] = [
  // ---- shapes at trace time
  {
    name: 'a 1-channel image into cifar_lenet (inference export)',
    act: () => exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [2, 1, 32, 32] }),
    error: ShapeError,
    message: ['module "conv1"', '[2, 1, 32, 32]', '[6, 3, 5, 5]', /1 channels, weight expects 3/],
  },
  {
    name: 'a 1-channel image into cifar_resnet18 (training step graph)',
    act: () => buildStepGraph(createModel('cifar_resnet18'), { inputShape: [2, 1, 32, 32] }),
    error: ShapeError,
    message: ['module "conv1"', '[2, 1, 32, 32]', '[64, 3, 3, 3]'],
  },
  {
    name: '28×28 images into cifar_lenet: fc1 gets 256 in-features instead of 400',
    act: () => exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [2, 3, 28, 28] }),
    error: ShapeError,
    message: ['module "fc1"', '[2, 256]', '[120, 400]'],
  },
  {
    name: '64×64 images into cifar_resnet18: the classifier gets 2048 in-features instead of 512',
    act: () => InferenceModel.create(createModel('cifar_resnet18'), { inputShape: [2, 3, 64, 64] }),
    error: ShapeError,
    message: ['module "linear"', '[2, 2048]', '[10, 512]'],
  },
  {
    name: 'a channel mismatch inside a nested module (TrainingSession.create)',
    act: () => TrainingSession.create(nestedMismatch(), { inputShape: [2, 3, 16, 16], optimizer: sgd() }),
    error: ShapeError,
    message: ['module "features.1"', '[2, 4, 14, 14]', '[6, 5, 3, 3]'],
  },
  // ---- state dicts
  {
    name: 'a ResNet18 state dict into LeNet',
    act: () => createModel('cifar_lenet').loadStateDict(createModel('cifar_resnet18').stateDict()),
    error: StateDictError,
    message: [/\b9 missing: .*fc1\.weight/, /\b121 unexpected: .*layer1\.0\.conv1\.weight/, 'conv1.weight: checkpoint [64, 3, 3, 3], model [6, 3, 5, 5]'],
    check: (e) => {
      const r = loadResult(e);
      assert.deepEqual(r.missing, ['conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
      assert.equal(r.unexpected.length, 121);
      assert.ok(r.unexpected.includes('linear.weight') && r.unexpected.includes('bn1.num_batches_tracked'));
      assert.deepEqual(r.mismatched, ['conv1.weight: checkpoint [64, 3, 3, 3], model [6, 3, 5, 5]']);
    },
  },
  {
    name: 'a state dict with missing and unexpected keys (strict)',
    act: () => createModel('cifar_lenet').loadStateDict(lenetStateWithoutFc3()),
    error: StateDictError,
    message: ['2 missing: fc3.weight, fc3.bias', '1 unexpected: fc4.weight'],
    check: (e) => assert.deepEqual(loadResult(e), { missing: ['fc3.weight', 'fc3.bias'], unexpected: ['fc4.weight'], mismatched: [] }),
  },
  {
    name: 'a 5-class head into a 10-class LeNet, even with strict: false',
    act: () => createModel('cifar_lenet').loadStateDict(createModel('cifar_lenet', { numClasses: 5 }).stateDict(), { strict: false }),
    error: StateDictError,
    message: ['fc3.weight: checkpoint [5, 84], model [10, 84]', 'fc3.bias: checkpoint [5], model [10]'],
    check: (e) => assert.deepEqual(loadResult(e), { missing: [], unexpected: [], mismatched: ['fc3.weight: checkpoint [5, 84], model [10, 84]', 'fc3.bias: checkpoint [5], model [10]'] }),
  },
  // ---- model names
  {
    name: "createModel('cifar_resnt18')",
    act: () => createModel('cifar_resnt18'),
    error: UnknownModelError,
    message: ['unknown model "cifar_resnt18"', /did you mean cifar_resnet18\b/],
  },
  {
    name: "resolveModel('ResNt', {...}, 'torchvision')",
    act: () => resolveModel('ResNt', { block: 'BasicBlock', layers: [1, 1, 1, 1] }, 'torchvision'),
    error: UnknownModelError,
    message: ['"ResNt"', /did you mean .*\bResNet\b/],
  },
];

/** runs the case's call and asserts it fails as described */
async function assertFails(c: ErrorCase): Promise<void> {
  let thrown: unknown = null;
  try {
    await c.act();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, `${c.name}: did not fail`);
  assert.ok(thrown instanceof c.error, `${c.name}: threw ${(thrown as Error)?.constructor?.name} (${String((thrown as Error)?.message ?? thrown)}), not ${c.error.name}`);
  for (const m of c.message) {
    if (typeof m === 'string') assert.ok(thrown.message.includes(m), `${c.name}: message lacks ${JSON.stringify(m)}: ${thrown.message}`);
    else assert.match(thrown.message, m, `${c.name}`);
  }
  c.check?.(thrown);
}

for (const c of cases) test(`rejects ${c.name}`, () => assertFails(c));

test('a failed strict load leaves the model untouched; strict: false loads what matches and returns the rest', () => {
  const sd = lenetStateWithoutFc3();
  const conv1 = sd.get('conv1.weight')!.data as Float32Array;
  const model = createModel('cifar_lenet');
  const before = Float32Array.from(model.stateDict().get('conv1.weight')!.data as Float32Array);
  assert.notDeepEqual(before, conv1, 'two fresh LeNets draw different weights');

  assert.throws(() => model.loadStateDict(sd), StateDictError);
  assert.deepEqual(model.stateDict().get('conv1.weight')!.data, before, 'strict failure loaded nothing');

  const fc3 = Float32Array.from(model.stateDict().get('fc3.weight')!.data as Float32Array);
  const result = model.loadStateDict(sd, { strict: false });
  assert.deepEqual(result, { missing: ['fc3.weight', 'fc3.bias'], unexpected: ['fc4.weight'], mismatched: [] });
  assert.deepEqual(model.stateDict().get('conv1.weight')!.data, conv1, 'matching keys loaded');
  assert.deepEqual(model.stateDict().get('fc3.weight')!.data, fc3, 'missing keys keep their values');
});
