/**
 * The DataLoader's per-batch work (decode, augment, normalize) and the worker-thread entry that runs
 * it. `DataLoader` starts this file (compiled to dist/src/data/worker.js) as a Worker; with
 * `workers: 0` it calls `prepareBatch` on the main thread instead, so both paths share one code
 * path and give bit-identical batches.
 *
 * Protocol (all messages structured-cloneable):
 *   main → worker: task {id, task}, cancel {ids}, source {req, source | error}
 *   worker → main: done {id, input, target, indices, skipped} (the three buffers transferred),
 *                  error {id, message}, cancelled {id}, need {id, req, position}
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { describeFsError } from '../errors.js';
import { Rng } from '../nn/init.js';
import { DatasetError } from './errors.js';
import { baseImage, transformSample } from '../augment/pipeline.js';
import { flippedAtStart } from '../augment/airbench.js';
import type { TransformSpec } from './types.js';
import { imageDimensions } from './image-header.js';
import { fromInterleaved, resizedShape, roundHalfEven, type RgbImage } from './transforms.js';

/** Marks the workerData of a loader worker, so importing this module elsewhere starts nothing. */
export const WORKER_KIND = 'tessera-data-loader-worker';

// ---------------------------------------------------------------------------------------------
// seeds

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes integers (each up to 2^53 in magnitude) into one 32-bit Rng seed; different tuples give
 * unrelated seeds.
 *
 * @example
 *   new Rng(seedFrom(7, 3, 12)); // the same stream on every machine and in every worker
 */
export function seedFrom(...parts: readonly number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    h = mix32((h ^ lo) >>> 0);
    h = mix32((h ^ hi ^ 0x9e3779b9) >>> 0);
  }
  return h;
}

const ORDER_STREAM = 1;
const SAMPLE_STREAM = 2;

/**
 * The Rng that sample `index` of epoch `epoch` draws its augmentation from: it depends on nothing
 * else (not on the worker, the batch, or timing). `draw` counts earlier draws of the same sample
 * in the epoch (a sampler with replacement), so each repeat is augmented afresh.
 *
 * @example
 *   applyTransform(img, spec, sampleRng(seed, epoch, index)); // what the DataLoader computes for it
 */
export function sampleRng(seed: number, epoch: number, index: number, draw = 0): Rng {
  return new Rng(draw === 0 ? seedFrom(SAMPLE_STREAM, seed, epoch, index) : seedFrom(SAMPLE_STREAM, seed, epoch, index, draw));
}

/**
 * The order of epoch `epoch`: the identity, or a Fisher–Yates shuffle driven by an Rng seeded from
 * (seed, epoch), so any epoch can be recomputed on its own (exact resume).
 *
 * @example
 *   epochOrder(5, true, 42, 0); // Int32Array, a permutation of 0..4
 */
export function epochOrder(length: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(length);
  for (let i = 0; i < length; i++) order[i] = i;
  if (shuffle) {
    const rng = new Rng(seedFrom(ORDER_STREAM, seed, epoch));
    for (let i = length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// sources and batches

/**
 * All pixel samples of a dataset in one SharedArrayBuffer, shared (not copied) with every worker:
 * sample i is 3·widths[i]·heights[i] bytes at offsets[i] (−1: not a pixel sample).
 */
export interface PixelPool {
  readonly data: SharedArrayBuffer;
  readonly offsets: Float64Array;
  readonly widths: Int32Array;
  readonly heights: Int32Array;
}

/**
 * Decoded file samples shared by every worker: sample i's size×size CHW pixels at i·3·size², and
 * `state[i]` = 1 once they are there. Files are decoded once: all before the first step
 * (DataLoader.predecode), or else in whichever epoch first needs them; augmentation still runs per
 * epoch on the cached pixels.
 */
export interface DecodeCache {
  readonly data: SharedArrayBuffer;
  readonly state: SharedArrayBuffer;
  readonly size: number;
}

/** Where a worker finds one sample (with its label): the shared pool, inline pixels or a file. */
export type SourceRef =
  | { readonly index: number; readonly label: number; readonly kind: 'pool' }
  | {
      readonly index: number;
      readonly label: number;
      readonly kind: 'pixels';
      readonly data: Uint8Array;
      readonly width: number;
      readonly height: number;
    }
  | { readonly index: number; readonly label: number; readonly kind: 'file'; readonly path: string };

/** One batch to prepare: the samples at epoch-order positions first .. first+sources.length−1. */
export interface BatchTask {
  readonly epoch: number;
  /** epoch-order position of slot 0 */
  readonly first: number;
  /** dataset length: replacement positions wrap at it */
  readonly total: number;
  /** the sample of each slot */
  readonly sources: readonly SourceRef[];
  /** per slot, how often its sample was drawn earlier in the epoch (a sampler; absent: 0) */
  readonly draws?: readonly number[];
  /**
   * only decode the file samples into the decode cache (DataLoader.predecode): the batch comes
   * back without pixels, `skipped` naming the samples that failed (no replacements)
   */
  readonly decodeOnly?: boolean;
}

export interface BatchContext {
  readonly seed: number;
  readonly spec: TransformSpec;
  readonly pool: PixelPool | null;
  /** decoded file samples, when the loader keeps them */
  readonly cache?: DecodeCache | null;
  /** the sample at an epoch-order position (used to replace samples that fail to decode) */
  sourceAt(position: number): SourceRef | Promise<SourceRef>;
  /** polled between samples; prepareBatch throws CancelledError once it returns true */
  cancelled?(): boolean;
}

export interface PreparedBatch {
  input: Float32Array;
  target: BigInt64Array;
  indices: Int32Array;
  skipped: { index: number; reason: string }[];
}

/**
 * Thrown by prepareBatch when its context reports the batch cancelled (nobody will consume it).
 *
 * @example
 *   await prepareBatch(task, { ...ctx, cancelled: () => true }); // rejects with CancelledError
 */
export class CancelledError extends Error {
  constructor() {
    super('batch cancelled');
    this.name = 'CancelledError';
  }
}

type Decoded = { ok: true; img: RgbImage } | { ok: false; reason: string };

type SharpFn = (typeof import('sharp'))['default'];
let sharpModule: Promise<SharpFn> | null = null;
/** sharp is loaded on first use, so workers of pixel datasets start without the native module. */
function loadSharp(): Promise<SharpFn> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim() || 'unknown error';
}

/** How `decodeImageFile` resizes before its center crop (an evaluation TransformSpec's fields). */
export interface DecodeResize {
  /** the shorter side before the center crop (default: the crop size) */
  readonly resize?: number;
  /** sharp's `linear` kernel (default) or `cubic` (Catmull-Rom, PIL's bicubic) */
  readonly interpolation?: 'bilinear' | 'bicubic';
}

/**
 * Decodes an image file to size×size RGB with sharp: alpha removed, any colourspace (grayscale,
 * CMYK, 16-bit) converted to 8-bit sRGB. Images that are not size×size are resized during decoding
 * the way torchvision's Resize(resize) + CenterCrop(size) does it: shorter side to `resize`
 * (default `size`; longer side truncated as torchvision computes it) with sharp's `linear`
 * (triangle, i.e. antialiased bilinear; `cubic` for bicubic) kernel and no JPEG shrink-on-load,
 * then the center crop at torchvision's offsets. Without `size` the image keeps its own size.
 * EXIF orientation is not applied (as PIL / torchvision's ImageFolder do not). A file that cannot
 * be read or decoded is one DatasetError line naming it: `PATH: cannot read the image: permission
 * denied` (missing, a folder, no permission) or `PATH: cannot read the image (REASON)` (not an image).
 *
 * @example
 *   const img = await decodeImageFile('cat.jpg', 224); // { width: 224, height: 224, data: CHW }
 *   const full = await decodeImageFile('cat.jpg'); // no size: the image at its own size
 */
export async function decodeImageFile(path: string, size?: number, opts: DecodeResize = {}): Promise<RgbImage> {
  try {
    return await decodeWithSharp(path, size, opts);
  } catch (e) {
    // sharp calls an unreadable file "unsupported image format": ask the file system first
    const unreadable = await unreadableReason(path);
    throw new DatasetError(unreadable === null ? `${path}: cannot read the image (${firstLine(e)})` : `${path}: cannot read the image: ${unreadable}`);
  }
}

/** Why `path` cannot be read as a file (missing, a folder, no permission), or null when it can. */
async function unreadableReason(path: string): Promise<string | null> {
  try {
    if ((await stat(path)).isDirectory()) return 'is a directory';
    await access(path, constants.R_OK);
    return null;
  } catch (e) {
    return describeFsError(e);
  }
}

/**
 * Decodes image bytes held in memory (an upload) like `decodeImageFile` decodes a file; images of
 * more than `maxPixels` pixels are refused before they are decoded. Throws sharp's error
 * (truncated or foreign data).
 *
 * @example
 *   const img = await decodeImageBytes(readFileSync('cat.jpg'), 224, { resize: 256 }, 50e6);
 */
export function decodeImageBytes(bytes: Uint8Array, size: number, opts: DecodeResize, maxPixels: number): Promise<RgbImage> {
  return decodeWithSharp(bytes, size, opts, maxPixels);
}

async function decodeWithSharp(input: string | Uint8Array, size: number | undefined, opts: DecodeResize, maxPixels?: number): Promise<RgbImage> {
  const sharp = await loadSharp();
  // one read and, for JPEG and PNG, no metadata pass: a third of a small image's decode time
  const bytes = typeof input === 'string' ? await readFile(input) : input;
  const img = sharp(bytes, maxPixels === undefined ? {} : { limitInputPixels: maxPixels });
  const { width, height } = imageDimensions(bytes) ?? (await img.metadata());
  if (!width || !height) throw new Error('image has no dimensions');
  let pipe = img.removeAlpha().toColourspace('srgb');
  const resize = opts.resize ?? size;
  if (size !== undefined && resize !== undefined && (width !== size || height !== size || resize !== size)) {
    const shape = resizedShape(height, width, resize);
    const kernel = opts.interpolation === 'bicubic' ? 'cubic' : 'linear';
    pipe = pipe.resize(shape.width, shape.height, { fit: 'fill', kernel, fastShrinkOnLoad: false }).extract({
      left: roundHalfEven((shape.width - size) / 2),
      top: roundHalfEven((shape.height - size) / 2),
      width: size,
      height: size,
    });
  }
  const outW = size ?? width;
  const outH = size ?? height;
  const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== outW || info.height !== outH || data.length !== 3 * outW * outH) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${outW}x${outH}x3`);
  }
  return fromInterleaved(new Uint8Array(data.buffer, data.byteOffset, data.length), outW, outH);
}

/**
 * Decodes an image file to what `spec` starts from (`baseImage`): Resize + CenterCrop to
 * spec.size, or the whole image under RandomResizedCrop.
 *
 * @example
 *   const img = await decodeForSpec('cat.jpg', { size: 224, resize: 256, mean, std }); // 224×224
 */
export function decodeForSpec(path: string, spec: TransformSpec): Promise<RgbImage> {
  if (spec.randomResizedCrop) return decodeImageFile(path);
  return decodeImageFile(path, spec.size, { resize: spec.resize, interpolation: spec.interpolation });
}

async function decodeRef(ref: SourceRef, spec: TransformSpec, pool: PixelPool | null, cache: DecodeCache | null): Promise<Decoded> {
  const size = spec.size;
  switch (ref.kind) {
    case 'pool': {
      const off = pool ? pool.offsets[ref.index] : -1;
      if (!pool || off < 0) throw new Error(`sample ${ref.index} is not in the shared pixel pool`);
      const width = pool.widths[ref.index];
      const height = pool.heights[ref.index];
      return { ok: true, img: { width, height, data: new Uint8Array(pool.data, off, 3 * width * height) } };
    }
    case 'pixels':
      if (ref.data.length !== 3 * ref.width * ref.height) {
        throw new Error(`sample ${ref.index}: a ${ref.width}x${ref.height} RGB image needs ${3 * ref.width * ref.height} bytes, got ${ref.data.length}`);
      }
      return { ok: true, img: { width: ref.width, height: ref.height, data: ref.data } };
    case 'file': {
      const per = 3 * size * size;
      const slot = cache && cache.size === size && !spec.randomResizedCrop ? new Uint8Array(cache.data, ref.index * per, per) : null;
      const state = cache ? new Int32Array(cache.state) : null;
      if (slot && state && Atomics.load(state, ref.index) === 1) return { ok: true, img: { width: size, height: size, data: slot } };
      try {
        const img = await decodeForSpec(ref.path, spec);
        if (slot && state) {
          slot.set(img.data);
          Atomics.store(state, ref.index, 1);
        }
        return { ok: true, img };
      } catch (e) {
        return { ok: false, reason: e instanceof DatasetError ? e.message : `${ref.path}: ${firstLine(e)}` };
      }
    }
  }
}

/**
 * Builds one batch: decodes every slot's sample (file decodes run concurrently), replaces a sample
 * that fails to decode by the next sample of the epoch order that decodes (wrapping at the end),
 * transforms each with `sampleRng(seed, epoch, index)` and writes NCHW floats and int64 labels.
 * Each failing index is reported once in `skipped`, in slot order. The output depends only on
 * (seed, spec, epoch, positions), never on which thread runs it.
 *
 * @example
 *   const b = await prepareBatch({ epoch: 0, first: 0, total: ds.length, sources }, {
 *     seed: 1, spec, pool: null, sourceAt: (pos) => refFor(order[pos]),
 *   });
 */
export async function prepareBatch(task: BatchTask, ctx: BatchContext): Promise<PreparedBatch> {
  if (task.decodeOnly) return decodeOnly(task, ctx);
  const S = ctx.spec.size;
  const per = 3 * S * S;
  const count = task.sources.length;
  const input = new Float32Array(count * per);
  const target = new BigInt64Array(count);
  const indices = new Int32Array(count);
  const skipped: { index: number; reason: string }[] = [];
  const reported = new Set<number>();
  const decoded = new Map<number, Promise<Decoded>>();
  const written = new Map<number, number>();

  const decode = (ref: SourceRef): Promise<Decoded> => {
    let p = decoded.get(ref.index);
    if (!p) {
      p = decodeRef(ref, ctx.spec, ctx.pool, ctx.cache ?? null);
      p.catch(() => {}); // awaited below; keeps an early throw from being "unhandled"
      decoded.set(ref.index, p);
    }
    return p;
  };
  for (const ref of task.sources) void decode(ref);

  for (let s = 0; s < count; s++) {
    if (ctx.cancelled?.()) throw new CancelledError();
    let ref = task.sources[s];
    let pos = task.first + s;
    let img: RgbImage;
    for (let tries = 1; ; tries++) {
      const d = await decode(ref);
      if (d.ok) {
        img = d.img;
        break;
      }
      if (!reported.has(ref.index)) {
        reported.add(ref.index);
        skipped.push({ index: ref.index, reason: d.reason });
      }
      if (tries >= task.total) {
        throw new DatasetError(`none of the ${task.total} samples could be decoded (e.g. index ${ref.index}: ${d.reason}); give a folder of readable images`);
      }
      pos = (pos + 1) % task.total;
      ref = await ctx.sourceAt(pos);
    }
    const off = s * per;
    // a replacement (ref changed) counts as a first draw
    const draw = ref === task.sources[s] ? (task.draws?.[s] ?? 0) : 0;
    const key = ref.index + draw * task.total;
    const prev = written.get(key);
    if (prev !== undefined) {
      input.copyWithin(off, prev * per, prev * per + per);
    } else {
      // files decode straight to the spec's base image; pixel samples get there here
      const base = ref.kind === 'file' ? img : baseImage(img, ctx.spec);
      transformSample(base, ctx.spec, sampleRng(ctx.seed, task.epoch, ref.index, draw), input, off, ctx.spec.hflip === 'alternating' ? { startFlipped: flippedAtStart(ctx.seed, ref.index), epoch: task.epoch } : undefined);
      written.set(key, s);
    }
    target[s] = BigInt(ref.label);
    indices[s] = ref.index;
  }
  return { input, target, indices, skipped };
}

/** A decodeOnly task: every source decoded (files into the cache, all at once), failures listed. */
async function decodeOnly(task: BatchTask, ctx: BatchContext): Promise<PreparedBatch> {
  const decoded = await Promise.all(task.sources.map((ref) => decodeRef(ref, ctx.spec, ctx.pool, ctx.cache ?? null)));
  const skipped = decoded.flatMap((d, s) => (d.ok ? [] : [{ index: task.sources[s].index, reason: d.reason }]));
  return { input: new Float32Array(0), target: new BigInt64Array(0), indices: new Int32Array(0), skipped };
}

// ---------------------------------------------------------------------------------------------
// the worker entry

/** what the loader passes as workerData */
export interface WorkerInit {
  readonly kind: typeof WORKER_KIND;
  readonly seed: number;
  readonly spec: TransformSpec;
  readonly pool: PixelPool | null;
  readonly cache: DecodeCache | null;
}

export type ToWorker =
  | { type: 'task'; id: number; task: BatchTask }
  | { type: 'cancel'; ids: number[] }
  | { type: 'source'; req: number; source?: SourceRef; error?: string };

export type FromWorker =
  | ({ type: 'done'; id: number } & PreparedBatch)
  | { type: 'error'; id: number; message: string; /** the data's fault (a DatasetError), not a bug */ dataset?: boolean }
  | { type: 'cancelled'; id: number }
  | { type: 'need'; id: number; req: number; position: number };

function runWorker(port: MessagePort, init: WorkerInit): void {
  const cancelled = new Set<number>();
  const needs = new Map<number, { resolve: (s: SourceRef) => void; reject: (e: Error) => void }>();
  let nextReq = 0;
  let queue = Promise.resolve();
  const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

  const run = async (id: number, task: BatchTask): Promise<void> => {
    // tasks run in id order: a cancel for an earlier id can no longer matter
    for (const c of cancelled) if (c < id) cancelled.delete(c);
    if (cancelled.has(id)) {
      post({ type: 'cancelled', id });
      return;
    }
    const count = task.sources.length;
    try {
      const batch = await prepareBatch(task, {
        seed: init.seed,
        spec: init.spec,
        pool: init.pool,
        cache: init.cache,
        cancelled: () => cancelled.has(id),
        sourceAt: (position) => {
          const rel = position - task.first;
          if (rel >= 0 && rel < count) return task.sources[rel];
          const req = nextReq++;
          return new Promise<SourceRef>((resolve, reject) => {
            needs.set(req, { resolve, reject });
            post({ type: 'need', id, req, position });
          });
        },
      });
      post({ type: 'done', id, ...batch }, [
        batch.input.buffer as ArrayBuffer,
        batch.target.buffer as ArrayBuffer,
        batch.indices.buffer as ArrayBuffer,
      ]);
    } catch (e) {
      if (e instanceof CancelledError) post({ type: 'cancelled', id });
      else post({ type: 'error', id, message: e instanceof Error ? e.message : String(e), dataset: e instanceof DatasetError });
    }
  };

  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'task':
        queue = queue.then(() => run(m.id, m.task));
        break;
      case 'cancel':
        for (const id of m.ids) cancelled.add(id);
        break;
      case 'source': {
        const waiter = needs.get(m.req);
        needs.delete(m.req);
        if (!waiter) break;
        if (m.source) waiter.resolve(m.source);
        else waiter.reject(new Error(m.error ?? 'no source'));
        break;
      }
    }
  });
}

if (!isMainThread && parentPort && (workerData as Partial<WorkerInit> | null)?.kind === WORKER_KIND) {
  runWorker(parentPort, workerData as WorkerInit);
}
