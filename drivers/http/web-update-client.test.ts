import { afterEach, describe, expect, it, vi } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import type { TranscriptEvent } from './transcript.ts';
import { WebUpdateClient, type WebUpdateClientOptions } from './web-update-client.ts';

const SUCCESS = '<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...';
const PASSWORD = 'web-secret-pw';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  deviceOptions: Record<string, unknown>,
  clientOptions: Partial<WebUpdateClientOptions> = {},
  defects: string[] = [],
): Promise<{ emulator: StartedEmulator; client: WebUpdateClient; events: TranscriptEvent[] }> {
  const emulator = await startEmulator({
    profile: 'web-update',
    platform: 'esp32',
    options: deviceOptions,
    defects,
    controlPlane: false,
    timing: 'none',
  });
  cleanups.push(() => emulator.stop());
  const { host, port } = emulator.endpoints().services.http!;
  const events: TranscriptEvent[] = [];
  const client = new WebUpdateClient({
    baseUrl: `http://${host}:${port}`,
    targetName: 'esp32-web',
    timeouts: { stepMs: 3000 },
    transcript: (event) => events.push(event),
    ...clientOptions,
  });
  cleanups.push(() => client.destroy());
  return { emulator, client, events };
}

const image = (version: string) =>
  buildEsp32Image({ version, projectName: 'web-update-demo', size: 96 * 1024, seed: 9 });

async function runsVersion(emulator: StartedEmulator, version: string): Promise<void> {
  await vi.waitFor(() => expect(emulator.device.running?.version).toBe(version), {
    timeout: 5000,
    interval: 20,
  });
}

const credentials = { username: 'admin', password: PASSWORD };

describe('WebUpdateClient against the web-update emulator (ESP32 HTTPUpdateServer)', () => {
  it('gets the form and streams a firmware upload that the device flashes and reboots into', async () => {
    const { emulator, client, events } = await setup({});
    const form = await client.page();
    expect(form.status).toBe(200);
    expect(form.body).toContain("name='firmware'");
    const progress: number[] = [];
    let firstPieceAt = Number.NaN;
    let lastPieceAt = Number.NaN;
    const update = image('2.0.0');
    const called = performance.now();
    const result = await client.upload(update, {
      // The first piece is taken once the upload is on the network: its clock has started by then.
      onProgress: (sent) => {
        progress.push(sent);
        if (progress.length === 1) firstPieceAt = performance.now();
        lastPieceAt = performance.now();
      },
    });
    const returned = performance.now();
    expect(result).toMatchObject({ outcome: 'answered', status: 200, body: SUCCESS });
    // The bench's clock (like curl's time_total): from the connect, after the request was built.
    const wireStartedAt = result.outcome === 'answered' ? result.wireStartedAt : Number.NaN;
    expect(wireStartedAt).toBeGreaterThanOrEqual(called);
    expect(wireStartedAt).toBeLessThanOrEqual(firstPieceAt);
    expect(wireStartedAt).toBeLessThan(returned);
    // …to the answer complete on the wire: after the whole body went, before the caller has it.
    const answeredAt = result.outcome === 'answered' ? result.answeredAt : Number.NaN;
    expect(answeredAt).toBeGreaterThanOrEqual(lastPieceAt);
    expect(answeredAt).toBeLessThanOrEqual(returned);
    expect(progress.at(-1)).toBe(update.length);
    await runsVersion(emulator, '2.0.0');
    const post = events.find((event) => event.method === 'POST')!;
    expect(post.step).toBe('upload (firmware)');
    expect(post.requestHeaders['content-type']).toMatch(
      /^multipart\/form-data; boundary=----ota-conformance-/,
    );
    expect(Number(post.requestHeaders['content-length'])).toBe(post.bytes.sent);
    expect(post.bytes.sent).toBeGreaterThan(update.length);
  });

  for (const auth of ['basic', 'auto'] as const) {
    it(`Basic credentials (auth: '${auth}') are accepted; a wrong password is a clear 401 and nothing is flashed`, async () => {
      const { emulator, client, events } = await setup(
        { ...credentials, authScheme: 'basic' },
        { ...credentials, auth },
      );
      expect((await client.page()).status).toBe(200);
      await expect(client.upload(image('3.0.0'))).resolves.toMatchObject({ status: 200, body: SUCCESS });
      await runsVersion(emulator, '3.0.0');
      expect(events.find((event) => event.method === 'POST')?.requestHeaders.authorization).toBe('Basic ***');

      const wrong = new WebUpdateClient({
        baseUrl: `http://127.0.0.1:${emulator.endpoints().services.http!.port}`,
        targetName: 'esp32-web',
        username: 'admin',
        password: 'not-the-password',
        auth,
        timeouts: { stepMs: 3000 },
        transcript: (event) => events.push(event),
      });
      cleanups.push(() => wrong.destroy());
      const error = await wrong.upload(image('3.1.0')).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 401, step: 'upload (firmware)' });
      expect((error as Error).message).toContain('esp32-web');
      expect((error as Error).message).toContain("rejected the credentials of user 'admin'");
      expect((error as Error).message).not.toContain('not-the-password');
      expect(JSON.stringify(events)).not.toContain(PASSWORD);
      expect(JSON.stringify(events)).not.toContain(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
      expect(emulator.device.running?.version).toBe('3.0.0');
    });
  }

  for (const auth of ['digest', 'auto'] as const) {
    it(`Digest (auth: '${auth}') answers the device's fresh challenge; a wrong password is refused`, async () => {
      const { emulator, client, events } = await setup(
        { ...credentials, authScheme: 'digest' },
        { ...credentials, auth },
      );
      expect((await client.page()).status).toBe(200);
      await expect(client.upload(image('4.0.0'))).resolves.toMatchObject({ status: 200, body: SUCCESS });
      await runsVersion(emulator, '4.0.0');
      const post = events.find((event) => event.method === 'POST')!;
      expect(post.requestHeaders.authorization).toBe('Digest ***');
      // After the reboot the old nonce is gone; the client asks for a new one and succeeds again.
      await expect(client.upload(image('4.1.0'))).resolves.toMatchObject({ status: 200, body: SUCCESS });
      await runsVersion(emulator, '4.1.0');

      const wrong = new WebUpdateClient({
        baseUrl: `http://127.0.0.1:${emulator.endpoints().services.http!.port}`,
        targetName: 'esp32-web',
        username: 'admin',
        password: 'not-the-password',
        auth,
        timeouts: { stepMs: 3000 },
      });
      cleanups.push(() => wrong.destroy());
      await expect(wrong.page()).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 401, step: 'page' });
      const error = await wrong.upload(image('4.2.0')).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 401 });
      expect((error as Error).message).toContain('Digest realm="Login Required"');
      expect(emulator.device.running?.version).toBe('4.1.0');
    });
  }

  it("auth 'digest' against a device that challenges only with Basic says so", async () => {
    const { client } = await setup(
      { ...credentials, authScheme: 'basic' },
      { ...credentials, auth: 'digest' },
    );
    const error = await client.upload(image('5.0.0')).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'HTTP_STATUS',
      status: 401,
      step: 'upload (firmware): auth challenge',
    });
    expect((error as Error).message).toContain('challenges only with Basic realm="Login Required"');
  });

  it('without credentials a protected device is a 401 naming the missing credentials, or an answer when asked', async () => {
    const { client } = await setup({ ...credentials, authScheme: 'basic' });
    const error = await client.upload(image('5.1.0')).catch((e: unknown) => e);
    expect((error as Error).message).toContain('requires credentials');
    const answer = await client.upload(image('5.1.0'), { throwOnUnauthorized: false });
    expect(answer).toMatchObject({ outcome: 'answered', status: 401 });
  });

  it('a truncated upload ends as a cut connection and a conforming device keeps its image', async () => {
    const { emulator, client } = await setup({});
    const before = emulator.device.running?.version;
    const result = await client.upload(image('6.0.0'), { truncateAt: 40 * 1024 });
    expect(result.outcome).toBe('cut');
    expect(result.sentBytes).toBeLessThan(image('6.0.0').length);
    expect(emulator.device.running?.version).toBe(before);
    // Acceptance twin: the same image whole is flashed. The page round trip first lets the device
    // finish the aborted request: a WebServer serves one client at a time, the emulator does not.
    await client.page();
    await expect(client.upload(image('6.0.0'))).resolves.toMatchObject({ status: 200, body: SUCCESS });
    await runsVersion(emulator, '6.0.0');
  });

  it("contentLength 'omit' streams with chunked transfer encoding", async () => {
    const { client, events } = await setup({});
    const result = await client.upload(image('7.0.0'), { contentLength: 'omit' });
    expect(result.outcome).toBe('answered');
    const post = events.find((event) => event.method === 'POST')!;
    expect(post.requestHeaders['content-length']).toBeUndefined();
  });

  it('filesystem field goes to the filesystem target', async () => {
    const { client } = await setup({});
    const result = await client.upload(new Uint8Array(8192).fill(0xff), { field: 'filesystem' });
    expect(result.outcome).toBe('answered');
  });
});
