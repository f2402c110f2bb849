/** Running the built CLI (`node bin/tessera.js …`) from tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** bin/tessera.js and the repo root, resolved from dist/test-support/ */
export const BIN = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args` from the repo root, TESSERA_DEBUG cleared unless `extraEnv` sets it. */
export function runCli(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return runScript(BIN, args, extraEnv);
}

/** Runs a node script (e.g. a built test-support/*.js) like `runCli`. */
export function runScript(script: string, args: readonly string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.TESSERA_DEBUG;
    Object.assign(env, extraEnv);
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
