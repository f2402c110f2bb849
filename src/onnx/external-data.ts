/**
 * ONNX's external-data format (onnx docs/ExternalData.md), for models whose weights do not fit
 * in one file: a ModelProto is a protobuf message and cannot exceed 2 GB, so the large
 * initializers of a bigger model live in a side file (`model.onnx.data` beside `model.onnx`).
 * Such a TensorProto has `data_location` EXTERNAL and `external_data` entries `location` (the
 * side file, relative to the model's folder), `offset` and `length` in place of `raw_data`; the
 * side file holds the same little-endian bytes `raw_data` would.
 *
 * This module plans the side file (which initializers go there, at which offsets) and checks the
 * entries a reader finds; writing and reading the files is the platform's (src/platform/).
 *
 * @example
 * const weights = { dtype: 'float32', shape: [1024], data: new Float32Array(1024) } as const;
 * const plan = planExternalData([['w', weights], ['b', { dtype: 'float32', shape: [4], data: new Float32Array(4) }]], { externalDataThreshold: 0 });
 * plan?.file.location;                // → 'model.onnx.data'
 * plan?.refs.get('w');                // → { location: 'model.onnx.data', offset: 0, length: 4096 }
 * plan?.refs.has('b');                // → false (16 bytes stay inside the model)
 */
import { environment } from '#platform/runtime';
import { UserError } from '../errors.js';
import type { HostTensor } from '../graph/ir.js';

/**
 * Initializer bytes above which a model's large initializers go to a side file: below ONNX's
 * 2 GB ModelProto limit with room for the graph itself.
 */
export const EXTERNAL_DATA_THRESHOLD = 1.8e9;
/** initializers smaller than this stay inside the model (onnx's `convert_model_to_external_data` size_threshold) */
export const EXTERNAL_MIN_BYTES = 1024;
/** every offset in the side file is a multiple of the page size, as the format asks for memory mapping */
export const PAGE_BYTES = 4096;
/**
 * tensors of at least LARGE_TENSOR_BYTES start at a multiple of LARGE_ALIGNMENT (the Windows
 * allocation granularity; ONNX Runtime's own writer aligns tensors over 1 MiB to it)
 */
export const LARGE_TENSOR_BYTES = 1 << 20;
export const LARGE_ALIGNMENT = 1 << 16;

/**
 * The threshold where a writer is given none: EXTERNAL_DATA_THRESHOLD, or the environment's
 * TESSERA_EXTERNAL_DATA_THRESHOLD (bytes; tests set it to 0 to give a small model a side file).
 */
export function defaultExternalDataThreshold(): number {
  const set = environment('TESSERA_EXTERNAL_DATA_THRESHOLD');
  if (set === undefined || set === '') return EXTERNAL_DATA_THRESHOLD;
  if (!/^\d+$/.test(set)) throw new UserError(`TESSERA_EXTERNAL_DATA_THRESHOLD must be a whole number of bytes, got "${set}"`);
  return Number(set);
}

/** How a writer decides on a side file. */
export interface ExternalDataOptions {
  /** initializer bytes above which initializers of EXTERNAL_MIN_BYTES or more go to the side file (default: defaultExternalDataThreshold()) */
  readonly externalDataThreshold?: number;
  /** the side file's name, relative to the model file's folder (default 'model.onnx.data') */
  readonly externalDataLocation?: string;
}

/** Where one tensor's bytes are in the side file (its `external_data` entries). */
export interface ExternalRef {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

/** One tensor's bytes at their offset in the side file (the gaps between are zeros). */
export interface ExternalDataPiece {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** A side file to write: its name relative to the model and its contents. */
export interface ExternalDataFile {
  readonly location: string;
  /** the file's length in bytes (the end of its last piece) */
  readonly size: number;
  readonly pieces: readonly ExternalDataPiece[];
}

/** A written model: the ModelProto bytes and, for a model over the threshold, its side file. */
export interface OnnxFiles {
  readonly model: Uint8Array;
  readonly externalData: ExternalDataFile | null;
}

/** the side file's name when none is given */
export const DEFAULT_EXTERNAL_LOCATION = 'model.onnx.data';

/** the little-endian bytes of a host tensor (a view, not a copy) */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const alignUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * The side file for `initializers` (name, tensor, in file order), or null where their bytes stay
 * under the threshold: initializers of EXTERNAL_MIN_BYTES or more go there, each at an aligned
 * offset, the others stay inside the model.
 */
export function planExternalData(initializers: readonly (readonly [string, HostTensor])[], opts: ExternalDataOptions = {}): { refs: Map<string, ExternalRef>; file: ExternalDataFile } | null {
  const threshold = opts.externalDataThreshold ?? defaultExternalDataThreshold();
  const location = opts.externalDataLocation ?? DEFAULT_EXTERNAL_LOCATION;
  checkLocation(location, 'the external data file');
  const total = initializers.reduce((sum, [, t]) => sum + t.data.byteLength, 0);
  if (total <= threshold) return null;
  const refs = new Map<string, ExternalRef>();
  const pieces: ExternalDataPiece[] = [];
  let end = 0;
  for (const [name, t] of initializers) {
    const length = t.data.byteLength;
    if (length < EXTERNAL_MIN_BYTES || refs.has(name)) continue;
    const offset = alignUp(end, length >= LARGE_TENSOR_BYTES ? LARGE_ALIGNMENT : PAGE_BYTES);
    refs.set(name, { location, offset, length });
    pieces.push({ offset, bytes: tensorBytes(t) });
    end = offset + length;
  }
  return { refs, file: { location, size: end, pieces } };
}

/** why `location` is not a plain relative path inside the model's folder (the format forbids `..`), or null where it is */
function badLocation(location: string): string | null {
  const bad = location === '' || location.startsWith('/') || /^[A-Za-z]:|\\/.test(location) || location.split('/').includes('..');
  return bad ? `"${location}" is not a relative path inside the model's folder (ONNX external data must be)` : null;
}

/** Refuses a side file name that is not a plain relative path inside the model's folder. */
export function checkLocation(location: string, what: string): void {
  const why = badLocation(location);
  if (why) throw new UserError(`${what} ${why}`);
}

/**
 * Where a tensor's `external_data` entries put its bytes (location required, offset default 0,
 * length default null: to the end of the file); a bad entry is `fail(message)`, thrown.
 */
export function parseExternalEntries(entries: ReadonlyMap<string, string>, what: string, fail: (message: string) => Error): { location: string; offset: number; length: number | null } {
  const location = entries.get('location');
  if (location === undefined) throw fail(`${what} keeps its data in an external file but names none (no "location" entry)`);
  const why = badLocation(location);
  if (why) throw fail(`${what}: its external data file ${why}`);
  const count = (key: string): number | null => {
    const v = entries.get(key);
    if (v === undefined) return null;
    if (!/^\d+$/.test(v)) throw fail(`${what}: external data ${key} "${v}" is not a whole number of bytes`);
    return Number(v);
  };
  return { location, offset: count('offset') ?? 0, length: count('length') };
}
