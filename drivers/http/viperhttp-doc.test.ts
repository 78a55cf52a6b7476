import { afterEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import type { TranscriptEvent } from './transcript.ts';
import { type ViperDialect, ViperHttpClient } from './viperhttp-client.ts';

const DOC_TOKEN = 'your-secure-token';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  profile: ViperDialect,
  dialect: ViperDialect,
  token: string,
): Promise<{ emulator: StartedEmulator; client: ViperHttpClient; events: TranscriptEvent[] }> {
  const emulator = await startEmulator({ profile, controlPlane: false, timing: 'none' });
  cleanups.push(() => emulator.stop());
  const { host, port } = emulator.endpoints().services.http!;
  const events: TranscriptEvent[] = [];
  const client = new ViperHttpClient({
    baseUrl: `http://${host}:${port}`,
    targetName: 'dut-doc',
    dialect,
    token,
    timeouts: { stepMs: 2000 },
    transcript: (event) => events.push(event),
  });
  cleanups.push(() => client.destroy());
  return { emulator, client, events };
}

const image = (version: string) =>
  buildEsp32Image({ version, size: 20 * 1024, seed: 3, projectName: 'doc-app' });

describe('ViperHttpClient (viperhttp-doc dialect) against the viperhttp-doc emulator', () => {
  it('pushes with Bearer, {size} at begin, /ota/write and {sha256} at finalize, then runs the new image', async () => {
    const { emulator, client, events } = await setup('viperhttp-doc', 'viperhttp-doc', DOC_TOKEN);
    const update = image('1.5.0');
    const result = await client.pushImage(update, { reboot: true });
    expect(result.finalize).toMatchObject({
      kind: 'committed',
      result: { ok: true, size: update.length, reboot: true },
    });
    expect(result.after?.running_partition?.label).toBe('ota_1');
    expect(emulator.device.running?.version).toBe('1.5.0');
    const paths = events.map((event) => `${event.method} ${event.path}`);
    expect(paths).toContain('POST /ota/begin');
    expect(paths).toContain('POST /ota/write');
    expect(paths).not.toContain('POST /ota/abort');
    expect(events.find((event) => event.step === 'begin')?.requestHeaders.authorization).toBe('Bearer ***');
    expect(JSON.stringify(events)).not.toContain(DOC_TOKEN);
  });

  it('a wrong digest at finalize is rejected (400 sha256 mismatch) and the running image stays', async () => {
    const { emulator, client } = await setup('viperhttp-doc', 'viperhttp-doc', DOC_TOKEN);
    const error = await client
      .pushImage(image('1.6.0'), { sha256: '00'.repeat(32) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 400, step: 'finalize' });
    expect((error as Error).message).toContain('sha256 mismatch');
    expect(emulator.device.running?.version).not.toBe('1.6.0');
    await expect(client.pushImage(image('1.6.0'))).resolves.toMatchObject({
      finalize: { kind: 'committed' },
    });
  });

  it('the doc dialect has no mark-valid route: 404 surfaces as HTTP_STATUS for the step', async () => {
    const { client } = await setup('viperhttp-doc', 'viperhttp-doc', DOC_TOKEN);
    await expect(client.markValid()).rejects.toMatchObject({
      code: 'HTTP_STATUS',
      status: 404,
      step: 'mark-valid',
    });
    await expect(client.status()).resolves.toMatchObject({ supported: true });
  });

  it('the doc dialect against a real viperhttp device gets 401: Bearer is not X-OTA-Token (§0.1)', async () => {
    const { client } = await setup('viperhttp', 'viperhttp-doc', 'ota-e2e-token');
    const error = await client.pushImage(image('1.7.0')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 401, step: 'status' });
    expect((error as Error).message).not.toContain('ota-e2e-token');
  });
});
