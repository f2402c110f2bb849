/**
 * The one table of torchvision functional ops that `tessera augment --op` (and the tests) call by
 * their Python text: each op's name, its arguments in torchvision's order with type, range and
 * default, and the function it runs. Parsing, checking, `--help`'s op list and every error line
 * come from it.
 */
import type { RgbImage } from '../data/transforms.js';
import { crop, hflip } from '../data/transforms.js';
import { editDistance } from '../util/text.js';
import { OpCallError, parseCall, type PyValue } from './call.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, adjustSharpness, autocontrast, equalize, invert, posterize, solarize } from './color.js';
import { erase, pad, vflip, type PaddingMode } from './geometry.js';
import { resize, resizedSize, resizeUnrounded, type ResizeOptions } from './resize.js';
import { affine, rotate, warpUnrounded, type AffineOptions, type RotateOptions, type WarpInterpolation } from './warp.js';

/** A checked argument value: a number, a flag, a word, a list of numbers, or absent (None). */
export type ArgValue = number | boolean | string | readonly number[] | undefined;

/** What an argument accepts. */
export type ArgType =
  | { readonly kind: 'int'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'number'; readonly min?: number; readonly above?: number; readonly max?: number }
  | { readonly kind: 'bool' }
  /** a word in quotes, or `Enum.WORD` when `enumName` is set (InterpolationMode.BILINEAR) */
  | { readonly kind: 'choice'; readonly choices: readonly string[]; readonly enumName?: string }
  /** a list of `lengths` numbers (or one bare number when `scalar`), each an integer when `integer`, within [min, max] */
  | { readonly kind: 'numbers'; readonly lengths: readonly number[]; readonly scalar?: boolean; readonly integer?: boolean; readonly min?: number; readonly max?: number };

/** One argument of an op: its torchvision name, type, and default (absent: required; `null`: None). */
export interface ArgSpec {
  readonly name: string;
  readonly type: ArgType;
  readonly default?: ArgValue | null;
}

/** The checked arguments of one call, by name, with typed getters. */
export class OpArgs {
  constructor(private readonly values: ReadonlyMap<string, ArgValue>) {}
  number(name: string): number {
    const v = this.values.get(name);
    if (typeof v !== 'number') throw new Error(`op argument ${name} is not a number`);
    return v;
  }
  flag(name: string): boolean {
    return this.values.get(name) === true;
  }
  word<W extends string>(name: string, choices: readonly W[]): W {
    const v = this.values.get(name);
    const found = choices.find((c) => c === v);
    if (found === undefined) throw new Error(`op argument ${name} is not one of ${choices.join(', ')}`);
    return found;
  }
  /** a list (a bare number comes back as a one-element list), or undefined for None */
  list(name: string): readonly number[] | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    if (typeof v === 'number') return [v];
    if (typeof v === 'boolean' || typeof v === 'string') throw new Error(`op argument ${name} is not a list`);
    return v;
  }
  /** a bare number or a list, as given, or undefined for None */
  numberOrList(name: string): number | readonly number[] | undefined {
    const v = this.values.get(name);
    return typeof v === 'boolean' || typeof v === 'string' ? this.list(name) : v;
  }
  pair(name: string): [number, number] | undefined {
    const v = this.list(name);
    return v === undefined ? undefined : [v[0], v[1]];
  }
}

/**
 * An interpolating op's values before rounding, in float64, and for `nearest` warps the source
 * coordinates it rounds: what tells a rounding tie from a real difference.
 */
export interface Unrounded {
  readonly values: Float64Array;
  readonly source?: { readonly x: Float64Array; readonly y: Float64Array };
}

/** One op: torchvision's name, a one-line summary, its arguments (after the image) and what it runs. */
export interface OpSignature {
  readonly name: string;
  readonly summary: string;
  readonly args: readonly ArgSpec[];
  readonly run: (img: RgbImage, args: OpArgs) => RgbImage;
  /** interpolating ops: `run` before rounding, in float64 */
  readonly unrounded?: (img: RgbImage, args: OpArgs) => Unrounded;
}

const INTERPOLATIONS = ['nearest', 'bilinear', 'bicubic'] as const;
const WARP_INTERPOLATIONS: readonly WarpInterpolation[] = ['nearest', 'bilinear'];
const PADDING_MODES: readonly PaddingMode[] = ['constant', 'edge', 'reflect', 'symmetric'];
const interpolationArg = (choices: readonly string[], fallback: string): ArgSpec => ({ name: 'interpolation', type: { kind: 'choice', choices, enumName: 'InterpolationMode' }, default: fallback });
const fillArg: ArgSpec = { name: 'fill', type: { kind: 'numbers', lengths: [1, 3], scalar: true, min: 0, max: 255 }, default: null };
const centerArg: ArgSpec = { name: 'center', type: { kind: 'numbers', lengths: [2] }, default: null };
const factorArg = (name: string): ArgSpec => ({ name, type: { kind: 'number', min: 0 } });

function resizeCall(img: RgbImage, a: OpArgs): { height: number; width: number; opts: ResizeOptions } {
  const size = resizedSize(img.height, img.width, a.list('size') ?? [], a.list('max_size')?.[0]);
  return { ...size, opts: { interpolation: a.word('interpolation', INTERPOLATIONS), antialias: a.flag('antialias') } };
}

function rotateOptions(a: OpArgs): RotateOptions {
  return { interpolation: a.word('interpolation', WARP_INTERPOLATIONS), expand: a.flag('expand'), center: a.pair('center'), fill: a.numberOrList('fill') };
}

function affineOptions(a: OpArgs): AffineOptions {
  const shear = a.numberOrList('shear') ?? 0;
  return {
    angle: a.number('angle'),
    translate: a.pair('translate') ?? [0, 0],
    scale: a.number('scale'),
    // a bare number is [shear, 0]; a one-element list shears both ways, as torchvision
    shear: typeof shear === 'number' ? shear : shear.length === 2 ? [shear[0], shear[1]] : [shear[0]],
    interpolation: a.word('interpolation', WARP_INTERPOLATIONS),
    fill: a.numberOrList('fill'),
    center: a.pair('center'),
  };
}

function unroundedWarp(w: { values: Float64Array; sourceX: Float64Array; sourceY: Float64Array; nearest: boolean }): Unrounded {
  return w.nearest ? { values: w.values, source: { x: w.sourceX, y: w.sourceY } } : { values: w.values };
}

/** Every op `--op` can call, in torchvision.transforms.functional's names and argument order. */
export const OP_TABLE: readonly OpSignature[] = [
  { name: 'hflip', summary: 'mirror left-right', args: [], run: (img) => hflip(img) },
  { name: 'vflip', summary: 'mirror top-bottom', args: [], run: (img) => vflip(img) },
  {
    name: 'crop',
    summary: 'cut a window (outside the image: zeros)',
    args: [
      { name: 'top', type: { kind: 'int' } },
      { name: 'left', type: { kind: 'int' } },
      { name: 'height', type: { kind: 'int', min: 1 } },
      { name: 'width', type: { kind: 'int', min: 1 } },
    ],
    run: (img, a) => crop(img, a.number('top'), a.number('left'), a.number('height'), a.number('width')),
  },
  {
    name: 'pad',
    summary: 'pad the borders',
    args: [
      { name: 'padding', type: { kind: 'numbers', lengths: [1, 2, 4], scalar: true, integer: true, min: 0 } },
      { name: 'fill', type: { kind: 'number', min: 0, max: 255 }, default: 0 },
      { name: 'padding_mode', type: { kind: 'choice', choices: PADDING_MODES }, default: 'constant' },
    ],
    run: (img, a) => pad(img, a.numberOrList('padding') ?? 0, { fill: a.number('fill'), mode: a.word('padding_mode', PADDING_MODES) }),
  },
  {
    name: 'resize',
    summary: 'resize to [h, w], or the shorter side to size',
    args: [
      { name: 'size', type: { kind: 'numbers', lengths: [1, 2], scalar: true, integer: true, min: 1 } },
      interpolationArg(INTERPOLATIONS, 'bilinear'),
      { name: 'max_size', type: { kind: 'int', min: 1 }, default: null },
      { name: 'antialias', type: { kind: 'bool' }, default: null },
    ],
    run: (img, a) => {
      const { height, width, opts } = resizeCall(img, a);
      return resize(img, height, width, opts);
    },
    unrounded: (img, a) => {
      const { height, width, opts } = resizeCall(img, a);
      return { values: resizeUnrounded(img, height, width, opts) };
    },
  },
  {
    name: 'rotate',
    summary: 'rotate counter-clockwise by angle degrees',
    args: [{ name: 'angle', type: { kind: 'number' } }, interpolationArg(WARP_INTERPOLATIONS, 'nearest'), { name: 'expand', type: { kind: 'bool' }, default: false }, centerArg, fillArg],
    run: (img, a) => rotate(img, a.number('angle'), rotateOptions(a)),
    unrounded: (img, a) => unroundedWarp(warpUnrounded(img, { rotate: { angle: a.number('angle'), ...rotateOptions(a) } })),
  },
  {
    name: 'affine',
    summary: 'rotate (clockwise), translate, scale and shear',
    args: [
      { name: 'angle', type: { kind: 'number' } },
      { name: 'translate', type: { kind: 'numbers', lengths: [2] } },
      { name: 'scale', type: { kind: 'number', above: 0 } },
      { name: 'shear', type: { kind: 'numbers', lengths: [1, 2], scalar: true } },
      interpolationArg(WARP_INTERPOLATIONS, 'nearest'),
      fillArg,
      centerArg,
    ],
    run: (img, a) => affine(img, affineOptions(a)),
    unrounded: (img, a) => unroundedWarp(warpUnrounded(img, { affine: affineOptions(a) })),
  },
  { name: 'posterize', summary: 'keep the top bits of each value', args: [{ name: 'bits', type: { kind: 'int', min: 0, max: 8 } }], run: (img, a) => posterize(img, a.number('bits')) },
  { name: 'solarize', summary: 'invert values ≥ threshold', args: [{ name: 'threshold', type: { kind: 'number', max: 255 } }], run: (img, a) => solarize(img, a.number('threshold')) },
  { name: 'equalize', summary: 'equalize each channel\'s histogram', args: [], run: (img) => equalize(img) },
  { name: 'autocontrast', summary: 'stretch each channel to 0..255', args: [], run: (img) => autocontrast(img) },
  { name: 'invert', summary: '255 - value', args: [], run: (img) => invert(img) },
  { name: 'adjust_brightness', summary: 'scale brightness', args: [factorArg('brightness_factor')], run: (img, a) => adjustBrightness(img, a.number('brightness_factor')) },
  { name: 'adjust_contrast', summary: 'scale contrast', args: [factorArg('contrast_factor')], run: (img, a) => adjustContrast(img, a.number('contrast_factor')) },
  { name: 'adjust_saturation', summary: 'scale saturation', args: [factorArg('saturation_factor')], run: (img, a) => adjustSaturation(img, a.number('saturation_factor')) },
  { name: 'adjust_sharpness', summary: 'scale sharpness', args: [factorArg('sharpness_factor')], run: (img, a) => adjustSharpness(img, a.number('sharpness_factor')) },
  { name: 'adjust_hue', summary: 'shift hue (turns)', args: [{ name: 'hue_factor', type: { kind: 'number', min: -0.5, max: 0.5 } }], run: (img, a) => adjustHue(img, a.number('hue_factor')) },
  {
    name: 'erase',
    summary: 'set a rectangle to v',
    args: [
      { name: 'i', type: { kind: 'int', min: 0 } },
      { name: 'j', type: { kind: 'int', min: 0 } },
      { name: 'h', type: { kind: 'int', min: 0 } },
      { name: 'w', type: { kind: 'int', min: 0 } },
      { name: 'v', type: { kind: 'numbers', lengths: [1, 3], scalar: true, min: 0, max: 255 } },
      { name: 'inplace', type: { kind: 'bool' }, default: false },
    ],
    run: (img, a) => erase(img, a.number('i'), a.number('j'), a.number('h'), a.number('w'), a.numberOrList('v') ?? 0),
  },
];

/** An argument's default as Python writes it. */
function pythonText(v: ArgValue | null): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number') return String(v);
  return `[${v.join(', ')}]`;
}

/**
 * An op's signature as Python writes it (the image left out).
 *
 * @example
 * signatureText(OP_TABLE.find((op) => op.name === 'posterize')!); // → 'posterize(bits)'
 */
export function signatureText(op: OpSignature): string {
  return `${op.name}(${op.args.map((a) => (a.default === undefined ? a.name : `${a.name}=${pythonText(a.default)}`)).join(', ')})`;
}

function range(min: number | undefined, max: number | undefined, above?: number): string {
  if (above !== undefined) return ` > ${above}`;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  return max !== undefined ? ` ≤ ${max}` : '';
}

/** What an argument type accepts, for error lines. */
function describe(t: ArgType, nullable: boolean): string {
  const none = nullable ? ' or None' : '';
  switch (t.kind) {
    case 'int':
      return `a whole number${range(t.min, t.max)}${none}`;
    case 'number':
      return `a number${range(t.min, t.max, t.above)}${none}`;
    case 'bool':
      return `True or False${none}`;
    case 'choice':
      return `one of ${t.choices.map((c) => `'${c}'`).join(', ')}${t.enumName ? ` (or ${t.enumName}.${t.choices[0].toUpperCase()}, ...)` : ''}${none}`;
    case 'numbers': {
      const what = `${t.integer ? 'whole numbers' : 'numbers'}${range(t.min, t.max)}`;
      const lengths = t.lengths.join(' or ');
      return `${t.scalar ? `a number or a list of ${lengths}` : `a list of ${lengths}`} ${what}${none}`;
    }
  }
}

/** Checks one value against its argument's type; returns it converted, or throws the one line. */
function convert(op: OpSignature, spec: ArgSpec, v: PyValue): ArgValue {
  const t = spec.type;
  const bad = (): never => {
    throw new OpCallError(`${op.name}(): ${spec.name}: expected ${describe(t, spec.default === null)}, got ${v.text}`);
  };
  if (v.kind === 'none') return spec.default === null ? undefined : bad();
  const inRange = (n: number, min?: number, max?: number, above?: number) => (min === undefined || n >= min) && (max === undefined || n <= max) && (above === undefined || n > above) && Number.isFinite(n);
  switch (t.kind) {
    case 'int':
      return v.kind === 'int' && inRange(v.value, t.min, t.max) ? v.value : bad();
    case 'number':
      return (v.kind === 'int' || v.kind === 'float') && inRange(v.value, t.min, t.max, t.above) ? v.value : bad();
    case 'bool':
      return v.kind === 'bool' ? v.value : bad();
    case 'choice': {
      const word = v.kind === 'str' ? v.value : v.kind === 'name' && t.enumName && v.value.startsWith(`${t.enumName}.`) ? v.value.slice(t.enumName.length + 1).toLowerCase() : undefined;
      return word !== undefined && t.choices.includes(word) ? word : bad();
    }
    case 'numbers': {
      const items = v.kind === 'list' ? v.items : t.scalar ? [v] : bad();
      if (v.kind === 'list' && !t.lengths.includes(items.length)) bad();
      const numbers = items.map((item) => ((item.kind === 'int' || (item.kind === 'float' && !t.integer)) && inRange(item.value, t.min, t.max) ? item.value : bad()));
      return v.kind === 'list' ? numbers : numbers[0];
    }
  }
}

/** The op of that name, or the one line naming the valid ones (and the closest). */
export function opNamed(name: string): OpSignature {
  const op = OP_TABLE.find((o) => o.name === name);
  if (op) return op;
  const closest = [...OP_TABLE].sort((a, b) => editDistance(a.name, name) - editDistance(b.name, name))[0];
  const hint = editDistance(closest.name, name) <= Math.max(2, name.length / 3) ? ` (did you mean ${closest.name}?)` : '';
  throw new OpCallError(`unknown op "${name}"${hint}; ops: ${OP_TABLE.map((o) => o.name).join(', ')}`);
}

/** A checked call, ready to run on images. */
export interface OpCall {
  readonly op: OpSignature;
  readonly args: OpArgs;
  /** the arguments given, in signature order, as `name=value` (for file names and logs) */
  readonly given: readonly (readonly [string, string])[];
  readonly apply: (img: RgbImage) => RgbImage;
  /** interpolating ops: `apply` before rounding, in float64 (see `Unrounded`) */
  readonly unrounded?: (img: RgbImage) => Unrounded;
}

/**
 * Parses and checks one torchvision functional call (`"posterize(bits=3)"`, `"rotate(img, 30)"`);
 * every mistake is one `OpCallError` line.
 *
 * @example
 * const call = opCall("posterize(bits=3)");
 * call.apply({ width: 1, height: 1, data: Uint8Array.of(255, 100, 31) }).data; // → Uint8Array.of(224, 96, 0)
 */
export function opCall(text: string): OpCall {
  const parsed = parseCall(text);
  const op = opNamed(parsed.name);
  // a bare name first stands for the image: rotate(img, 30)
  const positional = parsed.positional[0]?.kind === 'name' && !parsed.positional[0].value.includes('.') ? parsed.positional.slice(1) : parsed.positional;
  if (positional.length > op.args.length) throw new OpCallError(`${op.name}() takes ${op.args.length} argument${op.args.length === 1 ? '' : 's'} after the image, got ${positional.length}: ${signatureText(op)}`);
  const given = new Map<string, PyValue>();
  positional.forEach((v, k) => given.set(op.args[k].name, v));
  for (const { name, value } of parsed.keywords) {
    const spec = op.args.find((a) => a.name === name);
    if (!spec) {
      const close = op.args.filter((a) => editDistance(a.name, name) <= 2).map((a) => a.name);
      throw new OpCallError(`${op.name}(): unknown argument "${name}"${close.length ? ` (did you mean ${close.join(' or ')}?)` : ''}; arguments: ${signatureText(op)}`);
    }
    if (given.has(name)) throw new OpCallError(`${op.name}(): ${name} given twice`);
    given.set(name, value);
  }
  const values = new Map<string, ArgValue>();
  for (const spec of op.args) {
    const v = given.get(spec.name);
    if (v === undefined && spec.default === undefined) throw new OpCallError(`${op.name}(): missing ${spec.name}: ${signatureText(op)}`);
    values.set(spec.name, v === undefined ? (spec.default ?? undefined) : convert(op, spec, v));
  }
  const args = new OpArgs(values);
  const shown = op.args.filter((a) => given.has(a.name)).map((a) => [a.name, pythonText(values.get(a.name))] as const);
  const apply = (img: RgbImage) => {
    try {
      return op.run(img, args);
    } catch (e) {
      // what depends on the image (reflect padding wider than it, ...) is still the call's mistake
      if (e instanceof RangeError) throw new OpCallError(`${op.name}(): ${e.message}`);
      throw e;
    }
  };
  const { unrounded } = op;
  return { op, args, given: shown, apply, unrounded: unrounded && ((img: RgbImage) => unrounded(img, args)) };
}
