/**
 * Training on imbalanced classes:
 *
 * - `--class-weights balanced|effective:BETA|FILE`: per-class loss weights. `balanced` is
 *   sklearn's inverse frequency n/(k·n_c); `effective:β` is Cui et al. 2019's inverse effective
 *   number (1−β)/(1−β^n_c), normalized to sum to k; FILE is a JSON array or one number per line.
 * - `--sampler balanced|sqrt`: each epoch draws its order with replacement (same length) so that
 *   every class is equally likely (`balanced`) or likely in proportion to √n_c (`sqrt`); the draw
 *   is seeded by (seed, epoch), so a resumed run samples exactly as an uninterrupted one.
 * - `--imbalance-ratio R`: a long-tailed training set from a balanced one (CIFAR-10-LT's
 *   exponential profile): class i keeps ⌊n_max·R^(−i/(k−1))⌋ of its images, the first ones in
 *   dataset order; the validation set is untouched.
 * - balanced accuracy: the mean per-class recall, for `tessera eval` and the metrics lines.
 */
import { readFileSync } from 'node:fs';
import { describeFsError } from '../errors.js';
import { seedFrom } from '../data/worker.js';
import type { ImageDataset } from '../data/types.js';
import { Rng } from '../nn/init.js';
import { TrainSetupError } from './options.js';
import { Splits, subset } from './subset.js';

/**
 * The label of every sample of `dataset`.
 *
 * @example
 * const ds: ImageDataset = { name: 'd', classes: ['a', 'b'], length: 3, sample: (i) => ({ label: i % 2, source: { kind: 'file', path: `${i}.png` } }) };
 * datasetLabels(ds); // → Int32Array.of(0, 1, 0)
 */
export function datasetLabels(dataset: ImageDataset): Int32Array {
  return Int32Array.from({ length: dataset.length }, (_, i) => dataset.sample(i).label);
}

/**
 * Images per class.
 *
 * @example
 * classCounts(Int32Array.of(0, 2, 2, 2), 3); // → [1, 0, 3]
 */
export function classCounts(labels: Int32Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const y of labels) counts[y]++;
  return counts;
}

/**
 * sklearn's `compute_class_weight('balanced')`: n/(k·n_c) (a class with no images gets 0).
 *
 * @example
 * balancedWeights([30, 10]); // → [2/3, 2]
 */
export function balancedWeights(counts: readonly number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (c > 0 ? n / (counts.length * c) : 0));
}

/**
 * Cui et al. 2019 ("Class-Balanced Loss Based on Effective Number of Samples"): (1−β)/(1−β^n_c),
 * normalized to sum to k (a class with no images gets 0).
 *
 * @example
 * effectiveNumberWeights([1, 1], 0.9); // → [1, 1]
 */
export function effectiveNumberWeights(counts: readonly number[], beta: number): number[] {
  const raw = counts.map((c) => (c > 0 ? (1 - beta) / (1 - beta ** c) : 0));
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => (w * counts.length) / sum);
}

/** What `--class-weights` names. */
export type ClassWeightsSpec = { readonly kind: 'balanced' } | { readonly kind: 'effective'; readonly beta: number } | { readonly kind: 'file'; readonly path: string };

/**
 * Reads a `--class-weights` value: `balanced`, `effective:BETA` (0 ≤ β < 1) or a file path.
 *
 * @example
 * parseClassWeights('effective:0.999'); // → { kind: 'effective', beta: 0.999 }
 */
export function parseClassWeights(text: string): ClassWeightsSpec {
  if (text === 'balanced') return { kind: 'balanced' };
  const m = /^effective:(.*)$/.exec(text);
  if (!m) return { kind: 'file', path: text };
  const beta = Number(m[1]);
  if (m[1].trim() === '' || !(beta >= 0 && beta < 1)) throw new TrainSetupError(`--class-weights ${text}: BETA must be a number in [0, 1), e.g. effective:0.999`);
  return { kind: 'effective', beta };
}

/**
 * The weights a `--class-weights` value gives for classes of `counts` images; a file of the
 * wrong length, or with a value that is not a finite number ≥ 0, is a TrainSetupError.
 *
 * @example
 * classWeightsFor('balanced', [10, 30]); // → [2, 2/3]
 */
export function classWeightsFor(text: string, counts: readonly number[]): number[] {
  const spec = parseClassWeights(text);
  if (spec.kind === 'balanced') return balancedWeights(counts);
  if (spec.kind === 'effective') return effectiveNumberWeights(counts, spec.beta);
  const weights = readWeightsFile(spec.path);
  if (weights.length !== counts.length) {
    throw new TrainSetupError(`--class-weights ${spec.path}: ${weights.length} weight(s) for ${counts.length} classes; give one weight per class, in class order`);
  }
  return weights;
}

/** A JSON array of numbers, or one number per line (blank lines and # comments ignored). */
function readWeightsFile(path: string): number[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TrainSetupError(`--class-weights ${path}: ${describeFsError(e)} (expected balanced, effective:BETA or a file)`);
  }
  const bad = (what: string): never => {
    throw new TrainSetupError(`--class-weights ${path}: ${what}; expected a JSON array of numbers or one number per line`);
  };
  let values: unknown[];
  if (text.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    values = Array.isArray(parsed) ? parsed : bad('not an array');
  } else {
    values = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter((l) => l !== '')
      .map((l) => (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(l) ? Number(l) : l));
  }
  return values.map((v, i) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(`value ${i + 1} (${JSON.stringify(v)}) is not a number ≥ 0`)));
}

export type SamplerName = 'balanced' | 'sqrt';

/** Tags the Rng stream of the sampler's draws. */
const SAMPLER_STREAM = 0x73616d70;

/**
 * Epoch `epoch`'s order under a weighted sampler with replacement: `length` draws of a class
 * (equally likely for `balanced`, ∝ √n_c for `sqrt`), each followed by a uniform image of that
 * class. Depends only on (labels, sampler, seed, epoch).
 *
 * @example
 * const labels = Int32Array.of(0, 0, 0, 1);
 * const order = sampledOrder(labels, 2, 'balanced', 0, 3);
 * order.length; // → 4
 */
export function sampledOrder(labels: Int32Array, numClasses: number, sampler: SamplerName, seed: number, epoch: number): Int32Array {
  const members: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((y, i) => members[y].push(i));
  const mass = members.map((m) => (m.length === 0 ? 0 : sampler === 'balanced' ? 1 : Math.sqrt(m.length)));
  const total = mass.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  mass.reduce((acc, w) => (cumulative.push(acc + w / total), acc + w / total), 0);
  const last = mass.reduce((top, w, c) => (w > 0 ? c : top), 0);
  const rng = new Rng(seedFrom(SAMPLER_STREAM, seed, epoch));
  const order = new Int32Array(labels.length);
  for (let k = 0; k < order.length; k++) {
    const u = rng.next();
    let c = cumulative.findIndex((p) => u < p);
    if (c < 0 || members[c].length === 0) c = last; // rounding at the top end
    order[k] = members[c][rng.int(members[c].length)];
  }
  return order;
}

/**
 * Images class i keeps in a long-tailed set: ⌊n_max·R^(−i/(k−1))⌋ (CIFAR-10-LT), at most its count.
 *
 * @example
 * longTailCounts([5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000], 100); // → [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
 */
export function longTailCounts(counts: readonly number[], ratio: number): number[] {
  const k = counts.length;
  const nMax = Math.max(...counts);
  return counts.map((c, i) => Math.min(c, Math.floor(nMax * (1 / ratio) ** (k > 1 ? i / (k - 1) : 0))));
}

/**
 * The splits with a long-tailed training set (`--imbalance-ratio R`): the first images of each
 * class in dataset order, as many as `longTailCounts` says; validation untouched.
 */
export function longTailedSplits(splits: Splits, ratio: number): Splits {
  const labels = datasetLabels(splits.train);
  const keep = longTailCounts(classCounts(labels, splits.classes.length), ratio);
  const taken = new Array<number>(keep.length).fill(0);
  const indices = Int32Array.from(labels.keys()).filter((i) => taken[labels[i]]++ < keep[labels[i]]);
  const train = subset(splits.train, indices, `${splits.train.name} (long-tailed, ratio ${ratio})`);
  const description = `${splits.info.description}; long-tailed training set (imbalance ratio ${ratio}): ${keep.join(', ')} images per class`;
  return { ...splits, train, info: { ...splits.info, trainImages: train.length, description } };
}

/**
 * The mean recall over the classes that have images (null when none has).
 *
 * @example
 * balancedAccuracy([{ images: 10, accuracy: 0.75 }, { images: 2, accuracy: 0.25 }, { images: 0, accuracy: null }]); // → 0.5
 */
export function balancedAccuracy(perClass: readonly { readonly images: number; readonly accuracy: number | null }[]): number | null {
  const recalls = perClass.flatMap((p) => (p.images > 0 && p.accuracy !== null ? [p.accuracy] : []));
  return recalls.length ? recalls.reduce((a, b) => a + b, 0) / recalls.length : null;
}
