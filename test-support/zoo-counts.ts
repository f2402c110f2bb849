/**
 * What the model-zoo tests share: the counts zoo_params.json records for a model (format:
 * ../shared/README.md) and a fast way to build a registered model when only its structure
 * matters.
 */
import { initRng, manualSeed } from '../src/nn/init.js';
import { Buffer as StateBuffer, Module } from '../src/nn/module.js';
import { createModel } from '../src/models/index.js';

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
