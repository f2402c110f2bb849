/** PyTorch parity on every reference fixture (test-support/fixture-cases.ts), part 2 of 2. */
import { registerParityTests } from '../test-support/fixture-cases.js';

registerParityTests(1, 2);
