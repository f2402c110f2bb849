/**
 * `tessera export --checkpoint RUN|FILE --out model.onnx [--opset 13..17] [--image-size S] [--model NAME]`:
 * writes a checkpoint's inference graph as a self-contained ONNX file (weights as initializers,
 * dynamic batch dimension, every BatchNorm that directly follows a Conv folded into it; a model
 * over ONNX's 2 GB limit, such as vit_h_14, keeps its weights in MODEL.onnx.data beside it) with the
 * preprocessing in its metadata, then checks a fresh ONNX Runtime session on the written file
 * against Tessera's unfolded InferenceModel (opset 17) on a random batch of 2. Below opset 17
 * LayerNormalization, and below 14 HardSwish, are written as their decompositions.
 */
import { CHECKPOINT_FORMAT, loadCheckpoint, readCheckpointFile, resolveCheckpoint } from '../train/checkpoint.js';
import { tesseraVersion } from '../train/trainer.js';
import { checkpointWeights } from '../train/ema.js';
import { CIFAR10_MEAN, CIFAR10_STD } from '../data/types.js';
import { HostTensor } from '../graph/ir.js';
import { createModel, modelInfo } from '../models/index.js';
import { checkpointModel } from '../train/run-model.js';
import { Module } from '../nn/module.js';
import { MIN_OPSET, OPSET } from '../onnx/write.js';
import { InferenceModel, exportInferenceFiles } from '../runtime/inference.js';
import { fromOrt, ort, toOrt } from '../runtime/ort.js';
import { CliCommand, UsageError, defineCommand, flagName, readCommandLine } from './args.js';
import { AtomicWriteOptions, StagedFile } from '../util/files.js';
import { stageTritonRepository } from '../export/triton.js';
import { WebModel, exportWebCommand } from '../web/export-web.js';
import { stageOnnxFiles } from '../onnx/onnx-files.js';
import { basename } from 'node:path';

/** How `tessera export` is called: its options, help and checks. */
export const EXPORT = defineCommand({
  name: 'export',
  usage: '--checkpoint RUN|FILE --out MODEL.onnx [options]',
  description: `Writes a checkpoint's inference graph as ONNX (opset ${OPSET} unless --opset says otherwise):
weights as initializers, a dynamic batch dimension, each BatchNorm that directly follows a Conv
folded into the conv, and the preprocessing (mean, std, image size, class names, model name,
tessera version) in the metadata. A fresh ONNX Runtime session on the written file is then
checked against the unfolded model on a random batch of 2. A model whose weights exceed about
1.8 GB (ONNX files cannot exceed 2 GB) keeps them in MODEL.onnx.data beside MODEL.onnx (ONNX's
external data); the two files belong together.`,
  options: {
    checkpoint: {
      kind: 'path',
      placeholder: 'RUN|FILE',
      required: true,
      help: 'a run folder or a .safetensors checkpoint written by tessera train\n(with --model: also a plain safetensors state dict)',
    },
    out: { kind: 'path', placeholder: 'FILE', help: 'the .onnx file to write (atomically: a temporary file, then renamed);\nrequired unless --triton or --web is given' },
    web: { kind: 'path', placeholder: 'DIR', help: 'write a web page folder instead: classify and fine-tune in the browser\n(src/web/export-web.ts; serve it with `node DIR/serve.mjs`)' },
    opset: {
      kind: 'int',
      min: MIN_OPSET,
      max: OPSET,
      default: OPSET,
      placeholder: 'N',
      help: `ONNX opset, ${MIN_OPSET} to ${OPSET} (default ${OPSET}); below 17, LayerNormalization
is written as ReduceMean arithmetic, below 14, HardSwish as
x·HardSigmoid(x)`,
    },
    imageSize: { kind: 'int', min: 1, placeholder: 'S', help: "input height and width (default: the checkpoint's, else the model's)" },
    model: { kind: 'string', placeholder: 'NAME', help: 'the registered model the state dict belongs to' },
    ema: { kind: 'boolean', help: "export the checkpoint's EMA weights (a run trained with --model-ema)" },
    triton: { kind: 'path', placeholder: 'DIR', help: 'also (or instead of --out) write a Triton model repository:\nDIR/NAME/1/model.onnx, DIR/NAME/config.pbtxt (ONNX Runtime backend,\ndynamic batching), DIR/NAME/labels.txt; NAME is the model\'s name' },
    maxBatch: { kind: 'int', min: 1, default: 32, placeholder: 'N', help: "with --triton: config.pbtxt's max_batch_size (default 32)" },
    maxDelayMs: { kind: 'number', min: 0, default: 5, placeholder: 'MS', help: "with --triton: dynamic batching's max queue delay in ms (default 5)" },
  },
  notes: 'exit status: 0 written and checked, 1 the check failed (nothing written), 2 usage or input error',
});

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** the model and its preprocessing, as every export target takes it */
type Loaded = WebModel;

/**
 * Runs `tessera export`; resolves to the exit status. `io` replaces how the file is written
 * (tests inject a full disk); whatever fails, no temporary or partial file is left behind.
 *
 * @example
 * await exportCommand(['--checkpoint', 'runs/a', '--out', 'a.onnx']);
 */
export async function exportCommand(argv: readonly string[], io: AtomicWriteOptions = {}): Promise<number> {
  const parsed = readCommandLine(EXPORT, argv);
  if (!parsed) return 0;
  const { checkpoint: checkpointArg, out, opset, imageSize, model: modelName, ema, triton, maxBatch, maxDelayMs, web } = parsed.opts;
  if (out === undefined && triton === undefined && web === undefined) throw new UsageError('tessera export: --out FILE, --triton DIR or --web DIR is required (see tessera export --help)');
  if (web !== undefined && (out !== undefined || triton !== undefined)) throw new UsageError('tessera export: --web DIR writes a page folder on its own; run --out or --triton in a separate export');
  const tritonSetting = (['maxBatch', 'maxDelayMs'] as const).find((key) => parsed.given.has(key));
  if (triton === undefined && tritonSetting) throw new UsageError(`tessera export: --${flagName(tritonSetting)} sets the Triton config; it needs --triton DIR`);

  const loaded = load(resolveCheckpoint(checkpointArg, 'best'), modelName, imageSize, ema);
  const { model, size } = loaded;
  const metadata: Record<string, string> = {
    model: loaded.name,
    mean: JSON.stringify(loaded.mean),
    std: JSON.stringify(loaded.std),
    image_size: String(size),
    input_layout: 'NCHW float32, RGB pixel/255 normalized with (x - mean) / std',
    classes: JSON.stringify(loaded.classes),
    num_classes: String(loaded.classes.length),
    tessera_version: tesseraVersion(),
    batchnorm_folded: 'true',
  };
  if (web !== undefined) return exportWebCommand(loaded, web, metadata);
  const externalDataLocation = `${out === undefined ? 'model.onnx' : basename(out)}.data`;
  const files = exportInferenceFiles(model, { inputShape: [1, 3, size, size], dynamicBatch: true, foldBatchNorms: true, metadata, opset, externalDataLocation });
  const bytes = files.model;
  const data = files.externalData;
  if (data && triton !== undefined) throw new UsageError(`tessera export: ${loaded.name}'s weights take ${(data.size / 1e9).toFixed(2)} GB, over ONNX's 2 GB single-file limit; --triton writes single-file models only: use --out`);
  const bnLeft = countBatchNorms(bytes);

  const staged: StagedFile[] = [];
  try {
    if (out !== undefined) staged.push(stageOnnxFiles(out, files, io));
    if (triton !== undefined) {
      const spec = { name: loaded.name, classes: loaded.classes, imageSize: size, maxBatch, maxDelayMs };
      staged.push(stageTritonRepository(triton, spec, bytes, io));
    }
    const check = await verify(model, staged[0].tmp, size);
    const ok = check.maxDiff <= 1e-4 * check.maxLogit;
    process.stdout.write(
      `check: ONNX Runtime on the written file vs the unfolded model, batch 2: max |diff| ${check.maxDiff.toExponential(3)} ` +
        `(tolerance ${(1e-4 * check.maxLogit).toExponential(3)} = 1e-4 · max |logit| ${check.maxLogit.toFixed(4)}) ${ok ? 'ok' : 'FAILED'}\n`,
    );
    if (!ok) {
      process.stderr.write(`tessera: export check failed: the folded graph's logits differ from the model's; ${[out, triton].filter((p) => p !== undefined).join(' and ')} not written\n`);
      return 1;
    }
    for (const s of staged) s.commit();
  } finally {
    for (const s of staged) s.discard();
  }
  if (triton !== undefined) process.stdout.write(`wrote the Triton model repository ${triton}/${loaded.name} (config.pbtxt: max_batch_size ${maxBatch}, dynamic batching ${maxDelayMs} ms; labels.txt; 1/model.onnx)\n`);
  if (out !== undefined) process.stdout.write(
    `wrote ${out} (${loaded.name}, ${loaded.classes.length} classes, input [batch, 3, ${size}, ${size}], opset ${opset}, ` +
      `${(bytes.length / 1e6).toFixed(2)} MB${bnLeft ? ', BatchNorms not directly after a Conv kept' : ', all BatchNorms folded'})\n`,
  );
  if (out !== undefined && data) process.stdout.write(`wrote ${externalDataLocation} beside it: ${(data.size / 1e6).toFixed(2)} MB of weights as ONNX external data (one ONNX file holds at most 2 GB); keep the two files together\n`);
  return 0;
}

/** the model and its preprocessing, from a training checkpoint or (with --model) a plain state dict */
function load(path: string, modelName: string | undefined, imageSize: number | undefined, ema: boolean): Loaded {
  const file = readCheckpointFile(path);
  if (file.metadata.format === CHECKPOINT_FORMAT) {
    const ckpt = loadCheckpoint(path);
    const { meta } = ckpt;
    if (modelName && modelName !== meta.model) throw new UsageError(`${path} is a ${meta.model} checkpoint, not ${modelName}`);
    const model = checkpointModel(meta);
    model.loadStateDict(checkpointWeights(ckpt, ema));
    return { model, name: meta.model, classes: meta.classes, mean: meta.transform.mean, std: meta.transform.std, size: imageSize ?? meta.transform.size, structure: { modelArgs: meta.modelArgs, linearProbe: meta.linearProbe } };
  }
  if (!modelName) {
    throw new UsageError(`${path} is not a Tessera training checkpoint; pass --model NAME to export a plain state dict`);
  }
  if (ema) throw new UsageError(`${path} is a plain state dict: it holds no EMA weights; leave out --ema`);
  const info = modelInfo(modelName);
  const numClasses = inferNumClasses(createModel(modelName), file.tensors, info.numClasses);
  const model = createModel(modelName, { numClasses });
  model.loadStateDict(file.tensors);
  const cifar = info.source === 'pytorch-cifar';
  // a plain state dict is most likely the reference's weights: their normalization, ImageNet's by default
  return {
    model,
    name: modelName,
    classes: Array.from({ length: numClasses }, (_, i) => String(i)),
    mean: cifar ? [...CIFAR10_MEAN] : [...(info.pretrained?.mean ?? IMAGENET_MEAN)],
    std: cifar ? [...CIFAR10_STD] : [...(info.pretrained?.std ?? IMAGENET_STD)],
    size: imageSize ?? info.inputSize,
  };
}

/** the class count a state dict was trained for: the classifier's rows where they differ from the default */
function inferNumClasses(model: Module, sd: ReadonlyMap<string, HostTensor>, fallback: number): number {
  for (const [k, t] of model.stateDict()) {
    const s = sd.get(k);
    if (!s || s.shape.length !== t.shape.length || t.shape[0] !== fallback || s.shape[0] === fallback) continue;
    if (s.shape.every((d, i) => i === 0 || d === t.shape[i])) return s.shape[0];
  }
  return fallback;
}

/** logits of a fresh ORT session on `path` and of the unfolded InferenceModel on one random batch of 2 */
async function verify(model: Module, path: string, size: number): Promise<{ maxDiff: number; maxLogit: number }> {
  const shape = [2, 3, size, size];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = 0x2545f491;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  const input: HostTensor = { dtype: 'float32', shape, data };
  const reference = await InferenceModel.create(model, { inputShape: shape, threads: 1, optimization: 'disabled' });
  let want: HostTensor;
  try {
    want = await reference.run(input);
  } finally {
    await reference.release();
  }
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  let got: HostTensor;
  try {
    got = fromOrt((await session.run({ input: toOrt(input) })).logits);
  } finally {
    await session.release();
  }
  if (got.data.length !== want.data.length) throw new Error(`exported graph gives ${got.data.length} logits, the model ${want.data.length}`);
  let maxDiff = 0;
  let maxLogit = 0;
  for (let i = 0; i < want.data.length; i++) {
    const a = Number(got.data[i]);
    const b = Number(want.data[i]);
    maxDiff = Math.max(maxDiff, Number.isFinite(a - b) ? Math.abs(a - b) : Infinity);
    maxLogit = Math.max(maxLogit, Math.abs(b));
  }
  return { maxDiff, maxLogit };
}

/** how many times the op type "BatchNormalization" appears in ONNX bytes */
function countBatchNorms(bytes: Uint8Array): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').split('BatchNormalization').length - 1;
}

/** `tessera export` as `main` runs it. */
export const command: CliCommand = { declaration: EXPORT, run: exportCommand };
