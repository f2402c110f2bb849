/**
 * src/models/zoo-counts.ts (the table `tessera models` reads) against the registry: the same
 * names here; every model's parameters and multiply-accumulates against a fresh computation in
 * test/zoo.test.ts, which builds every model anyway (assertMatchesCountsTable). A model added or
 * changed without `npm run zoo-counts` fails. Also: `tessera models` answers from the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listModels } from '../src/models/index.js';
import { ZOO_COUNTS } from '../src/models/zoo-counts.js';
import { runCli } from '../test-support/cli.js';

const REGENERATE = 'regenerate the table with `npm run zoo-counts`';

test('the counts table names every registered model, and only those', () => {
  const registered = listModels().map((m) => m.name).sort();
  assert.deepEqual(Object.keys(ZOO_COUNTS).sort(), registered, REGENERATE);
});

/** one `tessera models` call and what it must print */
interface ListingCase {
  readonly args: readonly string[];
  readonly check: (stdout: string) => void;
}

const LISTINGS: readonly ListingCase[] = [
  { args: [], check: (out) => assert.match(out, /^cifar_lenet\s+lenet\s+pytorch-cifar\s+32\s+62,006\s+651\.7K\s/m) },
  {
    args: ['--json', '--filter', 'cifar_lenet'],
    check: (out) => {
      const rows: unknown = JSON.parse(out);
      assert.ok(Array.isArray(rows) && rows.length === 1);
      assert.deepEqual({ params: rows[0].params, macs: rows[0].macs }, ZOO_COUNTS.cifar_lenet);
    },
  },
];

/** runs the listing and checks it is complete and fast (the table, no tracing) */
async function checkListing(c: ListingCase): Promise<void> {
  const started = performance.now();
  const r = await runCli(['models', ...c.args]);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.code, 0, r.stderr);
  c.check(r.stdout);
  assert.ok(seconds < 10, `tessera models ${c.args.join(' ')} took ${seconds.toFixed(1)} s; it should read the table, not trace`);
}

for (const c of LISTINGS) test(`tessera ${['models', ...c.args].join(' ')} answers from the table`, () => checkListing(c));
