/**
 * The model registry, in timm's manner: named configs (`createModel('resnet50', { numClasses })`)
 * and family constructors callable with JSON arguments (`createFromConstructor('ResNet', {...})`,
 * what `tessera verify --args` uses).
 *
 * @example
 * import { createModel } from 'tessera';
 * const net = createModel('cifar_resnet18');
 * const tv = createFromConstructor('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1], numClasses: 10 }, 'torchvision');
 * net.parameterCount(); // → 11173962
 */
import { UserError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { OnnxImportError, importOnnx } from '../onnx/import.js';
import { editDistance } from '../util/text.js';
import { findPretrainedFile, loadPretrainedInto } from '#platform/model-files';
import type { ForeignLayout } from './key-filters.js';


export type JsonArgs = Record<string, unknown>;

export interface ModelInfo {
  /** registry name, e.g. 'resnet18' or 'cifar_resnet18' */
  readonly name: string;
  /** family name, e.g. 'resnet' */
  readonly family: string;
  /** default input size (square) */
  readonly inputSize: number;
  /** the smallest input side the architecture accepts, where it is not the default (32 for pytorch-cifar, 64 for the ImageNet families) */
  readonly minInputSize?: number;
  readonly numClasses: number;
  readonly year: number;
  readonly paper: string;
  /** where the reference implementation lives */
  readonly source: 'torchvision' | 'pytorch-cifar' | 'timm' | 'airbench';
  /** the reference constructor, for parameter-count lookups (e.g. 'ResNet18') */
  readonly reference: string;
  readonly create: (opts: { numClasses?: number; args?: JsonArgs }) => Module;
  /** the JSON arguments its builder takes besides numClasses (CreateModelOptions.args; `stochasticDepthProb` where it has stochastic depth) */
  readonly builderArgs?: readonly string[];
  /** why zoo_params.json has no reference row for this config (tests then assert the row is absent) */
  readonly notInZoo?: string;
  /** the reference's published weights for this config (torchvision's `Weights` entry), when it has some */
  readonly pretrained?: PretrainedConfig;
  /** the family's layer ids for layer-wise learning-rate decay (`--layer-decay`), where it has a rule */
  readonly layerIds?: (model: Module) => LayerIds;
}

/**
 * timm's layer ids (param_groups_layer_decay) of a built model: 0 for the embeddings, then one
 * per block in depth order, `numLayers − 1` for the final norm and head. With decay rate X a
 * parameter's learning rate is scaled by X^(numLayers − 1 − layerId(key)).
 */
export interface LayerIds {
  readonly numLayers: number;
  /** the layer id of a state-dict key */
  layerId(key: string): number;
}

/**
 * A config's reference weights and how they expect their input, as torchvision's weights
 * metadata and timm's pretrained configs record them.
 */
export interface PretrainedConfig {
  /** where the reference weights are published (torchvision's download URL) */
  readonly url: string;
  /** the weights' licence terms, as the publisher states them */
  readonly licence: string;
  /** evaluation crop size (square) */
  readonly inputSize: number;
  /** the shorter side is resized to this before the centre crop */
  readonly resizeSize: number;
  /** inputSize / resizeSize, timm's crop_pct */
  readonly cropFraction: number;
  readonly interpolation: 'bilinear' | 'bicubic' | 'nearest';
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /** the classifier layer's state-dict prefix (e.g. 'fc', 'classifier.1', 'heads.head') */
  readonly classifier: string;
  /** published ImageNet-1K top-1 accuracy of these weights, percent */
  readonly top1: number;
  /** published ImageNet-1K top-5 accuracy, percent */
  readonly top5: number;
}

export interface FamilyConstructor {
  /** the reference class or function name, e.g. 'ResNet', 'mobilenet_v2', 'MobileNetV2' */
  readonly name: string;
  readonly source: ModelInfo['source'];
  /** builds from JSON arguments (the reference's arguments in camelCase) */
  readonly fromJson: (args: JsonArgs) => Module;
}

const models = new Map<string, ModelInfo>();
const constructors = new Map<string, FamilyConstructor>();
const families: FamilyDeclaration[] = [];

/** A model or constructor name the registry does not know; the message suggests close names. */
export class UnknownModelError extends UserError {}

/** The JSON arguments a config's builder receives: its own, with `numClasses` always filled in. */
export type BuilderArgs = JsonArgs & { readonly numClasses: number };

/** One named config of a family (`resnet50`, `cifar_resnet18`) and how to build it. */
export interface ConfigDeclaration {
  /** registry name */
  readonly name: string;
  /** the reference's constructor or builder for this config (default: `name`), e.g. 'ResNet18' */
  readonly reference?: string;
  /** overrides of the family's defaults */
  readonly year?: number;
  readonly paper?: string;
  readonly inputSize?: number;
  readonly minInputSize?: number;
  readonly numClasses?: number;
  readonly notInZoo?: string;
  readonly pretrained?: PretrainedConfig;
  /** builds the config from its builder's JSON arguments (`numClasses` is always given) */
  readonly build: (args: BuilderArgs) => Module;
}

/** A family class callable with JSON arguments (the reference's, in camelCase). */
export interface ConstructorDeclaration {
  /** every argument it accepts (anything else is refused by name) */
  readonly args: readonly string[];
  readonly build: (args: JsonArgs) => Module;
}

/**
 * What a family file states about itself, next to its code: its configs, its classes callable
 * from JSON and its key filter for foreign checkpoints. `defineFamily` registers all of it.
 */
export interface FamilyDeclaration {
  /** family name shared by the references (e.g. 'resnet' for torchvision's and pytorch-cifar's) */
  readonly family: string;
  readonly source: ModelInfo['source'];
  /** defaults for every config */
  readonly year: number;
  readonly paper: string;
  readonly inputSize: number;
  readonly numClasses: number;
  readonly minInputSize?: number;
  /** the family's classes by reference name (`ResNet`, `VisionTransformer`) */
  readonly constructors?: Readonly<Record<string, ConstructorDeclaration>>;
  /** the JSON arguments every config's builder accepts besides numClasses (torchvision's builder kwargs) */
  readonly builderArgs?: readonly string[];
  /**
   * whether each config is also a constructor under its reference name (torchvision's
   * `resnet50(...)`, pytorch-cifar's `ResNet18()`); false where the reference has no such
   * function (pytorch-cifar's `VGG('VGG11')`). Default true.
   */
  readonly configBuilders?: boolean;
  readonly configs: readonly ConfigDeclaration[];
  /** how foreign checkpoints' keys map onto this family's (src/models/key-filters.ts) */
  readonly keyFilter?: KeyFilterDeclaration;
  /** the family's layer ids for `--layer-decay` (src/models/layer-ids.ts); families without one refuse the flag */
  readonly layerIds?: (model: Module) => LayerIds;
}

/** A family's key filter: its foreign layouts, tried in order. */
export interface KeyFilterDeclaration {
  /** what the filter does beyond `module.` stripping, in one line */
  readonly summary: string;
  readonly layouts: readonly ForeignLayout[];
}

/**
 * Registers a family: each config under its name, the family's constructors and each config's
 * builder under their reference names, and the key filter. Called once at the end of a family
 * file (files under src/models/ are discovered; no list to edit).
 *
 * @example
 * import { defineFamily, Module, Linear, Value, createModel } from 'tessera';
 * class Tiny extends Module {
 *   fc: Linear;
 *   constructor(numClasses: number) { super(); this.fc = new Linear(4, numClasses); }
 *   forward(x: Value): Value { return this.fc.call(x); }
 * }
 * defineFamily({
 *   family: 'tiny', source: 'timm', year: 2026, paper: 'An example', inputSize: 2, numClasses: 10,
 *   configs: [{ name: 'tiny_example', reference: 'Tiny', build: (args) => new Tiny(args.numClasses) }],
 * });
 * createModel('tiny_example', { numClasses: 3 }).parameterCount(); // 15
 */
export function defineFamily(decl: FamilyDeclaration): void {
  if (families.some((f) => f.family === decl.family && f.source === decl.source)) throw new Error(`family ${decl.source}:${decl.family} defined twice`);
  families.push(decl);
  for (const [name, c] of Object.entries(decl.constructors ?? {})) {
    registerConstructor({ name, source: decl.source, fromJson: (args) => (checkArgs(name, args, c.args), c.build(args)) });
  }
  for (const config of decl.configs) registerConfig(decl, config);
}

function registerConfig(decl: FamilyDeclaration, c: ConfigDeclaration): void {
  const numClasses = c.numClasses ?? decl.numClasses;
  const reference = c.reference ?? c.name;
  if (models.has(c.name)) throw new Error(`model ${c.name} registered twice`);
  models.set(c.name, {
    name: c.name,
    family: decl.family,
    inputSize: c.inputSize ?? decl.inputSize,
    minInputSize: c.minInputSize ?? decl.minInputSize,
    numClasses,
    year: c.year ?? decl.year,
    paper: c.paper ?? decl.paper,
    source: decl.source,
    reference,
    notInZoo: c.notInZoo,
    pretrained: c.pretrained,
    layerIds: decl.layerIds,
    builderArgs: decl.builderArgs ?? [],
    create: (opts) => c.build({ ...opts.args, numClasses: opts.numClasses ?? numClasses }),
  });
  if (decl.configBuilders === false || Object.hasOwn(decl.constructors ?? {}, reference)) return;
  const known = ['numClasses', ...(decl.builderArgs ?? [])];
  registerConstructor({
    name: reference,
    source: decl.source,
    fromJson(args) {
      checkArgs(reference, args, known);
      return c.build({ ...args, numClasses: arg(args, 'numClasses', numClasses, isPositiveInt, 'a positive integer') });
    },
  });
}

function registerConstructor(c: FamilyConstructor): void {
  const key = `${c.source}:${c.name}`;
  if (constructors.has(key)) throw new Error(`constructor ${key} registered twice`);
  constructors.set(key, c);
}

/** Every defined family, in definition order. */
export function listFamilies(): readonly FamilyDeclaration[] {
  return families;
}

export function listModels(): ModelInfo[] {
  return [...models.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function listConstructors(): FamilyConstructor[] {
  return [...constructors.values()];
}

/**
 * The registered config `name`. An unknown name is an UnknownModelError that suggests only
 * config names (what `--model` takes: the configs built from the constructor `name` first) and
 * names a close constructor as one, since a constructor needs its arguments (`--args`).
 *
 * @example
 * modelInfo('resnet18').inputSize; // 224
 * try {
 *   modelInfo('ResNet18');
 * } catch (e) {
 *   // unknown model "ResNet18"; did you mean cifar_resnet18, resnet18, ...? (ResNet18 is a constructor, which needs its arguments: ...)
 *   console.log((e as Error).message);
 * }
 */
export function modelInfo(name: string): ModelInfo {
  const info = models.get(name);
  if (info) return info;
  const fromReference = [...models.values()].filter((m) => m.reference === name).map((m) => m.name);
  // constructors that are not also config names (torchvision's resnet18 is both)
  const constructorNames = [...constructors.values()].map((c) => c.name).filter((c) => !models.has(c));
  const ctors = constructorNames.includes(name) ? [name] : closeNames(name, constructorNames);
  const needsArgs = `needs its arguments: \`tessera verify --model ${ctors[0]} --args JSON\``;
  const asConstructor = !ctors.length ? '' : ctors[0] === name ? ` (${name} is a constructor, which ${needsArgs})` : `; close constructors: ${ctors.join(', ')} (a constructor ${needsArgs})`;
  throw new UnknownModelError(`unknown model "${name}"${suggest(name, [...fromReference, ...models.keys()], fromReference)}${asConstructor}`);
}

/** How `createModel` builds a model. */
export interface CreateModelOptions {
  /** overrides the config's class count; with pretrained weights of another count the classifier is re-initialised */
  readonly numClasses?: number;
  /**
   * `true`: the config's published weights from the torch hub or Tessera cache (see
   * src/models/pretrained.ts; `downloadPretrained(name)` fetches them); a string: a checkpoint
   * file (.pth / .pt / .safetensors), in torchvision's, timm's or pytorch-cifar's layout.
   */
  readonly pretrained?: boolean | string;
  /** receives one-line notices while loading weights (e.g. `fc re-initialised`) */
  readonly onNotice?: (line: string) => void;
  /** arguments of the config's builder (its `builderArgs`, e.g. `{ patchSize: 2 }` for vit_tiny_cifar); others are refused by name */
  readonly args?: JsonArgs;
  /**
   * the drop-path rate (timm's `--drop-path`, torchvision's `stochastic_depth_prob`) of a model
   * with stochastic depth; a model without it refuses a rate above 0; absent: the config's own
   */
  readonly stochasticDepthProb?: number;
}

/**
 * Builds a registered model (`numClasses` overrides the config's default), optionally with
 * pretrained weights loaded through the family's key filter.
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * // `pretrained: true` loads the config's published weights from the torch hub or Tessera cache
 * // (downloadPretrained fetches them); here a checkpoint file of the same architecture:
 * const file = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'squeezenet.safetensors');
 * writeSafetensors(file, createModel('squeezenet1_1').stateDict());
 * createModel('squeezenet1_1', { numClasses: 10, pretrained: file, onNotice: (l) => console.log(l) });
 * // prints squeezenet1_1: checkpoint classifier classifier.1 has 1000 classes, model has 10: classifier.1 re-initialised
 */
export function createModel(name: string, opts: CreateModelOptions = {}): Module {
  const info = modelInfo(name);
  // the published weights are looked up before the model is built: a missing file fails fast
  const weights = opts.pretrained === true ? findPretrainedFile(info) : typeof opts.pretrained === 'string' && opts.pretrained !== '' ? opts.pretrained : undefined;
  const model = info.create({ numClasses: opts.numClasses, args: builderArguments(info, opts) });
  if (weights !== undefined) loadPretrainedInto(model, info, weights, { onNotice: opts.onNotice });
  return model;
}

/**
 * The builder arguments `createModel` passes for `opts.args` and `opts.stochasticDepthProb`,
 * checked against the config's: an argument it does not take, or a drop-path rate above 0 for a
 * model without stochastic depth, is one UserError line naming the model.
 *
 * @example
 * builderArguments(modelInfo('vit_tiny_cifar'), { args: { patchSize: 2 }, stochasticDepthProb: 0.1 }); // → { patchSize: 2, stochasticDepthProb: 0.1 }
 * builderArguments(modelInfo('resnet18'), { stochasticDepthProb: 0 }); // → {}
 */
export function builderArguments(info: ModelInfo, opts: Pick<CreateModelOptions, 'args' | 'stochasticDepthProb'>): JsonArgs {
  const accepted = info.builderArgs ?? [];
  const args: JsonArgs = { ...opts.args };
  const rate = opts.stochasticDepthProb;
  if (rate !== undefined && accepted.includes('stochasticDepthProb')) args.stochasticDepthProb = rate;
  else if (rate !== undefined && rate > 0) {
    const withIt = [...new Set(families.filter((f) => f.builderArgs?.includes('stochasticDepthProb')).map((f) => f.family))].sort();
    throw new UserError(`${info.name} has no stochastic depth (drop path), so a rate of ${rate} does not apply; give 0 or leave it out, or pick a model of the ${withIt.join(', ')} families`);
  }
  const extra = Object.keys(args).filter((k) => !accepted.includes(k));
  if (extra.length) throw new UserError(`${info.name} does not take the argument(s) ${extra.join(', ')}${accepted.length ? `; it takes ${accepted.join(', ')}` : ''}`);
  return args;
}

/**
 * Builds a model by family constructor name with JSON arguments. `source` disambiguates names
 * both references use (pytorch-cifar's `ResNet18` vs torchvision's `resnet18`: names are case-sensitive).
 */
export function createFromConstructor(name: string, args: JsonArgs = {}, source?: ModelInfo['source']): Module {
  const matches = [...constructors.values()].filter((c) => c.name === name && (!source || c.source === source));
  if (!matches.length) throw new UnknownModelError(`unknown constructor "${name}"${suggest(name, [...constructors.values()].map((c) => c.name))}`);
  if (matches.length > 1) throw new UnknownModelError(`constructor "${name}" exists in ${matches.map((c) => c.source).join(' and ')}; say which (source)`);
  return matches[0].fromJson(args);
}

/**
 * Resolves a registry name, a constructor name (with JSON args) or the path of an `.onnx` file
 * (imported as a trainable model by `importOnnx`) to a model; `source` picks between references
 * that share a constructor name (pytorch-cifar's and torchvision's `ResNet`).
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * resolveModel('resnet18', { numClasses: 10 });
 * resolveModel('ResNet', { block: 'BasicBlock', layers: [1, 1, 1, 1] }, 'torchvision');
 * const file = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'classifier.onnx');
 * saveOnnx(createModel('cifar_lenet'), file, { inputShape: [1, 3, 32, 32], dynamicBatch: true });
 * resolveModel(file).parameterCount(); // → 62006
 */
export function resolveModel(name: string, args?: JsonArgs, source?: ModelInfo['source']): Module {
  if (name.toLowerCase().endsWith('.onnx') && !models.has(name)) {
    const given = Object.keys(args ?? {});
    if (given.length) throw new OnnxImportError(`${name}: an ONNX model is built from the file itself; the arguments ${given.join(', ')} do not apply`);
    return importOnnx(name);
  }
  const onlyClasses = !args || Object.keys(args).every((k) => k === 'numClasses');
  if (models.has(name) && onlyClasses) return createModel(name, { numClasses: args?.numClasses as number | undefined });
  if ([...constructors.values()].some((c) => c.name === name)) return createFromConstructor(name, args ?? {}, source);
  return modelInfo(name).create({});
}

/** "; did you mean A, B?" (`first`, then up to 5 close candidates), or where to find the list. */
function suggest(name: string, candidates: string[], first: readonly string[] = []): string {
  const close = [...new Set([...first, ...closeNames(name, candidates)])].slice(0, Math.max(5, first.length));
  return close.length ? `; did you mean ${close.join(', ')}?` : '; run `tessera models` for the list';
}

/** Up to 5 candidates within a small edit distance of `name` (case-insensitive), closest first. */
function closeNames(name: string, candidates: string[]): string[] {
  const scored = [...new Set(candidates)].map((c) => [c, editDistance(name.toLowerCase(), c.toLowerCase())] as const).sort((a, b) => a[1] - b[1]);
  return scored
    .filter(([, d]) => d <= Math.max(2, name.length / 3))
    .slice(0, 5)
    .map(([c]) => c);
}

/** Reads a typed argument from JSON args, with a clear error for the wrong type. */
export function arg<T>(args: JsonArgs, key: string, fallback: T, check: (v: unknown) => v is T, what: string): T {
  const v = args[key];
  if (v === undefined) return fallback;
  if (!check(v)) throw new UserError(`argument ${key} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isString = (v: unknown): v is string => typeof v === 'string';
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isPositiveInt = (v: unknown): v is number => isNumber(v) && Number.isInteger(v) && v > 0;
export const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.every(isNumber);

/** The `stochasticDepthProb` argument of the builders that have one (ConvNeXt, EfficientNet, Swin…). */
export const stochasticDepthArg = (args: JsonArgs, fallback: number): number =>
  arg(args, 'stochasticDepthProb', fallback, (v): v is number => isNumber(v) && v >= 0 && v <= 1, 'a number in [0, 1]');

/** Rejects JSON arguments the constructor does not know. */
export function checkArgs(family: string, args: JsonArgs, known: readonly string[]): void {
  const extra = Object.keys(args).filter((k) => !known.includes(k));
  if (extra.length) throw new UserError(`${family}: unknown argument(s) ${extra.join(', ')}; accepted: ${known.join(', ')}`);
}
