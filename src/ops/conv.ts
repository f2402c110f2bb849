/**
 * Conv and ConvTranspose (2-D, NCHW; stride, padding, dilation, groups incl. depthwise; bias
 * optional). dX of Conv is a ConvTranspose, dW a Conv over batch-transposed operands.
 */
import { environment } from '#platform/runtime';
import { Value } from '../graph/ir.js';
import { Emitter, defineOp } from './registry.js';
import { ConvGeometry, emitConvF64, emitConvTransposeF64, emitConvWeightGradF64, emitConvWeightGradGemm } from './conv-im2col.js';
import { emitNchwcConv } from './conv-nchwc.js';
import { expectRank, sameDtype, windowOut } from './shape-rules.js';
import { reduceSum } from './shape.js';

export interface Conv2dAttrs {
  readonly [k: string]: readonly number[] | number;
  /** [sh, sw] */
  readonly strides: readonly number[];
  /** ONNX order [top, left, bottom, right] */
  readonly pads: readonly number[];
  readonly dilations: readonly number[];
  readonly group: number;
}

export interface ConvTransposeAttrs extends Conv2dAttrs {
  readonly outputPadding: readonly number[];
}

function convAttrs(a: Pick<Conv2dAttrs, 'strides' | 'pads' | 'dilations' | 'group'>, kernel: readonly number[]) {
  return { kernel_shape: [...kernel], strides: [...a.strides], pads: [...a.pads], dilations: [...a.dilations], group: a.group };
}

const convOp = defineOp<Conv2dAttrs>({
  type: 'Conv',
  infer: ([x, w, b], a) => {
    expectRank(x, 4, 'input');
    expectRank(w, 4, 'weight');
    if (x.shape[1] !== w.shape[1] * a.group) throw new Error(`input has ${x.shape[1]} channels, weight expects ${w.shape[1] * a.group} (groups ${a.group})`);
    if (w.shape[0] % a.group) throw new Error(`out channels ${w.shape[0]} not divisible by groups ${a.group}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) throw new Error(`bias must be [${w.shape[0]}]`);
    const h = windowOut(x.shape[2], w.shape[2], a.strides[0], a.pads[0], a.pads[2], a.dilations[0]);
    const wd = windowOut(x.shape[3], w.shape[3], a.strides[1], a.pads[1], a.pads[3], a.dilations[1]);
    return [{ shape: [x.shape[0], w.shape[0], h, wd], dtype: sameDtype(b ? [x, w, b] : [x, w]) }];
  },
  macs: (n) => n.outputs[0].size * n.inputs[1].shape.slice(1).reduce((p, d) => p * d, 1),
  emit: (e, ins, outs, a, node) => {
    const geometry = { x: node.inputs[0].shape, w: node.inputs[1].shape, ...a };
    if (node.inputs[0].dtype === 'float64') emitConvF64(e, ins[0], ins[1], ins[2], outs[0], geometry);
    else emitConvF32(e, ins, outs[0], geometry);
  },
  grad: (n, [g], { needs }) => {
    if (!g) return n.inputs.map(() => null);
    const [x, w, b] = n.inputs;
    const a = n.attrs;
    const dx = needs[0] ? convTranspose(g, w, null, { ...a, outputPadding: outputPaddingFor(x.shape, g.shape, w.shape, a) }) : null;
    const dw = needs[1] ? convWeightGrad(x, g, w.shape, a) : null;
    const db = b && needs[2] ? reduceSum(g, [0, 2, 3]) : null;
    return b ? [dx, dw, db] : [dx, dw];
  },
});

/** a float32 Conv: on ORT's NCHWc kernels where the emitter allows them and the geometry fits, else standard */
function emitConvF32(e: Emitter, ins: readonly string[], y: string, g: ConvGeometry): void {
  if (!emitNchwcConv(e, ins, y, g)) e.node('Conv', ins, [y], convAttrs(g, g.w.slice(2)));
}

/** output_padding that makes ConvTranspose(dY) reproduce the conv input's spatial size */
function outputPaddingFor(xs: readonly number[], ys: readonly number[], ws: readonly number[], a: Conv2dAttrs): number[] {
  return [0, 1].map((i) => xs[2 + i] - (a.strides[i] * (ys[2 + i] - 1) + (ws[2 + i] - 1) * a.dilations[i] + 1 - a.pads[i] - a.pads[i + 2]));
}

const convWeightGradOp = defineOp<Conv2dAttrs & { kernel: readonly number[] }>({
  type: 'ConvWeightGrad',
  infer: ([x, dy], a) => {
    expectRank(x, 4, 'input');
    expectRank(dy, 4, 'output gradient');
    if (x.shape[0] !== dy.shape[0] || dy.shape[1] % a.group || x.shape[1] % a.group) throw new Error('input and output gradient do not match');
    return [{ shape: [dy.shape[1], x.shape[1] / a.group, ...a.kernel], dtype: sameDtype([x, dy]) }];
  },
  emit: (e, [x, dy], [dw], a, node) => {
    const [xv, dyv] = node.inputs;
    const geometry = { x: xv.shape, w: node.outputs[0].shape, ...a };
    if (xv.dtype === 'float64') emitConvWeightGradF64(e, x, dy, dw, geometry, dyv.shape);
    else if (a.group === 1 && !weightGradAsConv()) emitConvWeightGradGemm(e, x, dy, dw, geometry, dyv.shape);
    else emitConvWeightGrad(e, x, dy, dw, xv.shape, dyv.shape, a);
  },
  // dW is bilinear in (x, dy): its cotangent flows back as a ConvTranspose and a Conv
  grad: (n, [gw], { needs }) => {
    if (!gw) return [null, null];
    const [x, dy] = n.inputs;
    const a = n.attrs;
    const conv: Conv2dAttrs = { strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group };
    return [
      needs[0] ? convTranspose(dy, gw, null, { ...conv, outputPadding: outputPaddingFor(x.shape, dy.shape, gw.shape, conv) }) : null,
      needs[1] ? conv2d(x, gw, null, conv) : null,
    ];
  },
});

/**
 * Whether an ungrouped float32 weight gradient takes the Conv form (batch as channels, dY as the
 * kernel) instead of im2col + one Gemm: only when TESSERA_WGRAD=conv asks (=gemm, the default,
 * is accepted too). Since the patches gather in one multithreaded Gather the Gemm measured faster
 * on every map of airbench94 and cifar_resnet18, including cifar_resnet18's 4×4 layer4, the Conv
 * form's last default case (Zen 5: 127 against 155 ms per step).
 */
function weightGradAsConv(): boolean {
  return environment('TESSERA_WGRAD') === 'conv';
}

/** Gradient of a convolution's weight, given its input `x` and output gradient `dy`. */
export function convWeightGrad(x: Value, dy: Value, wShape: readonly number[], a: Conv2dAttrs): Value {
  return convWeightGradOp([x, dy], { strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group, kernel: wShape.slice(2) })[0];
}

/**
 * float32 dW as one Conv: input channels become the batch and the batch becomes the channels, so
 * the conv of x with dY (strides and dilations swapped) yields dW directly.
 */
function emitConvWeightGrad(e: Emitter, x: string, dy: string, dw: string, xs: readonly number[], ys: readonly number[], a: Conv2dAttrs & { kernel: readonly number[] }): void {
  const [n, c, h, wd] = xs;
  const [, o, ho, wo] = ys;
  const G = a.group;
  const ci = c / G;
  const co = o / G;
  const regroup = (v: string, shape5: number[], perm: number[], shape4: number[]) => {
    if (G === 1) {
      const t = e.tmp('wgT');
      e.node('Transpose', [v], [t], { perm: [1, 0, 2, 3] });
      return t;
    }
    const [r5, t5, r4] = [e.tmp('wg5'), e.tmp('wgT'), e.tmp('wg4')];
    e.node('Reshape', [v, e.ints(shape5)], [r5]);
    e.node('Transpose', [r5], [t5], { perm });
    e.node('Reshape', [t5, e.ints(shape4)], [r4]);
    return r4;
  };
  const xT = regroup(x, [n, G, ci, h, wd], [2, 1, 0, 3, 4], [ci, G * n, h, wd]);
  const dyT = regroup(dy, [n, G, co, ho, wo], [1, 2, 0, 3, 4], [G * co, n, ho, wo]);
  const r = e.tmp('wgconv');
  emitConvF32(e, [xT, dyT], r, { x: [ci, G * n, h, wd], w: [G * co, n, ho, wo], strides: a.dilations, dilations: a.strides, pads: a.pads, group: G });
  const kh = windowOut(h, ho, a.dilations[0], a.pads[0], a.pads[2], a.strides[0]);
  const kw = windowOut(wd, wo, a.dilations[1], a.pads[1], a.pads[3], a.strides[1]);
  let cut = r;
  if (kh !== a.kernel[0] || kw !== a.kernel[1]) {
    cut = e.tmp('wgcut');
    e.node('Slice', [r, e.ints([0, 0]), e.ints([...a.kernel]), e.ints([2, 3])], [cut]);
  }
  e.node('Transpose', [cut], [dw], { perm: [1, 0, 2, 3] });
}

const convTransposeOp = defineOp<ConvTransposeAttrs>({
  type: 'ConvTranspose',
  infer: ([x, w, b], a) => {
    expectRank(x, 4, 'input');
    expectRank(w, 4, 'weight');
    if (x.shape[1] !== w.shape[0]) throw new Error(`input has ${x.shape[1]} channels, weight expects ${w.shape[0]}`);
    const out = w.shape[1] * a.group;
    if (b && (b.shape.length !== 1 || b.shape[0] !== out)) throw new Error(`bias must be [${out}]`);
    const size = (i: number) => a.strides[i] * (x.shape[2 + i] - 1) + a.outputPadding[i] + (w.shape[2 + i] - 1) * a.dilations[i] + 1 - a.pads[i] - a.pads[i + 2];
    return [{ shape: [x.shape[0], out, size(0), size(1)], dtype: sameDtype(b ? [x, w, b] : [x, w]) }];
  },
  macs: (n) => n.inputs[0].size * n.inputs[1].shape.slice(1).reduce((p, d) => p * d, 1),
  emit: (e, ins, outs, a, node) => {
    if (node.inputs[0].dtype === 'float64') emitConvTransposeF64(e, ins[0], ins[1], ins[2], outs[0], { x: node.inputs[0].shape, w: node.inputs[1].shape, ...a });
    else if (!emitAsConv(e, ins, outs, a, node.inputs[0].shape, node.inputs[1].shape)) e.node('ConvTranspose', ins, outs, { ...convAttrs(a, node.inputs[1].shape.slice(2)), output_padding: [...a.outputPadding] });
  },
  grad: (n, [g], { needs }) => {
    if (!g) return n.inputs.map(() => null);
    const [x, w, b] = n.inputs;
    const a = n.attrs;
    const conv: Conv2dAttrs = { strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group };
    const dx = needs[0] ? conv2d(g, w, null, conv) : null;
    // ConvTranspose(x, w) is the input-gradient of Conv(y, w): its weight gradient swaps the roles
    const dw = needs[1] ? convWeightGrad(g, x, w.shape, conv) : null;
    const db = b && needs[2] ? reduceSum(g, [0, 2, 3]) : null;
    return b ? [dx, dw, db] : [dx, dw];
  },
});

/**
 * A stride-1 ungrouped ConvTranspose is a Conv with the kernel transposed and flipped and the
 * padding mirrored; ORT's Conv kernel is markedly faster than its ConvTranspose, which matters
 * because every conv's input gradient is one. Returns false where the rewrite does not apply.
 */
function emitAsConv(e: Emitter, ins: readonly string[], outs: readonly string[], a: ConvTransposeAttrs, xShape: readonly number[], wShape: readonly number[]): boolean {
  const [cin, cout, kh, kw] = wShape;
  const pads = [a.dilations[0] * (kh - 1) - a.pads[0], a.dilations[1] * (kw - 1) - a.pads[1], a.dilations[0] * (kh - 1) - a.pads[2] + a.outputPadding[0], a.dilations[1] * (kw - 1) - a.pads[3] + a.outputPadding[1]];
  if (a.group !== 1 || a.strides.some((s) => s !== 1) || pads.some((p) => p < 0)) return false;
  const [wT, wF] = [e.tmp('wT'), e.tmp('wflip')];
  e.node('Transpose', [ins[1]], [wT], { perm: [1, 0, 2, 3] });
  e.node('Slice', [wT, e.ints([-1, -1]), e.ints([-kh - 1, -kw - 1]), e.ints([2, 3]), e.ints([-1, -1])], [wF]);
  emitConvF32(e, [ins[0], wF, ...ins.slice(2)], outs[0], { x: xShape, w: [cout, cin, kh, kw], strides: [1, 1], pads, dilations: a.dilations, group: 1 });
  return true;
}

export interface Conv2dOptions {
  stride?: number | readonly number[];
  /** symmetric [ph, pw] (PyTorch's `padding`) or ONNX's [top, left, bottom, right] */
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

const pair = (v: number | readonly number[] | undefined, d: number): number[] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [...v]);

function normalize(o: Conv2dOptions | Conv2dAttrs): Conv2dAttrs {
  if ('strides' in o) return o;
  const p = pair(o.padding, 0);
  return { strides: pair(o.stride, 1), pads: p.length === 4 ? p : [p[0], p[1], p[0], p[1]], dilations: pair(o.dilation, 1), group: o.groups ?? 1 };
}

/** 2-D convolution like torch.nn.functional.conv2d. */
export function conv2d(x: Value, w: Value, b: Value | null, opts: Conv2dOptions | Conv2dAttrs = {}): Value {
  return convOp(b ? [x, w, b] : [x, w], normalize(opts))[0];
}

/** 2-D transposed convolution like torch.nn.functional.conv_transpose2d (weight [Cin, Cout/groups, kh, kw]). */
export function convTranspose(x: Value, w: Value, b: Value | null, opts: (Conv2dOptions & { outputPadding?: number | readonly number[] }) | ConvTransposeAttrs = {}): Value {
  const base = normalize(opts);
  const outputPadding = 'outputPadding' in opts && opts.outputPadding !== undefined ? pair(opts.outputPadding, 0) : [0, 0];
  return convTransposeOp(b ? [x, w, b] : [x, w], { ...base, outputPadding })[0];
}
