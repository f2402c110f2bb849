/**
 * The KServe v2 / Open Inference Protocol (JSON, REST): model metadata, and checking an infer
 * request (one FP32 NCHW tensor named "input") and writing its answer (the "logits" tensor, or
 * with the classification extension the top K classes as BYTES "score:index:label").
 */
import { HttpError } from './limits.js';

/** What the protocol tells about the served model. */
export interface ModelSignature {
  readonly name: string;
  readonly size: number;
  readonly classes: readonly string[];
}

/** `GET /v2/models/NAME`. */
export function modelMetadata(m: ModelSignature): object {
  return {
    name: m.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, m.size, m.size] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, m.classes.length] }],
  };
}

/** A checked infer request: n images of input floats, and the classes per image to answer (0: the logits). */
export interface InferRequest {
  readonly id: string | undefined;
  readonly n: number;
  readonly data: Float32Array;
  readonly classification: number;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string) => new HttpError(400, message);

/**
 * Checks an infer request's JSON (already parsed) against the model: exactly one input, named
 * "input", datatype FP32, shape [N, 3, size, size] with N from 1 to `maxImages`, N·3·size² finite
 * numbers (flat or nested row-major); outputs, when named, only "logits"; the classification
 * extension's K (in the output's or the request's parameters) from 1 to the number of classes.
 *
 * @example
 * const r = parseInferRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 1, 1], data: [0, 0, 0] }] }, { name: 'm', size: 1, classes: ['a', 'b'] }, 8);
 * r.n; // → 1
 */
export function parseInferRequest(body: Json, m: ModelSignature, maxImages: number): InferRequest {
  if (!isObject(body)) throw bad('the request must be a JSON object with "inputs"');
  const { inputs, outputs, parameters, id } = body;
  if (!Array.isArray(inputs) || inputs.length !== 1) throw bad('"inputs" must hold exactly one tensor, named "input"');
  const input = inputs[0];
  if (!isObject(input)) throw bad('inputs[0] must be an object with name, datatype, shape and data');
  if (input.name !== 'input') throw bad(`inputs[0].name is ${JSON.stringify(input.name)}; this model's input is named "input"`);
  if (input.datatype !== 'FP32') throw bad(`inputs[0].datatype is ${JSON.stringify(input.datatype)}; this model takes "FP32"`);
  const n = checkShape(input.shape, m.size, maxImages);
  const data = flatData(input.data, n * 3 * m.size * m.size);
  const classification = classesAsked(outputs, parameters, m.classes.length);
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  return { id, n, data, classification };
}

function checkShape(shape: Json | undefined, size: number, maxImages: number): number {
  const want = `[N, 3, ${size}, ${size}]`;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d))) throw bad(`inputs[0].shape must be ${want} (whole numbers)`);
  const [n, c, h, w] = shape.map(Number);
  if (c !== 3 || h !== size || w !== size) throw bad(`inputs[0].shape is ${JSON.stringify(shape)}; this model takes ${want}`);
  if (n < 1) throw bad(`inputs[0].shape: N is ${n}; send at least one image`);
  if (n > maxImages) throw new HttpError(413, `inputs[0].shape: N is ${n}; the server takes at most ${maxImages} images per request (--max-queue)`);
  return n;
}

/** the tensor's numbers, flat or nested, checked to be `count` finite numbers */
function flatData(data: Json | undefined, count: number): Float32Array {
  if (!Array.isArray(data)) throw bad('inputs[0].data must be an array of numbers');
  const out = new Float32Array(count);
  let filled = 0;
  const walk = (v: Json[], depth: number): void => {
    if (depth > 4) throw bad('inputs[0].data is nested deeper than its shape');
    for (const x of v) {
      if (Array.isArray(x)) walk(x, depth + 1);
      else if (typeof x !== 'number' || !Number.isFinite(x)) throw bad(`inputs[0].data holds ${JSON.stringify(x)}; FP32 data must be numbers`);
      else if (filled >= count) throw bad(`inputs[0].data holds more than the ${count} numbers its shape gives`);
      else out[filled++] = x;
    }
  };
  walk(data, 1);
  if (filled !== count) throw bad(`inputs[0].data holds ${filled} numbers; its shape gives ${count}`);
  return out;
}

function classesAsked(outputs: Json | undefined, parameters: Json | undefined, numClasses: number): number {
  const ks: Json[] = [];
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw bad('"outputs" must be an array');
    for (const o of outputs) {
      if (!isObject(o) || o.name !== 'logits') throw bad(`outputs: ${JSON.stringify(isObject(o) ? o.name : o)} is not an output of this model; its output is "logits"`);
      if (isObject(o.parameters) && o.parameters.classification !== undefined) ks.push(o.parameters.classification);
    }
  }
  if (isObject(parameters) && parameters.classification !== undefined) ks.push(parameters.classification);
  if (ks.length === 0) return 0;
  const k = ks[0];
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1 || k > numClasses) throw bad(`classification ${JSON.stringify(k)}: expected a whole number from 1 to ${numClasses} (the model's classes)`);
  return k;
}

/** The classes of one row of scores, best first (ties: the lower index), at most k. */
export function topClasses(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b] - scores[a] || a - b).slice(0, k);
}

/**
 * The infer answer for `logits` (n × classes): the FP32 logits, or with `classification` K the
 * BYTES tensor [n, K] of "score:index:label" strings (Triton's and KServe's classification format,
 * the score being the logit).
 *
 * @example
 * inferResponse({ name: 'm', size: 1, classes: ['a', 'b'] }, { id: 'x', n: 1, data: new Float32Array(3), classification: 1 }, Float32Array.of(0, 2)).outputs[0].data; // → ['2:1:b']
 */
export function inferResponse(m: ModelSignature, req: InferRequest, logits: Float32Array) {
  const C = m.classes.length;
  const head = { model_name: m.name, model_version: '1', ...(req.id === undefined ? {} : { id: req.id }) };
  if (!req.classification) return { ...head, outputs: [{ name: 'logits', datatype: 'FP32', shape: [req.n, C], data: Array.from(logits) }] };
  const data: string[] = [];
  for (let i = 0; i < req.n; i++) {
    const row = logits.subarray(i * C, (i + 1) * C);
    for (const c of topClasses(row, req.classification)) data.push(`${row[c]}:${c}:${m.classes[c]}`);
  }
  return { ...head, outputs: [{ name: 'logits', datatype: 'BYTES', shape: [req.n, req.classification], data }] };
}
