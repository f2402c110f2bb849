/**
 * The contract between `importOnnx` (import.ts) and its op table (import-ops.ts,
 * import-ops-nn.ts): the context an op entry gets for one node, the entry's shape, and two
 * helpers every entry uses.
 */
import { DType, Value } from '../graph/ir.js';
import { HostArray, Operand } from './import-host.js';
import { OnnxNode } from './read.js';

/** What an op entry gets for one node while tracing. */
export interface OnnxOpContext {
  readonly node: OnnxNode;
  /** the model's default-domain opset (attributes moved to inputs over the versions) */
  readonly opset: number;
  /** the module's mode: BatchNormalization and Dropout behave differently in training */
  readonly training: boolean;
  /** the traced model's float dtype (float64 in reference-precision traces) */
  readonly floatType: DType;
  /** the batch size the graph input declares (null when symbolic) and the one being traced */
  readonly batch: { readonly declared: number | null; readonly traced: number };
  /** the graph value of an operand (host arrays become constants) */
  value(o: Operand): Value;
  /** an operand that must be known while tracing; `what` names it in the error */
  host(o: Operand | null, what: string): HostArray;
  has(attribute: string): boolean;
  int(attribute: string, fallback?: number): number;
  ints(attribute: string, fallback?: readonly number[]): readonly number[];
  /** a float attribute, read back as the shortest decimal that its float32 value rounds from */
  float(attribute: string, fallback?: number): number;
  floats(attribute: string, fallback?: readonly number[]): readonly number[];
  string(attribute: string, fallback?: string): string;
  tensor(attribute: string): HostArray | null;
  /** records the value the buffer behind input `index` takes after a training step */
  updateBuffer(index: number, v: Value): void;
}

/** How one ONNX op type maps onto the IR. */
export interface OnnxOpImpl {
  /** input positions that must be known at trace time: initializers there stay host constants */
  readonly hostInputs?: readonly number[];
  /** input positions holding running statistics: float initializers there become buffers */
  readonly bufferInputs?: readonly number[];
  /** one operand per node output (trailing optional outputs may be left out) */
  run(ctx: OnnxOpContext, inputs: readonly (Operand | null)[]): Operand[];
}

/** input `i`, which the op requires */
export function need(inputs: readonly (Operand | null)[], i: number, what = `input ${i}`): Operand {
  const v = inputs[i];
  if (v === null || v === undefined) throw new Error(`${what} is missing`);
  return v;
}

/** an integer list from an input (newer opsets) or else an attribute (older ones); null when neither is given */
export function intsFrom(ctx: OnnxOpContext, o: Operand | null | undefined, attribute: string, what: string): readonly number[] | null {
  if (o) return ctx.host(o, what).values;
  return ctx.has(attribute) ? ctx.ints(attribute) : null;
}
