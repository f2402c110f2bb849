/**
 * Parity with the PyTorch reference fixtures (format: ../shared/README.md): eval logits, train
 * logits, loss, gradients and BatchNorm running statistics of six models, each within the
 * fixture's own tolerances. The default precision is float64 because the references are float64
 * computations (float32 can flip a ReLU mask at a pre-activation of ~1e-9, e.g. in pc_resnet18);
 * one float32 case checks the training precision on LeNet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../src/io/safetensors.js';
import { Module } from '../src/nn/module.js';
import { createModel, resolveModel } from '../src/models/index.js';
import { ParityOptions, checkFixture } from '../src/verify/parity.js';
import { SHARED_FIXTURES, sharedFixture } from '../test-support/fixtures.js';

const haveFixtures = existsSync(SHARED_FIXTURES);

interface ParityCase {
  readonly fixture: string;
  readonly build: () => Module;
  readonly opts?: ParityOptions;
}

const cases: ParityCase[] = [
  { fixture: 'pc_lenet', build: () => createModel('cifar_lenet') },
  { fixture: 'pc_resnet18', build: () => createModel('cifar_resnet18') },
  { fixture: 'pc_mobilenetv2', build: () => createModel('cifar_mobilenetv2') },
  { fixture: 'tv_resnet_basic', build: () => resolveModel('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: 10 }, 'torchvision') },
  {
    fixture: 'tv_resnext_bottleneck',
    build: () => resolveModel('ResNet', { block: 'Bottleneck', layers: [1, 1, 1, 1], groups: 4, widthPerGroup: 8, numClasses: 10 }, 'torchvision'),
  },
  { fixture: 'tv_mobilenet_v2', build: () => resolveModel('mobilenet_v2', { numClasses: 10, widthMult: 0.35 }, 'torchvision') },
  { fixture: 'pc_lenet', build: () => createModel('cifar_lenet'), opts: { precision: 'float32' } },
];

const REFERENCE = /^(logits|loss|grad|running)\./;

/** Runs `checkFixture` and asserts every reference tensor in the file was checked and is within tolerance. */
async function assertParity(c: ParityCase): Promise<void> {
  const file = readSafetensors(sharedFixture(`${c.fixture}.safetensors`));
  const report = await checkFixture(c.build(), file, c.opts);
  const references = [...file.tensors.keys()].filter((k) => REFERENCE.test(k)).sort();
  assert.deepEqual(
    report.checks.map((ch) => ch.key).sort(),
    references,
    `${c.fixture}: ${report.checks.length} checks for ${references.length} reference tensors`,
  );
  const failing = report.checks.filter((ch) => !ch.ok);
  assert.ok(
    report.ok,
    `${c.fixture}: ${failing.length} of ${report.checks.length} tensors out of tolerance:\n` +
      failing.map((ch) => `  ${ch.key}: max error ${ch.maxError.toExponential(3)} > allowed ${ch.allowed.toExponential(3)} (rtol ${ch.rtol})`).join('\n'),
  );
}

for (const c of cases) {
  test(`${c.fixture} matches PyTorch (${c.opts?.precision ?? 'float64'})`, async (t) => {
    if (!haveFixtures) return t.skip(`shared/fixtures not found at ${SHARED_FIXTURES} (see ../shared/README.md)`);
    await assertParity(c);
  });
}
