/**
 * Inference: the eval-mode graph with weights baked in as initializers (so ONNX Runtime
 * prepacks them and fuses Conv+BN+ReLU), run by onnxruntime-node or saved as a .onnx file.
 */
import { basename, stageOnnxFiles } from '#platform/runtime';
import { HostTensor } from '../graph/ir.js';
import { singleFile, writeOnnxFiles } from '../onnx/write.js';
import { ExternalDataOptions, OnnxFiles } from '../onnx/external-data.js';
import { foldConvBatchNorms } from '../onnx/fold.js';
import { Module } from '../nn/module.js';
import { Trace, traceWith } from '../nn/trace.js';
import { SessionOptions, createSession, fromOrt, ort, toOrt } from './ort.js';

export interface ExportOptions extends ExternalDataOptions {
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

/**
 * ONNX bytes of `model`'s eval-mode forward pass (input "input", output "logits"); a model whose
 * weights one file cannot hold (over about 1.8 GB) is refused: see `exportInferenceFiles`.
 */
export function exportInferenceOnnx(model: Module, opts: ExportOptions): Uint8Array {
  return singleFile(exportInferenceFiles(model, opts));
}

/**
 * `model`'s eval-mode forward pass as an ONNX model and, where its weights exceed
 * `externalDataThreshold` (default about 1.8 GB; ONNX files cannot exceed 2 GB), the external
 * data file (named `externalDataLocation`, default model.onnx.data) its large weights go to.
 *
 * @example
 * const files = exportInferenceFiles(createModel('cifar_lenet'), { inputShape: [1, 3, 32, 32], externalDataThreshold: 0 });
 * files.externalData?.location; // → 'model.onnx.data'
 * files.externalData?.pieces.length; // → 5
 */
export function exportInferenceFiles(model: Module, opts: ExportOptions): OnnxFiles {
  const wasTraining = model.training;
  model.eval();
  try {
    const trace = new Trace(model, { weights: 'constants', precision: opts.precision });
    const logits = traceWith(trace, () => model.call(trace.graph.addInput('input', opts.inputShape, trace.floatType)));
    if (opts.foldBatchNorms) foldConvBatchNorms(trace.graph, [logits]);
    const { dynamicBatch, metadata, opset, externalDataThreshold, externalDataLocation } = opts;
    return writeOnnxFiles(trace.graph, [{ name: 'logits', value: logits }], { dynamicBatch, metadata, opset, externalDataThreshold, externalDataLocation });
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Writes the inference graph to `path` (through a temporary file, then renamed); a model over the
 * external-data threshold also writes its weights to `path`.data beside it (both or neither).
 */
export function saveOnnx(model: Module, path: string, opts: ExportOptions): void {
  const staged = stageOnnxFiles(path, exportInferenceFiles(model, { externalDataLocation: `${basename(path)}.data`, ...opts }));
  try {
    staged.commit();
  } finally {
    staged.discard();
  }
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
    return new InferenceModel(await createSession(exportInferenceFiles(model, opts), opts), opts.inputShape);
  }

  async run(input: HostTensor): Promise<HostTensor> {
    const out = await this.session.run({ input: toOrt(input) });
    return fromOrt(out.logits);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
