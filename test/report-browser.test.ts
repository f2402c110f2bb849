/**
 * The pages opened in Debian's headless Chromium (puppeteer-core, no downloaded browser): a tiny
 * run's report.html, a comparison of two runs, an evaluation page and the zoo page. Each must load
 * with no console error, no failed or outside request, its charts drawn as SVG with the expected
 * series, points and cells. A screenshot of each goes to dist/test-output/report-browser/ and to
 * $TESSERA_SHOTS when set. Fails (never skips) when chromium is missing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ChartCounts, HeadlessChromium, countCharts } from '../test-support/browser.js';
import { ROOT, runCli } from '../test-support/cli.js';
import { makeImageFolder, tinyRunOptions } from '../test-support/image-folder.js';
import { train } from '../src/train/trainer.js';
import { REPORT_FILE } from '../src/report/plugin.js';
import { listModels } from '../src/models/index.js';
import { matchesFilter } from '../src/cli/models.js';

const OUTPUT = join(ROOT, 'dist', 'test-output', 'report-browser');
const quiet = { write: () => true };
const CLASSES = ['blue', 'green', 'red'];
const EPOCHS = 3;

let scratch = '';
let chromium: HeadlessChromium;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tessera-report-browser-'));
  mkdirSync(OUTPUT, { recursive: true });
  await makeImageFolder(join(scratch, 'data'), CLASSES, 6);
  chromium = await HeadlessChromium.launch();
});

after(async () => {
  await chromium?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** What a page must show: per chart name, its counts (only the fields given are checked). */
type Expected = Readonly<Record<string, Partial<Omit<ChartCounts, 'name'>>>>;

/** Opens `file`, checks it loaded cleanly and its charts match `expected`, and saves a screenshot as NAME.png. */
async function checkPage(file: string, name: string, expected: Expected): Promise<void> {
  const opened = await chromium.open(file);
  try {
    assert.deepEqual(opened.consoleErrors, [], `${name}: console errors`);
    assert.deepEqual(opened.failedRequests, [], `${name}: failed requests`);
    assert.deepEqual(opened.externalRequests, [], `${name}: the page is not self-contained`);
    const charts = await countCharts(opened.page);
    assert.deepEqual(charts.map((c) => c.name).sort(), Object.keys(expected).sort(), `${name}: charts`);
    for (const c of charts) {
      assert.ok(c.svg, `${name}: chart ${c.name} is not an inline SVG`);
      const want = expected[c.name];
      for (const field of ['series', 'points', 'cells'] as const) if (want[field] !== undefined) assert.equal(c[field], want[field], `${name}: chart ${c.name}: ${field}`);
    }
    const shot = join(OUTPUT, `${name}.png`);
    await opened.page.screenshot({ path: shot, fullPage: true });
    if (process.env.TESSERA_SHOTS) {
      mkdirSync(process.env.TESSERA_SHOTS, { recursive: true });
      copyFileSync(shot, join(process.env.TESSERA_SHOTS, `${name}.png`));
    }
  } finally {
    await opened.page.close();
  }
}

/** A line chart: `series` lines with `points` marked points in all. */
const lines = (series: number, points: number) => ({ series, points });

test('a run folder gets report.html: curves, the confusion matrix (classes² cells), per-class accuracy, thumbnails', async () => {
  const out = join(scratch, 'run-a');
  await train(tinyRunOptions(join(scratch, 'data'), out, { epochs: EPOCHS }), { sink: quiet });
  const file = join(out, REPORT_FILE);
  await checkPage(file, 'run-report', {
    loss: lines(2, 2 * EPOCHS),
    accuracy: lines(2, 2 * EPOCHS),
    lr: lines(1, EPOCHS),
    throughput: lines(1, EPOCHS),
    confusion: { cells: CLASSES.length ** 2 },
    'per-class': { series: 0 },
  });
  const html = readFileSync(file, 'utf8');
  assert.match(html, /<img src="data:image\/png;base64,|No misclassified images/);
  assert.doesNotMatch(html, /<script/i);
  process.stdout.write(`# run report.html: ${statSync(file).size} bytes\n`);
});

test('tessera report compares runs: one line per run in every chart, and a summary table', async () => {
  const b = join(scratch, 'run-b');
  await train(tinyRunOptions(join(scratch, 'data'), b, { epochs: 2, lr: 0.05 }), { sink: quiet });
  const a = join(scratch, 'run-a');
  const file = join(scratch, 'compare.html');
  const r = await runCli(['report', a, b, '--out', file]);
  assert.equal(r.code, 0, r.stderr);
  const points = EPOCHS + 2;
  await checkPage(file, 'compare', { 'val-accuracy': lines(2, points), 'val-loss': lines(2, points), 'train-loss': lines(2, points), lr: lines(2, points) });
  assert.equal((readFileSync(file, 'utf8').match(/<tr><td>run-[ab]<\/td>/g) ?? []).length, 2);
});

test('tessera eval --html writes the evaluation page', async () => {
  const file = join(scratch, 'eval.html');
  const r = await runCli(['eval', '--checkpoint', join(scratch, 'run-a'), '--data', join(scratch, 'data'), '--threads', '1', '--html', file]);
  assert.equal(r.code, 0, r.stderr);
  await checkPage(file, 'eval', { confusion: { cells: CLASSES.length ** 2 }, 'per-class': { series: 0 } });
});

test('tessera models --html writes the zoo page: one labelled point per model with a published top-1', async () => {
  const file = join(scratch, 'zoo.html');
  const filter = 'mobilenet';
  const r = await runCli(['models', '--html', file, '--filter', filter]);
  assert.equal(r.code, 0, r.stderr);
  const infos = listModels().filter((m) => matchesFilter(m, filter));
  const published = infos.filter((m) => m.pretrained).length;
  assert.ok(published > 1);
  await checkPage(file, 'zoo', { zoo: { points: published, series: 0 } });
  const html = readFileSync(file, 'utf8');
  for (const m of infos) assert.ok(html.includes(`<b>${m.name}</b>`), `${m.name} is listed`);
  process.stdout.write(`# zoo page (${infos.length} models): ${statSync(file).size} bytes\n`);
});
