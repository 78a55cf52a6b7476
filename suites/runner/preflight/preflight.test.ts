import { mkdtempSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TargetDescription } from '../../../drivers/target/index.ts';
import { startEmulator } from '../../../emulators/start-emulator.ts';
import { closedPort } from './closed-port.test-support.ts';
import { preflightTarget } from './preflight.ts';

/*
 * One test per way a target can be unfit before its suites (refused, silent socket, wrong device,
 * console missing, power dead): each ends in one failure naming the step and the reason, within
 * the rig's step timeout; and the acceptance twins: the emulators of the profiles with a
 * fingerprint pass it.
 */

const STEP_TIMEOUT_MS = 1_000;
/** The step timeout, plus the backstop's grace and the scheduling of a loaded machine. */
const WITHIN_MS = 2 * STEP_TIMEOUT_MS;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function board(fields: Partial<TargetDescription>): TargetDescription {
  return {
    name: 'bench',
    profile: 'viperhttp',
    kind: 'board',
    capabilities: [],
    token: 'preflight-test-token',
    limits: { stepTimeoutMs: STEP_TIMEOUT_MS },
    lockDir: mkdtempSync(join(tmpdir(), 'preflight-locks-')),
    ...fields,
  };
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

describe('preflightTarget', () => {
  it('refused: a device address where nothing listens fails the fingerprint step with the refusal', async () => {
    const port = await closedPort();
    const failure = await preflightTarget(board({ url: `http://127.0.0.1:${port}` }));
    expect(failure).toMatchObject({
      target: 'bench',
      step: 'GET /ota/status answers with the ViperHTTP status',
      reason: expect.stringMatching(/ECONNREFUSED|refused/i),
    });
    expect(failure!.durationMs).toBeLessThan(WITHIN_MS);
  });

  it('silent socket: a server that accepts and never answers fails at the step timeout', async () => {
    const held: Socket[] = [];
    const server = createServer((socket) => {
      held.push(socket);
      // Read (and drop) what arrives, so the client's close shows as the end of the stream.
      socket.resume();
    });
    const port = await listening(server);
    const failure = await preflightTarget(board({ url: `http://127.0.0.1:${port}` }));
    expect(failure?.step).toBe('GET /ota/status answers with the ViperHTTP status');
    expect(failure?.reason).toMatch(new RegExp(`${STEP_TIMEOUT_MS} ?ms`));
    expect(failure!.durationMs).toBeGreaterThanOrEqual(STEP_TIMEOUT_MS - 50);
    expect(failure!.durationMs).toBeLessThan(WITHIN_MS);
    // The preflight closed its connection: the server sees it end.
    await expect.poll(() => held.every((socket) => socket.readableEnded || socket.destroyed)).toBe(true);
  });

  it('wrong device: an HTTP server that is not ViperHTTP fails the fingerprint, naming what it answered', async () => {
    const server = createHttpServer((_request, response) => {
      const body = JSON.stringify({ hello: 'I am a printer' });
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    });
    const port = await listening(server);
    const failure = await preflightTarget(board({ url: `http://127.0.0.1:${port}` }));
    expect(failure?.step).toBe('GET /ota/status answers with the ViperHTTP status');
    expect(failure?.reason).toMatch(/not a ViperHTTP device: .*I am a printer/);
    expect(failure!.durationMs).toBeLessThan(WITHIN_MS);
  });

  it('wrong device: a web server that answers /ota/status with a 404 page is said to be no ViperHTTP device', async () => {
    const server = createHttpServer((_request, response) => {
      const body = '<html><body>Not Found</body></html>';
      response.writeHead(404, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
    const port = await listening(server);
    const failure = await preflightTarget(board({ url: `http://127.0.0.1:${port}` }));
    expect(failure?.reason).toMatch(/^not a ViperHTTP device: .*404/);
  });

  it('console missing: a serial port that does not exist fails the console step within the step timeout', async () => {
    const failure = await preflightTarget(
      board({
        url: 'http://127.0.0.1:9',
        console: { port: '/dev/ota-conformance-no-such-tty', baudRate: 115200, reopen: false },
      }),
    );
    expect(failure?.step).toBe('console /dev/ota-conformance-no-such-tty opens');
    expect(failure?.reason).toMatch(/cannot open its console \/dev\/ota-conformance-no-such-tty/);
    expect(failure!.durationMs).toBeLessThan(WITHIN_MS);
  });

  it('power dead: a smart plug that does not answer fails the power step before the device is asked', async () => {
    const port = await closedPort();
    const failure = await preflightTarget(
      board({ url: 'http://127.0.0.1:9', power: { type: 'tasmota', url: `http://127.0.0.1:${port}` } }),
    );
    expect(failure?.step).toBe('power switch answers');
    expect(failure?.reason).toMatch(/could not reach .*ECONNREFUSED/);
    expect(failure!.durationMs).toBeLessThan(WITHIN_MS);
  });

  it('server under test: a closed port and a server that never answers fail the step; any HTTP answer passes', async () => {
    const serverUnderTest = (url: string) =>
      board({ name: 'vendor-server', profile: 'http-update', kind: 'update-server', url });
    const step = 'the update server answers';

    const refused = await preflightTarget(serverUnderTest(`http://127.0.0.1:${await closedPort()}/update`));
    expect(refused).toMatchObject({
      target: 'vendor-server',
      step,
      reason: expect.stringMatching(/ECONNREFUSED/),
    });

    const silent = createServer((socket) => socket.resume());
    const silentPort = await listening(silent);
    const hung = await preflightTarget(serverUnderTest(`http://127.0.0.1:${silentPort}/update`));
    expect(hung).toMatchObject({
      step,
      reason: expect.stringMatching(new RegExp(`within ${STEP_TIMEOUT_MS} ms`)),
    });
    expect(hung!.durationMs).toBeLessThan(WITHIN_MS);

    // A head and then silence: the answer is not complete, so the step still fails at its timeout.
    const stalled = createServer((socket) =>
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')),
    );
    const stalledPort = await listening(stalled);
    expect(await preflightTarget(serverUnderTest(`http://127.0.0.1:${stalledPort}/update`))).toMatchObject({
      step,
      reason: expect.stringMatching(/no complete HTTP answer/),
    });

    const notFound = createHttpServer((_request, response) => response.writeHead(404).end('no such page'));
    const answeringPort = await listening(notFound);
    expect(
      await preflightTarget(serverUnderTest(`http://127.0.0.1:${answeringPort}/update`)),
    ).toBeUndefined();
  });

  it('passes on emulated ViperHTTP, web-update and ArduinoOTA devices, console and power switch included', async () => {
    const devices = [
      { profile: 'viperhttp', options: { token: 'preflight-test-token' } },
      { profile: 'web-update', options: { username: 'admin', password: 'preflight-web' } },
      { profile: 'arduino-ota', options: { password: 'preflight-ota' } },
    ] as const;
    for (const { profile, options } of devices) {
      const emulator = await startEmulator({ profile, options, console: 'tcp' });
      cleanups.push(() => emulator.stop());
      const endpoints = emulator.endpoints();
      const http = endpoints.services.http;
      const ota = endpoints.services.ota;
      const failure = await preflightTarget(
        board({
          name: profile,
          profile,
          ...(http ? { url: `http://${http.host}:${http.port}` } : {}),
          ...(ota ? { host: ota.host, port: ota.port } : {}),
          ...options,
          console: { port: endpoints.console!, baudRate: 115200, reopen: true },
          power: { type: 'emulator-control', url: endpoints.control! },
        }),
      );
      expect(failure, profile).toBeUndefined();
    }
  });
});
