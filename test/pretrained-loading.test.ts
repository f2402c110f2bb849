/**
 * Pretrained weights: the per-family key filters (src/models/key-filters.ts), loading checkpoint
 * files through `createModel(name, { numClasses, pretrained })` (src/models/pretrained.ts), and
 * `tessera train --pretrained` / `tessera convert --model`.
 *
 * Key filters are checked on synthetic state dicts built from our own models' keys (small
 * configs of each family's constructor): each is renamed into the foreign
 * layout with the inverse of the filter's own table, spot-checked against literal timm key names,
 * and must come back exactly (keys, shapes, values). The pytorch-cifar checkpoint
 * `{'net': state_dict with 'module.' keys, 'acc', 'epoch'}` is written here in torch's legacy
 * format (the layout torch.load reads; see test/data/checkpoints/ for files torch wrote).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../src/graph/ir.js';
import { loadTorchCheckpoint } from '../src/io/pytorch.js';
import { readSafetensors, serializeSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { KeyMapReport, listKeyFilters, mapForeignStateDict, toForeignLayout } from '../src/models/key-filters.js';
import { relativePositionIndex } from '../src/models/relative-position.js';
import { PretrainedWeightsError, downloadPretrained, findPretrainedFile, pretrainedPaths } from '../src/models/pretrained.js';
import { ModelInfo, createFromConstructor, createModel, listModels, modelInfo, resolveModel } from '../src/models/index.js';
import { OnnxImportError, OnnxModule } from '../src/onnx/import.js';
import { StateDictError } from '../src/nn/module.js';
import { CliResult, runCli } from '../test-support/cli.js';
import { sharedFixture } from '../test-support/fixtures.js';
import { makeImageFolder } from '../test-support/image-folder.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-pretrained-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// ---- helpers, one per concern ---------------------------------------------------------------------

/** Asserts two state dicts hold the same keys (any order), shapes, dtypes and values. */
function assertSameState(got: ReadonlyMap<string, HostTensor>, want: ReadonlyMap<string, HostTensor>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: keys`);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.equal(g.dtype, w.dtype, `${what}: ${k} dtype`);
    assert.deepEqual([...g.shape], [...w.shape], `${what}: ${k} shape`);
    assert.ok(sameBytes(g, w), `${what}: ${k} values differ`);
  }
}

/** Whether two tensors of one dtype hold the same elements (byte for byte: fast on large models). */
function sameBytes(a: HostTensor, b: HostTensor): boolean {
  const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return a.data.length === b.data.length && bytes(a).equals(bytes(b));
}

/** A deterministic float32 tensor of `shape` whose values differ from every other call's. */
let fillCounter = 0;
function filled(shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const base = ++fillCounter * 1000;
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => base + i) };
}

/** Our state dict with every float tensor replaced by distinct values (so mix-ups show). */
function distinctState(sd: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  return new Map([...sd].map(([k, t]) => [k, t.dtype === 'float32' ? filled([...t.shape]) : t] as const));
}

interface FilterCase {
  family: string;
  layout: string;
  /** our (torchvision-named) state dict */
  ours: () => Map<string, HostTensor>;
  /** [foreign key as timm / the authors store it, our key] */
  spot: [string, string][];
  /** how many tensors the filter must reshape, drop and compute */
  reshaped: number;
  added: number;
  /** edits that make the inverse mapping look like a real checkpoint of that layout */
  foreignEdit?: (foreign: Map<string, HostTensor>) => void;
  dropped?: string[];
}

const tinyVit = () => distinctState(createFromConstructor('VisionTransformer', { imageSize: 32, patchSize: 16, numLayers: 2, numHeads: 2, hiddenDim: 16, mlpDim: 32, numClasses: 10 }).stateDict());
const tinyConvNeXt = () =>
  distinctState(
    createFromConstructor('ConvNeXt', {
      blockSetting: [
        { inputChannels: 8, outChannels: 16, numLayers: 2 },
        { inputChannels: 16, outChannels: 32, numLayers: 1 },
        { inputChannels: 32, outChannels: null, numLayers: 2 },
      ],
      numClasses: 10,
    }).stateDict(),
  );
const tinySwin = () =>
  distinctState(createFromConstructor('SwinTransformer', { patchSize: [4, 4], embedDim: 8, depths: [2, 2, 2], numHeads: [1, 2, 4], windowSize: [2, 2], numClasses: 10 }).stateDict());

/** the decoder of an MAE pre-training checkpoint (facebookresearch/mae models_mae.py names) */
const MAE_DECODER_KEYS = ['mask_token', 'decoder_pos_embed', 'decoder_embed.weight', 'decoder_blocks.0.attn.qkv.weight', 'decoder_norm.bias', 'decoder_pred.weight', 'decoder_pred.bias'];

const filterCases: FilterCase[] = [
  {
    family: 'vit', layout: 'timm', ours: tinyVit,
    spot: [
      ['cls_token', 'class_token'], ['pos_embed', 'encoder.pos_embedding'],
      ['patch_embed.proj.weight', 'conv_proj.weight'], ['blocks.0.norm1.weight', 'encoder.layers.encoder_layer_0.ln_1.weight'],
      ['blocks.1.attn.qkv.weight', 'encoder.layers.encoder_layer_1.self_attention.in_proj_weight'], ['blocks.1.attn.qkv.bias', 'encoder.layers.encoder_layer_1.self_attention.in_proj_bias'],
      ['blocks.0.attn.proj.bias', 'encoder.layers.encoder_layer_0.self_attention.out_proj.bias'], ['blocks.1.norm2.bias', 'encoder.layers.encoder_layer_1.ln_2.bias'],
      ['blocks.0.mlp.fc1.weight', 'encoder.layers.encoder_layer_0.mlp.0.weight'], ['blocks.0.mlp.fc2.bias', 'encoder.layers.encoder_layer_0.mlp.3.bias'],
      ['norm.weight', 'encoder.ln.weight'], ['head.weight', 'heads.head.weight'],
    ],
    reshaped: 0, added: 0,
  },
  {
    // a `tessera pretrain --method mae` run: the encoder in our names beside MAE's decoder, which is dropped
    family: 'vit', layout: 'mae', ours: tinyVit,
    spot: [['conv_proj.weight', 'conv_proj.weight'], ['encoder.layers.encoder_layer_1.mlp.3.bias', 'encoder.layers.encoder_layer_1.mlp.3.bias']],
    reshaped: 0, added: 0,
    foreignEdit: (foreign) => {
      for (const key of MAE_DECODER_KEYS) foreign.set(key, filled([2, 2]));
    },
    dropped: MAE_DECODER_KEYS,
  },
  {
    family: 'convnext', layout: 'timm', ours: tinyConvNeXt,
    spot: [
      ['stem.0.weight', 'features.0.0.weight'], ['stem.1.bias', 'features.0.1.bias'],
      ['stages.1.downsample.0.weight', 'features.2.0.weight'], ['stages.2.downsample.1.weight', 'features.4.1.weight'],
      ['stages.0.blocks.1.conv_dw.weight', 'features.1.1.block.0.weight'], ['stages.2.blocks.0.norm.weight', 'features.5.0.block.2.weight'],
      ['stages.1.blocks.0.mlp.fc1.weight', 'features.3.0.block.3.weight'], ['stages.1.blocks.0.mlp.fc2.bias', 'features.3.0.block.5.bias'],
      ['stages.2.blocks.1.gamma', 'features.5.1.layer_scale'], ['head.norm.weight', 'classifier.0.weight'],
      ['head.fc.bias', 'classifier.2.bias'],
    ],
    reshaped: 5, added: 0,
  },
  {
    family: 'convnext', layout: 'facebookresearch', ours: tinyConvNeXt,
    spot: [
      ['downsample_layers.0.0.weight', 'features.0.0.weight'], ['downsample_layers.0.1.bias', 'features.0.1.bias'],
      ['downsample_layers.1.0.weight', 'features.2.0.weight'], ['downsample_layers.2.1.bias', 'features.4.1.bias'],
      ['stages.0.1.dwconv.weight', 'features.1.1.block.0.weight'], ['stages.2.0.norm.bias', 'features.5.0.block.2.bias'],
      ['stages.1.0.pwconv1.weight', 'features.3.0.block.3.weight'], ['stages.1.0.pwconv2.weight', 'features.3.0.block.5.weight'],
      ['stages.0.0.gamma', 'features.1.0.layer_scale'], ['norm.weight', 'classifier.0.weight'],
      ['head.weight', 'classifier.2.weight'],
    ],
    reshaped: 5, added: 0,
  },
  {
    family: 'swin', layout: 'timm', ours: tinySwin,
    spot: [
      ['patch_embed.proj.weight', 'features.0.0.weight'], ['patch_embed.norm.bias', 'features.0.2.bias'],
      ['layers.0.blocks.1.norm1.weight', 'features.1.1.norm1.weight'], ['layers.2.blocks.0.attn.qkv.weight', 'features.5.0.attn.qkv.weight'],
      ['layers.1.blocks.1.attn.relative_position_bias_table', 'features.3.1.attn.relative_position_bias_table'], ['layers.1.blocks.0.mlp.fc1.weight', 'features.3.0.mlp.0.weight'],
      ['layers.1.blocks.0.mlp.fc2.bias', 'features.3.0.mlp.3.bias'], ['layers.1.downsample.reduction.weight', 'features.2.reduction.weight'],
      ['layers.2.downsample.norm.bias', 'features.4.norm.bias'], ['norm.weight', 'norm.weight'],
      ['head.fc.weight', 'head.weight'],
    ],
    reshaped: 0,
    // timm >= 0.9 does not store relative_position_index: one per block is rebuilt
    added: 6,
  },
  {
    family: 'swin', layout: 'timm<0.9', ours: tinySwin,
    spot: [
      ['patch_embed.proj.bias', 'features.0.0.bias'], ['layers.0.blocks.0.attn.relative_position_index', 'features.1.0.attn.relative_position_index'],
      ['layers.0.downsample.reduction.weight', 'features.2.reduction.weight'], ['layers.1.downsample.norm.weight', 'features.4.norm.weight'],
      ['layers.2.blocks.1.attn.proj.weight', 'features.5.1.attn.proj.weight'], ['head.weight', 'head.weight'],
    ],
    // [N, N] relative_position_index → torchvision's flat [N·N], one per block
    reshaped: 6, added: 0,
    foreignEdit: (f) => {
      f.set('layers.0.blocks.1.attn_mask', filled([16, 4, 4]));
      f.set('layers.2.blocks.1.attn_mask', filled([1, 4, 4]));
    },
    dropped: ['layers.0.blocks.1.attn_mask', 'layers.2.blocks.1.attn_mask'],
  },
];

/** Renames `ours` into the case's layout, checks the literal foreign names, and that the filter restores everything. */
function assertRoundTrip(c: FilterCase): KeyMapReport {
  const ours = c.ours();
  const foreign = toForeignLayout(c.family, c.layout, ours);
  c.foreignEdit?.(foreign);
  for (const [theirs, our] of c.spot) {
    assert.ok(foreign.has(theirs), `${c.family}/${c.layout}: the foreign layout has no ${theirs}; it has ${[...foreign.keys()].slice(0, 8).join(', ')}, …`);
    assert.deepEqual([...foreign.get(theirs)!.data], [...ours.get(our)!.data], `${theirs} holds ${our}'s values`);
  }
  const { tensors, report } = mapForeignStateDict(c.family, foreign);
  assert.equal(report.layout, c.layout, 'layout recognised');
  assertSameState(tensors, ours, `${c.family}/${c.layout}`);
  assert.equal(report.reshaped.length, c.reshaped, `reshaped: ${JSON.stringify(report.reshaped.slice(0, 3))}`);
  assert.equal(report.added.length, c.added, 'computed');
  assert.deepEqual(report.dropped.map((d) => d.key).sort(), (c.dropped ?? []).sort(), 'dropped');
  for (const [theirs, our] of c.spot) if (theirs !== our) assert.ok(report.renamed.some(([a, b]) => a === theirs && b === our), `renamed ${theirs} -> ${our}`);
  return report;
}

// ---- key filters ----------------------------------------------------------------------------------

for (const c of filterCases) {
  test(`key filter ${c.family}: ${c.layout} names come back as ours, keys, shapes and values exactly`, () => {
    assertRoundTrip(c);
  });
}

test('every key filter layout has a round-trip case, and every filter belongs to a registered family', () => {
  const covered = new Set(filterCases.map((c) => `${c.family}/${c.layout}`));
  const families = new Set(listModels().map((m) => m.family));
  for (const f of listKeyFilters()) {
    assert.ok(families.has(f.family), `filter ${f.family} matches no registered family`);
    for (const l of f.layouts) {
      assert.ok(covered.has(`${f.family}/${l.name}`), `no round-trip case for ${f.family}/${l.name}`);
      assert.match(l.writtenAgainst, /\w+_\w+/, `${f.family}/${l.name} names the checkpoints it was written against`);
    }
  }
});

test("relative_position_index matches torchvision's for a 2×2 window (values printed by torch 1.13)", () => {
  assert.deepEqual([...relativePositionIndex(2, 2)], [4n, 3n, 1n, 0n, 5n, 4n, 2n, 1n, 7n, 6n, 4n, 3n, 8n, 7n, 5n, 4n]);
});

test("key filter convnext: timm's conv_mlp variants (1×1 conv MLP weights) are squeezed to Linear weights", () => {
  const ours = tinyConvNeXt();
  const foreign = toForeignLayout('convnext', 'timm', ours);
  for (const [k, t] of foreign) if (/mlp\.fc[12]\.weight$/.test(k)) foreign.set(k, { ...t, shape: [...t.shape, 1, 1] });
  const { tensors, report } = mapForeignStateDict('convnext', foreign);
  assertSameState(tensors, ours, 'convnext conv_mlp');
  assert.equal(report.reshaped.length, 5 + 2 * 5, 'gamma and both MLP weights of every block');
});

const resnetCases: { name: string; build: () => Map<string, HostTensor>; timm: [string, number[]][] }[] = [
  // key names and shapes as timm's resnet50 / resnext50_32x4d / wide_resnet50_2 store them (the
  // ResNeXt and Wide ResNet stand-ins have one block per stage, the same names for those blocks)
  {
    name: 'resnet50',
    build: () => createModel('resnet50').stateDict(),
    timm: [['conv1.weight', [64, 3, 7, 7]], ['bn1.running_var', [64]], ['layer1.0.downsample.0.weight', [256, 64, 1, 1]], ['layer4.2.bn3.num_batches_tracked', []], ['fc.weight', [1000, 2048]]],
  },
  {
    name: 'resnext50_32x4d',
    build: () => createFromConstructor('ResNet', { block: 'Bottleneck', layers: [1, 1, 1, 1], groups: 32, widthPerGroup: 4 }, 'torchvision').stateDict(),
    timm: [['layer2.0.conv2.weight', [256, 8, 3, 3]], ['layer3.0.conv3.weight', [1024, 512, 1, 1]], ['fc.bias', [1000]]],
  },
  {
    name: 'wide_resnet50_2',
    build: () => createFromConstructor('ResNet', { block: 'Bottleneck', layers: [1, 1, 1, 1], widthPerGroup: 128 }, 'torchvision').stateDict(),
    timm: [['layer1.0.conv2.weight', [128, 128, 3, 3]], ['layer4.0.downsample.1.running_mean', [2048]]],
  },
];
for (const c of resnetCases) {
  test(`key filter resnet: timm's ${c.name} names are torchvision's, kept as stored (module. stripped)`, () => {
    const sd = c.build();
    for (const [k, shape] of c.timm) assert.deepEqual([...(sd.get(k)?.shape ?? ['missing'])], shape, k);
    const prefixed = new Map([...sd].map(([k, t]) => [`module.${k}`, t] as const));
    const { tensors, report } = mapForeignStateDict('resnet', prefixed);
    assert.equal(report.layout, null);
    assert.equal(report.strippedPrefix, 'module.');
    assert.deepEqual([...tensors.keys()], [...sd.keys()]);
  });
}

// ---- pytorch-cifar checkpoints ----------------------------------------------------------------------

/** Python values the legacy writer can pickle. */
type Py = number | string | boolean | { float: number } | HostTensor | Map<string, Py> | { ordered: Map<string, Py> };

/**
 * torch.save in the legacy format (`_use_new_zipfile_serialization=False`), pickle protocol 2:
 * magic, protocol version, sys info, the object (tensors as `_rebuild_tensor_v2` of persistent
 * storages), the storage key list, then each storage as an int64 count and its bytes.
 */
function torchSaveLegacy(root: Py): Uint8Array {
  const out: number[] = [];
  const bytes = (...b: number[]) => out.push(...b);
  const ascii = (s: string) => bytes(...Buffer.from(s, 'latin1'));
  const u32 = (n: number) => bytes(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
  const int = (n: number) => (n >= 0 && n < 256 ? bytes(0x4b, n) : (bytes(0x4a), u32(n >>> 0)));
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    bytes(0x58);
    u32(b.length);
    bytes(...b);
  };
  const global = (module: string, name: string) => (bytes(0x63), ascii(`${module}\n${name}\n`));
  const tuple = (items: (() => void)[]) => {
    bytes(0x28);
    items.forEach((f) => f());
    bytes(0x74);
  };
  const storages: HostTensor[] = [];
  const value = (v: Py): void => {
    if (typeof v === 'number') int(v);
    else if (typeof v === 'string') str(v);
    else if (typeof v === 'boolean') bytes(v ? 0x88 : 0x89);
    else if (v instanceof Map || 'ordered' in v) {
      const m = v instanceof Map ? v : v.ordered;
      if (v instanceof Map) bytes(0x7d);
      else (global('collections', 'OrderedDict'), bytes(0x29, 0x52));
      bytes(0x28);
      for (const [k, x] of m) (str(k), value(x));
      bytes(0x75);
    } else if ('float' in v) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v.float);
      bytes(0x47, ...b);
    } else {
      const key = String(storages.length);
      storages.push(v);
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      global('torch._utils', '_rebuild_tensor_v2');
      tuple([
        () => (tuple([() => str('storage'), () => global('torch', 'FloatStorage'), () => str(key), () => str('cpu'), () => int(v.data.length), () => bytes(0x4e)]), bytes(0x51)),
        () => int(0),
        () => tuple(v.shape.map((d) => () => int(d))),
        () => tuple(strides.map((d) => () => int(d))),
        () => bytes(0x89),
        () => (global('collections', 'OrderedDict'), bytes(0x29, 0x52)),
      ]);
      bytes(0x52);
    }
  };
  const pickle = (f: () => void) => (bytes(0x80, 2), f(), bytes(0x2e));
  pickle(() => bytes(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19));
  pickle(() => int(1001));
  pickle(() => value(new Map<string, Py>([['protocol_version', 1001], ['little_endian', true], ['type_sizes', new Map<string, Py>([['short', 2], ['int', 4], ['long', 4]])]])));
  pickle(() => value(root));
  pickle(() => {
    bytes(0x5d, 0x28);
    storages.forEach((_, i) => str(String(i)));
    bytes(0x65);
  });
  const head = Uint8Array.from(out);
  const parts: Uint8Array[] = [head];
  for (const t of storages) {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(t.data.length));
    parts.push(count, new Uint8Array(Float32Array.from(t.data as Float32Array).buffer));
  }
  return Buffer.concat(parts);
}

const lenetState = distinctState(createModel('cifar_lenet').stateDict());
const PYTORCH_CIFAR = join(scratch, 'ckpt.pth');
writeFileSync(
  PYTORCH_CIFAR,
  torchSaveLegacy(new Map<string, Py>([['net', { ordered: new Map([...lenetState].map(([k, t]) => [`module.${k}`, t] as const)) }], ['acc', { float: 71.5 }], ['epoch', 12]])),
);

test("a pytorch-cifar checkpoint {'net': DataParallel state dict, 'acc', 'epoch'} unwraps and loads into cifar_lenet", () => {
  const { tensors, info } = loadTorchCheckpoint(PYTORCH_CIFAR);
  assert.equal(info.container, 'net');
  assert.equal(info.strippedPrefix, 'module.');
  assert.deepEqual(info.ignoredKeys, ['acc', 'epoch']);
  assertSameState(tensors, lenetState, 'read');
  const notices: string[] = [];
  const model = createModel('cifar_lenet', { pretrained: PYTORCH_CIFAR, onNotice: (l) => notices.push(l) });
  assertSameState(model.stateDict(), lenetState, 'loaded');
  assert.deepEqual(notices, []);
});

// ---- createModel(name, { numClasses, pretrained }) ----------------------------------------------------

const squeezeState = distinctState(createModel('squeezenet1_1').stateDict());
const SQUEEZE = join(scratch, 'squeezenet1_1.safetensors');
writeSafetensors(SQUEEZE, squeezeState);
const LENET = join(scratch, 'lenet.safetensors');
writeSafetensors(LENET, lenetState);

const loadCases: {
  name: string;
  model: string;
  opts: { numClasses?: number; pretrained: string };
  notices: string[];
  /** keys that must keep their fresh initialisation; every other key holds the checkpoint's values */
  fresh: string[];
}[] = [
  { name: 'same class count: every tensor loads, no notice', model: 'squeezenet1_1', opts: { pretrained: SQUEEZE }, notices: [], fresh: [] },
  {
    name: 'another class count: the classifier is re-initialised and a notice says so',
    model: 'squeezenet1_1',
    opts: { numClasses: 10, pretrained: SQUEEZE },
    notices: ['squeezenet1_1: checkpoint classifier classifier.1 has 1000 classes, model has 10: classifier.1 re-initialised'],
    fresh: ['classifier.1.weight', 'classifier.1.bias'],
  },
  {
    name: "a pytorch-cifar checkpoint into 3 classes: the last layer (no published config) is the classifier",
    model: 'cifar_lenet',
    opts: { numClasses: 3, pretrained: PYTORCH_CIFAR },
    notices: ['cifar_lenet: checkpoint classifier fc3 has 10 classes, model has 3: fc3 re-initialised'],
    fresh: ['fc3.weight', 'fc3.bias'],
  },
];
for (const c of loadCases) {
  test(`createModel pretrained: ${c.name}`, () => {
    const notices: string[] = [];
    const model = createModel(c.model, { ...c.opts, onNotice: (l) => notices.push(l) });
    assert.deepEqual(notices, c.notices);
    const source = c.model === 'cifar_lenet' ? lenetState : squeezeState;
    const got = model.stateDict();
    for (const [k, t] of got) {
      if (c.fresh.includes(k)) {
        assert.equal(t.shape[0], c.opts.numClasses, `${k} sized for the model`);
        assert.ok(!source.get(k) || source.get(k)!.shape[0] !== t.shape[0], `${k} is not the checkpoint's`);
      } else {
        assert.ok(sameBytes(t, source.get(k)!), `${k} holds the checkpoint's values`);
      }
    }
  });
}

const loadErrors: { name: string; run: () => unknown; error: RegExp; type: typeof StateDictError | typeof PretrainedWeightsError }[] = [
  {
    name: "another model's checkpoint",
    run: () => createModel('squeezenet1_1', { pretrained: LENET }),
    error: /^squeezenet1_1: \S*lenet\.safetensors does not fit; is it another model's checkpoint\? state dict does not match the model: \d+ missing: features\.0\.weight.*; 10 unexpected: conv1\.weight/,
    type: StateDictError,
  },
  { name: 'a missing file', run: () => createModel('squeezenet1_1', { pretrained: join(scratch, 'absent.pth') }), error: /^pretrained weights \S*absent\.pth: no such file$/, type: PretrainedWeightsError },
  { name: 'published weights for a model without any', run: () => createModel('cifar_lenet', { pretrained: true }), error: /^cifar_lenet has no published pretrained weights; pass a checkpoint file instead/, type: PretrainedWeightsError },
];
for (const c of loadErrors) {
  test(`createModel pretrained: ${c.name} is one clear line`, () => {
    assert.throws(c.run, (e: unknown) => {
      assert.ok(e instanceof c.type, `expected ${c.type.name}, got ${String(e)}`);
      assert.match(e.message, c.error);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  });
}

/** Runs `fn` with HOME, TORCH_HOME and the Tessera cache pointed at fresh folders. */
async function withCaches<T>(fn: (dirs: { home: string; torchHome: string }) => T | Promise<T>): Promise<T> {
  const home = mkdtempSync(join(scratch, 'home-'));
  const torchHome = join(home, 'torch-home');
  const saved = { HOME: process.env.HOME, TORCH_HOME: process.env.TORCH_HOME, TESSERA_CACHE: process.env.TESSERA_CACHE, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
  process.env.HOME = home;
  process.env.TORCH_HOME = torchHome;
  delete process.env.TESSERA_CACHE;
  delete process.env.XDG_CACHE_HOME;
  try {
    return await fn({ home, torchHome });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** squeezenet1_1's registry entry with torchvision's published weights (its own config, when it has one). */
const SQUEEZE_URL = 'https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth';
const squeezeInfo = (): ModelInfo => {
  const info = modelInfo('squeezenet1_1');
  return info.pretrained ? info : { ...info, pretrained: { url: SQUEEZE_URL, licence: 'BSD-3-Clause', inputSize: 224, resizeSize: 256, cropFraction: 0.875, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], classifier: 'classifier.1', top1: 58.178, top5: 80.624 } };
};

test('pretrained: true with no cached file: one line naming the URL and the exact paths (torch hub, then Tessera)', async () => {
  await withCaches(({ home, torchHome }) => {
    const info = squeezeInfo();
    const file = info.pretrained!.url.split('/').pop()!;
    const own = join(home, '.cache', 'tessera', 'weights', file);
    const hub = join(torchHome, 'hub', 'checkpoints', file);
    assert.deepEqual(pretrainedPaths(info), [hub, own]);
    assert.throws(
      () => findPretrainedFile(info),
      (e: unknown) => {
        assert.ok(e instanceof PretrainedWeightsError);
        assert.equal(e.message, `squeezenet1_1: pretrained weights are not downloaded; fetch ${info.pretrained!.url} and put it at ${own} (or ${hub}), or call downloadPretrained('squeezenet1_1')`);
        return true;
      },
    );
    // every registered config with published weights fails the same way, before building anything
    for (const m of listModels().filter((x) => x.pretrained)) {
      const expected = new RegExp(`^${m.name}: pretrained weights are not downloaded; fetch ${m.pretrained!.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} and put it at `);
      assert.throws(() => createModel(m.name, { pretrained: true }), (e: unknown) => e instanceof PretrainedWeightsError && expected.test(e.message));
    }
  });
});

test('pretrained: true finds the file in the torch hub cache first, then in Tessera’s', async () => {
  await withCaches(() => {
    const info = squeezeInfo();
    const [hub, own] = pretrainedPaths(info);
    mkdirSync(join(own, '..'), { recursive: true });
    writeFileSync(own, 'x');
    assert.equal(findPretrainedFile(info), own);
    mkdirSync(join(hub, '..'), { recursive: true });
    writeFileSync(hub, 'x');
    assert.equal(findPretrainedFile(info), hub);
  });
});

test('downloadPretrained fetches into Tessera’s cache, checks the sha256 prefix of the file name, keeps nothing bad', async () => {
  const body = Buffer.from(serializeSafetensors(lenetState));
  const prefix = createHash('sha256').update(body).digest('hex').slice(0, 8);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await withCaches(async ({ home }) => {
      const weights = join(home, '.cache', 'tessera', 'weights');
      const path = await downloadPretrained('cifar_lenet', { url: `${base}/lenet-${prefix}.safetensors`, progress: false });
      assert.equal(path, join(weights, `lenet-${prefix}.safetensors`));
      assertSameState(createModel('cifar_lenet', { pretrained: path }).stateDict(), lenetState, 'downloaded');
      const wrong = prefix === '00000000' ? '11111111' : '00000000';
      const corrupt = new RegExp(`^cifar_lenet: the download of \\S+ is corrupt: its sha256 ${prefix}\\w+… does not start with ${wrong}`);
      await assert.rejects(downloadPretrained('cifar_lenet', { url: `${base}/lenet-${wrong}.safetensors`, progress: false }), (e: unknown) => e instanceof PretrainedWeightsError && corrupt.test(e.message));
      assert.deepEqual(readdirSync(weights), [`lenet-${prefix}.safetensors`]);
    });
  } finally {
    server.close();
  }
});

test('a failed downloadPretrained leaves no cache folder behind', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/lenet-00000000.safetensors`;
  await new Promise((r) => server.close(r)); // the port is now refused
  await withCaches(async ({ home }) => {
    await assert.rejects(downloadPretrained('cifar_lenet', { url, progress: false }), (e: unknown) => e instanceof PretrainedWeightsError && /cannot download .*ECONNREFUSED/.test(e.message));
    assert.deepEqual(readdirSync(home), [], 'no ~/.cache/tessera/weights left');
  });
});

test('resolveModel imports the path of an .onnx file (importOnnx); constructor arguments do not apply', () => {
  const ONNX_FIXTURE = sharedFixture('onnx/tv_vit.onnx');
  const model = resolveModel(ONNX_FIXTURE);
  assert.ok(model instanceof OnnxModule);
  assert.ok(model.stateDict().size > 0);
  assert.throws(() => resolveModel(ONNX_FIXTURE, { numClasses: 10 }), (e: unknown) => e instanceof OnnxImportError && /the arguments numClasses do not apply/.test(e.message));
});

// ---- the CLI ----------------------------------------------------------------------------------------

/** Asserts a CLI user error: exit 2, exactly one line `tessera: ...` matching `pattern`, no stack. */
function assertOneLineError(r: CliResult, pattern: RegExp): void {
  const shown = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 2, shown);
  assert.match(r.stderr, /^tessera[: ][^\n]+\n$/, shown);
  assert.match(r.stderr, pattern, shown);
}

const DATA = join(scratch, 'colours');
const readyData = makeImageFolder(DATA, ['blue', 'green', 'red'], 6, 777);
const TRAIN = ['train', '--model', 'cifar_lenet', '--val-split', '1', '--batch-size', '8', '--epochs', '1', '--threads', '1', '--workers', '0'];

test('tessera train --pretrained FILE (a pytorch-cifar checkpoint) prints the classifier notice and trains', async () => {
  await readyData;
  const out = join(scratch, 'run-pretrained');
  const r = await runCli([...TRAIN, '--data', DATA, '--pretrained', PYTORCH_CIFAR, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^cifar_lenet: checkpoint classifier fc3 has 10 classes, model has 3: fc3 re-initialised$/m);
  assert.ok(existsSync(join(out, 'last.safetensors')));
});

const trainErrors: { name: string; args: () => string[]; error: RegExp }[] = [
  { name: 'a missing FILE', args: () => [...TRAIN, '--data', DATA, '--pretrained', join(scratch, 'nope.pth'), '--out', join(scratch, 'e1')], error: /--pretrained \S*nope\.pth: no such file/ },
  { name: 'no FILE, and the model has no published weights', args: () => [...TRAIN, '--data', DATA, '--out', join(scratch, 'e2'), '--pretrained'], error: /cifar_lenet has no published pretrained weights; pass a checkpoint file instead/ },
  { name: "another model's checkpoint", args: () => [...TRAIN, '--data', DATA, '--pretrained', SQUEEZE, '--out', join(scratch, 'e3')], error: /cifar_lenet: \S*squeezenet1_1\.safetensors does not fit; .*missing: conv1\.weight/ },
  { name: '--pretrained with --resume', args: () => ['train', '--resume', join(scratch, 'some-run'), '--pretrained', PYTORCH_CIFAR], error: /--pretrained starts a new run from weights, --resume continues a run/ },
];
for (const c of trainErrors) {
  test(`tessera train --pretrained: ${c.name} exits 2 with one line`, async () => {
    await readyData;
    assertOneLineError(await runCli(c.args()), c.error);
  });
}

test('tessera convert --model convnext_tiny maps timm names, reports counts and first renames, writes our keys', async () => {
  const ours = createModel('convnext_tiny').stateDict();
  const timmFile = join(scratch, 'convnext_tiny.timm.safetensors');
  writeSafetensors(timmFile, toForeignLayout('convnext', 'timm', ours));
  const out = join(scratch, 'convnext_tiny.safetensors');
  const r = await runCli(['convert', timmFile, '--out', out, '--model', 'convnext_tiny']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`keys: convnext filter, layout timm: ${ours.size} renamed \\(stem\\.0\\.weight -> features\\.0\\.0\\.weight, stem\\.0\\.bias -> features\\.0\\.0\\.bias, stem\\.1\\.weight -> features\\.0\\.1\\.weight, …\\), 18 reshaped \\(features\\.1\\.0\\.layer_scale \\[96\\] -> \\[96,1,1\\]`));
  assert.match(r.stdout, new RegExp(`all ${ours.size} tensors load strictly`));
  assertSameState(readSafetensors(out).tensors, ours, 'written');
});

test('tessera convert --model cifar_lenet of a pytorch-cifar checkpoint reports the container, the prefix and the family filter', async () => {
  const out = join(scratch, 'lenet-converted.safetensors');
  const r = await runCli(['convert', PYTORCH_CIFAR, '--out', out, '--model', 'cifar_lenet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /container: the state dict under "net" \(ignored: acc, epoch\)/);
  assert.match(r.stdout, /prefix: stripped "module\." from all 10 keys/);
  assert.match(r.stdout, /keys: lenet filter: keys used as stored/);
  assertSameState(readSafetensors(out).tensors, lenetState, 'written');
});
