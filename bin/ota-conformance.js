#!/usr/bin/env node
// Thin launcher: registers the TypeScript loader, then hands over to the CLI.
import module from 'node:module';
import { register } from 'tsx/esm/api';

// A reader that stops early (`ota-conformance list | head`) closes the pipe: the output is no
// longer wanted, which is no reason to die with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

register();
// After tsx, so installed packages load as they ship (see packages-as-shipped.mjs).
module.register('./packages-as-shipped.mjs', import.meta.url);
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv);
