/**
 * The `tessera` CLI end to end: every case spawns `node bin/tessera.js ...` from the repo root
 * and checks the exit status and what it printed. Error cases must print exactly one line
 * `tessera: ...` on stderr and never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT, runCli } from '../test-support/cli.js';
import { SHARED_FIXTURES, sharedFixture } from '../test-support/fixtures.js';
import { createModel } from '../src/models/index.js';
import { exportInferenceOnnx } from '../src/runtime/inference.js';

/** relative to ROOT, as a user in the repo would type it */
const FIXTURES = relative(ROOT, SHARED_FIXTURES);
const LENET = `${FIXTURES}/pc_lenet.safetensors`;

const scratch = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
const GARBAGE = join(scratch, 'garbage.safetensors');
writeFileSync(GARBAGE, 'this is not a safetensors file, just some text\n');
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const DEEP = join(scratch, 'deep.safetensors');
writeFileSync(DEEP, safetensorsWithHeader(`{"__metadata__":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`));
const ONNX = join(scratch, 'lenet.onnx');
writeFileSync(ONNX, exportInferenceOnnx(createModel('cifar_lenet'), { inputShape: [1, 3, 32, 32] }));
const TORCH = join(ROOT, 'test/data/checkpoints/lenet_f16.pt');

/** a safetensors file with this header text and no tensors */
function safetensorsWithHeader(header: string): Uint8Array {
  const json = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + json.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return out;
}



interface Case {
  name: string;
  args: string[];
  code: number;
  stdout?: RegExp;
  stderr?: RegExp;
  /** a user error: exactly one line `tessera: ...` on stderr, no stack frames */
  oneLineError?: boolean;
  /** strings that must not appear in stderr */
  stderrLacks?: string[];
  needsFixtures?: boolean;
}

const cases: Case[] = [
  { name: '--help prints the usage', args: ['--help'], code: 0, stdout: /usage: tessera <command>[\s\S]*verify[\s\S]*models/ },
  { name: 'help verify prints the verify usage', args: ['help', 'verify'], code: 0, stdout: /usage: tessera verify FIXTURE/ },
  { name: 'an unknown command is named with the list of commands', args: ['frobnicate'], code: 2, stderr: /unknown command "frobnicate"; commands: quickstart, verify, models, [a-z, ]*help/, oneLineError: true },
  {
    name: 'verify a pytorch-cifar fixture by registry name',
    args: ['verify', LENET, '--model', 'cifar_lenet'],
    code: 0,
    stdout: /logits\.eval[\s\S]*PASS[\s\S]*\d+ tensors checked: all within tolerance/,
    needsFixtures: true,
  },
  {
    name: 'verify by constructor name, source inferred from the fixture',
    args: ['verify', LENET, '--model', 'LeNet'],
    code: 0,
    stdout: /source pytorch-cifar \(from the fixture\)[\s\S]*PASS[\s\S]*all within tolerance/,
    needsFixtures: true,
  },
  {
    name: 'verify --json prints the report as JSON',
    args: ['verify', LENET, '--model=cifar_lenet', '--json', '--precision', 'float64'],
    code: 0,
    stdout: /^\{[\s\S]*"ok": true[\s\S]*\}\s*$/,
    needsFixtures: true,
  },
  {
    name: 'an unknown model suggests the close name',
    args: ['verify', LENET, '--model', 'cifar_resnt18'],
    code: 2,
    stderr: /^tessera: unknown model "cifar_resnt18"; did you mean [^\n]*cifar_resnet18/,
    oneLineError: true,
    stderrLacks: ['at '],
    needsFixtures: true,
  },
  {
    name: 'a missing fixture file',
    args: ['verify', join(scratch, 'no-such.safetensors'), '--model', 'cifar_lenet'],
    code: 2,
    stderr: /no-such\.safetensors does not exist/,
    oneLineError: true,
  },
  {
    name: 'a malformed safetensors file',
    args: ['verify', GARBAGE, '--model', 'cifar_lenet'],
    code: 2,
    stderr: /garbage\.safetensors: header length/,
    oneLineError: true,
  },
  {
    name: 'a fixture of another architecture lists missing and unexpected keys',
    args: ['verify', LENET, '--model', 'cifar_resnet18'],
    code: 2,
    stderr: /state dict does not match the model: \d+ missing: [^\n]*; \d+ unexpected: [^\n]*fc1\.weight/,
    oneLineError: true,
    needsFixtures: true,
  },
  { name: '--args with bad JSON', args: ['verify', LENET, '--model', 'LeNet', '--args', '{bad json'], code: 2, stderr: /--args is not valid JSON/, oneLineError: true },
  { name: '--args with an unknown constructor argument', args: ['verify', LENET, '--model', 'LeNet', '--args', '{"depth": 3}'], code: 2, stderr: /unknown argument\(s\) depth/, oneLineError: true, needsFixtures: true },
  { name: 'an unknown option suggests the right one', args: ['verify', LENET, '--modle', 'LeNet'], code: 2, stderr: /unknown option --modle; did you mean --model\?/, oneLineError: true },
  { name: 'verify without --model', args: ['verify', LENET], code: 2, stderr: /--model NAME is required/, oneLineError: true },
  { name: 'a --precision outside its choices', args: ['verify', LENET, '--model', 'LeNet', '--precision', 'float16'], code: 2, stderr: /tessera verify: --precision: expected one of float64, float32, got "float16"/, oneLineError: true },
  {
    name: 'a safetensors __metadata__ nested 200,000 deep names the file',
    args: ['verify', DEEP, '--model', 'cifar_lenet'],
    code: 2,
    stderr: /^tessera: \S*deep\.safetensors: __metadata__ value for "a" is not a string but an array nested too deeply to show\n$/,
    oneLineError: true,
  },
  ...(['eval', 'predict', 'export'] as const).flatMap((command): Case[] => {
    const rest = command === 'eval' ? ['--data', scratch] : command === 'predict' ? [GARBAGE] : ['--out', join(scratch, 'out.onnx')];
    return [
      {
        name: `${command} --checkpoint an ONNX model says what it is and which command takes it`,
        args: [command, '--checkpoint', ONNX, ...rest],
        code: 2,
        stderr: /lenet\.onnx is an ONNX model, not a Tessera training checkpoint; `tessera import` takes ONNX files\n$/,
        oneLineError: true,
      },
      {
        name: `${command} --checkpoint a PyTorch checkpoint says what it is and which command takes it`,
        args: [command, '--checkpoint', TORCH, ...rest],
        code: 2,
        stderr: /lenet_f16\.pt is a PyTorch checkpoint \(torch\.save\), not a Tessera training checkpoint; `tessera convert` turns it into safetensors/,
        oneLineError: true,
      },
    ];
  }),
  {
    name: 'train --model with a constructor name suggests configs and says a constructor needs --args',
    args: ['train', '--model', 'ResNet18', '--data', scratch, '--out', join(scratch, 'run-resnet18')],
    code: 2,
    stderr: /^tessera: unknown model "ResNet18"; did you mean cifar_resnet18, resnet18\b[^\n]*ResNet18 is a constructor, which needs its arguments: `tessera verify --model ResNet18 --args JSON`/,
    oneLineError: true,
  },
  {
    name: 'import of a directory names it',
    args: ['import', scratch, '--out', join(scratch, 'x.safetensors')],
    code: 2,
    stderr: /^tessera: \S+: cannot read: is a directory; name a file\n$/,
    oneLineError: true,
    stderrLacks: ['EISDIR', 'tessera: tessera'],
  },
  {
    name: 'import of a missing file: one prefix',
    args: ['import', join(scratch, 'absent.onnx'), '--out', join(scratch, 'x.safetensors')],
    code: 2,
    stderr: /^tessera import: \S*absent\.onnx does not exist\n$/,
    oneLineError: true,
  },
  { name: 'models --filter lists the matching models with parameter and MAC counts', args: ['models', '--filter', 'lenet'], code: 0, stdout: /cifar_lenet\s+lenet\s+pytorch-cifar\s+32\s+62,006\s+651.7K\s+1998/ },
  { name: 'models --filter with no match', args: ['models', '--filter', 'no-such-model-xyz'], code: 0, stdout: /no model matches "no-such-model-xyz"/ },
];

for (const c of cases) {
  test(`tessera ${c.args.join(' ')}: ${c.name}`, async () => {
    if (c.needsFixtures) sharedFixture('pc_lenet.safetensors');
    const r = await runCli(c.args);
    const shown = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, c.code, shown);
    if (c.stdout) assert.match(r.stdout, c.stdout, shown);
    if (c.stderr) assert.match(r.stderr, c.stderr, shown);
    if (c.oneLineError) {
      assert.match(r.stderr, /^tessera[: ][^\n]+\n$/, `expected one line "tessera: ..." on stderr\n${shown}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `stack trace printed\n${shown}`);
      assert.doesNotMatch(r.stderr, /internal error/, shown);
    }
    for (const s of c.stderrLacks ?? []) assert.ok(!r.stderr.includes(s), `stderr must not contain "${s}"\n${shown}`);
  });
}

test('TESSERA_DEBUG=1 adds the stack to a user error', async () => {
  const r = await runCli(['verify', GARBAGE, '--model', 'cifar_lenet'], { TESSERA_DEBUG: '1' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^tessera[: ][^\n]+\n[\s\S]*\n\s+at /, r.stderr);
});
