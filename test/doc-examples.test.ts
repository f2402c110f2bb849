/**
 * Every `@example` on an export of src/index.ts compiles against the built package and runs
 * (test-support/doc-examples.ts says how they are found and what `// →` and `// prints` assert).
 * An example that drifts from the code fails here.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { collectDocExamples, compileDocExamples, exampleDir, runDocExample } from '../test-support/doc-examples.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const examples = collectDocExamples(ROOT);
const scratch = exampleDir(ROOT);
after(() => scratch.dispose());
const compiled = compileDocExamples(examples, ROOT, scratch.dir);

test('the public API has examples to run', () => {
  assert.ok(examples.length >= 20, `only ${examples.length} @example tags found on the exports of src/index.ts`);
});

/** an example shows the API on small inputs: seconds, not minutes (this also stops one that hangs) */
const EXAMPLE_TIMEOUT_MS = 60_000;

examples.forEach((ex, i) => {
  test(`@example of ${ex.name} (${ex.file}:${ex.line})`, { timeout: EXAMPLE_TIMEOUT_MS }, async () => {
    const { completed } = await runDocExample(compiled[i]);
    assert.ok(completed, `${ex.file}:${ex.line}: the example did not run to its end`);
  });
});
