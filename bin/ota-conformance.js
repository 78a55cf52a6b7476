#!/usr/bin/env node
// Thin launcher: registers the TypeScript loader, then hands over to the CLI.
import './loaders.mjs';

// A reader that stops early (`ota-conformance list | head`) closes the pipe: the output is no
// longer wanted, which is no reason to die with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv);
