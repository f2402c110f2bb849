/** PyTorch parity on every reference fixture (test-support/fixture-cases.ts), part 1 of 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OWN_FIXTURES, fixturesWithoutCase, registerParityTests } from '../test-support/fixture-cases.js';
import { SHARED_FIXTURES } from '../test-support/fixtures.js';

registerParityTests(0, 2);

test('every model fixture, shared or own, has a parity case', () => {
  assert.deepEqual([...fixturesWithoutCase(SHARED_FIXTURES, false), ...fixturesWithoutCase(OWN_FIXTURES, true)], []);
});
