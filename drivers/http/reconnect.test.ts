import { afterEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { type DropProxy, startDropProxy } from './connection-drop-proxy.test-support.ts';
import { HttpStepError } from './errors.ts';
import type { TranscriptEvent } from './transcript.ts';
import { type ViperDialect, ViperHttpClient } from './viperhttp-client.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function behindProxy(
  profile: ViperDialect,
  dropAt: number,
  mode: 'before' | 'after',
): Promise<{
  emulator: StartedEmulator;
  proxy: DropProxy;
  client: ViperHttpClient;
  events: TranscriptEvent[];
}> {
  const emulator = await startEmulator({ profile, controlPlane: false, timing: 'none' });
  cleanups.push(() => emulator.stop());
  const proxy = await startDropProxy(emulator.endpoints().services.http!.port, dropAt, mode);
  cleanups.push(() => proxy.stop());
  const events: TranscriptEvent[] = [];
  const client = new ViperHttpClient({
    baseUrl: `http://127.0.0.1:${proxy.port}`,
    targetName: 'dut-behind-proxy',
    dialect: profile,
    token: profile === 'viperhttp' ? 'ota-e2e-token' : 'your-secure-token',
    chunkSize: 2048,
    timeouts: { stepMs: 2000 },
    transcript: (event) => events.push(event),
  });
  cleanups.push(() => client.destroy());
  return { emulator, proxy, client, events };
}

const image = (version: string) =>
  buildEsp32Image({ version, size: 32 * 1024, seed: 5, projectName: 'reconnect' });

describe('a device that drops the connection without Connection: close', () => {
  it('viperhttp: a chunk lost before the device saw it is re-sent at its offset, and the image verifies', async () => {
    const { emulator, proxy, client, events } = await behindProxy('viperhttp', 5, 'before');
    const update = image('6.0.0');
    const result = await client.pushImage(update, { reboot: true });
    expect(proxy.dropped).toBeGreaterThanOrEqual(3);
    // expected_sha256 was given at begin, so a duplicated or missing chunk would fail finalize.
    expect(result.finalize.kind).toBe('reboot-disconnect');
    expect(emulator.device.running?.version).toBe('6.0.0');
    expect(events.some((event) => event.step.endsWith('(re-sent)') && event.status === 200)).toBe(true);
    expect(events.some((event) => event.step.startsWith('status (after a lost chunk @ offset'))).toBe(true);
  });

  it('viperhttp: a chunk the device took before the drop is confirmed from the status, not re-sent', async () => {
    const { emulator, proxy, client, events } = await behindProxy('viperhttp', 6, 'after');
    const update = image('6.1.0');
    const result = await client.pushImage(update, { reboot: true });
    expect(proxy.dropped).toBeGreaterThanOrEqual(2);
    expect(result.after?.running_partition?.label).toBe('ota_1');
    expect(emulator.device.running?.version).toBe('6.1.0');
    expect(events.some((event) => event.step.endsWith('(re-sent)'))).toBe(false);
  });

  it('viperhttp-doc: a /ota/write lost unseen is not re-sent (no offset guards it) and the error says so', async () => {
    const { client } = await behindProxy('viperhttp-doc', 5, 'before');
    const error = await client.pushImage(image('7.0.0')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStepError);
    expect(error).toMatchObject({ code: 'HTTP_CONNECTION', step: 'chunk @ offset 4096' });
    expect((error as Error).message).toContain('dut-behind-proxy');
    expect((error as Error).message).toContain('was not re-sent');
  });

  it('viperhttp-doc: a /ota/write the device took before the drop is confirmed and the push completes', async () => {
    const { emulator, client } = await behindProxy('viperhttp-doc', 4, 'after');
    const result = await client.pushImage(image('7.1.0'), { reboot: true });
    expect(result.finalize).toMatchObject({ kind: 'committed', result: { ok: true } });
    expect(result.after?.running_partition?.label).toBe('ota_1');
    expect(emulator.device.running?.version).toBe('7.1.0');
  });

  it('viperhttp: a finalize lost before the device saw it is not mistaken for the reboot', async () => {
    const { emulator } = await behindProxy('viperhttp', 1, 'before');
    const proxy = await startDropProxy(
      emulator.endpoints().services.http!.port,
      1,
      'before',
      /^POST \/ota\/finalize/,
    );
    cleanups.push(() => proxy.stop());
    const client = new ViperHttpClient({
      baseUrl: `http://127.0.0.1:${proxy.port}`,
      targetName: 'dut-lost-finalize',
      dialect: 'viperhttp',
      token: 'ota-e2e-token',
      timeouts: { stepMs: 2000 },
    });
    cleanups.push(() => client.destroy());
    const error = await client.pushImage(image('6.2.0'), { reboot: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_CONNECTION', step: 'wait for the reboot into ota_1' });
    expect((error as Error).message).toContain('never reached the device');
    expect(emulator.device.running?.version).not.toBe('6.2.0');
  });
});
