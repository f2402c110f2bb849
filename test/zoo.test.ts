/**
 * Every registered model against the reference counts in zoo_params.json (format:
 * ../shared/README.md): parameter count, state-dict size and buffer elements (BatchNorm
 * statistics; num_batches_tracked counts 1), at the reference's class count: torchvision configs
 * with 1,000 classes, pytorch-cifar configs with 10. A registered model without a row fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ModelInfo, listModels } from '../src/models/index.js';
import { ZooCounts, buildWithConstantInit, counts } from '../test-support/zoo-counts.js';

/** the zoo_params.json section for each reference source, and what its configs are built with */
const SECTIONS: Partial<Record<ModelInfo['source'], { section: string; numClasses: number }>> = {
  torchvision: { section: 'torchvision (num_classes=1000)', numClasses: 1000 },
  'pytorch-cifar': { section: 'pytorch-cifar (num_classes=10)', numClasses: 10 },
};

const zooPath = fileURLToPath(new URL('../../../shared/fixtures/zoo_params.json', import.meta.url));
const zoo = existsSync(zooPath) ? (JSON.parse(readFileSync(zooPath, 'utf8')) as Record<string, Record<string, ZooCounts>>) : null;

/** asserts the registry entry's config and its counts against its zoo_params.json row */
function assertMatchesZoo(info: ModelInfo, zoo: Record<string, Record<string, ZooCounts>>): void {
  const where = SECTIONS[info.source];
  assert.ok(where, `${info.name}: zoo_params.json has no section for source ${info.source}`);
  assert.ok(zoo[where.section], `zoo_params.json has no section "${where.section}"`);
  const expected = zoo[where.section][info.reference];
  if (info.notInZoo) {
    assert.equal(expected, undefined, `${info.name} declares notInZoo but zoo_params.json has a row: check it`);
    return;
  }
  assert.ok(expected, `${info.name}: no row "${info.reference}" under "${where.section}" in zoo_params.json`);
  assert.equal(info.numClasses, where.numClasses, `${info.name}: default numClasses`);
  assert.deepEqual(counts(buildWithConstantInit(info.name)), expected, `${info.name} vs ${where.section} ${info.reference}`);
}

const models = listModels();

test('the registry is not empty', () => {
  assert.ok(models.length > 0);
});

for (const info of models) {
  test(`${info.name}: parameter, state-dict and buffer counts match ${info.source} ${info.reference}`, (t) => {
    if (!zoo) return t.skip(`shared/fixtures not found (${zooPath}; see ../shared/README.md)`);
    assertMatchesZoo(info, zoo);
  });
}
