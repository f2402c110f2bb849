/** The registry-driven run check (test-support/zoo-run.ts), part 2 of 2: every other config by name. */
import { registerZooRunTests } from '../test-support/zoo-run.js';

registerZooRunTests(1, 2);
