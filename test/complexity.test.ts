import test from 'node:test';
import assert from 'node:assert/strict';
import { createModel, modelInfo } from '../src/models/index.js';
import { countMacs } from '../src/models/complexity.js';

interface MacCase {
  readonly model: string;
  /** exact count, or [published value, relative tolerance] for the big reference models */
  readonly expected: number | readonly [number, number];
}

const cases: readonly MacCase[] = [
  // conv1 6·28·28·75 + conv2 16·10·10·150 + fc 400·120 + 120·84 + 84·10
  { model: 'cifar_lenet', expected: 352_800 + 240_000 + 48_000 + 10_080 + 840 },
  // the papers' and torchvision's published figures (GFLOPs there mean multiply-accumulates)
  { model: 'resnet50', expected: [4.09e9, 0.01] },
  { model: 'mobilenet_v2', expected: [0.3e9, 0.01] },
  { model: 'resnet18', expected: [1.81e9, 0.01] },
];

function checkMacs(c: MacCase): void {
  const macs = countMacs(createModel(c.model), modelInfo(c.model).inputSize);
  if (typeof c.expected === 'number') assert.equal(macs, c.expected);
  else {
    const [published, rtol] = c.expected;
    assert.ok(Math.abs(macs - published) <= rtol * published, `${c.model}: ${macs} MACs, published ${published}`);
  }
}

for (const c of cases) test(`multiply-accumulates of ${c.model} from its graph`, () => checkMacs(c));
