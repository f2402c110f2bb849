/**
 * Inference: the eval-mode graph with weights baked in as initializers (so ONNX Runtime
 * prepacks them and fuses Conv+BN+ReLU), run by onnxruntime-node or saved as a .onnx file.
 */
import { writeFileAtomic } from '#platform/runtime';
import { HostTensor } from '../graph/ir.js';
import { writeOnnx } from '../onnx/write.js';
import { foldConvBatchNorms } from '../onnx/fold.js';
import { Module } from '../nn/module.js';
import { Trace, traceWith } from '../nn/trace.js';
import { SessionOptions, createSession, fromOrt, ort, toOrt } from './ort.js';

export interface ExportOptions {
  /** [N, C, H, W]; N is exported as a dynamic "batch" dimension when `dynamicBatch` */
  readonly inputShape: readonly number[];
  readonly dynamicBatch?: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
  /** 'float64' computes in double (reference-precision checks) */
  readonly precision?: 'float32' | 'float64';
  /** fold each eval-mode BatchNorm that directly follows a Conv into the conv's weight and bias */
  readonly foldBatchNorms?: boolean;
  /** the ONNX opset to write, 13..17 (default 17) */
  readonly opset?: number;
}

/** ONNX bytes of `model`'s eval-mode forward pass (input "input", output "logits"). */
export function exportInferenceOnnx(model: Module, opts: ExportOptions): Uint8Array {
  const wasTraining = model.training;
  model.eval();
  try {
    const trace = new Trace(model, { weights: 'constants', precision: opts.precision });
    const logits = traceWith(trace, () => model.call(trace.graph.addInput('input', opts.inputShape, trace.floatType)));
    if (opts.foldBatchNorms) foldConvBatchNorms(trace.graph, [logits]);
    return writeOnnx(trace.graph, [{ name: 'logits', value: logits }], { dynamicBatch: opts.dynamicBatch, metadata: opts.metadata, opset: opts.opset });
  } finally {
    model.train(wasTraining);
  }
}

/** Writes the inference graph to `path` (through a temporary file, then renamed). */
export function saveOnnx(model: Module, path: string, opts: ExportOptions): void {
  writeFileAtomic(path, exportInferenceOnnx(model, opts));
}

/**
 * A compiled eval-mode model.
 *
 * @example
 * const net = await InferenceModel.create(createModel('cifar_resnet18'), { inputShape: [2, 3, 32, 32] });
 * const batch = new Float32Array(2 * 3 * 32 * 32); // NCHW, normalized pixels
 * const logits = await net.run({ dtype: 'float32', shape: [2, 3, 32, 32], data: batch });
 * logits.shape; // → [2, 10]
 */
export class InferenceModel {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly inputShape: readonly number[],
  ) {}

  static async create(model: Module, opts: ExportOptions & SessionOptions): Promise<InferenceModel> {
    const bytes = exportInferenceOnnx(model, opts);
    return new InferenceModel(await createSession(bytes, opts), opts.inputShape);
  }

  async run(input: HostTensor): Promise<HostTensor> {
    const out = await this.session.run({ input: toOrt(input) });
    return fromOrt(out.logits);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
