/**
 * Parameter groups: per-parameter weight decay and learning-rate multipliers, and frozen
 * parameters, chosen by the model's module tree and by name patterns.
 *
 * - Weight decay follows torchvision's references (`set_weight_decay`): parameters named `bias`
 *   take `biasWeightDecay` when given (`--bias-weight-decay`), then the parameters of norm layers
 *   (BatchNorm, LayerNorm and its 2-d form, found by their class in the module tree) take
 *   `normWeightDecay` when given (`--norm-weight-decay`), every other one the optimizer's.
 * - The learning-rate multiplier is the product of the layer-wise decay (timm's
 *   `param_groups_layer_decay`: rate^(numLayers − 1 − layer id)) and the first `lrMult` entry whose
 *   pattern matches the key.
 * - A name pattern matches a state-dict key when it equals the key or a module path above it
 *   (`layer1` matches `layer1.0.conv1.weight`); `*` matches any run of characters, dots included
 *   (`*.bias`, `features.*.block.0`).
 */
import { UserError } from '../errors.js';
import type { LayerIds } from '../models/registry.js';
import { BatchNorm2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import type { ParamGroup } from './optimizer.js';

/** The norm layers whose parameters `normWeightDecay` applies to (torchvision's norm_classes, as Tessera has them). */
export const NORM_LAYERS = [BatchNorm2d, LayerNorm] as const;

/** A learning-rate multiplier for the parameters a name pattern matches. */
export interface LrMult {
  readonly pattern: string;
  readonly mult: number;
}

/** How parameters are grouped (see the module comment). */
export interface ParamGroupRules {
  /** the optimizer's weight decay */
  readonly weightDecay: number;
  readonly normWeightDecay?: number;
  readonly biasWeightDecay?: number;
  /** multipliers by name pattern; the first entry that matches a key applies */
  readonly lrMult?: readonly LrMult[];
  /** timm's layer-wise learning-rate decay */
  readonly layerDecay?: { readonly rate: number; readonly ids: LayerIds };
}

/**
 * Whether a name pattern matches a state-dict key (the key itself or a module path above it;
 * `*` matches anything).
 *
 * @example
 * matchesPattern('layer1', 'layer1.0.conv1.weight'); // → true
 * matchesPattern('layer1', 'layer10.weight'); // → false
 * matchesPattern('*.bias', 'fc.bias'); // → true
 */
export function matchesPattern(pattern: string, key: string): boolean {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}(\\.|$)`).test(key);
}

/**
 * The parameter group of every trainable parameter, by state-dict key. Every `lrMult` pattern
 * must match a trainable parameter (a UserError names the one that does not).
 *
 * @example
 * const groups = paramGroups(createModel('cifar_resnet18'), { weightDecay: 5e-4, normWeightDecay: 0, lrMult: [{ pattern: 'linear', mult: 10 }] });
 * groups.get('conv1.weight'); // → { weightDecay: 0.0005, lrScale: 1 }
 * groups.get('bn1.weight'); // → { weightDecay: 0, lrScale: 1 }
 * groups.get('linear.bias'); // → { weightDecay: 0.0005, lrScale: 10 }
 */
export function paramGroups(model: Module, rules: ParamGroupRules): Map<string, ParamGroup> {
  const groups = new Map<string, ParamGroup>();
  const used = new Set<LrMult>();
  for (const [path, m] of model.namedModules()) {
    const isNorm = NORM_LAYERS.some((c) => m instanceof c);
    for (const [name, p] of m.ownParameters()) {
      if (!p.requiresGrad) continue;
      const key = path ? `${path}.${name}` : name;
      const weightDecay = name === 'bias' && rules.biasWeightDecay !== undefined ? rules.biasWeightDecay : isNorm && rules.normWeightDecay !== undefined ? rules.normWeightDecay : rules.weightDecay;
      const mult = rules.lrMult?.find((e) => matchesPattern(e.pattern, key));
      if (mult) used.add(mult);
      const layer = rules.layerDecay ? rules.layerDecay.rate ** (rules.layerDecay.ids.numLayers - 1 - rules.layerDecay.ids.layerId(key)) : 1;
      groups.set(key, { weightDecay, lrScale: layer * (mult?.mult ?? 1) });
    }
  }
  const unused = rules.lrMult?.find((e) => !used.has(e));
  if (unused) throw new UserError(`--lr-mult ${unused.pattern}=${unused.mult}: the pattern matches no trainable parameter${keyHint(model)}`);
  return groups;
}

/**
 * Freezes (requiresGrad = false: no gradient, no update, no optimizer state) every parameter a
 * pattern matches; returns their keys. A pattern that matches nothing, or freezing everything,
 * is a UserError.
 *
 * @example
 * const model = createModel('cifar_lenet');
 * freezeParameters(model, ['conv1', 'conv2.bias']); // → ['conv1.weight', 'conv1.bias', 'conv2.bias']
 */
export function freezeParameters(model: Module, patterns: readonly string[]): string[] {
  const params = [...model.namedParameters()];
  const frozen: string[] = [];
  for (const pattern of patterns) {
    const hits = params.filter(([key]) => matchesPattern(pattern, key));
    if (!hits.length) throw new UserError(`--freeze ${pattern}: the pattern matches no parameter${keyHint(model)}`);
    for (const [key, p] of hits) {
      if (p.requiresGrad) frozen.push(key);
      p.requiresGrad = false;
    }
  }
  if (params.every(([, p]) => !p.requiresGrad)) throw new UserError(`--freeze ${patterns.join(',')} freezes every parameter; nothing would train`);
  return params.filter(([key]) => frozen.includes(key)).map(([key]) => key);
}

/**
 * Parses `PATTERN=X,PATTERN=X` (`--lr-mult`); `where` names the flag or file line in errors.
 *
 * @example
 * parseLrMult('heads=10,encoder.layers.encoder_layer_0=0.5', '--lr-mult'); // → [{ pattern: 'heads', mult: 10 }, { pattern: 'encoder.layers.encoder_layer_0', mult: 0.5 }]
 */
export function parseLrMult(text: string, where: string): LrMult[] {
  return splitList(text).map((entry) => {
    const eq = entry.lastIndexOf('=');
    const pattern = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    const mult = Number(value);
    if (eq < 0 || !pattern || !value || !Number.isFinite(mult) || mult < 0) throw new UserError(`${where}: expected PATTERN=X entries separated by commas (X a number ≥ 0), got "${entry}"`);
    return { pattern, mult };
  });
}

/**
 * Parses `PATTERN,PATTERN` (`--freeze`).
 *
 * @example
 * parsePatterns(' features.0 , features.1 '); // → ['features.0', 'features.1']
 */
export function parsePatterns(text: string): string[] {
  return splitList(text);
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function keyHint(model: Module): string {
  const keys = [...model.namedParameters()].map(([key]) => key);
  return `; keys look like ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}`;
}
