/**
 * Pretrained configs, driven by the registry: every torchvision config carries the weights entry
 * torchvision marks DEFAULT (vit_h_14: the SWAG LINEAR weights at 224, its DEFAULT being a 518
 * model; src/models/vit.ts), with sane values (https .pth URL, 0 < top-1 < top-5 ≤ 100, crop
 * fraction = crop / resize, ImageNet-style normalization), and its classifier prefix names the
 * layer that outputs the classes. `tessera models` shows the published top-1 and, with --json,
 * the whole config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelInfo, PretrainedConfig, listModels, modelInfo } from '../src/models/index.js';
import { buildWithConstantInit } from '../test-support/zoo-counts.js';
import { runCli } from '../test-support/cli.js';

const torchvisionConfigs = listModels().filter((m) => m.source === 'torchvision');

/** asserts the values of one pretrained config are consistent and plausible */
function checkPretrainedValues(name: string, p: PretrainedConfig): void {
  const url = new URL(p.url);
  assert.equal(url.protocol, 'https:', `${name}: weights URL is https (${p.url})`);
  assert.match(url.pathname, /\/[^/]+\.pth$/, `${name}: weights URL names a .pth file (${p.url})`);
  // SWAG weights (vit_h_14's only ones) are under SWAG's own, non-commercial licence
  const swag = /_swag-[0-9a-f]+\.pth$/.test(url.pathname);
  assert.match(p.licence, swag ? /^CC-BY-NC-4\.0 \(facebookresearch\/SWAG/ : /BSD-3-Clause/, `${name}: licence states ${swag ? "SWAG's" : "torchvision's"} terms`);
  assert.ok(p.top1 > 0 && p.top5 > 0, `${name}: 0 < top-1 (${p.top1}) and 0 < top-5 (${p.top5})`);
  assert.ok(p.top1 < p.top5 && p.top5 <= 100, `${name}: top-1 ${p.top1} < top-5 ${p.top5} ≤ 100`);
  assert.ok(Number.isInteger(p.inputSize) && Number.isInteger(p.resizeSize), `${name}: whole crop and resize sizes`);
  assert.ok(p.inputSize > 0 && p.inputSize <= p.resizeSize, `${name}: crop ${p.inputSize} within resize ${p.resizeSize}`);
  assert.equal(p.cropFraction, p.inputSize / p.resizeSize, `${name}: cropFraction = inputSize / resizeSize`);
  assert.ok(['bilinear', 'bicubic', 'nearest'].includes(p.interpolation), `${name}: interpolation ${p.interpolation}`);
  for (const [what, v] of [['mean', p.mean], ['std', p.std]] as const) {
    assert.equal(v.length, 3, `${name}: ${what} has one value per RGB channel`);
    assert.ok(v.every((x) => x > 0 && x < 1), `${name}: ${what} [${v}] within (0, 1)`);
  }
  assert.match(p.classifier, /^[A-Za-z_]\w*(\.\w+)*$/, `${name}: classifier "${p.classifier}" is a state-dict prefix`);
}

for (const info of torchvisionConfigs) {
  test(`${info.name}: pretrained config from torchvision's DEFAULT weights, with sane values`, () => {
    assert.ok(info.pretrained, `${info.name} (torchvision) has no pretrained config; add its DEFAULT weights entry to the ${info.family} config table`);
    checkPretrainedValues(info.name, info.pretrained);
  });
}

test('no two torchvision configs share a weights file', () => {
  const byUrl = new Map<string, string>();
  for (const info of torchvisionConfigs) {
    if (!info.pretrained) continue;
    const other = byUrl.get(info.pretrained.url);
    assert.equal(other, undefined, `${info.name} and ${other} both point at ${info.pretrained.url}`);
    byUrl.set(info.pretrained.url, info.name);
  }
  assert.ok(byUrl.size > 0, 'some torchvision configs have weights');
});

/**
 * Configs grouped by family and classifier prefix; each group is checked on its least accurate
 * member (in every family here also the smallest: building all ~70 configs would take minutes).
 */
function classifierGroups(): ModelInfo[] {
  const groups = new Map<string, ModelInfo>();
  for (const info of torchvisionConfigs) {
    if (!info.pretrained) continue;
    const key = `${info.family}/${info.pretrained.classifier}`;
    const current = groups.get(key);
    if (!current || info.pretrained.top1 < current.pretrained!.top1) groups.set(key, info);
  }
  return [...groups.values()];
}

for (const info of classifierGroups()) {
  const prefix = info.pretrained!.classifier;
  test(`${info.family}: classifier "${prefix}" is the layer that outputs the classes (checked on ${info.name})`, () => {
    const sd = buildWithConstantInit(info.name).stateDict();
    const weight = sd.get(`${prefix}.weight`);
    assert.ok(weight, `${info.name} has ${prefix}.weight`);
    assert.equal(weight.shape[0], info.numClasses, `${prefix}.weight has one row per class`);
    const bias = sd.get(`${prefix}.bias`);
    if (bias) assert.deepEqual(bias.shape, [info.numClasses], `${prefix}.bias has one entry per class`);
    const under = [...sd.keys()].filter((k) => k.startsWith(`${prefix}.`));
    assert.deepEqual(under.sort(), bias ? [`${prefix}.bias`, `${prefix}.weight`] : [`${prefix}.weight`], `${prefix} is a single layer (weight, bias if any)`);
  });
}

interface ModelsCliCase {
  readonly name: string;
  readonly args: readonly string[];
  readonly check: (stdout: string) => void;
}

/** the JSON row of `name` in `tessera models --json` output */
function jsonRow(stdout: string, name: string): Record<string, unknown> {
  const rows = JSON.parse(stdout) as Record<string, unknown>[];
  const row = rows.find((r) => r.name === name);
  assert.ok(row, `--json lists ${name}`);
  return row;
}

const modelsCliCases: readonly ModelsCliCase[] = [
  {
    name: 'the table shows resnet50\'s published top-1 between MACs and year',
    args: ['models', '--filter', 'resnet50'],
    check: (stdout) => {
      assert.match(stdout, /^name\s+family\s+source\s+input\s+params\s+MACs\s+top-1\s+year\s+paper$/m);
      assert.match(stdout, /^resnet50\s+resnet\s+torchvision\s+224\s+25,557,032\s+\S+G\s+80\.858\s+2015\s+Deep Residual Learning/m);
    },
  },
  {
    name: 'the top-1 cell is blank for a config without reference weights',
    args: ['models', '--filter', 'lenet'],
    check: (stdout) => assert.match(stdout, /^cifar_lenet\s+lenet\s+pytorch-cifar\s+32\s+62,006\s+\S+K {10}1998 /m),
  },
  {
    name: '--json carries the whole pretrained config (null where none)',
    args: ['models', '--filter', 'squeezenet1_1', '--json'],
    check: (stdout) => assert.deepEqual(jsonRow(stdout, 'squeezenet1_1').pretrained, { ...modelInfo('squeezenet1_1').pretrained }),
  },
  {
    name: '--json has pretrained null for a config without reference weights',
    args: ['models', '--filter', 'lenet', '--json'],
    check: (stdout) => assert.equal(jsonRow(stdout, 'cifar_lenet').pretrained, null),
  },
];

for (const c of modelsCliCases) {
  test(`tessera models: ${c.name}`, async () => {
    const r = await runCli(c.args);
    assert.equal(r.code, 0, `exit status 0 (stderr: ${r.stderr})`);
    c.check(r.stdout);
  });
}
