import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reachServer } from '../../drivers/pull-client/index.ts';
import { createTestCertificates } from '../../drivers/update-server/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import type { ConformanceResult } from '../../reports/conformance-result.ts';
import { freePort } from '../runner/free-port.ts';
import { runConformance } from '../runner/run-conformance.ts';

/*
 * The esp_https_ota server suite against servers nobody here wrote: a real nginx (the hosting
 * guide's recommended production server) and Python's http.server (its development server, which
 * has no Range support). Each is started on loopback by the test with its own temporary config.
 */

function installed(program: string, versionFlag: string): boolean {
  try {
    execFileSync(program, [versionFlag], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const HAS_NGINX = installed('nginx', '-v');
const HAS_PYTHON = installed('python3', '--version');

/** Waits until the server accepts connections, or its process ends. */
async function waitUntilServing(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited (${child.exitCode}): ${log()}`);
    try {
      await reachServer(url, { timeoutMs: 1_000 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

function verdicts(results: ConformanceResult[]): Record<string, string> {
  return Object.fromEntries(results.map((result) => [result.id, result.outcome]));
}

/** The image both servers publish: an ESP32 app image of 200 KiB (13 partial requests of 16 KiB). */
const IMAGE = buildEsp32Image({ size: 200 * 1024, version: '2.0.0', seed: 77 });

describe.skipIf(!HAS_NGINX)('nginx (Debian package) serving esp_https_ota images over HTTPS', () => {
  let nginx: ChildProcess | undefined;
  let dir: string;
  let url: string;
  let caFile: string;
  let log = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nginx-ota-'));
    const certificates = await createTestCertificates();
    mkdirSync(join(dir, 'www'));
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'www', 'firmware.bin'), IMAGE);
    // The hosting guide's access control: a private folder behind Basic auth (nginx auth_basic).
    mkdirSync(join(dir, 'www', 'private'));
    writeFileSync(join(dir, 'www', 'private', 'firmware.bin'), IMAGE);
    const hash = execFileSync('openssl', ['passwd', '-apr1', FLEET_PASSWORD], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'htpasswd'), `fleet:${hash}\n`);
    writeFileSync(join(dir, 'cert.pem'), certificates.certPem);
    writeFileSync(join(dir, 'key.pem'), certificates.keyPem);
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certificates.caPem);
    const port = await freePort();
    // master_process off: one process as this user, so the temporary files need no other owner.
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    root ${dir}/www;
    # The hosting guide keeps versioned files; a stable name redirects to the newest.
    location = /latest.bin { return 302 /firmware.bin; }
    location /private/ { auth_basic "firmware"; auth_basic_user_file ${dir}/htpasswd; }
  }
}
`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    nginx.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    url = `https://localhost:${port}`;
    await waitUntilServing(url, nginx, () => log);
  });
  afterAll(async () => {
    await stop(nginx);
  });

  it('passes every esp-https-ota server requirement, Range, redirect, pinned TLS and ETag included', async () => {
    const rig = join(dir, 'rig.json');
    writeFileSync(
      rig,
      JSON.stringify({
        name: 'nginx',
        targets: [
          {
            name: 'nginx',
            kind: 'update-server',
            profile: 'esp-https-ota',
            url: `${url}/latest.bin`,
            capabilities: ['range', 'tls', 'etag', 'redirects'],
            tls: { caFile },
          },
        ],
      }),
    );
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      write: (text) => lines.push(text),
    });
    expect(verdicts(outcome.results), lines.join('')).toEqual(
      Object.fromEntries(
        Array.from({ length: 11 }, (_, index) => [`update-server/esp-https-ota/${index + 1}`, 'pass']),
      ),
    );
    expect(outcome.exitCode).toBe(0);
  }, 120_000);

  it('behind Basic auth: passes with the password from the environment, which appears in no result or report file (nor its Basic encoding), and a wrong one gets 401', async () => {
    const rig = join(dir, 'private-rig.json');
    const target = {
      name: 'nginx-private',
      kind: 'update-server',
      profile: 'esp-https-ota',
      url: `${url}/private/firmware.bin`,
      capabilities: ['range'],
      tls: { caFile },
      username: 'fleet',
      password: { env: 'NGINX_FLEET_PASSWORD' },
    };
    writeFileSync(rig, JSON.stringify({ name: 'nginx-private', targets: [target] }));
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out-private'),
      env: { ...process.env, NGINX_FLEET_PASSWORD: FLEET_PASSWORD },
      write: (text) => lines.push(text),
    });
    // Every requirement but the two for what this target does not claim (tls, etag) passes.
    expect(
      outcome.results
        .filter((result) => result.outcome !== 'pass')
        .map((result) => `${result.id} ${result.outcome}`),
      lines.join(''),
    ).toEqual(['update-server/esp-https-ota/10 skip', 'update-server/esp-https-ota/11 skip']);
    expect(outcome.results.filter((result) => result.outcome === 'pass')).toHaveLength(9);
    expect(JSON.stringify(outcome.results)).not.toContain(FLEET_PASSWORD);
    expect(lines.join('')).not.toContain(FLEET_PASSWORD);
    const basic = Buffer.from(`fleet:${FLEET_PASSWORD}`).toString('base64');
    for (const file of readdirSync(join(dir, 'out-private'), { recursive: true, encoding: 'utf8' })) {
      const path = join(dir, 'out-private', file);
      if (!statSync(path).isFile()) continue;
      const text = readFileSync(path, 'latin1');
      expect(text.includes(FLEET_PASSWORD) || text.includes(basic), file).toBe(false);
    }
    // The twin: the same rig with a wrong password is refused by nginx, and the suite says so.
    const wrong = await runConformance({
      rig,
      outDir: join(dir, 'out-wrong'),
      env: { ...process.env, NGINX_FLEET_PASSWORD: 'not-the-password' },
      grep: 'update-server/esp-https-ota/1',
      write: () => {},
    });
    expect(wrong.results.find((result) => result.id === 'update-server/esp-https-ota/1')?.detail).toMatch(
      /Actual: +HTTP\/1\.1 401 Unauthorized/,
    );
  }, 120_000);
});

/** A secret the rig names by environment variable only; it must reach nginx and no report. */
const FLEET_PASSWORD = 'fleet-secret-4711-ota';

describe.skipIf(!HAS_PYTHON)("Python's http.server (no Range support) serving esp_https_ota images", () => {
  let server: ChildProcess | undefined;
  let dir: string;
  let url: string;
  let log = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'python-ota-'));
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'www', 'firmware.bin'), IMAGE);
    const port = await freePort();
    // The hosting guide's development server, exactly: python3 -m http.server.
    server = spawn(
      'python3',
      ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', join(dir, 'www'), String(port)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    server.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    url = `http://127.0.0.1:${port}`;
    await waitUntilServing(url, server, () => log);
  });
  afterAll(async () => {
    await stop(server);
  });

  it('serves the image (200, Content-Length, HEAD) but fails every Range requirement it claims, with Expected and Actual', async () => {
    const rig = join(dir, 'rig.json');
    writeFileSync(
      rig,
      JSON.stringify({
        name: 'python',
        targets: [
          {
            name: 'python-http-server',
            kind: 'update-server',
            profile: 'esp-https-ota',
            url: `${url}/firmware.bin`,
            capabilities: ['range'],
          },
        ],
      }),
    );
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      write: (text) => lines.push(text),
    });
    expect(verdicts(outcome.results), lines.join('')).toEqual({
      'update-server/esp-https-ota/1': 'pass',
      'update-server/esp-https-ota/2': 'fail',
      'update-server/esp-https-ota/3': 'fail',
      'update-server/esp-https-ota/4': 'fail',
      'update-server/esp-https-ota/5': 'fail',
      'update-server/esp-https-ota/6': 'fail',
      'update-server/esp-https-ota/7': 'fail',
      'update-server/esp-https-ota/8': 'pass',
      'update-server/esp-https-ota/9': 'pass',
      'update-server/esp-https-ota/10': 'skip',
      'update-server/esp-https-ota/11': 'skip',
    });
    const probe = outcome.results.find((result) => result.id === 'update-server/esp-https-ota/2');
    expect(probe?.detail).toMatch(
      new RegExp(
        `Expected: 206, Content-Range: bytes 0-0/${IMAGE.length}, 1 byte\\n\\s+Actual: +HTTP/1\\.0 200 OK, Content-Range: undefined, ${IMAGE.length} bytes`,
      ),
    );
    expect(outcome.exitCode).toBe(1);
  }, 120_000);
});
