/**
 * The building blocks of Tessera's HTML pages (run reports, the run comparison, the evaluation
 * page, the zoo page): one self-contained document with inline CSS, no scripts and nothing
 * fetched when it is viewed. Text goes through `escapeHtml`; `Html` marks markup already built.
 */

/** Markup that is inserted as is (built by these helpers or rendered by Vega). */
export interface Html {
  readonly html: string;
}

/** A table cell: text (escaped) or markup. */
export type Cell = string | number | Html;

/** One titled part of a page. */
export interface Section {
  readonly title: string;
  readonly body: string;
}

/**
 * Text made safe for HTML content and attribute values.
 *
 * @example
 * escapeHtml('<a & "b">'); // '&lt;a &amp; &quot;b&quot;&gt;'
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Wraps built markup so `table` and `cellHtml` insert it unescaped. */
export const raw = (html: string): Html => ({ html });

function cellHtml(cell: Cell): string {
  return typeof cell === 'object' ? cell.html : escapeHtml(String(cell));
}

/**
 * A table; `numeric` columns are right-aligned.
 *
 * @example
 * table(['model', 'top-1'], [['resnet18', '69.76%']], { numeric: [1] }).includes('<td class="num">69.76%</td>'); // true
 */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[], opts: { numeric?: readonly number[]; className?: string } = {}): string {
  const num = new Set(opts.numeric ?? []);
  const td = (c: Cell, i: number) => `<td${num.has(i) ? ' class="num"' : ''}>${cellHtml(c)}</td>`;
  const head = `<tr>${headers.map((h, i) => `<th${num.has(i) ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map(td).join('')}</tr>`).join('\n');
  return `<table${opts.className ? ` class="${opts.className}"` : ''}><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`;
}

/**
 * A chart's SVG in a figure; `name` is the figure's `data-chart` (the browser test finds charts by it).
 *
 * @example
 * figure('loss', '<svg></svg>'); // '<figure class="chart" data-chart="loss"><svg></svg></figure>'
 */
export function figure(name: string, svg: string): string {
  return `<figure class="chart" data-chart="${escapeHtml(name)}">${svg}</figure>`;
}

/** A paragraph of notes (text escaped), or nothing when there are none. */
export function notes(lines: readonly string[]): string {
  return lines.length ? `<div class="notes">${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}</div>` : '';
}

/** A key/value table (the machine, a summary). */
export function facts(rows: readonly (readonly [string, Cell])[]): string {
  return `<table class="facts"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${cellHtml(v)}</td></tr>`).join('')}</tbody></table>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #c8cdd8; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 6px; padding: 12px 18px; margin: 16px 0; }
section h2 { font-size: 17px; margin: 4px 0 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eceef2; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { background: none; color: #5a6272; font-weight: 500; }
.notes { background: #fff7e0; border: 1px solid #f0d98c; border-radius: 4px; padding: 4px 12px; margin: 12px 0; }
.notes p { margin: 4px 0; }
pre { background: #f2f4f7; padding: 10px; overflow: auto; max-height: 420px; font-size: 12px; }
.thumbs { display: flex; flex-wrap: wrap; gap: 6px; }
.thumbs figure { margin: 0; text-align: center; font-size: 11px; color: #5a6272; }
.thumbs img { width: 64px; height: 64px; image-rendering: pixelated; display: block; border: 1px solid #d0d4dc; }
.pair { margin: 10px 0 14px; }
.pair h3 { font-size: 14px; margin: 0 0 4px; }
`;

/**
 * A whole page: title, subtitle, then the sections in order.
 *
 * @example
 * page('run', 'cifar_lenet', [{ title: 'curves', body: '<p>none</p>' }]).startsWith('<!DOCTYPE html>'); // true
 */
export function page(title: string, subtitle: string, sections: readonly Section[]): string {
  const body = sections.map((s) => `<section><h2>${escapeHtml(s.title)}</h2>\n${s.body}\n</section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(subtitle)}</p></header>
<main>
${body}
</main></body></html>
`;
}
