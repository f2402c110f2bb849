/** Constant values in the active graph. */
import { DType, HostTensor, TypedData, Value, currentGraph } from './ir.js';

export function typedArrayFor(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
    case 'uint8':
      return new Uint8Array(n);
  }
}

/** A host tensor filled from plain numbers. */
export function hostTensor(dtype: DType, shape: readonly number[], values: readonly number[]): HostTensor {
  const data = typedArrayFor(dtype, values.length);
  if (data instanceof BigInt64Array) values.forEach((v, i) => (data[i] = BigInt(v)));
  else values.forEach((v, i) => (data[i] = v));
  return { dtype, shape: [...shape], data };
}

/** A scalar (rank 0) constant in the active graph. */
export function scalar(value: number, dtype: DType = 'float32'): Value {
  return currentGraph().addConst(hostTensor(dtype, [], [value]));
}

/** A constant tensor in the active graph. */
export function constant(t: HostTensor, nameHint: string | null = null): Value {
  return currentGraph().addConst(t, nameHint);
}
