// A module loader hook, registered after tsx's (bin/ota-conformance.js, bin/emulator-host.js), so
// it sees every load first: an ES module of an installed package (under node_modules/, .js or
// .mjs, that Node's resolver already named a module) loads as it ships, and everything else goes
// on to tsx.
//
// Why: tsx hands every ES module it loads, the packages' included, to its dynamic-import rewrite
// (tsx 4.23 dist/register-*.mjs, the `load` hook's `d.format==="module"` branch calling
// `transformDynamicImport` in dist/index-*.mjs): it lexes the file and, when it holds an
// `import(`, rewrites each one and builds a high-resolution source map for it, on every start,
// uncached. For vitest, vite and Allure's generator that was 1.2 s of the loader thread's CPU
// in a default run (source maps and their garbage), before the first result and again when the
// report loads. The rewrite only adds an interop step to `import()` of a CommonJS module
// compiled from TypeScript; a published package's own `import()` calls are written for Node's
// behaviour, which is what they get here. Our own .ts files still go through tsx.

import { readFile } from 'node:fs/promises';

/** An installed package's JavaScript ES module, by the URL Node resolved it to. */
export function isPackageModule(url, format) {
  return (
    format === 'module' &&
    url.startsWith('file:') &&
    url.includes('/node_modules/') &&
    // A query or a fragment belongs to a loader (tsx's namespaces, its CommonJS bridge).
    !url.includes('?') &&
    !url.includes('#') &&
    /\.m?js$/.test(url)
  );
}

export async function load(url, context, nextLoad) {
  if (isPackageModule(url, context.format)) {
    return { format: 'module', source: await readFile(new URL(url)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
