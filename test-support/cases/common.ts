/**
 * Shared pieces of the gradient-check case tables (test-support/cases/*): input generators, the
 * dtypes the conv/pool/norm/linalg cases run in, and the forward check against a plain-JS reference.
 */
import assert from 'node:assert/strict';
import { RunResult, assertClose, uniform, valuesOf } from '../gradcheck.js';

// ---- input generators -------------------------------------------------------------------------

/** away from zero: for kinks at 0 and for divisors */
export const nonZero = uniform(-2, 2, [0], 0.2);
export const positive = uniform(0.2, 3);
export const labels = (classes: number) => (rand: () => number) => Math.floor(rand() * classes);
export const bits = (rand: () => number) => (rand() < 0.5 ? 1 : 0);

// ---- plain-JS references ------------------------------------------------------------------------

export type Dt = 'float32' | 'float64';
export const DTYPES: readonly Dt[] = ['float32', 'float64'];

export interface Ref {
  readonly shape: number[];
  readonly data: number[];
}

/** forward check of output 0 against a reference computed from the inputs' values */
export const refCheck =
  (dtype: Dt, ref: (ins: number[][]) => Ref) =>
  (r: RunResult) => {
    const want = ref(r.inputs.map(valuesOf));
    assert.deepEqual(r.outputs[0].shape, want.shape, 'forward shape');
    if (dtype === 'float64') assertClose(valuesOf(r.outputs[0]), want.data, 'forward', 1e-9, 1e-12);
    else assertClose(valuesOf(r.outputs[0]), want.data, 'forward', 1e-4, 1e-4);
  };
