/**
 * What the model-zoo tests share: the counts zoo_params.json records for a model (format:
 * ../shared/README.md) and a fast way to build a registered model when only its structure
 * matters.
 */
import { initRng, manualSeed } from '../src/nn/init.js';
import { Buffer as StateBuffer, Module } from '../src/nn/module.js';
import { createFromConstructor, createModel, modelInfo } from '../src/models/index.js';
import { vitConfigs } from '../src/models/vit.js';
import assert from 'node:assert/strict';
import { countMacs } from '../src/models/complexity.js';
import { ZOO_COUNTS } from '../src/models/zoo-counts.js';

/** one zoo_params.json row */
export interface ZooCounts {
  params: number;
  state_dict_keys: number;
  buffers: number;
}

/** parameter count, state-dict size and buffer elements, as zoo_params.json counts them */
export function counts(model: Module): ZooCounts {
  const sd = model.stateDict();
  let buffers = 0;
  for (const t of sd.values()) if (t instanceof StateBuffer) buffers += t.data.length;
  return { params: model.parameterCount(), state_dict_keys: sd.size, buffers };
}

/**
 * Builds a registered model with the init generator stubbed to constants. Counts, shapes, key
 * order and loaded fixtures do not depend on the values, and drawing the random numbers of the
 * big configs (~1G for the largest torchvision ones, twice: the layer default, then its re-init;
 * ~90M for ResNeXt29_8x64d, DenseNet161 or DPN92) would take minutes. Afterwards the generator
 * is a fresh, unpatched one seeded with 0; tests that need real random init build without this.
 */
export function buildWithConstantInit(name: string): Module {
  return withConstantInit(() => createModel(name));
}

/**
 * Runs `build` with the init generator stubbed to constants (see buildWithConstantInit): normal
 * draws give 0, uniform draws `uniform` (a non-zero value keeps PyTorch's layer defaults and
 * torchvision's re-initialization distinguishable).
 */
export function withConstantInit<T>(build: () => T, uniform = 0): T {
  manualSeed(0);
  Object.assign(initRng(), { next: () => 0.5, uniform: () => uniform, normal: () => 0 });
  try {
    return build();
  } finally {
    manualSeed(0); // a fresh, unpatched generator
  }
}

/** A registered model's parameters and multiply-accumulates (one image at its input size), as src/models/zoo-counts.ts records them. */
export interface ModelComplexity {
  readonly params: number;
  readonly macs: number;
}

/** Computes a registered model's parameters and multiply-accumulates (built with constant init: neither depends on the values). */
export function computeComplexity(name: string): ModelComplexity {
  return complexityOf(name, buildWithConstantInit(name));
}

/** The parameters and multiply-accumulates of `model`, registered model `name` already built. */
export function complexityOf(name: string, model: Module): ModelComplexity {
  return { params: model.parameterCount(), macs: countMacs(model, modelInfo(name).inputSize) };
}

/** Asserts that src/models/zoo-counts.ts records registered model `name`'s counts as computed now. */
export function assertMatchesCountsTable(name: string, complexity: ModelComplexity): void {
  const recorded = Object.hasOwn(ZOO_COUNTS, name) ? ZOO_COUNTS[name] : undefined;
  assert.deepEqual(recorded, complexity, `${name}: src/models/zoo-counts.ts is out of date; regenerate it with \`npm run zoo-counts\``);
}

/** A registered torchvision ViT config's structure with `numLayers` blocks (its input size). */
export function registeredVitAtDepth(name: string, numLayers: number, numClasses = 1000): Module {
  const c = vitConfigs.find((v) => v.name === name);
  assert.ok(c, `${name} is a torchvision ViT config`);
  const { patchSize, numHeads, hiddenDim, mlpDim } = c;
  return createFromConstructor('VisionTransformer', { imageSize: modelInfo(name).inputSize, patchSize, numLayers, numHeads, hiddenDim, mlpDim, numClasses });
}

/**
 * Registered models too large to build in `npm test` (vit_h_14: 632M parameters, 2.5 GB of
 * float32 and tens of seconds of init), each as its structure at a given number of identical
 * blocks: every count (parameters, state-dict keys, buffers, multiply-accumulates) is affine in
 * that number, so builds at 1 and 2 blocks give the full model's (`measureModel`), and the
 * zoo run checks the forward pass on one block (test-support/zoo-run.ts).
 */
export const TOO_LARGE_TO_BUILD: Readonly<Record<string, { readonly blocks: number; readonly build: (blocks: number, numClasses?: number) => Module }>> = {
  vit_h_14: { blocks: 32, build: (blocks, numClasses) => registeredVitAtDepth('vit_h_14', blocks, numClasses) },
};

/** What the zoo tests measure of a registered model, and a build of it (for a TOO_LARGE_TO_BUILD model: at one block). */
export interface MeasuredModel {
  readonly model: Module;
  readonly counts: ZooCounts;
  readonly complexity: ModelComplexity;
}

/** Builds registered model `name` (constant init) and measures it; a TOO_LARGE_TO_BUILD one by extrapolation from 1 and 2 blocks. */
export function measureModel(name: string): MeasuredModel {
  const large = Object.hasOwn(TOO_LARGE_TO_BUILD, name) ? TOO_LARGE_TO_BUILD[name] : undefined;
  const measure = (model: Module) => ({ model, counts: counts(model), complexity: complexityOf(name, model) });
  if (!large) return measure(buildWithConstantInit(name));
  const [one, two] = [1, 2].map((blocks) => measure(withConstantInit(() => large.build(blocks))));
  const at = (a: number, b: number) => a + (large.blocks - 1) * (b - a);
  return {
    model: one.model,
    counts: { params: at(one.counts.params, two.counts.params), state_dict_keys: at(one.counts.state_dict_keys, two.counts.state_dict_keys), buffers: at(one.counts.buffers, two.counts.buffers) },
    complexity: { params: at(one.complexity.params, two.complexity.params), macs: at(one.complexity.macs, two.complexity.macs) },
  };
}
