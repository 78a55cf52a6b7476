import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runProcess } from './cli-process.test-support.ts';
// @ts-expect-error: a plain-JS loader hook (it runs in Node's hooks thread, before any TypeScript loader)
import { isPackageModule, load } from './packages-as-shipped.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const HOOK = new URL('./packages-as-shipped.mjs', import.meta.url).href;
/** What the launchers in bin/ import first: tsx, then the hook. */
const LOADERS = new URL('./loaders.mjs', import.meta.url).href;

describe('packages-as-shipped loader hook', () => {
  it('takes only the ES modules of installed packages', () => {
    const pkg = 'file:///x/node_modules/vitest/dist/chunks/cac.js';
    expect(isPackageModule(pkg, 'module')).toBe(true);
    expect(isPackageModule('file:///x/node_modules/@allurereport/core/dist/index.mjs', 'module')).toBe(true);
    // CommonJS, our own TypeScript, a package's TypeScript, a loader's query, not a file.
    expect(isPackageModule(pkg, 'commonjs')).toBe(false);
    expect(isPackageModule('file:///x/drivers/http/http-target.ts', 'module')).toBe(false);
    expect(isPackageModule('file:///x/node_modules/some/src/index.ts', 'module')).toBe(false);
    expect(isPackageModule(`${pkg}?tsx-namespace=1`, 'module')).toBe(false);
    expect(isPackageModule('node:fs', 'builtin')).toBe(false);
  });

  it('loads a package module byte for byte and hands everything else to the next loader', async () => {
    const url = pathToFileURL(join(ROOT, 'node_modules/vitest/dist/index.js')).href;
    let passedOn = 0;
    const next = async () => {
      passedOn++;
      return { format: 'module', source: 'from the next loader' };
    };
    const own = await load(url, { format: 'module' }, next);
    expect(own.shortCircuit).toBe(true);
    expect(Buffer.from(own.source).equals(readFileSync(fileURLToPath(url)))).toBe(true);
    expect(passedOn).toBe(0);
    const ts = await load(HOOK.replace(/\.mjs$/, '.test.ts'), { format: 'module' }, next);
    expect(ts.source).toBe('from the next loader');
    expect(passedOn).toBe(1);
  });

  describe('under tsx, registered as bin/ registers it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'packages-as-shipped-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const pkgDir = join(dir, 'node_modules', 'shipped');
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), '{"name":"shipped","type":"module"}');
    writeFileSync(join(pkgDir, 'index.js'), "export function later() { return import('node:path'); }\n");
    const entry = pathToFileURL(join(pkgDir, 'index.js')).href;

    /** What the package's function reads as, loaded as bin/ loads (or, for the control, through tsx alone). */
    async function loadedSource(withHook: boolean): Promise<string> {
      const script = [
        withHook
          ? `import ${JSON.stringify(LOADERS)};`
          : "import { register } from 'tsx/esm/api'; register();",
        `const { later } = await import(${JSON.stringify(entry)});`,
        'process.stdout.write(later.toString());',
      ].join('\n');
      const result = await runProcess(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return result.stdout;
    }

    it('a package keeps its own import() calls; without the hook tsx rewrites them', async () => {
      expect(await loadedSource(true)).toBe("function later() { return import('node:path'); }");
      // The control: tsx alone appends its interop step to the same call.
      expect(await loadedSource(false)).toMatch(/import\('node:path'\)\.then\(/);
    });
  });
});
