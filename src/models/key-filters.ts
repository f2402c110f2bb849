/**
 * Per-family key filters: they map a foreign state dict (timm's names, the original authors'
 * names, pytorch-cifar's `module.` prefix) onto Tessera's keys, which are torchvision's exactly
 * (pytorch-cifar's for the CIFAR family), and report what they did.
 *
 * Every filter first strips nn.DataParallel's `module.` prefix when every key has it (the same
 * rule `readTorchCheckpoint` applies, shared through `sharedPrefixToStrip`). Then, when the keys
 * look like one of the family's foreign layouts, each key is renamed by the first rule of that
 * layout whose pattern matches it, reshaped where the layouts store a tensor differently, or
 * dropped (buffers our models recompute); keys no rule matches are kept as they are, so a strict
 * `loadStateDict` names anything left over.
 *
 * Written against (key names as these checkpoints store them):
 *  - resnet (ResNet, ResNeXt, Wide ResNet): timm `resnet50`, `resnext50_32x4d`,
 *    `wide_resnet50_2` (timm 0.6–1.0) use torchvision's names (`conv1`, `bn1`, `layerN.M.*`,
 *    `downsample.0/1`, `fc`): no renaming, only the common `module.` step.
 *  - vit: timm `vit_base_patch16_224` (timm 0.6–1.0, and the same layout of `vit_base_patch32_224`,
 *    `vit_large_patch16_224`): `cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.N.norm1`,
 *    `blocks.N.attn.qkv`, `blocks.N.attn.proj`, `blocks.N.norm2`, `blocks.N.mlp.fc1/fc2`, `norm`,
 *    `head`. timm's fused qkv Linear stores q, k, v stacked like torch's `in_proj_weight`.
 *  - convnext: timm `convnext_tiny` … `convnext_large` (timm 0.6–1.0: `stem.0/1`,
 *    `stages.i.downsample.0/1`, `stages.i.blocks.j.conv_dw/norm/mlp.fc1/mlp.fc2/gamma`,
 *    `head.norm`, `head.fc`; `gamma` [C] becomes `layer_scale` [C,1,1]; the 1×1-conv MLP of
 *    timm's `conv_mlp` variants is squeezed to Linear weights), and the original
 *    facebookresearch/ConvNeXt checkpoints (`downsample_layers.i.*`, `stages.i.j.dwconv/norm/
 *    pwconv1/pwconv2/gamma`, `norm`, `head`).
 *  - swin: timm `swin_tiny_patch4_window7_224` … `swin_base_patch4_window12_384` in both of
 *    timm's layouts: timm ≥ 0.9 (`layers.i.downsample` at the start of stage i, `head.fc`, no
 *    `relative_position_index` / `attn_mask` buffers) and timm < 0.9 / microsoft/Swin-Transformer
 *    (`layers.i.downsample` at the end of stage i, `head`, persistent [N, N]
 *    `relative_position_index` and `attn_mask`), onto torchvision's `swin_t/s/b` names
 *    (`features.0.0/0.2`, `features.{2i+1}.j.*`, `features.{2i+2}.reduction/norm`, `norm`, `head`);
 *    torchvision's flat `relative_position_index` is rebuilt where timm does not store it.
 *    Swin V2 (`swinv2_*`: `logit_scale`, `cpb_mlp`) is not covered.
 *
 * The tables are checked by test/pretrained-loading.test.ts on synthetic state dicts built from
 * our own models' keys (small configs of each family's constructor): the test renames them
 * into each foreign layout with the inverse of the same table (`toForeignLayout`), checks literal
 * timm key names, and checks that the filter restores every key, shape and value exactly.
 *
 * @example
 * const ours = createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 1, numHeads: 2, hiddenDim: 16, mlpDim: 32, numClasses: 10 });
 * const timm = toForeignLayout('vit', 'timm', ours.stateDict()); // as timm stores it: cls_token, blocks.0.attn.qkv.weight, …
 * const { tensors, report } = mapForeignStateDict('vit', timm);
 * report.layout; // → 'timm'
 * ours.loadStateDict(tensors);
 * console.log(describeKeyMapping(report)); // vit filter, layout timm: 14 renamed (cls_token -> class_token, …), 0 reshaped, 0 dropped
 */
import type { HostTensor } from '../graph/ir.js';
import { sharedPrefixToStrip } from '../io/state-dict-prefix.js';
import { listFamilies } from './registry.js';

/** What a key filter did to a state dict. */
export interface KeyMapReport {
  /** the family whose filter ran */
  readonly family: string;
  /** the foreign layout recognised (e.g. 'timm', 'timm<0.9'), or null: keys used as stored */
  readonly layout: string | null;
  /** 'module.' when it was stripped from every key, else null */
  readonly strippedPrefix: string | null;
  /** [foreign key, our key] for every key whose name changed, in state-dict order */
  readonly renamed: [string, string][];
  /** tensors stored in another shape (same values, row-major order) */
  readonly reshaped: { key: string; from: number[]; to: number[] }[];
  /** foreign keys left out, with the reason */
  readonly dropped: { key: string; why: string }[];
  /** our keys the foreign layout does not store, computed by the filter */
  readonly added: { key: string; why: string }[];
}

/** A state dict in our keys plus what the filter did. */
export interface MappedStateDict {
  readonly tensors: Map<string, HostTensor>;
  readonly report: KeyMapReport;
}

/**
 * One renaming rule: `theirs` and `ours` are key patterns. A pattern ending in '.' is a module
 * prefix (the rest of the key, e.g. `weight`, is carried over); otherwise it is a whole key.
 * `{i}` matches a decimal index; `{2s+1}`-style placeholders (a·v+b) compute one index from
 * another, in both directions.
 */
export interface KeyRule {
  readonly theirs: string;
  readonly ours: string;
  /** our shape from the foreign one (default: unchanged) */
  readonly toOurShape?: (shape: readonly number[]) => number[];
  /** the foreign shape from ours (default: unchanged) */
  readonly toTheirShape?: (shape: readonly number[]) => number[];
}

/** One foreign layout of a family's keys. */
export interface ForeignLayout {
  /** short name shown in reports, e.g. 'timm' */
  readonly name: string;
  /** the checkpoints this table was written against */
  readonly writtenAgainst: string;
  /** whether a (prefix-stripped) key set is in this layout */
  readonly detect: (keys: ReadonlySet<string>) => boolean;
  readonly rules: readonly KeyRule[];
  /** foreign keys to leave out (matched on the whole key), with the reason */
  readonly drop?: readonly { readonly pattern: RegExp; readonly why: string }[];
  /** our keys the layout does not store: left out by `toForeignLayout`, rebuilt by `complete` */
  readonly notStored?: RegExp;
  /** adds our keys the layout does not store, after renaming */
  readonly complete?: (tensors: Map<string, HostTensor>, added: KeyMapReport['added']) => void;
}

/** A family's filter: its foreign layouts, tried in order. */
export interface KeyFilter {
  readonly family: string;
  /** what the filter does beyond `module.` stripping, in one line */
  readonly summary: string;
  readonly layouts: readonly ForeignLayout[];
}

// ---- patterns ----------------------------------------------------------------------------------

interface Placeholder {
  readonly variable: string;
  readonly scale: number;
  readonly offset: number;
}

interface CompiledPattern {
  readonly regex: RegExp;
  readonly placeholders: readonly Placeholder[];
  readonly parts: readonly string[];
  readonly prefix: boolean;
}

const compiled = new Map<string, CompiledPattern>();

/** Compiles `stages.{s}.blocks.{j}.` / `features.{2s+1}.{j}.block.0.` into a regex and placeholders. */
function compile(pattern: string): CompiledPattern {
  const cached = compiled.get(pattern);
  if (cached) return cached;
  const parts: string[] = [];
  const placeholders: Placeholder[] = [];
  const re = /\{(\d*)([a-z])([+-]\d+)?\}/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(pattern))) {
    parts.push(pattern.slice(last, m.index));
    placeholders.push({ variable: m[2], scale: m[1] ? Number(m[1]) : 1, offset: m[3] ? Number(m[3]) : 0 });
    last = re.lastIndex;
  }
  parts.push(pattern.slice(last));
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const prefix = pattern.endsWith('.');
  const body = parts.map(escape).join('(\\d+)');
  const result = { regex: new RegExp(`^${body}${prefix ? '(.+)' : ''}$`), placeholders, parts, prefix };
  compiled.set(pattern, result);
  return result;
}

/** Matches `key` against `pattern`: the variables' values and the carried-over rest, or null. */
function matchPattern(pattern: string, key: string): { vars: Map<string, number>; rest: string } | null {
  const c = compile(pattern);
  const m = c.regex.exec(key);
  if (!m) return null;
  const vars = new Map<string, number>();
  for (let i = 0; i < c.placeholders.length; i++) {
    const { variable, scale, offset } = c.placeholders[i];
    const text = m[i + 1];
    if (text.length > 1 && text.startsWith('0')) return null;
    const value = (Number(text) - offset) / scale;
    if (!Number.isInteger(value) || value < 0) return null;
    if (vars.has(variable) && vars.get(variable) !== value) return null;
    vars.set(variable, value);
  }
  return { vars, rest: c.prefix ? m[c.placeholders.length + 1] : '' };
}

/** Fills `pattern`'s placeholders from `vars` and appends `rest`. */
function fillPattern(pattern: string, vars: ReadonlyMap<string, number>, rest: string): string {
  const c = compile(pattern);
  let out = c.parts[0];
  c.placeholders.forEach((p, i) => {
    const v = vars.get(p.variable);
    if (v === undefined) throw new Error(`key pattern ${pattern}: variable ${p.variable} is not bound by the other side of its rule`);
    out += String(p.scale * v + p.offset) + c.parts[i + 1];
  });
  return out + rest;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const withShape = (t: HostTensor, shape: number[]): HostTensor => ({ dtype: t.dtype, shape, data: t.data });

// ---- helpers for the families' layouts (declared in their family files) -------------------------

export const hasPrefix = (keys: ReadonlySet<string>, prefix: string) => [...keys].some((k) => k.startsWith(prefix));

/** [C] → [C, 1, 1] (timm's ConvNeXt gamma → torchvision's layer_scale) */
export const toChannelScale = (s: readonly number[]) => (s.length === 1 ? [s[0], 1, 1] : [...s]);
/** [C, 1, 1] → [C] */
export const toFlatScale = (s: readonly number[]) => (s.length === 3 && s[1] === 1 && s[2] === 1 ? [s[0]] : [...s]);
/** [O, I, 1, 1] → [O, I] (a 1×1 conv stored where torchvision has a Linear) */
export const squeezePointwise = (s: readonly number[]) => (s.length === 4 && s[2] === 1 && s[3] === 1 ? [s[0], s[1]] : [...s]);
/** [N, N] → [N·N] */
export const flattenShape = (s: readonly number[]) => (s.length === 2 ? [s[0] * s[1]] : [...s]);
/** [N·N] → [N, N] */
export const squareShape = (s: readonly number[]) => {
  const n = Math.round(Math.sqrt(s[0]));
  return s.length === 1 && n * n === s[0] ? [n, n] : [...s];
};

/** What every family gets: `module.` stripping only. */
const COMMON_ONLY = (family: string): KeyFilter => ({ family, summary: 'keys kept as stored', layouts: [] });

/**
 * Every family with its own filter, for listings and tests.
 *
 * @example
 * listKeyFilters().map((f) => f.family); // ['convnext', 'resnet', 'swin', 'vit'] (definition order)
 */
export function listKeyFilters(): readonly KeyFilter[] {
  return listFamilies().flatMap((f) => (f.keyFilter ? [{ family: f.family, ...f.keyFilter }] : []));
}

/**
 * The filter of a family (ModelInfo.family); a family without its own gets the common step only.
 *
 * @example
 * keyFilterFor('convnext').layouts.map((l) => l.name); // ['timm', 'facebookresearch']
 */
export function keyFilterFor(family: string): KeyFilter {
  return listKeyFilters().find((f) => f.family === family) ?? COMMON_ONLY(family);
}

/**
 * Maps a foreign state dict onto our keys with the family's filter: strips `module.`, then
 * renames, reshapes and drops as the recognised layout says. Tensor data is shared, not copied.
 *
 * @example
 * // a timm ResNet checkpoint (readTorchCheckpoint('resnet18_timm.pth').tensors) has torchvision's keys:
 * const { report } = mapForeignStateDict('resnet', createModel('resnet18').stateDict());
 * report.layout; // → null
 */
export function mapForeignStateDict(family: string, sd: ReadonlyMap<string, HostTensor>): MappedStateDict {
  const filter = keyFilterFor(family);
  const strippedPrefix = sharedPrefixToStrip(sd.keys());
  const stripped = new Map<string, HostTensor>();
  for (const [k, t] of sd) stripped.set(strippedPrefix ? k.slice(strippedPrefix.length) : k, t);
  const keys = new Set(stripped.keys());
  const layout = filter.layouts.find((l) => l.detect(keys)) ?? null;
  const report: KeyMapReport = { family: filter.family, layout: layout?.name ?? null, strippedPrefix, renamed: [], reshaped: [], dropped: [], added: [] };
  if (!layout) return { tensors: stripped, report };

  const tensors = new Map<string, HostTensor>();
  for (const [key, t] of stripped) {
    const drop = layout.drop?.find((d) => d.pattern.test(key));
    if (drop) {
      report.dropped.push({ key, why: drop.why });
      continue;
    }
    let ours = key;
    let tensor = t;
    for (const rule of layout.rules) {
      const m = matchPattern(rule.theirs, key);
      if (!m) continue;
      ours = fillPattern(rule.ours, m.vars, m.rest);
      const shape = rule.toOurShape ? rule.toOurShape(t.shape) : [...t.shape];
      if (!sameShape(shape, t.shape)) {
        tensor = withShape(t, shape);
        report.reshaped.push({ key: ours, from: [...t.shape], to: shape });
      }
      break;
    }
    if (ours !== key) report.renamed.push([key, ours]);
    if (tensors.has(ours)) throw new Error(`key filter ${family}/${layout.name}: ${key} maps onto ${ours}, which another key already took`);
    tensors.set(ours, tensor);
  }
  layout.complete?.(tensors, report.added);
  return { tensors, report };
}

/**
 * The inverse: our state dict renamed into a family's foreign layout (by layout name), shapes
 * included; keys the layout does not store are left out. The tests build foreign checkpoints
 * with it; it also exports weights for timm.
 *
 * @example
 * const vit = createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 8, numLayers: 1, numHeads: 2, hiddenDim: 16, mlpDim: 32 });
 * const timm = toForeignLayout('vit', 'timm', vit.stateDict());
 * timm.has('blocks.0.attn.qkv.weight'); // → true
 */
export function toForeignLayout(family: string, layoutName: string, sd: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  const filter = keyFilterFor(family);
  const layout = filter.layouts.find((l) => l.name === layoutName);
  if (!layout) throw new Error(`key filter ${family} has no layout "${layoutName}"; it has ${filter.layouts.map((l) => l.name).join(', ') || 'none'}`);
  const out = new Map<string, HostTensor>();
  for (const [key, t] of sd) {
    if (layout.notStored?.test(key)) continue;
    let theirs = key;
    let tensor = t;
    for (const rule of layout.rules) {
      const m = matchPattern(rule.ours, key);
      if (!m) continue;
      theirs = fillPattern(rule.theirs, m.vars, m.rest);
      if (rule.toTheirShape) tensor = withShape(t, rule.toTheirShape(t.shape));
      break;
    }
    if (out.has(theirs)) throw new Error(`key filter ${family}/${layoutName}: ${key} maps onto ${theirs}, which another key already took`);
    out.set(theirs, tensor);
  }
  return out;
}

/**
 * A short account of a mapping for the CLI: counts, then the first few renames.
 *
 * @example
 * const { report } = mapForeignStateDict('lenet', createModel('cifar_lenet').stateDict());
 * describeKeyMapping(report); // → 'lenet filter: keys used as stored (no foreign layout recognised)'
 */
export function describeKeyMapping(report: KeyMapReport, examples = 3): string {
  const parts: string[] = [];
  if (report.strippedPrefix) parts.push(`stripped "${report.strippedPrefix}"`);
  if (report.layout === null) {
    parts.push('keys used as stored (no foreign layout recognised)');
    return `${report.family} filter: ${parts.join('; ')}`;
  }
  const first = report.renamed.slice(0, examples).map(([a, b]) => `${a} -> ${b}`);
  parts.push(`${report.renamed.length} renamed${first.length ? ` (${first.join(', ')}${report.renamed.length > first.length ? ', …' : ''})` : ''}`);
  parts.push(`${report.reshaped.length} reshaped${report.reshaped.length ? ` (${report.reshaped.slice(0, examples).map((r) => `${r.key} [${r.from.join(',')}] -> [${r.to.join(',')}]`).join(', ')}${report.reshaped.length > examples ? ', …' : ''})` : ''}`);
  parts.push(`${report.dropped.length} dropped${report.dropped.length ? ` (${report.dropped.slice(0, examples).map((d) => d.key).join(', ')}${report.dropped.length > examples ? ', …' : ''})` : ''}`);
  if (report.added.length) parts.push(`${report.added.length} computed (${report.added.slice(0, examples).map((d) => d.key).join(', ')}${report.added.length > examples ? ', …' : ''})`);
  return `${report.family} filter, layout ${report.layout}: ${parts.join(', ')}`;
}
