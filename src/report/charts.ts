/**
 * The charts of Tessera's pages as Vega-Lite specifications, rendered to SVG in Node (Vega's
 * headless view: no canvas, no browser), so a page carries its charts inline and needs neither
 * the network nor scripts when it is viewed. One builder per kind of chart; the pages
 * (run-page.ts, zoo-page.ts) choose the data.
 *
 * In the SVG every series of a line chart is one `g.mark-line.role-mark > path`, every point one
 * `g.mark-symbol.role-mark > path` and every heat-map cell one `g.mark-rect.role-mark > path`
 * (the browser test counts them).
 */
import * as vega from 'vega';
import { TopLevelSpec, compile } from 'vega-lite';

/** One point of a curve: `series` names its line (train/val, or a run). */
export interface CurvePoint {
  readonly series: string;
  readonly epoch: number;
  readonly value: number;
}

/** A line chart of values per epoch, one colour per series, every point marked. */
export interface CurveChart {
  readonly title: string;
  readonly yTitle: string;
  readonly points: readonly CurvePoint[];
  /** a log y axis (learning rates spanning decades) */
  readonly logY?: boolean;
  /** y as a percentage (accuracies in [0, 1]) */
  readonly percent?: boolean;
}

const WIDTH = 360;
const HEIGHT = 200;
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/**
 * A curve chart's Vega-Lite spec: x the epoch, y the value, colour the series.
 *
 * @example
 * const spec = curveSpec({ title: 'loss', yTitle: 'loss', points: [{ series: 'train', epoch: 1, value: 2.1 }] });
 * spec.title; // 'loss'
 */
export function curveSpec(chart: CurveChart): TopLevelSpec {
  const series = [...new Set(chart.points.map((p) => p.series))];
  return {
    title: chart.title,
    width: WIDTH,
    height: HEIGHT,
    config: { font: FONT },
    data: { values: chart.points.map((p) => ({ ...p })) },
    mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: chart.yTitle,
        scale: chart.logY ? { type: 'log' } : { zero: false },
        axis: chart.percent ? { format: '.1~%' } : chart.logY ? { format: '~g' } : {},
      },
      color: { field: 'series', type: 'nominal', title: null, sort: series, legend: { orient: 'bottom' } },
      tooltip: [
        { field: 'series', type: 'nominal' },
        { field: 'epoch', type: 'quantitative' },
        { field: 'value', type: 'quantitative', format: chart.percent ? '.2%' : '.4g' },
      ],
    },
  };
}

/**
 * The confusion matrix as a heat map: every one of the classes² cells drawn (zeros too), rows the
 * true class, columns the predicted one, each cell's count written on it.
 *
 * @example
 * const spec = confusionSpec(['cat', 'dog'], [[3, 1], [0, 4]]);
 * spec.title; // 'confusion matrix'
 */
export function confusionSpec(classes: readonly string[], confusion: readonly (readonly number[])[]): TopLevelSpec {
  const cells = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ truth: classes[t], predicted: classes[p], count, share: total ? count / total : 0 }));
  });
  const side = Math.min(560, Math.max(200, 28 * classes.length));
  const labels = classes.length <= 20;
  const order = [...classes];
  return {
    title: 'confusion matrix',
    width: side,
    height: side,
    config: { font: FONT, axis: { labelLimit: 90 } },
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted class', axis: { labels, labelAngle: -45 } },
      y: { field: 'truth', type: 'nominal', sort: order, title: 'true class', axis: { labels } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          color: { field: 'share', type: 'quantitative', title: 'share of row', scale: { scheme: 'blues', domain: [0, 1] }, legend: { format: '.0%' } },
          tooltip: [{ field: 'truth' }, { field: 'predicted' }, { field: 'count', type: 'quantitative' }, { field: 'share', type: 'quantitative', format: '.1%' }],
        },
      },
      ...(labels
        ? [
            {
              mark: { type: 'text' as const, fontSize: 9 },
              encoding: {
                text: { field: 'count', type: 'quantitative' as const },
                color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
              },
            },
          ]
        : []),
    ],
  };
}

/**
 * Per-class accuracy (recall) as horizontal bars; a class without images has no bar.
 *
 * @example
 * const spec = perClassSpec(['cat', 'dog'], [0.75, null]);
 * spec.title; // 'per-class accuracy'
 */
export function perClassSpec(classes: readonly string[], accuracy: readonly (number | null)[]): TopLevelSpec {
  const values = classes.flatMap((c, i) => (accuracy[i] === null ? [] : [{ class: c, accuracy: accuracy[i] }]));
  return {
    title: 'per-class accuracy',
    width: WIDTH,
    height: Math.min(600, Math.max(120, 16 * classes.length)),
    config: { font: FONT },
    data: { values },
    mark: { type: 'bar', color: '#4c78a8' },
    encoding: {
      y: { field: 'class', type: 'nominal', sort: [...classes], title: null, axis: { labels: classes.length <= 60 } },
      x: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '.0%' }, title: 'top-1 (recall)' },
      tooltip: [{ field: 'class' }, { field: 'accuracy', type: 'quantitative', format: '.2%' }],
    },
  };
}

/** One model of the zoo chart. */
export interface ZooPoint {
  readonly name: string;
  readonly family: string;
  readonly gmacs: number;
  /** published ImageNet-1K top-1, percent */
  readonly top1: number;
}

/**
 * The classic chart: ImageNet top-1 against GMACs on a log axis, one colour per family, every
 * point labelled with its model.
 *
 * @example
 * const spec = zooSpec([{ name: 'resnet18', family: 'ResNet', gmacs: 1.81, top1: 69.758 }]);
 * spec.title; // 'ImageNet-1K top-1 against multiply-accumulates'
 */
export function zooSpec(points: readonly ZooPoint[]): TopLevelSpec {
  return {
    title: 'ImageNet-1K top-1 against multiply-accumulates',
    width: 1000,
    height: 620,
    config: { font: FONT },
    data: { values: points.map((p) => ({ ...p })) },
    encoding: {
      x: { field: 'gmacs', type: 'quantitative', scale: { type: 'log' }, title: 'GMACs per image (log scale)' },
      y: { field: 'top1', type: 'quantitative', scale: { zero: false }, title: 'ImageNet-1K top-1 (%)' },
      color: { field: 'family', type: 'nominal', title: 'family', scale: { scheme: 'tableau20' } },
    },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: { tooltip: [{ field: 'name' }, { field: 'family' }, { field: 'gmacs', type: 'quantitative', format: '.3g' }, { field: 'top1', type: 'quantitative', format: '.2f' }] },
      },
      { mark: { type: 'text', align: 'left', dx: 5, dy: -4, fontSize: 8 }, encoding: { text: { field: 'name' }, color: { value: '#333' } } },
    ],
  };
}

let svgCount = 0;

/**
 * Renders a Vega-Lite spec to an SVG string with Vega's headless view. Element ids (clip paths,
 * gradients) get a prefix of their own, so several charts can sit inline in one page.
 *
 * @example
 * const svg = await renderSvg(curveSpec({ title: 'loss', yTitle: 'loss', points: [{ series: 'train', epoch: 1, value: 2 }] }));
 * svg.startsWith('<svg'); // → true
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const prefix = `c${++svgCount}-`;
    return svg.replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`);
  } finally {
    view.finalize();
  }
}
