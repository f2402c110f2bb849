/**
 * A strict parser for the protobuf text format, checked against a message schema: every field
 * must be declared with its type, scalars need their `:`, a singular field is set at most once,
 * at most one field of a oneof is set, enum values must be the enum's names, integers must fit
 * their type. Any deviation throws with the line and column. Used to check Triton config.pbtxt
 * files against `TRITON_MODEL_CONFIG` (the fields of Triton's `inference.ModelConfig` that an
 * exported classifier may use, with their model_config.proto types).
 */

/** A field's type: a scalar, an enum (its value names) or a nested message. */
export type FieldType =
  | 'string'
  | 'bool'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'double'
  | { readonly enum: readonly string[] }
  | { readonly message: () => MessageSchema };

export interface FieldSchema {
  readonly type: FieldType;
  readonly repeated?: boolean;
  /** the oneof group it belongs to */
  readonly oneof?: string;
}

export type MessageSchema = Readonly<Record<string, FieldSchema>>;

/** A parsed value: enums as their names, 64-bit integers as bigint, messages as `PbMessage`. */
export type PbValue = string | boolean | number | bigint | PbMessage;
export interface PbMessage {
  readonly [field: string]: PbValue | PbValue[];
}

interface Token {
  readonly kind: 'ident' | 'number' | 'string' | 'punct';
  readonly text: string;
  /** the decoded value of a string token */
  readonly value?: string;
  readonly line: number;
  readonly column: number;
}

const INT_RANGE: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/**
 * Parses `text` as a `schema` message; throws `Error('LINE:COL: problem')` on anything the
 * schema or the text format does not allow.
 */
export function parsePbtxt(text: string, schema: MessageSchema): PbMessage {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const fail = (t: Token | undefined, what: string): never => {
    throw new Error(t ? `${t.line}:${t.column}: ${what} (at "${t.text}")` : `end of input: ${what}`);
  };
  const next = (what: string): Token => tokens[pos++] ?? fail(undefined, `expected ${what}`);
  const isPunct = (t: Token | undefined, p: string) => t?.kind === 'punct' && t.text === p;

  const scalar = (type: FieldType, field: string): PbValue => {
    const t = next(`a value for ${field}`);
    if (typeof type === 'object' && 'enum' in type) {
      if (t.kind !== 'ident' || !type.enum.includes(t.text)) fail(t, `${field} takes one of ${type.enum.join(', ')}`);
      return t.text;
    }
    if (typeof type === 'object') return fail(t, `${field} is a message: write ${field} { ... }`);
    switch (type) {
      case 'string': {
        if (t.kind !== 'string') fail(t, `${field} takes a string`);
        let s = t.value ?? '';
        while (peek()?.kind === 'string') s += next('a string').value ?? '';
        return s;
      }
      case 'bool':
        if (t.kind !== 'ident' || (t.text !== 'true' && t.text !== 'false')) fail(t, `${field} takes true or false`);
        return t.text === 'true';
      case 'double':
        if (t.kind !== 'number') fail(t, `${field} takes a number`);
        return Number(t.text);
      default: {
        if (t.kind !== 'number' || !/^-?\d+$/.test(t.text)) fail(t, `${field} takes an integer (${type})`);
        const v = BigInt(t.text);
        const [lo, hi] = INT_RANGE[type];
        if (v < lo || v > hi) fail(t, `${field}: ${t.text} is outside ${type}`);
        return type === 'int64' || type === 'uint64' ? v : Number(v);
      }
    }
  };

  const message = (msgSchema: MessageSchema, close: string | null): PbMessage => {
    const out: Record<string, PbValue | PbValue[]> = {};
    const oneofSet = new Map<string, string>();
    for (;;) {
      const t = peek();
      if (close === null ? t === undefined : isPunct(t, close)) {
        pos++;
        return out;
      }
      const name = next(close === null ? 'a field name' : `a field name or "${close}"`);
      if (name.kind !== 'ident') fail(name, 'expected a field name');
      const spec = msgSchema[name.text] ?? fail(name, `unknown field ${name.text} (known: ${Object.keys(msgSchema).join(', ')})`);
      if (spec.oneof) {
        const other = oneofSet.get(spec.oneof);
        if (other !== undefined && other !== name.text) fail(name, `${name.text} and ${other} are both set, but they are one of ${spec.oneof}`);
        oneofSet.set(spec.oneof, name.text);
      }
      if (!spec.repeated && name.text in out) fail(name, `${name.text} is not repeated but is set twice`);
      const isMessage = typeof spec.type === 'object' && 'message' in spec.type;
      const colon = isPunct(peek(), ':');
      if (colon) pos++;
      else if (!isMessage) fail(peek(), `expected ":" after ${name.text}`);
      const one = (): PbValue => {
        if (typeof spec.type === 'object' && 'message' in spec.type) {
          const open = next(`"{" for ${name.text}`);
          if (!isPunct(open, '{') && !isPunct(open, '<')) fail(open, `${name.text} is a message: expected "{"`);
          return message(spec.type.message(), open.text === '{' ? '}' : '>');
        }
        return scalar(spec.type, name.text);
      };
      let values: PbValue[];
      if (isPunct(peek(), '[')) {
        if (!spec.repeated) fail(peek(), `${name.text} is not repeated: no [ ... ] list`);
        pos++;
        values = [];
        if (isPunct(peek(), ']')) pos++;
        else {
          for (;;) {
            values.push(one());
            const sep = next('"," or "]"');
            if (isPunct(sep, ']')) break;
            if (!isPunct(sep, ',')) fail(sep, 'expected "," or "]" in a list');
          }
        }
      } else values = [one()];
      if (spec.repeated) out[name.text] = [...((out[name.text] as PbValue[] | undefined) ?? []), ...values];
      else out[name.text] = values[0];
      if (isPunct(peek(), ',') || isPunct(peek(), ';')) pos++;
    }
  };
  return message(schema, null);
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '?': '?' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let lineStart = 0;
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${line}:${i - lineStart + 1}: ${what}`);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = ++i;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const start = i;
    const at = { line, column: i - lineStart + 1 };
    if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i])) i++;
      tokens.push({ kind: 'ident', text: text.slice(start, i), ...at });
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i)) ?? fail(`malformed number`);
      i += m[0].length;
      if (i < text.length && /[A-Za-z_]/.test(text[i])) fail('a number runs into a name');
      tokens.push({ kind: 'number', text: m[0], ...at });
    } else if (c === '"' || c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length || text[i] === '\n') fail('unterminated string');
        const ch = text[i++];
        if (ch === c) break;
        if (ch !== '\\') {
          value += ch;
          continue;
        }
        const e = text[i++];
        if (e in ESCAPES) value += ESCAPES[e];
        else if (e === 'x' && /^[0-9A-Fa-f]{1,2}/.test(text.slice(i))) {
          const h = /^[0-9A-Fa-f]{1,2}/.exec(text.slice(i))![0];
          value += String.fromCharCode(parseInt(h, 16));
          i += h.length;
        } else fail(`unknown escape \\${e}`);
      }
      tokens.push({ kind: 'string', text: text.slice(start, i), value, ...at });
    } else if ('{}[]<>:,;'.includes(c)) {
      i++;
      tokens.push({ kind: 'punct', text: c, ...at });
    } else fail(`unexpected character ${JSON.stringify(c)}`);
  }
  return tokens;
}

// ---- Triton's ModelConfig (triton-inference-server/common protobuf/model_config.proto) -------------

const DATA_TYPE: FieldType = {
  enum: ['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16'],
};

const TENSOR_RESHAPE: MessageSchema = { shape: { type: 'int64', repeated: true } };

const MODEL_INPUT: MessageSchema = {
  name: { type: 'string' },
  data_type: { type: DATA_TYPE },
  format: { type: { enum: ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'] } },
  dims: { type: 'int64', repeated: true },
  reshape: { type: { message: () => TENSOR_RESHAPE } },
  is_shape_tensor: { type: 'bool' },
  allow_ragged_batch: { type: 'bool' },
  optional: { type: 'bool' },
};

const MODEL_OUTPUT: MessageSchema = {
  name: { type: 'string' },
  data_type: { type: DATA_TYPE },
  dims: { type: 'int64', repeated: true },
  reshape: { type: { message: () => TENSOR_RESHAPE } },
  label_filename: { type: 'string' },
  is_shape_tensor: { type: 'bool' },
};

const DYNAMIC_BATCHING: MessageSchema = {
  preferred_batch_size: { type: 'int32', repeated: true },
  max_queue_delay_microseconds: { type: 'uint64' },
  preserve_ordering: { type: 'bool' },
  priority_levels: { type: 'uint64' },
  default_priority_level: { type: 'uint64' },
};

const INSTANCE_GROUP: MessageSchema = {
  name: { type: 'string' },
  kind: { type: { enum: ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] } },
  count: { type: 'int32' },
  gpus: { type: 'int32', repeated: true },
  profile: { type: 'string', repeated: true },
  passive: { type: 'bool' },
  host_policy: { type: 'string' },
};

/** the scheduling choices other than dynamic batching, only to enforce their oneof (their own fields are not modelled) */
const UNMODELLED: MessageSchema = {};

/** The `inference.ModelConfig` fields a classifier's config may set, with their proto types. */
export const TRITON_MODEL_CONFIG: MessageSchema = {
  name: { type: 'string' },
  platform: { type: 'string' },
  backend: { type: 'string' },
  runtime: { type: 'string' },
  max_batch_size: { type: 'int32' },
  input: { type: { message: () => MODEL_INPUT }, repeated: true },
  output: { type: { message: () => MODEL_OUTPUT }, repeated: true },
  dynamic_batching: { type: { message: () => DYNAMIC_BATCHING }, oneof: 'scheduling_choice' },
  sequence_batching: { type: { message: () => UNMODELLED }, oneof: 'scheduling_choice' },
  ensemble_scheduling: { type: { message: () => UNMODELLED }, oneof: 'scheduling_choice' },
  instance_group: { type: { message: () => INSTANCE_GROUP }, repeated: true },
  default_model_filename: { type: 'string' },
};
