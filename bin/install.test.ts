import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from './cli-process.test-support.ts';
import { filesEndingWith, runtimePackages } from './runtime-imports.test-support.ts';

/*
 * "Installs like a tool" (issue 9): what the CLI loads at run time is declared as a runtime
 * dependency, nothing unused is declared, and the package, installed without dev dependencies
 * (`npm ci --omit=dev` in a copy, `npm install -g` of the `npm pack` tarball), runs `run`, `list`,
 * `emulate`, `image` and `--version`.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Packages the code never imports by name: each with who loads it instead. */
const LOADED_BY_NAME: Record<string, string> = {
  '@allurereport/plugin-awesome':
    '@allurereport/core loads it from the `awesome` plugin name (reports/allure)',
};

describe('runtime dependencies', () => {
  const entries = [
    'bin/ota-conformance.js',
    // What `run` hands to vitest by path: the per-target loader and every suite file.
    'suites/runner/target-suites.ts',
    ...filesEndingWith(join(ROOT, 'suites'), '.suite.ts'),
  ];
  const reached = runtimePackages(ROOT, entries);

  it('every package reachable from bin/ (and the suites run loads) is a runtime dependency', () => {
    const undeclared = [...reached].filter(([name]) => pkg.dependencies[name] === undefined);
    expect(undeclared.map(([name, file]) => `${name} (imported by ${file})`)).toEqual([]);
    // The finder does find what it should: the CLI's parser, vitest for run, the Allure reporter.
    expect([...reached.keys()]).toEqual(
      expect.arrayContaining(['commander', 'vitest', 'allure-vitest', 'tsx']),
    );
  });

  it('every runtime dependency is loaded by the CLI, and no dev-only package is', () => {
    const unused = Object.keys(pkg.dependencies).filter(
      (name) => !reached.has(name) && LOADED_BY_NAME[name] === undefined,
    );
    expect(unused).toEqual([]);
    for (const name of Object.keys(LOADED_BY_NAME)) expect(pkg.dependencies[name]).toBeDefined();
    const devOnly = Object.keys(pkg.devDependencies).filter((name) => reached.has(name));
    expect(devOnly).toEqual([]);
  });
});

const execute = (command: string, args: string[], cwd: string) =>
  runProcess(command, args, {
    cwd,
    env: { npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' },
  });

/** npm's network failures: the install cannot be tried here, which is a skip, not a failure. */
const NETWORK_FAILURE = /\b(ENOTFOUND|EAI_AGAIN|ENOTCACHED|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)\b/;

async function install(args: string[], cwd: string): Promise<string | undefined> {
  const result = await execute('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], cwd);
  if (result.code === 0) return undefined;
  const network = NETWORK_FAILURE.exec(result.stderr);
  if (network) return `npm cannot reach the registry or its cache here (${network[1]}): ${args.join(' ')}`;
  throw new Error(`npm ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
}

/** Runs each command the README and --help promise, with the installed CLI. */
async function exerciseCli(cli: string[], cwd: string): Promise<void> {
  const [command, ...prefix] = cli as [string, ...string[]];
  const run = (...args: string[]) => execute(command, [...prefix, ...args], cwd);

  const version = await run('--version');
  expect(version.code, version.stderr).toBe(0);
  // Packed from this checkout: the commit travels in build-info.json.
  expect(version.stdout).toMatch(
    new RegExp(`^${pkg.name} ${pkg.version.replaceAll('.', '\\.')} \\(git [0-9a-f]{12}`),
  );

  const list = await run('list', '--grep', 'viperhttp/auth');
  expect(list.code, list.stderr).toBe(0);
  expect(list.stdout).toMatch(/viperhttp\/auth\/1 /);

  const out = mkdtempSync(join(tmpdir(), 'installed-run-'));
  const conformance = await run('run', '--only', 'viperhttp', '--grep', 'viperhttp/auth', '--out', out);
  expect(conformance.code, conformance.stdout + conformance.stderr).toBe(0);
  expect(conformance.stdout).toMatch(/viperhttp\s+[1-9]\d*\s+0\s/);

  const image = join(out, 'app.bin');
  const build = await run('image', 'build', '--out', image, '--size', '65536', '--version', '3.1.4');
  expect(build.code, build.stderr).toBe(0);
  const inspect = await run('image', 'inspect', image);
  expect(inspect.code, inspect.stderr).toBe(0);
  expect(inspect.stdout).toMatch(/3\.1\.4/);

  const emulate = spawn(command, [...prefix, 'emulate', '--profile', 'viperhttp'], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(createInterface({ input: emulate.stdout! }), 'line')) as [string];
    expect(JSON.parse(line)).toMatchObject({
      emulator: { profile: 'viperhttp', console: expect.stringMatching(/^tcp:\/\//) },
    });
  } finally {
    emulate.kill('SIGTERM');
  }
  const [code] = (await once(emulate, 'exit')) as [number | null];
  expect(code).toBe(0);
}

describe('the packed package, installed without dev dependencies', () => {
  let tarball: string;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ota-install-'));
    const packed = await execute('npm', ['pack', '--pack-destination', work, '--json'], ROOT);
    if (packed.code !== 0) throw new Error(`npm pack exited ${packed.code}: ${packed.stderr}`);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    tarball = join(work, filename);
  }, 120_000);

  // Each install is hundreds of MB (node_modules twice): left behind, a CI machine's disk fills up.
  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('npm ci --omit=dev in a copy of the package: run, list, emulate, image and --version work', async (context) => {
    const copy = mkdtempSync(join(work, 'copy-'));
    const untar = await execute('tar', ['xzf', tarball, '-C', copy, '--strip-components=1'], work);
    expect(untar.code, untar.stderr).toBe(0);
    expect(existsSync(join(copy, 'build-info.json'))).toBe(true);
    // A clone has the lock file; npm pack leaves it out.
    copyFileSync(join(ROOT, 'package-lock.json'), join(copy, 'package-lock.json'));
    const skipped = await install(['ci', '--omit=dev'], copy);
    if (skipped) return context.skip(skipped);
    const installed = readdirSync(join(copy, 'node_modules'));
    for (const dev of ['typescript', '@biomejs', 'fast-check']) expect(installed).not.toContain(dev);
    await exerciseCli([process.execPath, join(copy, 'bin', 'ota-conformance.js')], copy);
  }, 600_000);

  it('npm install -g of the tarball: the installed ota-conformance runs the same commands', async (context) => {
    const prefix = mkdtempSync(join(work, 'global-'));
    const skipped = await install(['install', '-g', '--prefix', prefix, tarball], work);
    if (skipped) return context.skip(skipped);
    await exerciseCli([join(prefix, 'bin', 'ota-conformance')], work);
  }, 600_000);
});
