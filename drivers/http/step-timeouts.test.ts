import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpStepError } from './errors.ts';
import { type Cleanups, loopbackDevice } from './loopback-device.test-support.ts';
import { ViperHttpClient } from './viperhttp-client.ts';
import { WebUpdateClient } from './web-update-client.ts';

const STEP_MS = 400;
/** Event-loop latency a step may add to its deadline. */
const SLACK_MS = 250;
const TOKEN = 'hang-test-secret-token';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A port on loopback that nobody listens on: bound once, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Accepts connections and reads requests, but never answers. */
const hangingServer = () => loopbackDevice(cleanups, (socket) => socket.resume());

function viper(port: number): ViperHttpClient {
  const client = new ViperHttpClient({
    baseUrl: `http://127.0.0.1:${port}`,
    targetName: 'bench-dut-3',
    dialect: 'viperhttp',
    token: TOKEN,
    timeouts: { stepMs: STEP_MS },
  });
  cleanups.push(() => client.destroy());
  return client;
}

async function timed<T>(work: Promise<T>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

describe('a dead or hanging target fails each step within its timeout, naming target and step', () => {
  it('dead port: begin fails at once with HTTP_CONNECTION', async () => {
    const client = viper(await deadPort());
    const { error, ms } = await timed(client.begin({ expectedSize: 10 }));
    expect(error).toBeInstanceOf(HttpStepError);
    expect(error).toMatchObject({ code: 'HTTP_CONNECTION', step: 'begin', targetName: 'bench-dut-3' });
    expect((error as Error).message).toMatch(/bench-dut-3 .*step 'begin'.*connection refused/);
    expect(ms).toBeLessThan(STEP_MS);
  });

  it('hanging target: status, begin, a chunk and finalize each time out after stepMs with the step named', async () => {
    const client = viper(await hangingServer());
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['status', () => client.status()],
      ['begin', () => client.begin({ expectedSize: 8192 })],
      ['chunk @ offset 7680', () => client.chunk(new Uint8Array(3840), { offset: 7680 })],
      ['finalize', () => client.finalize({ reboot: true })],
    ];
    for (const [step, run] of steps) {
      const { error, ms } = await timed(run());
      expect(error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step, timeoutMs: STEP_MS });
      expect((error as Error).message).toContain(`bench-dut-3`);
      expect((error as Error).message).toContain(`step '${step}'`);
      expect((error as Error).message).toContain(`within ${STEP_MS} ms`);
      expect((error as Error).message).not.toContain(TOKEN);
      expect(ms).toBeGreaterThanOrEqual(STEP_MS - 20);
      expect(ms).toBeLessThan(STEP_MS + SLACK_MS);
    }
  });

  it('hanging target: pushImage stops at its first step; a raw request times out too', async () => {
    const client = viper(await hangingServer());
    const { error, ms } = await timed(client.pushImage(new Uint8Array(10_000)));
    expect(error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step: 'status' });
    expect(ms).toBeLessThan(STEP_MS + SLACK_MS);
    const raw = await timed(client.rawRequest({ bytes: 'GET /ota/status HTTP/1.1\r\nHost: x\r\n\r\n' }));
    expect(raw.error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step: 'raw request' });
    expect(raw.ms).toBeLessThan(STEP_MS + SLACK_MS);
  });

  it('web-update: a hanging target times out the page and the upload', async () => {
    const port = await hangingServer();
    const client = new WebUpdateClient({
      baseUrl: `http://127.0.0.1:${port}`,
      targetName: 'esp8266-web',
      username: 'admin',
      password: 'hang-test-password',
      auth: 'basic',
      timeouts: { stepMs: STEP_MS },
    });
    cleanups.push(() => client.destroy());
    const page = await timed(client.page());
    expect(page.error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step: 'page' });
    const upload = await timed(client.upload(new Uint8Array(64 * 1024)));
    expect(upload.error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step: 'upload (firmware)' });
    expect((upload.error as Error).message).toContain('esp8266-web');
    expect((upload.error as Error).message).not.toContain('hang-test-password');
    expect(upload.ms).toBeLessThan(STEP_MS + SLACK_MS);
  });

  it('the harness process exits by itself after a step times out (no handle keeps it alive)', async () => {
    const port = await hangingServer();
    const probe = fileURLToPath(new URL('./hang-probe.test-support.ts', import.meta.url));
    const start = performance.now();
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', probe, String(port), String(STEP_MS)],
        { timeout: 15_000 },
        (_error, out) => resolve({ stdout: out, code: child.exitCode }),
      );
    });
    expect(code).toBe(0);
    expect(stdout).toContain('HTTP_STEP_TIMEOUT');
    expect(stdout).toContain("step 'chunk @ offset 0'");
    expect(performance.now() - start).toBeLessThan(10_000);
  });
});
