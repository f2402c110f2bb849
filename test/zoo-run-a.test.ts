/** The registry-driven run check (test-support/zoo-run.ts), part 1 of 2: every other config by name. */
import { registerZooRunTests } from '../test-support/zoo-run.js';

registerZooRunTests(0, 2);
