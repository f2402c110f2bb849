/**
 * A parser for one Python function call, as `tessera augment --op` takes torchvision functional
 * calls: `rotate(angle=30, interpolation='nearest')`, `affine(0, [3, -2], 1.0, [15.0, 0.0])`.
 * Values are ints, floats (signs and exponents included), strings in either quote, lists and
 * tuples, `True`/`False`/`None` and dotted names such as `InterpolationMode.BILINEAR`; a bare name
 * as the first argument stands for the image (`rotate(img, 30)`). Every mistake is one
 * `OpCallError` line saying where.
 */
import { UserError } from '../errors.js';

/** A mistake in an op call (syntax, unknown op or argument, wrong value); the message is one line. */
export class OpCallError extends UserError {}

/** One parsed value with the text it was written as. */
export type PyValue = { readonly text: string } & (
  | { readonly kind: 'int' | 'float'; readonly value: number }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'none' }
  | { readonly kind: 'list'; readonly items: readonly PyValue[] }
  | { readonly kind: 'name'; readonly value: string }
);

/** A parsed call: the function's name, its positional arguments and its keyword arguments in order. */
export interface ParsedCall {
  readonly name: string;
  readonly positional: readonly PyValue[];
  readonly keywords: readonly { readonly name: string; readonly value: PyValue }[];
}

interface Token {
  readonly kind: 'name' | 'number' | 'str' | 'punct' | 'end';
  readonly text: string;
  readonly at: number;
}

const TOKEN = /\s*(?:([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)|((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|([()[\],=+-]))/y;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (!m) {
      const where = at + (text.slice(at).length - text.slice(at).trimStart().length);
      throw syntaxError(text, where, `unexpected ${JSON.stringify(text[where])}`);
    }
    const start = m.index + m[0].length - (m[1] ?? m[2] ?? m[3] ?? m[4]).length;
    if (m[1] !== undefined) tokens.push({ kind: 'name', text: m[1].replace(/\s+/g, ''), at: start });
    else if (m[2] !== undefined) tokens.push({ kind: 'number', text: m[2], at: start });
    else if (m[3] !== undefined) tokens.push({ kind: 'str', text: m[3], at: start });
    else tokens.push({ kind: 'punct', text: m[4], at: start });
    at = TOKEN.lastIndex;
  }
  tokens.push({ kind: 'end', text: 'the end', at: text.length });
  return tokens;
}

function syntaxError(text: string, at: number, what: string): OpCallError {
  return new OpCallError(`syntax error at column ${at + 1} of ${JSON.stringify(text)}: ${what}`);
}

/**
 * Parses `text` as one call `name(arg, ..., key=value, ...)`.
 *
 * @example
 * const call = parseCall("rotate(img, 30, interpolation=InterpolationMode.BILINEAR, center=[-1, 2.5])");
 * [call.name, call.positional.length, call.keywords.map((k) => k.name)]; // → ['rotate', 2, ['interpolation', 'center']]
 */
export function parseCall(text: string): ParsedCall {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const fail = (what: string): never => {
    const t = peek();
    throw syntaxError(text, t.at, `expected ${what}, got ${t.kind === 'end' ? 'the end' : JSON.stringify(t.text)}`);
  };
  const isPunct = (p: string) => peek().kind === 'punct' && peek().text === p;
  const take = (punct: string) => (isPunct(punct) ? void i++ : fail(`"${punct}"`));
  /** a comma between items, or nothing before the closing bracket */
  const separator = (close: string) => (isPunct(close) ? undefined : isPunct(',') ? void i++ : fail(`"," or "${close}"`));

  const value = (): PyValue => {
    const t = peek();
    if (t.kind === 'punct' && (t.text === '-' || t.text === '+')) {
      i++;
      const n = peek();
      if (n.kind !== 'number') fail('a number after the sign');
      i++;
      return number(t.text === '-' ? `-${n.text}` : n.text);
    }
    if (t.kind === 'number') {
      i++;
      return number(t.text);
    }
    if (t.kind === 'str') {
      i++;
      return { kind: 'str', value: unquote(t.text), text: t.text };
    }
    if (t.kind === 'name') {
      i++;
      if (t.text === 'True' || t.text === 'False') return { kind: 'bool', value: t.text === 'True', text: t.text };
      if (t.text === 'None') return { kind: 'none', text: t.text };
      return { kind: 'name', value: t.text, text: t.text };
    }
    if (isPunct('[') || isPunct('(')) {
      const close = peek().text === '[' ? ']' : ')';
      i++;
      const items: PyValue[] = [];
      while (!isPunct(close)) {
        items.push(value());
        separator(close);
      }
      i++;
      return { kind: 'list', items, text: `[${items.map((v) => v.text).join(', ')}]` };
    }
    return fail('a value');
  };

  const head = peek();
  if (head.kind !== 'name' || head.text.includes('.')) fail('an op name such as rotate');
  i++;
  take('(');
  const positional: PyValue[] = [];
  const keywords: { name: string; value: PyValue }[] = [];
  while (!isPunct(')')) {
    const t = peek();
    if (t.kind === 'name' && tokens[i + 1].kind === 'punct' && tokens[i + 1].text === '=') {
      i += 2;
      keywords.push({ name: t.text, value: value() });
    } else {
      if (keywords.length > 0) fail(`a keyword argument (name=value) after ${keywords[keywords.length - 1].name}=`);
      positional.push(value());
    }
    separator(')');
  }
  i++;
  if (peek().kind !== 'end') fail('the end of the call');
  return { name: head.text, positional, keywords };
}

function number(text: string): PyValue {
  const isFloat = /[.eE]/.test(text);
  return { kind: isFloat ? 'float' : 'int', value: Number(text), text };
}

function unquote(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(.)/g, '$1');
}
