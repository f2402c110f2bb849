/**
 * `tessera export --triton DIR`: a Triton model repository. config.pbtxt parses strictly as
 * protobuf text format against Triton's ModelConfig fields and types (test-support/pbtxt.ts)
 * and says what the ONNX file is (input/output names, FP32, dims without the batch, the class
 * count), labels.txt holds the classes in logit order, 1/model.onnx is the same file `--out`
 * writes and runs at batch 1 and at max_batch_size. Bad options and failed writes leave nothing.
 * The strict parser itself refuses what Triton would refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportCommand } from '../src/cli/export.js';
import { UserError } from '../src/errors.js';
import { fromOrt, ort, toOrt } from '../src/runtime/ort.js';
import { PbMessage, PbValue, TRITON_MODEL_CONFIG, parsePbtxt } from '../test-support/pbtxt.js';
import { writeRunCheckpoint } from '../test-support/run-checkpoint.js';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-triton-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const CLASSES = ['airplane', 'pick-up truck', 'chat noir', 'Ölfass'];
const RUN = join(scratch, 'run');
writeRunCheckpoint(RUN, 'cifar_lenet', { classes: CLASSES, seed: 3 });

const field = (m: PbValue | PbValue[] | undefined): PbMessage => {
  assert.ok(m !== undefined && typeof m === 'object' && !Array.isArray(m) && typeof m !== 'bigint', 'a message');
  return m;
};

/** ONNX Runtime on `file` at batch `n`: the output's shape */
async function logitsShape(file: string, n: number): Promise<readonly number[]> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const data = new Float32Array(n * 3 * 32 * 32).fill(0.5);
    return fromOrt((await session.run({ input: toOrt({ dtype: 'float32', shape: [n, 3, 32, 32], data }) })).logits).shape;
  } finally {
    await session.release();
  }
}

const CASES: readonly { label: string; flags: string[]; maxBatch: number; delayUs: bigint }[] = [
  { label: 'defaults', flags: [], maxBatch: 32, delayUs: 5000n },
  { label: '--max-batch 8 --max-delay-ms 2.5', flags: ['--max-batch', '8', '--max-delay-ms', '2.5'], maxBatch: 8, delayUs: 2500n },
];

for (const c of CASES) {
  test(`tessera export --triton (${c.label}): config.pbtxt is a valid ModelConfig for the ONNX file, labels.txt the classes`, async () => {
    const dir = mkdtempSync(join(scratch, 'repo-'));
    const onnx = join(dir, 'plain.onnx');
    assert.equal(await exportCommand(['--checkpoint', RUN, '--out', onnx, '--triton', join(dir, 'models'), ...c.flags]), 0);
    const modelDir = join(dir, 'models', 'cifar_lenet');
    assert.deepEqual(readdirSync(modelDir).sort(), ['1', 'config.pbtxt', 'labels.txt']);
    assert.deepEqual(readdirSync(join(modelDir, '1')), ['model.onnx']);

    const config = parsePbtxt(readFileSync(join(modelDir, 'config.pbtxt'), 'utf8'), TRITON_MODEL_CONFIG);
    assert.equal(config.name, 'cifar_lenet');
    assert.equal(config.platform, 'onnxruntime_onnx');
    assert.equal(config.backend, 'onnxruntime');
    assert.equal(config.max_batch_size, c.maxBatch);
    assert.equal(field(config.dynamic_batching).max_queue_delay_microseconds, c.delayUs);
    const [input] = config.input as PbMessage[];
    const [output] = config.output as PbMessage[];
    assert.equal((config.input as PbMessage[]).length, 1);
    assert.equal((config.output as PbMessage[]).length, 1);
    assert.deepEqual(input, { name: 'input', data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [3n, 32n, 32n] });
    assert.deepEqual(output, { name: 'logits', data_type: 'TYPE_FP32', dims: [BigInt(CLASSES.length)], label_filename: 'labels.txt' });
    assert.equal(readFileSync(join(modelDir, String(output.label_filename)), 'utf8'), `${CLASSES.join('\n')}\n`);

    const model = join(modelDir, '1', 'model.onnx');
    assert.ok(readFileSync(model).equals(readFileSync(onnx)), 'model.onnx is the file --out writes');
    for (const n of [1, c.maxBatch]) assert.deepEqual(await logitsShape(model, n), [n, CLASSES.length], `batch ${n}`);
  });
}

test('tessera export --triton alone (no --out) writes the repository', async () => {
  const dir = mkdtempSync(join(scratch, 'alone-'));
  assert.equal(await exportCommand(['--checkpoint', RUN, '--triton', dir]), 0);
  assert.ok(existsSync(join(dir, 'cifar_lenet', '1', 'model.onnx')));
  assert.deepEqual(readdirSync(dir), ['cifar_lenet']);
});

const BAD: readonly { label: string; args: (dir: string) => string[]; message: RegExp; io?: object }[] = [
  { label: 'none of --out, --triton and --web', args: () => ['--checkpoint', RUN], message: /^tessera export: --out FILE, --triton DIR or --web DIR is required \(see tessera export --help\)$/ },
  { label: '--web with --triton', args: (dir) => ['--checkpoint', RUN, '--web', join(dir, 'page'), '--triton', join(dir, 'models')], message: /--web DIR writes a page folder on its own; run --out or --triton in a separate export/ },
  { label: '--max-batch without --triton', args: (dir) => ['--checkpoint', RUN, '--out', join(dir, 'm.onnx'), '--max-batch', '4'], message: /--max-batch sets the Triton config; it needs --triton DIR/ },
  { label: '--max-delay-ms without --triton', args: (dir) => ['--checkpoint', RUN, '--out', join(dir, 'm.onnx'), '--max-delay-ms', '1'], message: /--max-delay-ms sets the Triton config/ },
  {
    label: 'a full disk',
    args: (dir) => ['--checkpoint', RUN, '--triton', join(dir, 'models')],
    message: /cannot write: no space left on device/,
    io: {
      writeFile: (path: string) => {
        if (path.includes('config.pbtxt')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return undefined;
      },
    },
  },
];

for (const c of BAD) {
  test(`tessera export --triton refuses ${c.label}: one UserError line, nothing written`, async () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    await assert.rejects(exportCommand(c.args(dir), c.io), (e: unknown) => e instanceof UserError && c.message.test(e.message) && !e.message.includes('\n'));
    assert.deepEqual(readdirSync(dir), []);
  });
}

test('tessera export --triton refuses a class name with a line break before writing anything', async () => {
  const dir = mkdtempSync(join(scratch, 'newline-'));
  const run = join(dir, 'run');
  writeRunCheckpoint(run, 'cifar_lenet', { classes: ['a', 'b\nc'] });
  await assert.rejects(exportCommand(['--checkpoint', run, '--triton', join(dir, 'models')]), (e: unknown) => e instanceof UserError && /holds a line break/.test(e.message));
  assert.deepEqual(readdirSync(dir), ['run']);
});

const VALID = 'name: "m"\nmax_batch_size: 8\ninput [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]\ndynamic_batching { }\n';
const PARSER_REFUSES: readonly { label: string; text: string; message: RegExp }[] = [
  { label: 'an unknown field', text: `${VALID}max_batch: 4\n`, message: /5:1: unknown field max_batch/ },
  { label: 'a string for an int32', text: 'max_batch_size: "8"', message: /takes an integer \(int32\)/ },
  { label: 'an int32 out of range', text: 'max_batch_size: 2147483648', message: /outside int32/ },
  { label: 'a negative uint64', text: 'dynamic_batching { max_queue_delay_microseconds: -1 }', message: /outside uint64/ },
  { label: 'a singular field set twice', text: 'name: "a"\nname: "b"', message: /2:1: name is not repeated but is set twice/ },
  { label: 'a list for a singular field', text: 'name: [ "a" ]', message: /name is not repeated/ },
  { label: 'an enum value that is not the enum\'s', text: 'input { data_type: FP32 }', message: /data_type takes one of TYPE_INVALID/ },
  { label: 'a scalar without its colon', text: 'name "m"', message: /expected ":" after name/ },
  { label: 'two fields of one oneof', text: 'dynamic_batching { }\nsequence_batching { }', message: /one of scheduling_choice/ },
  { label: 'a scalar for a message', text: 'dynamic_batching: 5', message: /dynamic_batching is a message/ },
  { label: 'an unterminated string', text: 'name: "m', message: /unterminated string/ },
  { label: 'an unclosed message', text: 'input { name: "x"', message: /end of input/ },
];

test('the strict pbtxt parser reads a valid ModelConfig', () => {
  const m = parsePbtxt(`# comment\n${VALID}`, TRITON_MODEL_CONFIG);
  assert.deepEqual(m, { name: 'm', max_batch_size: 8, input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3n, 32n, 32n] }], dynamic_batching: {} });
});

for (const c of PARSER_REFUSES) {
  test(`the strict pbtxt parser refuses ${c.label}`, () => {
    assert.throws(() => parsePbtxt(c.text, TRITON_MODEL_CONFIG), c.message);
  });
}
