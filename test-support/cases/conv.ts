/** Gradient-check cases for conv.ts (Conv, ConvTranspose, ConvWeightGrad), with plain-JS references. */
import { conv2d, convTranspose, convWeightGrad } from '../../src/ops/index.js';
import { GradCase } from '../gradcheck.js';
import { DTYPES, Dt, Ref, refCheck } from './common.js';

/** a type alias, not an interface, so it is assignable to Conv2dAttrs' index signature */
type ConvGeom = {
  readonly strides: number[];
  /** [top, left, bottom, right] */
  readonly pads: number[];
  readonly dilations: number[];
  readonly group: number;
};

const outSize = (size: number, k: number, s: number, p0: number, p1: number, d = 1) => Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;

/** torch.nn.functional.conv2d by direct loops: x [N,C,H,W], w [O,C/G,KH,KW] */
function conv2dRef(x: number[], xs: readonly number[], w: number[], ws: readonly number[], b: number[] | null, a: ConvGeom): Ref {
  const [N, C, H, W] = xs;
  const [O, Cg, KH, KW] = ws;
  const Og = O / a.group;
  const HO = outSize(H, KH, a.strides[0], a.pads[0], a.pads[2], a.dilations[0]);
  const WO = outSize(W, KW, a.strides[1], a.pads[1], a.pads[3], a.dilations[1]);
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < HO; oh++)
        for (let ow = 0; ow < WO; ow++) {
          const g = Math.floor(o / Og);
          let s = b ? b[o] : 0;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const ih = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const iw = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((o * Cg + c) * KH + i) * KW + j];
              }
          data.push(s);
        }
  return { shape: [N, O, HO, WO], data };
}

/** torch.nn.functional.conv_transpose2d by scattering each input element: w [Cin, Cout/G, KH, KW] */
function convTranspose2dRef(x: number[], xs: readonly number[], w: number[], ws: readonly number[], b: number[] | null, a: ConvGeom & { outputPadding: number[] }): Ref {
  const [N, Cin, H, W] = xs;
  const [, Cog, KH, KW] = ws;
  const Cig = Cin / a.group;
  const Cout = Cog * a.group;
  const HO = a.strides[0] * (H - 1) + a.outputPadding[0] + a.dilations[0] * (KH - 1) + 1 - a.pads[0] - a.pads[2];
  const WO = a.strides[1] * (W - 1) + a.outputPadding[1] + a.dilations[1] * (KW - 1) + 1 - a.pads[1] - a.pads[3];
  const data = new Array<number>(N * Cout * HO * WO).fill(0);
  if (b) for (let n = 0; n < N; n++) for (let o = 0; o < Cout; o++) for (let k = 0; k < HO * WO; k++) data[(n * Cout + o) * HO * WO + k] = b[o];
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++)
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const g = Math.floor(ci / Cig);
          const v = x[((n * Cin + ci) * H + ih) * W + iw];
          for (let oc = 0; oc < Cog; oc++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const oh = ih * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const ow = iw * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (oh < 0 || oh >= HO || ow < 0 || ow >= WO) continue;
                data[((n * Cout + g * Cog + oc) * HO + oh) * WO + ow] += v * w[((ci * Cog + oc) * KH + i) * KW + j];
              }
        }
  return { shape: [N, Cout, HO, WO], data };
}

/** dW[o,c,i,j] = Σ_{n,oh,ow} dY[n,o,oh,ow] · x[n, g·C/G + c, oh·s − p + i·d, ow·s − p + j·d] */
function convWeightGradRef(x: number[], xs: readonly number[], dy: number[], dys: readonly number[], kernel: readonly number[], a: ConvGeom): Ref {
  const [N, C, H, W] = xs;
  const [, O, HO, WO] = dys;
  const [KH, KW] = kernel;
  const Cg = C / a.group;
  const Og = O / a.group;
  const data: number[] = [];
  for (let o = 0; o < O; o++)
    for (let c = 0; c < Cg; c++)
      for (let i = 0; i < KH; i++)
        for (let j = 0; j < KW; j++) {
          const g = Math.floor(o / Og);
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let oh = 0; oh < HO; oh++)
              for (let ow = 0; ow < WO; ow++) {
                const ih = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const iw = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += dy[((n * O + o) * HO + oh) * WO + ow] * x[((n * C + g * Cg + c) * H + ih) * W + iw];
              }
          data.push(s);
        }
  return { shape: [O, Cg, KH, KW], data };
}

export interface ConvSpec {
  readonly name: string;
  readonly x: number[];
  readonly w: number[];
  readonly bias?: boolean;
  readonly stride?: number[];
  readonly pads?: number[];
  readonly dilation?: number[];
  readonly group?: number;
}

const geomOf = (s: ConvSpec): ConvGeom => ({ strides: s.stride ?? [1, 1], pads: s.pads ?? [0, 0, 0, 0], dilations: s.dilation ?? [1, 1], group: s.group ?? 1 });

/** conv output shape of a spec (to size dY of a weight gradient) */
function convOutShape(s: ConvSpec): number[] {
  const a = geomOf(s);
  return [s.x[0], s.w[0], outSize(s.x[2], s.w[2], a.strides[0], a.pads[0], a.pads[2], a.dilations[0]), outSize(s.x[3], s.w[3], a.strides[1], a.pads[1], a.pads[3], a.dilations[1])];
}

const convSpecs: ConvSpec[] = [
  { name: '3x3 pad 1 + bias', x: [2, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 stride 2 pad 1, even input 6x6', x: [2, 3, 6, 6], w: [4, 3, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { name: '3x3 stride 2 pad 1, odd input 7x7', x: [1, 3, 7, 7], w: [4, 3, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: '3x3 dilation 2 pad 1', x: [1, 2, 7, 7], w: [3, 2, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: '3x3 dilation 2 stride 2 pad 1, input 8x8', x: [1, 2, 8, 8], w: [3, 2, 3, 3], dilation: [2, 2], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'groups 2 + bias', x: [2, 4, 5, 5], w: [6, 2, 3, 3], group: 2, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise, channel multiplier 2', x: [2, 3, 5, 5], w: [6, 1, 3, 3], group: 3, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise stride 2 pad 1, input 6x6', x: [1, 4, 6, 6], w: [4, 1, 3, 3], group: 4, stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: '1x1 stride 2', x: [2, 4, 6, 6], w: [3, 4, 1, 1], stride: [2, 2] },
  { name: 'asymmetric kernel 1x3 pad [0,1]', x: [2, 3, 4, 5], w: [2, 3, 1, 3], pads: [0, 1, 0, 1] },
  { name: 'asymmetric pads [top 0, left 1, bottom 1, right 0]', x: [1, 2, 5, 5], w: [3, 2, 3, 3], pads: [0, 1, 1, 0] },
];

export const convCases = DTYPES.flatMap((dtype) =>
  convSpecs.map(
    (s): GradCase => ({
      op: 'Conv',
      name: `Conv ${s.name} (${dtype})`,
      inputs: [{ shape: s.x, dtype }, { shape: s.w, dtype }, ...(s.bias ? [{ shape: [s.w[0]], dtype }] : [])],
      build: ([x, w, b]) => conv2d(x, w, b ?? null, geomOf(s)),
      check: refCheck(dtype, ([x, w, b]) => conv2dRef(x, s.x, w, s.w, b ?? null, geomOf(s))),
    }),
  ),
);

interface ConvTransposeSpec extends ConvSpec {
  readonly outputPadding?: number[];
}

// w is [Cin, Cout/G, kh, kw]; float32 stride-1 ungrouped ones are emitted as a Conv with a flipped kernel
const convTransposeSpecs: ConvTransposeSpec[] = [
  { name: 'stride 1 pad 1 + bias (float32: Conv rewrite)', x: [2, 3, 4, 4], w: [3, 2, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: 'stride 1 dilation 2 pad 1 (float32: Conv rewrite)', x: [1, 2, 4, 4], w: [2, 3, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'stride 2 pad 1 outputPadding 1 + bias', x: [1, 3, 3, 3], w: [3, 2, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], bias: true },
  { name: 'stride 2 kernel 2 (no padding)', x: [2, 2, 3, 3], w: [2, 3, 2, 2], stride: [2, 2] },
  { name: 'groups 2 stride 1 pad 1', x: [1, 4, 4, 4], w: [4, 3, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  { name: 'groups 2 stride 2 pad 1 outputPadding 1', x: [2, 4, 3, 3], w: [4, 1, 3, 3], group: 2, stride: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] },
];

export const convTransposeCases = DTYPES.flatMap((dtype) =>
  convTransposeSpecs.map((s): GradCase => {
    const attrs = { ...geomOf(s), outputPadding: s.outputPadding ?? [0, 0] };
    return {
      op: 'ConvTranspose',
      name: `ConvTranspose ${s.name} (${dtype})`,
      inputs: [{ shape: s.x, dtype }, { shape: s.w, dtype }, ...(s.bias ? [{ shape: [s.w[1] * attrs.group], dtype }] : [])],
      build: ([x, w, b]) => convTranspose(x, w, b ?? null, attrs),
      check: refCheck(dtype, ([x, w, b]) => convTranspose2dRef(x, s.x, w, s.w, b ?? null, attrs)),
    };
  }),
);

// the weight gradient of the conv `s` as an op of its own: inputs x and dY (bilinear)
export const convWeightGradSpecs: ConvSpec[] = [
  { name: 'group 1, 3x3 pad 1', x: [2, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1] },
  { name: 'group 1, 3x3 pad 1, a 9x9 map', x: [2, 2, 9, 9], w: [3, 2, 3, 3], pads: [1, 1, 1, 1] },
  // float32: above 128 output channels dY is the Gemm's left operand, at most 128 the patches are
  { name: 'group 1, 3x3 pad 1, 130 output channels', x: [1, 2, 3, 3], w: [130, 2, 3, 3], pads: [1, 1, 1, 1] },
  { name: 'group 1, 3x3 stride 2 pad 1, even input 6x6', x: [2, 2, 6, 6], w: [3, 2, 3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'group 1, 3x3 dilation 2 pad 1', x: [1, 2, 7, 7], w: [2, 2, 3, 3], dilation: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'group 1, 2x3 kernel, pads [0, 1, 1, 2]', x: [2, 3, 5, 6], w: [2, 3, 2, 3], pads: [0, 1, 1, 2] },
  { name: 'group 2, 3x3 pad 1', x: [1, 4, 5, 5], w: [4, 2, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  { name: 'group 2, 3x3 stride 2 pad 1, even input 6x6', x: [2, 4, 6, 6], w: [6, 2, 3, 3], group: 2, stride: [2, 2], pads: [1, 1, 1, 1] },
  { name: 'depthwise, 3x3 stride 2 pad 1, odd input 5x5', x: [2, 3, 5, 5], w: [3, 1, 3, 3], group: 3, stride: [2, 2], pads: [1, 1, 1, 1] },
];

export function convWeightGradCase(s: ConvSpec, dtype: Dt, suffix = ''): GradCase {
  const dy = convOutShape(s);
  return {
    op: 'ConvWeightGrad',
    name: `ConvWeightGrad ${s.name} (${dtype})${suffix}`,
    inputs: [
      { shape: s.x, dtype },
      { shape: dy, dtype },
    ],
    build: ([x, g]) => convWeightGrad(x, g, s.w, geomOf(s)),
    check: refCheck(dtype, ([x, g]) => convWeightGradRef(x, s.x, g, dy, s.w.slice(2), geomOf(s))),
  };
}

export const convWeightGradCases = DTYPES.flatMap((dtype) => convWeightGradSpecs.map((s) => convWeightGradCase(s, dtype)));
