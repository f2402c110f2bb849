/**
 * A Triton Inference Server model repository for an exported classifier:
 *
 *     DIR/NAME/config.pbtxt     the ONNX Runtime backend, max_batch_size, dynamic_batching, the
 *                               input `input` (FP32, NCHW, dims without the batch) and the output
 *                               `logits` with `label_filename` (Triton's classification extension)
 *     DIR/NAME/labels.txt       one class name a line, in logit order
 *     DIR/NAME/1/model.onnx     the ONNX file with a dynamic batch dimension
 *
 * The files are staged beside their destinations and renamed into place together on commit; a
 * discard removes the staged files and the folders this write created.
 */
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { AtomicWriteOptions, StagedFile, makeDirs, stageFile } from '../util/files.js';

/** What config.pbtxt says about the model. */
export interface TritonModelSpec {
  /** the model's name in Triton: its folder and `name:` */
  readonly name: string;
  /** class names in logit order (labels.txt) */
  readonly classes: readonly string[];
  readonly imageSize: number;
  /** `max_batch_size` (the ONNX batch dimension is dynamic) */
  readonly maxBatch: number;
  /** `dynamic_batching { max_queue_delay_microseconds }`, in milliseconds */
  readonly maxDelayMs: number;
}

/** The ONNX graph's input and output names, as `exportInferenceOnnx` writes them (src/runtime/inference.ts). */
const ONNX_INPUT = 'input';
const ONNX_OUTPUT = 'logits';
const LABELS_FILE = 'labels.txt';

/**
 * The config.pbtxt text (protobuf text format of Triton's `ModelConfig`) for a classifier.
 *
 * @example
 * tritonConfig({ name: 'resnet18', classes: ['cat', 'dog'], imageSize: 224, maxBatch: 32, maxDelayMs: 5 }).split('\n')[0]; // → 'name: "resnet18"'
 */
export function tritonConfig(spec: TritonModelSpec): string {
  const delayMicroseconds = Math.round(spec.maxDelayMs * 1000);
  return [
    `name: ${quote(spec.name)}`,
    'platform: "onnxruntime_onnx"',
    'backend: "onnxruntime"',
    `max_batch_size: ${spec.maxBatch}`,
    'input [',
    '  {',
    `    name: ${quote(ONNX_INPUT)}`,
    '    data_type: TYPE_FP32',
    '    format: FORMAT_NCHW',
    `    dims: [ 3, ${spec.imageSize}, ${spec.imageSize} ]`,
    '  }',
    ']',
    'output [',
    '  {',
    `    name: ${quote(ONNX_OUTPUT)}`,
    '    data_type: TYPE_FP32',
    `    dims: [ ${spec.classes.length} ]`,
    `    label_filename: ${quote(LABELS_FILE)}`,
    '  }',
    ']',
    'dynamic_batching {',
    `  max_queue_delay_microseconds: ${delayMicroseconds}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Stages `DIR/NAME/{config.pbtxt, labels.txt, 1/model.onnx}`; `tmp` is the staged ONNX file (for
 * a check before commit). A class name with a line break, or a model name that is not a plain
 * folder name, is a `UserError`.
 *
 * @example
 * const staged = stageTritonRepository('/tmp/tessera-triton', { name: 'lenet', classes: ['a', 'b'], imageSize: 32, maxBatch: 8, maxDelayMs: 5 }, onnxBytes);
 * try {
 *   staged.commit(); // /tmp/tessera-triton/lenet/1/model.onnx, config.pbtxt, labels.txt
 * } finally {
 *   staged.discard();
 * }
 */
export function stageTritonRepository(dir: string, spec: TritonModelSpec, onnx: Uint8Array, io: AtomicWriteOptions = {}): StagedFile {
  if (!/^[A-Za-z0-9_.-]+$/.test(spec.name) || /^\.+$/.test(spec.name)) throw new UserError(`--triton: the model name "${spec.name}" is not a plain folder name (letters, digits, _ . -)`);
  const broken = spec.classes.find((c) => /[\r\n]/.test(c));
  if (broken !== undefined) throw new UserError(`--triton: class name ${JSON.stringify(broken)} holds a line break; labels.txt has one class a line`);
  const modelDir = join(dir, spec.name);
  const versionDir = join(modelDir, '1');
  const undoDirs = makeDirs(versionDir);
  const files: StagedFile[] = [];
  const discard = () => {
    for (const f of files) f.discard();
    undoDirs();
  };
  try {
    files.push(stageFile(join(versionDir, 'model.onnx'), onnx, io));
    files.push(stageFile(join(modelDir, 'config.pbtxt'), tritonConfig(spec), io));
    files.push(stageFile(join(modelDir, LABELS_FILE), `${spec.classes.join('\n')}\n`, io));
  } catch (e) {
    discard();
    throw e;
  }
  let committed = false;
  return {
    tmp: files[0].tmp,
    commit: () => {
      for (const f of files) f.commit();
      committed = true;
    },
    discard: () => {
      if (!committed) discard();
    },
  };
}

/** a protobuf text-format string literal */
function quote(s: string): string {
  return JSON.stringify(s);
}
