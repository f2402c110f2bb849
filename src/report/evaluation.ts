/**
 * An evaluation as the pages show it: the confusion matrix, per-class accuracy and the most
 * confused class pairs with thumbnails of their misclassified images. `evaluationSnapshot` turns
 * an EvalResult (with its per-image predictions) into plain JSON (the run folder keeps the
 * latest in report-data.json); `evaluationSections` draws it. Used by the run report and by
 * `tessera eval --html`.
 */
import type { ImageDataset, SampleSource } from '../data/types.js';
import type { EvalResult } from '../train/evaluate.js';
import { confusionSpec, perClassSpec, renderSvg } from './charts.js';
import { Section, escapeHtml, facts, figure, notes, table } from './html.js';

/** One misclassified image of a confused pair. */
export interface MisclassifiedImage {
  /** index in the evaluated dataset */
  readonly index: number;
  /** probability the model gave the wrong class */
  readonly confidence: number;
  /** a PNG data URI, or null when the image could not be read again */
  readonly thumbnail: string | null;
}

/** Images of class `truth` taken for class `predicted`. */
export interface ConfusedPair {
  readonly truth: number;
  readonly predicted: number;
  readonly count: number;
  /** the most confident mistakes first */
  readonly examples: readonly MisclassifiedImage[];
}

/** What the pages show of one evaluation (plain JSON). */
export interface EvaluationSnapshot {
  readonly classes: readonly string[];
  readonly images: number;
  readonly top1: number;
  readonly top5: number;
  readonly loss: number;
  readonly perClass: EvalResult['perClass'];
  readonly confusion: EvalResult['confusion'];
  readonly pairs: readonly ConfusedPair[];
  /** why there are no thumbnails (e.g. an ensemble's result carries no per-image predictions) */
  readonly thumbnailNote: string | null;
}

/**
 * The off-diagonal cells of a confusion matrix, largest first (ties: by true, then predicted class).
 *
 * @example
 * mostConfusedPairs([[5, 2, 0], [1, 6, 3], [0, 0, 9]], 2); // [{ truth: 1, predicted: 2, count: 3 }, { truth: 0, predicted: 1, count: 2 }]
 */
export function mostConfusedPairs(confusion: readonly (readonly number[])[], limit: number): { truth: number; predicted: number; count: number }[] {
  const cells = confusion.flatMap((row, truth) => row.map((count, predicted) => ({ truth, predicted, count })));
  return cells
    .filter((c) => c.truth !== c.predicted && c.count > 0)
    .sort((a, b) => b.count - a.count || a.truth - b.truth || a.predicted - b.predicted)
    .slice(0, limit);
}

type SharpFn = (typeof import('sharp'))['default'];

/** A sample's image as a PNG data URI: pixel sources at their own size (shown enlarged), files fitted into 64×64. */
async function thumbnail(sharp: SharpFn, source: SampleSource): Promise<string | null> {
  try {
    let png: Buffer;
    if (source.kind === 'pixels') {
      const { width, height, data } = source;
      const plane = width * height;
      const hwc = new Uint8Array(3 * plane);
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) hwc[3 * i + c] = data[c * plane + i];
      png = await sharp(hwc, { raw: { width, height, channels: 3 } }).png().toBuffer();
    } else {
      png = await sharp(source.path).removeAlpha().resize(64, 64, { fit: 'cover' }).png().toBuffer();
    }
    return `data:image/png;base64,${png.toString('base64')}`;
  } catch {
    return null;
  }
}

/**
 * The snapshot of an evaluation of `dataset`: the `pairs` most confused class pairs, each with
 * thumbnails of up to `perPair` of its misclassified images (the most confident mistakes).
 *
 * @example
 * const snap = await evaluationSnapshot(await evaluate(model, loader, opts), loader.dataset);
 * snap.pairs[0]; // { truth: 3, predicted: 5, count: 41, examples: [{ index: 1207, confidence: 0.93, thumbnail: 'data:image/png;base64,…' }, …] }
 */
export async function evaluationSnapshot(result: EvalResult, dataset: ImageDataset, opts: { pairs?: number; perPair?: number } = {}): Promise<EvaluationSnapshot> {
  const perPair = opts.perPair ?? 8;
  const top = mostConfusedPairs(result.confusion, opts.pairs ?? 6);
  const base = { classes: dataset.classes, images: result.images, top1: result.top1, top5: result.top5, loss: result.loss, perClass: result.perClass, confusion: result.confusion };
  const preds = result.predictions;
  if (!preds) return { ...base, pairs: top.map((p) => ({ ...p, examples: [] })), thumbnailNote: 'this evaluation kept no per-image predictions (ensemble or test-time augmentation): no thumbnails' };
  const sharp = (await import('sharp')).default;
  const wrong = new Map<string, { index: number; confidence: number }[]>();
  for (let i = 0; i < preds.predicted.length; i++) {
    const p = preds.predicted[i];
    if (p < 0) continue;
    const key = `${dataset.sample(i).label}:${p}`;
    const list = wrong.get(key);
    const item = { index: i, confidence: preds.confidence[i] };
    if (list) list.push(item);
    else wrong.set(key, [item]);
  }
  const pairs: ConfusedPair[] = [];
  for (const p of top) {
    const chosen = (wrong.get(`${p.truth}:${p.predicted}`) ?? []).sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, perPair);
    const examples = await Promise.all(chosen.map(async (c) => ({ ...c, thumbnail: await thumbnail(sharp, dataset.sample(c.index).source) })));
    pairs.push({ ...p, examples });
  }
  return { ...base, pairs, thumbnailNote: null };
}

const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(2)}%`);

/** The confused pairs with their thumbnails. */
function pairsHtml(s: EvaluationSnapshot): string {
  if (!s.pairs.length) return '<p>No misclassified images.</p>';
  return s.pairs
    .map((p) => {
      const title = `${s.classes[p.truth]} taken for ${s.classes[p.predicted]}: ${p.count} image${p.count === 1 ? '' : 's'}`;
      const thumbs = p.examples
        .map((e) => {
          const img = e.thumbnail ? `<img src="${e.thumbnail}" alt="image ${e.index}">` : '<div class="missing">unreadable</div>';
          return `<figure>${img}<figcaption>#${e.index} · ${(100 * e.confidence).toFixed(0)}%</figcaption></figure>`;
        })
        .join('');
      return `<div class="pair"><h3>${escapeHtml(title)}</h3><div class="thumbs">${thumbs}</div></div>`;
    })
    .join('\n');
}

/**
 * The evaluation's sections: summary with the confusion matrix heat map and per-class accuracy,
 * then the most confused pairs with thumbnails (captions: dataset index, the wrong class's probability).
 *
 * @example
 * const sections = await evaluationSections(snapshot, 'validation');
 * sections.map((s) => s.title); // ['validation: confusion matrix and per-class accuracy', 'validation: most confused classes']
 */
export async function evaluationSections(s: EvaluationSnapshot, label: string): Promise<Section[]> {
  const k = Math.min(5, s.classes.length);
  const summary = facts([
    ['images', s.images],
    ['top-1', pct(s.top1)],
    [`top-${k}`, pct(s.top5)],
    ['loss', Number.isFinite(s.loss) ? s.loss.toFixed(4) : '–'],
  ]);
  const confusion = figure('confusion', await renderSvg(confusionSpec(s.classes, s.confusion)));
  const perClass = figure('per-class', await renderSvg(perClassSpec(s.classes, s.perClass.map((p) => p.accuracy))));
  const perClassTable = table(
    ['class', 'images', 'top-1'],
    s.perClass.map((p, c) => [s.classes[c], p.images, pct(p.accuracy)]),
    { numeric: [1, 2] },
  );
  return [
    { title: `${label}: confusion matrix and per-class accuracy`, body: `${summary}<div class="charts">${confusion}${perClass}</div>${perClassTable}` },
    { title: `${label}: most confused classes`, body: `${notes(s.thumbnailNote ? [s.thumbnailNote] : [])}${pairsHtml(s)}` },
  ];
}
