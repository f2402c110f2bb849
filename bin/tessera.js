#!/usr/bin/env node
// The `tessera` command: a launcher for the compiled CLI in dist/ (build it with `npm run build`).
// `tessera ... | head` closes stdout early; that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('cli/main.js')) throw e;
  process.stderr.write('tessera: the CLI is not built; run `npm run build` in the tessera directory\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));
