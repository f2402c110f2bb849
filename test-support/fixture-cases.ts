/**
 * Every PyTorch reference fixture and the model it is checked against: one table, one runner.
 * The fixtures are `../shared/fixtures/{pc,tv}_*.safetensors` (format and tolerances:
 * ../shared/README.md) and the project's own `test/data/fixtures/*.safetensors` (generator
 * scripts beside them). Each case builds its model (weights come from the fixture, so the init
 * generator is stubbed to constants), checks that the state-dict keys come in the fixture's
 * (PyTorch's) order, runs `checkFixture` and asserts every reference tensor was checked and is
 * within the fixture's own tolerance. A shared fixture with no case fails the coverage test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/safetensors.js';
import { JsonArgs, createFromConstructor, createModel } from '../src/models/index.js';
import { AIRBENCH_CONFIGS, Airbench } from '../src/models/cifar/airbench.js';
import type { Module } from '../src/nn/module.js';
import { ParityOptions, checkFixture, fixtureStateDict } from '../src/verify/parity.js';
import { sharedFixture } from './fixtures.js';
import { withConstantInit } from './zoo-counts.js';

/** the project's own fixtures (committed beside their generator scripts) */
export const OWN_FIXTURES = fileURLToPath(new URL('../../test/data/fixtures/', import.meta.url));

// ---- the reduced models the fixtures were made with (their metadata `constructor`, in JSON) ---------

/** tv_vit: VisionTransformer(32, 8, 2, 2, 32, 64, num_classes=10) */
export const SMALL_VIT: JsonArgs = { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 2, hiddenDim: 32, mlpDim: 64, numClasses: 10, dropout: 0, attentionDropout: 0 };
/** tv_swin_v1 (own fixture) */
export const SMALL_SWIN: JsonArgs = { patchSize: [4, 4], embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: [4, 4], stochasticDepthProb: 0.1, numClasses: 10 };
/** tv_swin_v2 */
export const SMALL_SWIN_V2: JsonArgs = { ...SMALL_SWIN, block: 'SwinTransformerBlockV2', downsampleLayer: 'PatchMergingV2' };
/** tv_maxvit (own fixture) */
export const SMALL_MAXVIT: JsonArgs = { inputSize: 64, stemChannels: 8, partitionSize: 4, blockChannels: [8, 16], blockLayers: [1, 2], headDim: 4, stochasticDepthProb: 0.1, numClasses: 10 };
/** tv_convnext: ConvNeXt([CNBlockConfig(16,32,1), CNBlockConfig(32,64,1), CNBlockConfig(64,None,1)], stochastic_depth_prob=0.1, num_classes=10) */
export const SMALL_CONVNEXT: JsonArgs = {
  blockSetting: [
    { inputChannels: 16, outChannels: 32, numLayers: 1 },
    { inputChannels: 32, outChannels: 64, numLayers: 1 },
    { inputChannels: 64, outChannels: null, numLayers: 1 },
  ],
  stochasticDepthProb: 0.1,
  numClasses: 10,
};
/** tv_efficientnet_v2_small: a reduced EfficientNet V2 */
export const SMALL_EFFICIENTNET_V2: JsonArgs = {
  invertedResidualSetting: [
    { type: 'FusedMBConvConfig', expandRatio: 1, kernel: 3, stride: 1, inputChannels: 16, outChannels: 16, numLayers: 1 },
    { type: 'FusedMBConvConfig', expandRatio: 4, kernel: 3, stride: 2, inputChannels: 16, outChannels: 24, numLayers: 1 },
    { type: 'MBConvConfig', expandRatio: 4, kernel: 3, stride: 2, inputChannels: 24, outChannels: 32, numLayers: 1, widthMult: 1.0, depthMult: 1.0 },
    { type: 'MBConvConfig', expandRatio: 6, kernel: 3, stride: 1, inputChannels: 32, outChannels: 48, numLayers: 1, widthMult: 1.0, depthMult: 1.0 },
  ],
  dropout: 0.2,
  stochasticDepthProb: 0.2,
  numClasses: 10,
  normLayer: { type: 'BatchNorm2d', eps: 1e-3 },
  lastChannel: 128,
};

// ---- the table ----------------------------------------------------------------------------------

export interface FixtureCase {
  /** file stem */
  readonly fixture: string;
  /** the shared fixtures (may be absent on a machine without ../shared) or the project's own */
  readonly own?: boolean;
  readonly build: () => Module;
  /** default float64, as the references were computed */
  readonly precision?: ParityOptions['precision'];
}

const tv = (name: string, args: JsonArgs) => () => createFromConstructor(name, args, 'torchvision');

export const FIXTURE_CASES: readonly FixtureCase[] = [
  { fixture: 'pc_lenet', build: () => createModel('cifar_lenet') },
  { fixture: 'pc_lenet', build: () => createModel('cifar_lenet'), precision: 'float32' },
  { fixture: 'pc_resnet18', build: () => createModel('cifar_resnet18') },
  { fixture: 'pc_mobilenetv2', build: () => createModel('cifar_mobilenetv2') },
  { fixture: 'pc_densenet_cifar', build: () => createModel('cifar_densenet_cifar') },
  { fixture: 'pc_shufflenetv2', build: () => createModel('cifar_shufflenetv2_x0_5') },
  { fixture: 'pc_regnetx_200mf', build: () => createModel('cifar_regnetx_200mf') },
  { fixture: 'pc_efficientnetb0', build: () => createModel('cifar_efficientnetb0') },
  { fixture: 'tv_resnet_basic', build: tv('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: 10 }) },
  { fixture: 'tv_resnext_bottleneck', build: tv('ResNet', { block: 'Bottleneck', layers: [1, 1, 1, 1], groups: 4, widthPerGroup: 8, numClasses: 10 }) },
  { fixture: 'tv_mobilenet_v2', build: tv('mobilenet_v2', { numClasses: 10, widthMult: 0.35 }) },
  { fixture: 'tv_mobilenet_v3_small', build: tv('mobilenet_v3_small', { numClasses: 10 }) },
  { fixture: 'tv_mobilenet_v3_small', build: tv('mobilenet_v3_small', { numClasses: 10 }), precision: 'float32' },
  { fixture: 'tv_squeezenet1_1', build: tv('squeezenet1_1', { numClasses: 10 }) },
  { fixture: 'tv_densenet', build: tv('DenseNet', { growthRate: 8, blockConfig: [2, 2, 2, 2], numInitFeatures: 16, bnSize: 2, numClasses: 10 }) },
  { fixture: 'tv_shufflenet_v2_x0_5', build: tv('shufflenet_v2_x0_5', { numClasses: 10 }) },
  { fixture: 'tv_regnet_y_400mf', build: tv('regnet_y_400mf', { numClasses: 10 }) },
  { fixture: 'tv_efficientnet_b0', build: tv('efficientnet_b0', { numClasses: 10 }) },
  { fixture: 'tv_efficientnet_v2_small', build: tv('EfficientNet', SMALL_EFFICIENTNET_V2) },
  { fixture: 'tv_convnext', build: tv('ConvNeXt', SMALL_CONVNEXT) },
  { fixture: 'tv_vit', build: tv('VisionTransformer', SMALL_VIT) },
  { fixture: 'tv_swin_v2', build: tv('SwinTransformer', SMALL_SWIN_V2) },
  { fixture: 'tv_swin_v2', build: tv('SwinTransformer', SMALL_SWIN_V2), precision: 'float32' },
  { fixture: 'tv_swin_v1', own: true, build: tv('SwinTransformer', SMALL_SWIN) },
  { fixture: 'tv_swin_v1', own: true, build: tv('SwinTransformer', SMALL_SWIN), precision: 'float32' },
  { fixture: 'tv_maxvit', own: true, build: tv('MaxVit', SMALL_MAXVIT) },
  { fixture: 'ab_airbench94_small', own: true, build: () => new Airbench({ ...AIRBENCH_CONFIGS.airbench94, widths: [8, 16, 16] }) },
  { fixture: 'ab_airbench96_small', own: true, build: () => new Airbench({ ...AIRBENCH_CONFIGS.airbench96, widths: [8, 16, 24] }) },
];

const REFERENCE = /^(logits|loss|grad|running)\./;

/** The one parity check every case goes through. */
export async function assertFixtureParity(c: FixtureCase, path: string): Promise<void> {
  const file = readSafetensors(path);
  const model = withConstantInit(c.build);
  assert.deepEqual([...model.stateDict().keys()], [...fixtureStateDict(file).keys()], `${c.fixture}: state-dict keys in PyTorch's order`);
  const report = await checkFixture(model, file, c.precision ? { precision: c.precision } : undefined);
  const references = [...file.tensors.keys()].filter((k) => REFERENCE.test(k)).sort();
  assert.deepEqual(report.checks.map((ch) => ch.key).sort(), references, `${c.fixture}: every reference tensor checked`);
  const failing = report.checks.filter((ch) => !ch.ok);
  assert.ok(
    report.ok,
    `${c.fixture} (${c.precision ?? 'float64'}): ${failing.length} of ${report.checks.length} tensors out of tolerance:\n` +
      failing.map((ch) => `  ${ch.key}: max error ${ch.maxError.toExponential(3)} > allowed ${ch.allowed.toExponential(3)} (rtol ${ch.rtol})`).join('\n'),
  );
}

/** Registers part `part` of `parts` of the table (every parts-th case), so test files can run side by side. */
export function registerParityTests(part: number, parts: number): void {
  FIXTURE_CASES.filter((_, i) => i % parts === part).forEach((c) => {
    test(`${c.fixture}: ${c.precision ?? 'float64'} parity with PyTorch`, async () => {
      const file = `${c.fixture}.safetensors`;
      const path = c.own ? join(OWN_FIXTURES, file) : sharedFixture(file);
      assert.ok(existsSync(path), `${path} is missing (regenerate it with its script beside it)`);
      await assertFixtureParity(c, path);
    });
  });
}

/** Model fixtures in `dir` (pc_*, tv_*, ab_* for airbench) that no case checks. */
export function fixturesWithoutCase(dir: string, own: boolean): string[] {
  const covered = new Set(FIXTURE_CASES.filter((c) => !!c.own === own).map((c) => c.fixture));
  return readdirSync(dir)
    .filter((f) => /^(pc|tv|ab)_.*\.safetensors$/.test(f))
    .map((f) => f.replace(/\.safetensors$/, ''))
    .filter((f) => !covered.has(f));
}
