/**
 * The registry against the references, every config through one helper: its counts against
 * zoo_params.json (format: ../shared/README.md; parameters, state-dict size and buffer elements,
 * num_batches_tracked counting 1) at the reference's class count (torchvision 1,000,
 * pytorch-cifar 10); its entry (year, paper, input sizes, pretrained config and classifier
 * prefix). Then, over the whole registry: every zoo_params.json row is some config's reference,
 * and every Module class that a file under src/models/ exports is reached by some config (so a
 * family file that forgot its `defineFamily`, or a class nothing builds, fails here). Models too
 * large to build in a test (test-support/zoo-counts.ts TOO_LARGE_TO_BUILD: vit_h_14) are measured
 * at 1 and 2 blocks and extrapolated; the counts table holds their full build's numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ModelInfo, listModels, modelFiles } from '../src/models/index.js';
import { Module } from '../src/nn/module.js';
import { sharedFixture } from '../test-support/fixtures.js';
import { TOO_LARGE_TO_BUILD, ZooCounts, assertMatchesCountsTable, measureModel } from '../test-support/zoo-counts.js';

/** the zoo_params.json section for each reference source, and what its configs are built with */
const SECTIONS: Partial<Record<ModelInfo['source'], { section: string; numClasses: number }>> = {
  torchvision: { section: 'torchvision (num_classes=1000)', numClasses: 1000 },
  'pytorch-cifar': { section: 'pytorch-cifar (num_classes=10)', numClasses: 10 },
};

/** zoo_params.json, read once (a missing file fails the first test that needs it) */
let zooRows: Record<string, Record<string, ZooCounts>> | undefined;
const zoo = (): Record<string, Record<string, ZooCounts>> => (zooRows ??= JSON.parse(readFileSync(sharedFixture('zoo_params.json'), 'utf8')));

/**
 * parameter counts torchvision publishes (`Weights.meta["num_params"]`) for configs that
 * zoo_params.json predates (vit_h_14: IMAGENET1K_SWAG_LINEAR_V1, 1,000 classes at 224)
 */
const PUBLISHED_PARAMS: Readonly<Record<string, number>> = { vit_h_14: 632045800 };

/** asserts the registry entry's config and its counts against its zoo_params.json row */
function assertMatchesZoo(info: ModelInfo, measured: ZooCounts, zoo: Record<string, Record<string, ZooCounts>>): void {
  const where = SECTIONS[info.source];
  if (Object.hasOwn(PUBLISHED_PARAMS, info.name)) assert.equal(measured.params, PUBLISHED_PARAMS[info.name], `${info.name}: torchvision's published num_params`);
  if (info.notInZoo) {
    // a source without a section (airbench) must have no row in any section
    const rows = where ? [zoo[where.section]?.[info.reference]] : Object.values(zoo).map((section) => section[info.reference]);
    assert.deepEqual(rows.filter((r) => r !== undefined), [], `${info.name} declares notInZoo but zoo_params.json has a row: check it`);
    return;
  }
  assert.ok(where, `${info.name}: zoo_params.json has no section for source ${info.source}`);
  assert.ok(zoo[where.section], `zoo_params.json has no section "${where.section}"`);
  const expected = zoo[where.section][info.reference];
  assert.ok(expected, `${info.name}: no row "${info.reference}" under "${where.section}" in zoo_params.json`);
  assert.equal(info.numClasses, where.numClasses, `${info.name}: default numClasses`);
  assert.deepEqual(measured, expected, `${info.name} vs ${where.section} ${info.reference}`);
}

/** what every entry states: year and paper, input sizes, and a pretrained classifier prefix that names the model's head */
function assertEntry(info: ModelInfo, model: Module): void {
  assert.ok(info.year > 1990 && info.year < 2100 && info.paper.length > 0, `${info.name}: year and paper`);
  assert.ok(info.family.length > 0 && info.reference.length > 0, `${info.name}: family and reference`);
  assert.ok(info.inputSize >= (info.minInputSize ?? 1), `${info.name}: inputSize ${info.inputSize} below its minInputSize`);
  if (!info.pretrained) return;
  const head = model.stateDict().get(`${info.pretrained.classifier}.weight`);
  assert.equal(head?.shape[0], info.numClasses, `${info.name}: pretrained classifier ${info.pretrained.classifier} has ${info.numClasses} outputs`);
}

const models = listModels();
const reachedClasses = new Set<Function>();
const references = new Set<string>();

test('the registry is not empty', () => {
  assert.ok(models.length > 0);
});

for (const info of models) {
  const extrapolated = Object.hasOwn(TOO_LARGE_TO_BUILD, info.name) ? ' (extrapolated from builds at 1 and 2 blocks)' : '';
  test(`${info.name}: registry entry; counts match ${info.source} ${info.reference}${extrapolated}`, () => {
    const { model, counts, complexity } = measureModel(info.name);
    for (const [, m] of model.namedModules()) reachedClasses.add(m.constructor);
    references.add(`${SECTIONS[info.source]?.section}/${info.reference}`);
    assertEntry(info, model);
    assertMatchesZoo(info, counts, zoo());
    assertMatchesCountsTable(info.name, complexity);
  });
}

test('every zoo_params.json row is the reference of a registered config', () => {
  const rows = Object.values(SECTIONS).flatMap((s) => Object.keys(zoo()[s.section] ?? {}).map((r) => `${s.section}/${r}`));
  assert.deepEqual(rows.filter((r) => !references.has(r)), []);
});

test('every Module class exported under src/models/ is reached by a registered config', async () => {
  const dir = new URL('../src/models/', import.meta.url);
  const unreached: string[] = [];
  for (const file of modelFiles()) {
    const exports: Record<string, unknown> = await import(new URL(file, dir).href);
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function' || !(value.prototype instanceof Module)) continue;
      // an abstract base is reached through its subclasses
      if (![...reachedClasses].some((c) => c === value || c.prototype instanceof value)) unreached.push(`${file}: ${name}`);
    }
  }
  assert.deepEqual(unreached, [], 'classes no registered config builds: a family file without defineFamily, or a config missing');
});
