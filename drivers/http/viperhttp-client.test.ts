import { afterEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { HttpStepError } from './errors.ts';
import type { TranscriptEvent } from './transcript.ts';
import { ViperHttpClient, type ViperHttpClientOptions } from './viperhttp-client.ts';

const TOKEN = 'ota-e2e-token';
const started: StartedEmulator[] = [];
const clients: ViperHttpClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.destroy();
  for (const emulator of started.splice(0)) await emulator.stop();
});

async function device(
  options: Record<string, unknown> = {},
  defects: string[] = [],
): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'viperhttp',
    options,
    defects,
    controlPlane: false,
    timing: 'none',
  });
  started.push(emulator);
  return emulator;
}

function baseUrl(emulator: StartedEmulator): string {
  const { host, port } = emulator.endpoints().services.http!;
  return `http://${host}:${port}`;
}

function client(
  emulator: StartedEmulator,
  overrides: Partial<ViperHttpClientOptions> = {},
): { client: ViperHttpClient; events: TranscriptEvent[] } {
  const events: TranscriptEvent[] = [];
  const created = new ViperHttpClient({
    baseUrl: baseUrl(emulator),
    targetName: 'dut-viper',
    dialect: 'viperhttp',
    token: TOKEN,
    timeouts: { stepMs: 2000 },
    transcript: (event) => events.push(event),
    ...overrides,
  });
  clients.push(created);
  return { client: created, events };
}

const image = (version: string, size = 40 * 1024) =>
  buildEsp32Image({ version, size, seed: 11, projectName: 'viperhttp-app' });

describe('ViperHttpClient (viperhttp dialect) against the viperhttp emulator', () => {
  it('pushes an image, treats the dropped finalize as the reboot signal and sees the new version run', async () => {
    const emulator = await device();
    const { client: viper, events } = client(emulator);
    const update = image('1.1.0');
    const progress: number[] = [];

    const result = await viper.pushImage(update, { reboot: true, onProgress: (sent) => progress.push(sent) });

    expect(result.finalize.kind).toBe('reboot-disconnect');
    expect(result.before.running_partition?.label).toBe('ota_0');
    expect(result.after?.running_partition?.label).toBe('ota_1');
    expect(result.after?.boot_partition?.label).toBe('ota_1');
    expect(emulator.device.running?.version).toBe('1.1.0');
    expect(result.chunks).toBe(Math.ceil(update.length / 3840));
    expect(progress.at(-1)).toBe(update.length);
    const chunkEvents = events.filter((event) => event.step.startsWith('chunk @ offset'));
    expect(chunkEvents.map((event) => event.step)).toContain('chunk @ offset 7680');
    expect(chunkEvents.every((event) => event.status === 200 && event.bytes.sent <= 3840)).toBe(true);
    expect(chunkEvents.reduce((sum, event) => sum + event.bytes.sent, 0)).toBe(update.length);

    // The new image must be confirmed before the next reset (rollback is on, §1.5).
    expect(await viper.markValid()).toEqual({ ok: true });
  });

  it('a finalize that does not reboot answers 200 with the result and the old image keeps running', async () => {
    const emulator = await device();
    const { client: viper } = client(emulator);
    const update = image('1.2.0', 16 * 1024);
    const result = await viper.pushImage(update, { reboot: false });
    expect(result.finalize).toMatchObject({
      kind: 'committed',
      result: { ok: true, written_bytes: update.length },
    });
    expect(result.after).toBeUndefined();
    expect((await viper.status()).boot_partition?.label).toBe('ota_1');
    expect(emulator.device.running?.version).not.toBe('1.2.0');
  });

  for (const chunkSize of [1024, 2048, 3840]) {
    it(`writes the image in ${chunkSize}-byte chunks with offsets that the device checks`, async () => {
      const emulator = await device();
      const { client: viper, events } = client(emulator, { chunkSize });
      const update = image('2.0.0', 24 * 1024);
      const result = await viper.pushImage(update, { reboot: true });
      expect(result.chunks).toBe(Math.ceil(update.length / chunkSize));
      expect(result.after?.running_partition?.label).toBe('ota_1');
      expect(emulator.device.running?.version).toBe('2.0.0');
      const offsets = events
        .filter((e) => e.method === 'POST' && e.path.includes('/ota/chunk'))
        .map((e) => e.path);
      expect(offsets.slice(0, 3)).toEqual([
        '/ota/chunk?offset=0',
        `/ota/chunk?offset=${chunkSize}`,
        `/ota/chunk?offset=${2 * chunkSize}`,
      ]);
    });
  }

  it('crosses the 16-requests-per-connection limit mid-upload on fresh connections, without errors', async () => {
    const emulator = await device();
    const { client: viper } = client(emulator, { chunkSize: 1024 });
    const update = image('3.0.0', 48 * 1024);
    const result = await viper.pushImage(update, { reboot: false });
    // status + abort + begin + 48 chunks + finalize = 52 requests: 16 per connection → 4 connections.
    expect(result.chunks).toBe(48);
    expect(result.connections).toBe(4);
    expect(result.finalize.kind).toBe('committed');
  });

  it('a wrong offset is refused by the device and surfaces as HTTP_STATUS naming target, step and detail', async () => {
    const emulator = await device();
    const { client: viper } = client(emulator);
    await viper.begin({ expectedSize: 7680 + 16, force: true });
    await viper.chunk(new Uint8Array(3840).fill(0xe9), { offset: 0 });
    const error = await viper.chunk(new Uint8Array(16), { offset: 7680 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStepError);
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 409, step: 'chunk @ offset 7680' });
    expect((error as Error).message).toContain('dut-viper');
    expect((error as Error).message).toContain("step 'chunk @ offset 7680'");
    expect((error as Error).message).toContain('offset mismatch; only sequential writes are supported');
    // Acceptance twin: the right offset is taken.
    await expect(viper.chunk(new Uint8Array(3840), { offset: 3840 })).resolves.toMatchObject({
      recovered: false,
    });
  });

  it('a SHA given at begin that does not match makes finalize fail with 409 sha256 mismatch', async () => {
    const emulator = await device();
    const { client: viper } = client(emulator);
    const update = image('4.0.0', 8 * 1024);
    const wrong = 'ab'.repeat(32);
    const error = await viper.pushImage(update, { sha256: wrong }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 409, step: 'finalize' });
    expect((error as Error).message).toContain('sha256 mismatch');
    await viper.abort();
    await expect(viper.pushImage(update, { sha256: 'at-begin' })).resolves.toMatchObject({
      finalize: { kind: 'committed' },
    });
  });

  it('sends the token in the query when asked, and a wrong token is a 401 that never shows the token', async () => {
    const emulator = await device();
    const { client: byQuery, events } = client(emulator, { tokenVia: 'query' });
    expect((await byQuery.status()).supported).toBe(true);
    const sent = events[0]!;
    expect(sent.path).toBe('/ota/status?token=***');

    const secret = 'wrong-token-value';
    const { client: wrong, events: wrongEvents } = client(emulator, { token: secret });
    const error = await wrong.status().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 401, step: 'status' });
    expect((error as Error).message).toContain('invalid ota token');
    const everything = JSON.stringify(wrongEvents) + JSON.stringify(events) + (error as Error).message;
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(TOKEN);
    expect(wrongEvents[0]?.requestHeaders['x-ota-token']).toBe('***');
  });

  it('applies a caller redactor to transcripts and messages', async () => {
    const emulator = await device();
    const { client: viper, events } = client(emulator, {
      redact: (text) => text.replaceAll('ota_1', '<slot>'),
    });
    await viper.request('GET', '/ota/nope');
    const error = await viper.finalize().catch((e: unknown) => e);
    expect((error as Error).message).toContain('ota session is not active');
    expect(events.some((event) => event.path === '/ota/nope' && event.status === 404)).toBe(true);
  });

  it('request() and rawRequest() reach the device as written: 401 without auth, 413 over 4096 bytes, chunked refused', async () => {
    const emulator = await device();
    const { client: viper, events } = client(emulator);
    const anonymous = await viper.request('GET', '/ota/status', { auth: false });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body.toString())).toEqual({ detail: 'invalid ota token' });
    const authorised = await viper.request('GET', '/ota/status');
    expect(authorised.status).toBe(200);

    await viper.begin({ force: true });
    const fits = await viper.rawRequest(
      { method: 'POST', path: '/ota/chunk?offset=0', body: new Uint8Array(3840).fill(0xe9) },
      { auth: true },
    );
    expect(fits.status).toBe(200);
    const tooLarge = await viper.rawRequest(
      { method: 'POST', path: '/ota/chunk?offset=3840', body: new Uint8Array(4096) },
      { auth: true },
    );
    expect(tooLarge.status).toBe(413);
    const chunked = await viper.rawRequest(
      { method: 'POST', path: '/ota/chunk?offset=3840', body: new Uint8Array(64), chunked: 32 },
      { auth: true },
    );
    expect(chunked.status).toBe(400);
    const wrongAuth = await viper.rawRequest({
      bytes: `GET /ota/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    });
    expect(wrongAuth.status).toBe(401);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    expect(events.filter((event) => event.via === 'raw-socket').map((event) => event.status)).toEqual([
      200, 413, 400, 401,
    ]);
  });

  it('upload() sends a whole small image in one request', async () => {
    const emulator = await device();
    const { client: viper } = client(emulator);
    const tiny = image('5.0.0', 2048);
    const outcome = await viper.upload(tiny, { setBoot: true });
    expect(outcome).toMatchObject({ kind: 'committed', result: { ok: true, written_bytes: 2048 } });
  });
});
