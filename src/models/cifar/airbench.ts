/**
 * airbench (Keller Jordan, cifar10-airbench: legacy/airbench94.py and legacy/airbench96.py), the
 * fastest known CIFAR-10 nets, with airbench's structure and state-dict names (an nn.Sequential:
 * `0` the whitening conv, `2`–`4` the conv groups, `7` the head):
 *
 * - a 2×2 whitening conv, 3 → 24 channels, no padding, with a bias; its weight is frozen
 *   (`requiresGrad = false`) and set from the training images' patch covariance
 *   (src/models/cifar/whitening.ts);
 * - three conv groups: conv 3×3 → max-pool 2 → BatchNorm → GELU → conv → BatchNorm → GELU; the
 *   96 variant adds a third conv and BatchNorm and a residual from the first GELU's output,
 *   added before the last GELU;
 * - max-pool 3, flatten, a bias-free linear head, and the logits scaled by 1/9.
 *
 * Convs have no bias except the whitening conv's (zeroed); the first `inChannels` filters of
 * every conv start as the identity (torch.nn.init.dirac_), the others keep PyTorch's default.
 * BatchNorm scales are frozen at 1 (counted as parameters, as in airbench); airbench94's
 * BatchNorm momentum is 0.6 in airbench's sense, the weight of the running statistics (PyTorch
 * momentum 0.4); airbench96 keeps PyTorch's default (0.1). airbench's BatchNorm eps is 1e-12,
 * which gives NaN in float32 on a CPU: the configs use {@link AIRBENCH_EPS} (1e-5), and the
 * builders take `eps` to choose another. bench/airbench_torch.py is the PyTorch transcription.
 *
 * @example
 * import { createModel } from 'tessera';
 * const net = createModel('cifar_airbench94');
 * net.parameterCount(); // → 1972792
 * [...net.stateDict().keys()].slice(0, 3); // → ['0.weight', '0.bias', '2.conv1.weight']
 */
import { Value } from '../../graph/ir.js';
import { BatchNorm2d, Conv2d, Flatten, GELU, Lambda, Linear, MaxPool2d } from '../../nn/layers.js';
import { Module, Parameter, Sequential } from '../../nn/module.js';
import { add, mul } from '../../ops/elementwise.js';
import { arg, defineFamily, isNumber } from '../registry.js';

/** the whitening conv's kernel side (2×2 patches) */
export const WHITEN_KERNEL = 2;
/** the whitening conv's width: the 12 eigenvectors of the 2×2×3 patch covariance and their negatives */
export const WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL ** 2;
/** the BatchNorm eps of the configs (airbench's 1e-12 gives NaN in float32 on a CPU) */
export const AIRBENCH_EPS = 1e-5;

/** One airbench variant's shape. */
export interface AirbenchConfig {
  /** the three conv groups' widths */
  readonly widths: readonly [number, number, number];
  /** 2: two convs per group (airbench94); 3: three, with a residual over the last two (airbench96) */
  readonly depth: 2 | 3;
  /** BatchNorm momentum in airbench's sense: the weight of the running statistics */
  readonly batchnormMomentum: number;
  /** the logits' scale */
  readonly scalingFactor: number;
}

export const AIRBENCH_CONFIGS = {
  airbench94: { widths: [64, 256, 256], depth: 2, batchnormMomentum: 0.6, scalingFactor: 1 / 9 },
  airbench96: { widths: [128, 384, 512], depth: 3, batchnormMomentum: 0.9, scalingFactor: 1 / 9 },
} as const satisfies Record<string, AirbenchConfig>;

/** The first min(out, in) filters become the identity at the kernel centre (torch.nn.init.dirac_ on `weight[:in]`). */
function diracStart(weight: Parameter): void {
  const [outC, inC, kh, kw] = weight.shape;
  const filter = inC * kh * kw;
  const centre = Math.floor(kh / 2) * kw + Math.floor(kw / 2);
  for (let d = 0; d < Math.min(outC, inC); d++) {
    weight.data.fill(0, d * filter, (d + 1) * filter);
    weight.data[d * filter + d * kh * kw + centre] = 1;
  }
}

/** airbench's Conv: 'same' padding for odd kernels by default, no bias by default (a bias starts at zero), dirac start. */
export class Conv extends Conv2d {
  constructor(inChannels: number, outChannels: number, kernelSize = 3, opts: { padding?: number; bias?: boolean } = {}) {
    super(inChannels, outChannels, kernelSize, { padding: opts.padding ?? (kernelSize - 1) / 2, bias: opts.bias ?? false });
    this.bias?.data.fill(0);
    diracStart(this.weight);
  }
}

/** airbench's BatchNorm: the scale frozen at 1, the bias trained; `momentum` in airbench's sense. */
export class BatchNorm extends BatchNorm2d {
  constructor(numFeatures: number, momentum: number, eps: number) {
    super(numFeatures, { eps, momentum: 1 - momentum });
    if (this.weight) this.weight.requiresGrad = false;
  }
}

/** Multiplies by a constant (airbench's `Mul`, the logits' 1/9). */
export class Mul extends Lambda {
  constructor(readonly scale: number) {
    super('Mul', (x) => mul(x, scale));
  }
}

/** conv → pool → norm → GELU → conv → norm → GELU; with depth 3 a third conv and norm, and a residual before the last GELU. */
export class ConvGroup extends Module {
  conv1: Conv;
  pool = new MaxPool2d(2);
  norm1: BatchNorm;
  conv2: Conv;
  norm2: BatchNorm;
  conv3: Conv | null;
  norm3: BatchNorm | null;
  activ = new GELU();

  constructor(channelsIn: number, channelsOut: number, depth: 2 | 3, momentum: number, eps: number) {
    super();
    this.conv1 = new Conv(channelsIn, channelsOut);
    this.norm1 = new BatchNorm(channelsOut, momentum, eps);
    this.conv2 = new Conv(channelsOut, channelsOut);
    this.norm2 = new BatchNorm(channelsOut, momentum, eps);
    this.conv3 = depth === 3 ? new Conv(channelsOut, channelsOut) : null;
    this.norm3 = depth === 3 ? new BatchNorm(channelsOut, momentum, eps) : null;
  }

  forward(x: Value): Value {
    const first = this.activ.call(this.norm1.call(this.pool.call(this.conv1.call(x))));
    const second = this.activ.call(this.norm2.call(this.conv2.call(first)));
    if (!this.conv3 || !this.norm3) return second;
    return this.activ.call(add(this.norm3.call(this.conv3.call(second)), first));
  }
}

/** airbench's `make_net()`: the nn.Sequential of the whitening conv, GELU, three conv groups, pool, flatten, head and scale. */
export class Airbench extends Sequential {
  constructor(
    readonly config: AirbenchConfig,
    opts: { numClasses?: number; eps?: number } = {},
  ) {
    const [w1, w2, w3] = config.widths;
    const eps = opts.eps ?? AIRBENCH_EPS;
    const group = (cin: number, cout: number) => new ConvGroup(cin, cout, config.depth, config.batchnormMomentum, eps);
    const whiten = new Conv(3, WHITEN_WIDTH, WHITEN_KERNEL, { padding: 0, bias: true });
    whiten.weight.requiresGrad = false;
    super(whiten, new GELU(), group(WHITEN_WIDTH, w1), group(w1, w2), group(w2, w3), new MaxPool2d(3), new Flatten(), new Linear(w3, opts.numClasses ?? 10, { bias: false }), new Mul(config.scalingFactor));
  }

  /** the whitening conv (`0`), whose weight `whiteningWeights` sets and whose bias trains for the first epochs only */
  get whiten(): Conv {
    const first = this.at(0);
    if (!(first instanceof Conv)) throw new Error('Airbench: module 0 is not the whitening conv');
    return first;
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'airbench',
  source: 'airbench',
  year: 2024,
  paper: '94% on CIFAR-10 in 3.29 Seconds on a Single GPU',
  inputSize: 32,
  // 25 to 48 pixels leave the final max-pool a 1×1 output, which the head's width assumes
  minInputSize: 25,
  numClasses: 10,
  builderArgs: ['eps'],
  configs: Object.entries(AIRBENCH_CONFIGS).map(([reference, config]) => ({
    name: `cifar_${reference}`,
    reference,
    notInZoo: 'airbench is not a zoo_params.json reference; test/airbench.test.ts asserts its counts (bench/airbench_torch.py --count)',
    build: (args) => new Airbench(config, { numClasses: args.numClasses, eps: arg(args, 'eps', AIRBENCH_EPS, (v): v is number => isNumber(v) && v > 0, 'a positive number') }),
  })),
});
