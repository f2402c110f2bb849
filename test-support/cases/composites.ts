/**
 * Gradient-check cases for the composite ops of the ImageNet zoo, built from primitive ops that
 * have their own cases: adaptive average pooling to any size, channel shuffle, the relative
 * position bias, Swin's roll, shifted-window attention (partition, mask, reverse), V2 cosine
 * attention with its clamped logit scale and the continuous position bias MLP, whole Swin V1/V2
 * blocks, MaxViT's window/grid partitions and relative-position attention, torchvision ViT's
 * scaled dot-product attention, squeeze-excitation and ConvNeXt's layer scale. Float64 with the
 * framework's default tolerances; most cases also check the forward against a plain-JS reference
 * written from torchvision's definitions.
 *
 * Module cases trace the real module into the case's graph (`inModule`): parameters become
 * float64 constants, except those bound to graph inputs (then differentiated too). Their
 * parameters are reseeded (`seedParameters`) so that every run sees the same, not tiny, weights.
 *
 * GELU evaluates Erf in float32 (ORT's CPU provider has no double Erf), whose rounding (~6e-8)
 * swamps float64 finite differences; the float64 block cases therefore swap the MLP's GELU for
 * Tanh (`tanhForGelu`), and a float32 twin of each block keeps the real GELU at float32 tolerances.
 */
import assert from 'node:assert/strict';
import { HostTensor, Value, currentGraph, withGraph } from '../../src/graph/ir.js';
import { adaptiveAvgPool2d } from '../../src/ops/index.js';
import { constant } from '../../src/graph/constants.js';
import { Trace, traceWith } from '../../src/nn/trace.js';
import { Module, Sequential, StateTensor } from '../../src/nn/module.js';
import { GELU, Hardsigmoid, Linear, ReLU, Sigmoid, Tanh } from '../../src/nn/layers.js';
import { channelShuffle } from '../../src/models/cifar/shufflenet.js';
import { relativePositionBias, relativePositionIndex } from '../../src/models/relative-position.js';
import { ShiftedWindowAttention, ShiftedWindowAttentionV2, SwinTransformerBlock, SwinTransformerBlockV2, roll } from '../../src/models/swin-blocks.js';
import { PartitionAttentionLayer, PartitionType, RelativePositionalMultiHeadAttention, windowDepartition, windowPartition } from '../../src/models/maxvit-blocks.js';
import { MultiheadAttention } from '../../src/models/vit.js';
import { SqueezeExcitation } from '../../src/models/common.js';
import { CNBlock } from '../../src/models/convnext.js';
import { mulberry32 } from '../../src/util/random.js';
import { GradCase, assertClose, uniform, valuesOf } from '../gradcheck.js';
import { Dt, Ref, refCheck } from './common.js';

// ---- tracing modules into a case's graph --------------------------------------------------------

/** float32 state as `dtype` (int64 buffers unchanged) */
const asPrecision = (t: StateTensor, dtype: Dt): HostTensor =>
  t.data instanceof Float32Array && dtype === 'float64' ? { dtype, shape: t.shape, data: Float64Array.from(t.data) } : t;

/**
 * Runs `fn` (a call of `model`) in the active graph with `model` traced at `dtype`: each parameter
 * and buffer is a constant of that graph, or the graph value `bound` maps it to.
 */
function inModule<T>(model: Module, fn: () => T, bound: ReadonlyMap<StateTensor, Value> = new Map(), dtype: Dt = 'float64'): T {
  const g = currentGraph();
  const trace = new Trace(model, { weights: 'constants', precision: dtype });
  for (const [t, key] of trace.keys) trace.values.set(t, bound.get(t) ?? constant(asPrecision(t, dtype), key));
  return traceWith(trace, () => withGraph(g, fn));
}

/**
 * Replaces every parameter with seeded values: matrices and kernels uniform in ±1/√fan-in,
 * vectors named `weight` (norm scales) in 1 ± 0.3, other vectors in ±0.3, [C,1,1] scales in ±1.
 */
function seedParameters<M extends Module>(model: M, seed: number): M {
  const rand = mulberry32(seed);
  const u = () => 2 * rand() - 1;
  for (const [key, p] of model.namedParameters()) {
    const fan = p.shape.slice(1).reduce((a, d) => a * d, 1);
    const draw = p.shape.length > 1 ? () => u() / Math.sqrt(fan) : key.endsWith('weight') ? () => 1 + 0.3 * u() : () => 0.3 * u();
    p.data = Float32Array.from(p.data, draw);
  }
  return model.eval();
}

/** `seq` with each GELU child replaced by Tanh, names kept (see the file comment) */
const tanhForGelu = (seq: Sequential): Sequential => Sequential.named(seq.namedChildren().map(([name, m]): [string, Module] => [name, m instanceof GELU ? new Tanh() : m]));

const linearAt = (seq: Sequential, i: number): Linear => {
  const m = seq.at(i);
  assert.ok(m instanceof Linear, `child ${i} is not a Linear`);
  return m;
};

/** exposes the V2 attention's logits and position bias, which forward uses internally */
class ProbedWindowAttentionV2 extends ShiftedWindowAttentionV2 {
  cosineLogits(q: Value, k: Value): Value {
    return this.logits(q, k);
  }

  continuousPositionBias(): Value {
    return this.positionBias();
  }
}

// ---- plain-JS references ----------------------------------------------------------------------

const range = (n: number): number[] => [...Array(n).keys()];
const sigmoidRef = (v: number) => 1 / (1 + Math.exp(-v));

/** rows[i] · wᵀ + b for w [out, in] row-major */
function linearRows(rows: readonly number[][], w: ArrayLike<number>, b: ArrayLike<number> | null, out: number, inDim: number): number[][] {
  return rows.map((x) => range(out).map((o) => range(inDim).reduce((s, i) => s + w[o * inDim + i] * x[i], b ? b[o] : 0)));
}

/** softmax_j(scale · q_i·k_j + bias(i, j)) · v for one head (rows of [tokens, dims]) */
function attend(q: number[][], k: number[][], v: number[][], scale: number, bias: (i: number, j: number) => number): number[][] {
  return q.map((qi, i) => {
    const s = k.map((kj, j) => scale * qi.reduce((acc, x, d) => acc + x * kj[d], 0) + bias(i, j));
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, x) => a + x, 0);
    return v[0].map((_, d) => e.reduce((acc, p, j) => acc + (p / z) * v[j][d], 0));
  });
}

/** multi-head attention of token rows with packed [q | k | v] projections (head h: columns h·hd …) */
function multiHead(qkv: number[][], heads: number, hd: number, scale: number, bias: (h: number, i: number, j: number) => number): number[][] {
  const d = heads * hd;
  const out = qkv.map(() => new Array<number>(d).fill(0));
  for (let h = 0; h < heads; h++) {
    const cols = (off: number) => qkv.map((row) => row.slice(off + h * hd, off + (h + 1) * hd));
    attend(cols(0), cols(d), cols(2 * d), scale, (i, j) => bias(h, i, j)).forEach((o, i) => o.forEach((x, e) => (out[i][h * hd + e] = x)));
  }
  return out;
}

/** torchvision's relative position index of tokens i, j in an h×w window, from the offsets */
const relIndex = (i: number, j: number, h: number, w: number) =>
  (Math.floor(i / w) - Math.floor(j / w) + h - 1) * (2 * w - 1) + ((i % w) - (j % w) + w - 1);

/** PyTorch's adaptive_avg_pool2d: output cell i averages rows [⌊i·n/out⌋, ⌈(i+1)·n/out⌉) */
function adaptiveAvgPoolRef(x: number[], [n, c, h, w]: readonly number[], [oh, ow]: readonly number[]): Ref {
  const data: number[] = [];
  const bin = (i: number, size: number, out: number) => [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const [[h0, h1], [w0, w1]] = [bin(i, h, oh), bin(j, w, ow)];
        let s = 0;
        for (let r = h0; r < h1; r++) for (let q = w0; q < w1; q++) s += x[(p * h + r) * w + q];
        data.push(s / ((h1 - h0) * (w1 - w0)));
      }
    }
  }
  return { shape: [n, c, oh, ow], data };
}

/** reads x [B, H, W, C] at (b, r, s), zeros outside (the padding) */
const pixel = (x: number[], [, h, w, c]: readonly number[], b: number, r: number, s: number): number[] =>
  r < h && s < w ? x.slice(((b * h + r) * w + s) * c, ((b * h + r) * w + s + 1) * c) : new Array<number>(c).fill(0);

/**
 * torchvision's shifted_window_attention (V1), per window: pad to whole windows, roll by −shift,
 * attention with the relative position bias and −100 between the regions (0, −w), (−w, −s),
 * (−s, end) of the shifted map, projection, roll back, crop.
 */
function swinAttentionRef(m: ShiftedWindowAttention, x: number[], xs: readonly number[], table: number[]): Ref {
  const [b, h, w, c] = xs;
  const [wh, ww] = m.windowSize;
  const [ph, pw] = [Math.ceil(h / wh) * wh, Math.ceil(w / ww) * ww];
  const [sh, sw] = [wh >= ph ? 0 : m.shiftSize[0], ww >= pw ? 0 : m.shiftSize[1]];
  assert.ok(sh > 0 && sw > 0, 'the reference models a shift on both axes');
  const region = (p: number, n: number, win: number, s: number) => (p < n - win ? 0 : p < n - s ? 1 : 2);
  const label = ([r, s]: number[]) => region(r, ph, wh, sh) * 3 + region(s, pw, ww, sw);
  const out = new Array<number>(b * h * w * c).fill(0);
  for (let bi = 0; bi < b; bi++) {
    for (let wi = 0; wi < ph / wh; wi++) {
      for (let wj = 0; wj < pw / ww; wj++) {
        // positions on the shifted map; the token there is the padded input at +shift
        const pos = range(wh * ww).map((t) => [wi * wh + Math.floor(t / ww), wj * ww + (t % ww)]);
        const tokens = pos.map(([r, s]) => pixel(x, xs, bi, (r + sh) % ph, (s + sw) % pw));
        const qkv = linearRows(tokens, m.qkv.weight.data, m.qkv.bias!.data, 3 * c, c);
        const o = multiHead(qkv, m.numHeads, m.headDim, 1 / Math.sqrt(m.headDim), (hh, i, j) => {
          const mask = label(pos[i]) !== label(pos[j]) ? -100 : 0;
          return table[relIndex(i, j, wh, ww) * m.numHeads + hh] + mask;
        });
        linearRows(o, m.proj.weight.data, m.proj.bias!.data, c, c).forEach((y, t) => {
          const [r, s] = [(pos[t][0] + sh) % ph, (pos[t][1] + sw) % pw];
          if (r < h && s < w) y.forEach((v, k) => (out[((bi * h + r) * w + s) * c + k] = v));
        });
      }
    }
  }
  return { shape: [...xs], data: out };
}

/** MaxViT's attention over [B, G, P, D]: keys scaled by featDim^−½, bias table[index(i, j)] per head */
function relativeAttentionRef(m: RelativePositionalMultiHeadAttention, x: number[], [b, g, p, d]: readonly number[], table: number[]): Ref {
  const data: number[] = [];
  for (let seq = 0; seq < b * g; seq++) {
    const rows = range(p).map((i) => x.slice((seq * p + i) * d, (seq * p + i + 1) * d));
    const qkv = linearRows(rows, m.to_qkv.weight.data, m.to_qkv.bias!.data, 3 * m.numHeads * m.headDim, d);
    const o = multiHead(qkv, m.numHeads, m.headDim, m.scaleFactor, (h, i, j) => table[relIndex(i, j, m.size, m.size) * m.numHeads + h]);
    data.push(...linearRows(o, m.merge.weight.data, m.merge.bias!.data, d, m.numHeads * m.headDim).flat());
  }
  return { shape: [b, g, p, d], data };
}

/** torch.nn.MultiheadAttention self-attention (batch first): q scaled by 1/√headDim */
function multiheadAttentionRef(m: MultiheadAttention, x: number[], [n, l, d]: readonly number[], inProjWeight: number[]): Ref {
  const data: number[] = [];
  for (let bi = 0; bi < n; bi++) {
    const rows = range(l).map((i) => x.slice((bi * l + i) * d, (bi * l + i + 1) * d));
    const qkv = linearRows(rows, inProjWeight, m.in_proj_bias.data, 3 * d, d);
    const o = multiHead(qkv, m.numHeads, m.headDim, 1 / Math.sqrt(m.headDim), () => 0);
    data.push(...linearRows(o, m.out_proj.weight.data, m.out_proj.bias!.data, d, d).flat());
  }
  return { shape: [n, l, d], data };
}

/** torchvision.ops.SqueezeExcitation: x · scale(fc2(act(fc1(mean_hw x)))) */
function squeezeExcitationRef(m: SqueezeExcitation, x: number[], [n, c, h, w]: readonly number[], act: (v: number) => number, scale: (v: number) => number): Ref {
  const [fc1, fc2] = [m.fc1, m.fc2];
  const sq = fc1.weight.shape[0];
  const data: number[] = [];
  for (let bi = 0; bi < n; bi++) {
    const mean = range(c).map((k) => x.slice((bi * c + k) * h * w, (bi * c + k + 1) * h * w).reduce((a, v) => a + v, 0) / (h * w));
    const [hidden] = linearRows([mean], fc1.weight.data, fc1.bias!.data, sq, c);
    const [s] = linearRows([hidden.map(act)], fc2.weight.data, fc2.bias!.data, c, sq);
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) data.push(x[(bi * c + k) * h * w + i] * scale(s[k]));
  }
  return { shape: [n, c, h, w], data };
}

/** the element of x [dims] at a multi-index */
const at = (x: number[], dims: readonly number[], idx: readonly number[]) => x[idx.reduce((off, v, i) => off * dims[i] + v, 0)];

/** a tensor of `shape` whose element at each multi-index is `f(index)` */
function tabulate(shape: readonly number[], f: (idx: number[]) => number): Ref {
  const data: number[] = [];
  const walk = (prefix: number[]) => {
    if (prefix.length === shape.length) return void data.push(f(prefix));
    for (let i = 0; i < shape[prefix.length]; i++) walk([...prefix, i]);
  };
  walk([]);
  return { shape: [...shape], data };
}

// ---- cases ------------------------------------------------------------------------------------

const small = uniform(-1, 1);

const adaptivePoolCases: GradCase[] = [
  { x: [1, 2, 7, 5], out: [3, 2], what: 'uneven bins' },
  { x: [1, 2, 2, 3], out: [4, 4], what: 'upsampling bins (input smaller than output)' },
  { x: [1, 2, 5, 7], out: [5, 3], what: 'rows unchanged, uneven columns' },
  { x: [2, 3, 6, 4], out: [3, 2], what: 'dividing sizes (one AveragePool)' },
].map(
  ({ x, out, what }): GradCase => ({
    op: 'adaptiveAvgPool2d',
    name: `adaptiveAvgPool2d [${x}] -> ${out.join('x')}, ${what}`,
    inputs: [{ shape: x }],
    build: ([v]) => adaptiveAvgPool2d(v, out),
    check: refCheck('float64', ([v]) => adaptiveAvgPoolRef(v, x, out)),
  }),
);

const channelShuffleCases: GradCase[] = [2, 3].map(
  (groups): GradCase => ({
    op: 'channelShuffle',
    name: `channelShuffle [2,6,2,2] in ${groups} groups`,
    inputs: [{ shape: [2, 6, 2, 2] }],
    build: ([x]) => channelShuffle(x, groups),
    // output channel a·g + b is input channel b·(C/g) + a
    check: refCheck('float64', ([x]) => tabulate([2, 6, 2, 2], ([n, o, i, j]) => at(x, [2, 6, 2, 2], [n, (o % groups) * (6 / groups) + Math.floor(o / groups), i, j]))),
  }),
);

const relativePositionBiasCases: GradCase[] = [
  [2, 3, 3],
  [3, 3, 2],
].map(([wh, ww, heads]): GradCase => {
  const [rows, n] = [(2 * wh - 1) * (2 * ww - 1), wh * ww];
  return {
    op: 'relativePositionBias',
    name: `relativePositionBias ${wh}x${ww} window, ${heads} heads, wrt the table`,
    inputs: [{ shape: [rows, heads] }],
    build: ([table]) => relativePositionBias(table, relativePositionIndex(wh, ww), n),
    check: refCheck('float64', ([table]) => tabulate([1, heads, n, n], ([, h, i, j]) => table[relIndex(i, j, wh, ww) * heads + h])),
  };
});

const rollCases: GradCase[] = [
  { shifts: [2, -1], what: 'axis 1 by 2, then axis 2 by -1' },
  { shifts: [7, 5], what: 'axis 1 by 7 (mod 5), then axis 2 by 5 (mod 4)' },
].map(
  ({ shifts, what }): GradCase => ({
    op: 'roll',
    name: `roll [2,5,4] ${what}`,
    inputs: [{ shape: [2, 5, 4] }],
    build: ([x]) => roll(roll(x, shifts[0], 1), shifts[1], 2),
    // torch.roll: out[i] = x[(i − shift) mod n]
    check: refCheck('float64', ([x]) => tabulate([2, 5, 4], ([b, i, j]) => at(x, [2, 5, 4], [b, (((i - shifts[0]) % 5) + 5) % 5, (((j - shifts[1]) % 4) + 4) % 4]))),
  }),
);

const swinAttentionCases: GradCase[] = [
  ((): GradCase => {
    const attn = seedParameters(new ShiftedWindowAttention(4, [3, 3], [1, 1], 2), 101);
    const xs = [1, 5, 6, 4];
    return {
      op: 'shiftedWindowAttention',
      name: 'ShiftedWindowAttention (V1) [1,5,6,4] window 3x3 shift 1 (padded, masked), wrt x and the bias table',
      inputs: [{ shape: xs }, { shape: attn.relative_position_bias_table.shape, gen: small }],
      build: ([x, table]) => inModule(attn, () => attn.call(x), new Map([[attn.relative_position_bias_table, table]])),
      check: refCheck('float64', ([x, table]) => swinAttentionRef(attn, x, xs, table)),
    };
  })(),
  ((): GradCase => {
    const attn = seedParameters(new ProbedWindowAttentionV2(4, [3, 3], [1, 1], 2), 102);
    const clamped = Math.log(100);
    return {
      op: 'cosineAttention',
      name: 'V2 cosine attention logits [1,2,3,4]·[1,2,5,4], logit scale exp(min(s, log 100)) with head 1 clamped',
      inputs: [{ shape: [1, 2, 3, 4] }, { shape: [1, 2, 5, 4] }, { shape: [2, 1, 1], gen: (_r, i) => [1.2, 5][i] }],
      build: ([q, k, scale]) => inModule(attn, () => attn.cosineLogits(q, k), new Map([[attn.logit_scale, scale]])),
      check: (r) => {
        const [q, k, s] = r.inputs.map(valuesOf);
        const unit = (x: number[], row: number) => {
          const v = x.slice(row * 4, row * 4 + 4);
          const norm = Math.sqrt(v.reduce((a, e) => a + e * e, 0));
          return v.map((e) => e / norm);
        };
        const want = tabulate([1, 2, 3, 5], ([, h, i, j]) => {
          const [qi, kj] = [unit(q, h * 3 + i), unit(k, h * 5 + j)];
          return Math.exp(Math.min(s[h], clamped)) * qi.reduce((a, e, d) => a + e * kj[d], 0);
        });
        assertClose(valuesOf(r.outputs[0]), want.data, 'forward', 1e-9, 1e-12);
        assert.ok(valuesOf(r.grads[2]!)[1] === 0, 'a clamped logit scale gets no gradient');
      },
    };
  })(),
  ((): GradCase => {
    const attn = seedParameters(new ProbedWindowAttentionV2(4, [2, 3], [0, 0], 2), 103);
    const [first, second] = [linearAt(attn.cpb_mlp, 0), linearAt(attn.cpb_mlp, 2)];
    const coords = attn.relative_coords_table.data;
    return {
      op: 'continuousPositionBias',
      name: 'V2 continuous position bias 16·sigmoid(cpb_mlp(log-spaced coords)) 2x3 window, wrt the MLP weights',
      inputs: [{ shape: first.weight.shape, gen: small }, { shape: [512], gen: small }, { shape: second.weight.shape, gen: uniform(-0.1, 0.1) }],
      build: ([w1, b1, w2]) =>
        inModule(
          attn,
          () => attn.continuousPositionBias(),
          new Map([
            [first.weight, w1],
            [first.bias!, b1],
            [second.weight, w2],
          ]),
        ),
      check: refCheck('float64', ([w1, b1, w2]) => {
        const rows = range(coords.length / 2).map((i) => [Number(coords[2 * i]), Number(coords[2 * i + 1])]);
        const hidden = linearRows(rows, w1, b1, 512, 2).map((row) => row.map((v) => Math.max(v, 0)));
        const table = linearRows(hidden, w2, null, 2, 512);
        return tabulate([1, 2, 6, 6], ([, h, i, j]) => 16 * sigmoidRef(table[relIndex(i, j, 2, 3)][h]));
      }),
    };
  })(),
];

/** a whole module differentiated w.r.t. its input (float32: eps and tolerance are the float32 defaults) */
function moduleCase(op: string, name: string, make: () => Module, shape: readonly number[], dtype: Dt = 'float64'): GradCase {
  const m = make();
  return { op, name: `${name} (${dtype})`, inputs: [{ shape, dtype }], build: ([x]) => inModule(m, () => m.call(x), new Map(), dtype) };
}

const swinBlock = (Block: typeof SwinTransformerBlock, seed: number, dtype: Dt) => () => {
  const block = seedParameters(new Block(4, 2, [3, 3], [1, 1], { mlpRatio: 2 }), seed);
  if (dtype === 'float64') block.mlp = tanhForGelu(block.mlp);
  return block;
};

const cnBlock = (dtype: Dt) => () => {
  const block = seedParameters(new CNBlock(4, 1e-6, 0), 104);
  if (dtype === 'float64') block.block = tanhForGelu(block.block);
  return block;
};

const blockCases: GradCase[] = [
  ...(['float64', 'float32'] as const).flatMap((dtype): GradCase[] => {
    const mlp = dtype === 'float64' ? 'MLP with Tanh for GELU' : 'GELU';
    return [
      moduleCase('swinTransformerBlock', `SwinTransformerBlock [1,5,6,4] window 3x3 shift 1, ${mlp}`, swinBlock(SwinTransformerBlock, 105, dtype), [1, 5, 6, 4], dtype),
      moduleCase('swinTransformerBlock', `SwinTransformerBlockV2 [1,5,6,4] window 3x3 shift 1, ${mlp}`, swinBlock(SwinTransformerBlockV2, 106, dtype), [1, 5, 6, 4], dtype),
    ];
  }),
  // the float64 CNBlock case (also w.r.t. layer_scale) is in attentionCases
  moduleCase('layerScale', 'ConvNeXt CNBlock [1,4,5,5] (layer scale ±1), GELU', cnBlock('float32'), [1, 4, 5, 5], 'float32'),
];

const maxvitCases: GradCase[] = [
  {
    op: 'maxvitPartition',
    name: 'MaxViT windowPartition [1,2,4,6] into 2x2 tiles',
    inputs: [{ shape: [1, 2, 4, 6] }],
    build: ([x]) => windowPartition(x, 2),
    // out[b, i·(W/p) + j, r·p + s, c] = x[b, c, i·p + r, j·p + s]
    check: refCheck('float64', ([x]) => tabulate([1, 6, 4, 2], ([b, t, u, c]) => at(x, [1, 2, 4, 6], [b, c, Math.floor(t / 3) * 2 + Math.floor(u / 2), (t % 3) * 2 + (u % 2)]))),
  },
  {
    op: 'maxvitPartition',
    name: 'MaxViT windowDepartition [1,6,4,2] to [1,2,4,6], and departition(partition(x)) = x',
    inputs: [{ shape: [1, 6, 4, 2] }, { shape: [1, 2, 4, 6] }],
    build: ([y, x]) => [windowDepartition(y, 2, 2, 3), windowDepartition(windowPartition(x, 2), 2, 2, 3)],
    check: (r) => {
      const [y, x] = r.inputs.map(valuesOf);
      const want = tabulate([1, 2, 4, 6], ([b, c, r0, s0]) => at(y, [1, 6, 4, 2], [b, Math.floor(r0 / 2) * 3 + Math.floor(s0 / 2), (r0 % 2) * 2 + (s0 % 2), c]));
      assertClose(valuesOf(r.outputs[0]), want.data, 'departition');
      assert.deepEqual(valuesOf(r.outputs[1]), x, 'round trip');
    },
  },
  ...(['window', 'grid'] as const).map((partitionType: PartitionType) =>
    moduleCase(
      'maxvitPartitionAttention',
      `MaxViT PartitionAttentionLayer '${partitionType}' [1,4,6,6] partition 2, MLP with Tanh`,
      () =>
        seedParameters(
          new PartitionAttentionLayer({
            inChannels: 4,
            headDim: 2,
            partitionSize: 2,
            partitionType,
            gridSize: [6, 6],
            mlpRatio: 2,
            activationLayer: () => new Tanh(),
            attentionDropout: 0,
            mlpDropout: 0,
            stochasticDepthProb: 0,
          }),
          107,
        ),
      [1, 4, 6, 6],
    ),
  ),
  ((): GradCase => {
    const attn = seedParameters(new RelativePositionalMultiHeadAttention(4, 2, 4), 108);
    const xs = [1, 3, 4, 4];
    return {
      op: 'relativePositionalAttention',
      name: 'MaxViT RelativePositionalMultiHeadAttention [1,3,4,4], 2 heads, wrt x and the bias table',
      inputs: [{ shape: xs }, { shape: attn.relative_position_bias_table.shape, gen: small }],
      build: ([x, table]) => inModule(attn, () => attn.call(x), new Map([[attn.relative_position_bias_table, table]])),
      check: refCheck('float64', ([x, table]) => relativeAttentionRef(attn, x, xs, table)),
    };
  })(),
];

const attentionCases: GradCase[] = [
  ((): GradCase => {
    const mha = seedParameters(new MultiheadAttention(4, 2), 109);
    const xs = [2, 3, 4];
    return {
      op: 'scaledDotProductAttention',
      name: 'ViT MultiheadAttention [2,3,4], 2 heads, wrt x and in_proj_weight',
      inputs: [{ shape: xs }, { shape: mha.in_proj_weight.shape, gen: small }],
      build: ([x, w]) => inModule(mha, () => mha.call(x), new Map([[mha.in_proj_weight, w]])),
      check: refCheck('float64', ([x, w]) => multiheadAttentionRef(mha, x, xs, w)),
    };
  })(),
  ...[
    { what: 'ReLU, Sigmoid', act: () => new ReLU(), scale: () => new Sigmoid(), actRef: (v: number) => Math.max(v, 0), scaleRef: sigmoidRef },
    { what: 'ReLU, Hardsigmoid (MobileNetV3)', act: () => new ReLU(), scale: () => new Hardsigmoid(), actRef: (v: number) => Math.max(v, 0), scaleRef: (v: number) => Math.min(Math.max(v / 6 + 0.5, 0), 1) },
  ].map(({ what, act, scale, actRef, scaleRef }, i): GradCase => {
    const se = seedParameters(new SqueezeExcitation(4, 2, act, scale), 110 + i);
    const xs = [2, 4, 3, 3];
    return {
      op: 'squeezeExcitation',
      name: `SqueezeExcitation(4, 2) [2,4,3,3] with ${what}, wrt x`,
      inputs: [{ shape: xs }],
      build: ([x]) => inModule(se, () => se.call(x)),
      check: refCheck('float64', ([x]) => squeezeExcitationRef(se, x, xs, actRef, scaleRef)),
    };
  }),
  ((): GradCase => {
    const block = cnBlock('float64')();
    return {
      op: 'layerScale',
      name: 'ConvNeXt CNBlock [1,4,5,5], MLP with Tanh, wrt x and layer_scale (float64)',
      inputs: [{ shape: [1, 4, 5, 5] }, { shape: [4, 1, 1] }],
      build: ([x, gamma]) => inModule(block, () => block.call(x), new Map([[block.layer_scale, gamma]])),
    };
  })(),
];

/** every composite case, in the order the issue lists them */
export const compositeCases: GradCase[] = [
  ...adaptivePoolCases,
  ...channelShuffleCases,
  ...relativePositionBiasCases,
  ...rollCases,
  ...swinAttentionCases,
  ...blockCases,
  ...maxvitCases,
  ...attentionCases,
];
