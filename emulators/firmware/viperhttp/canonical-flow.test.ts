import { afterEach, describe, expect, it } from 'vitest';
import type { StartedEmulator } from '../../start-emulator.ts';
import { ConnectionDroppedError, RawHttpConnection } from './raw-http-client.test-support.ts';
import {
  AUTH,
  boot,
  bootsSeen,
  consoleAppVersion,
  image,
  pushImage,
  sha256Hex,
  waitForReboot,
} from './viperhttp-test-kit.test-support.ts';

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

interface Status {
  supported: boolean;
  active: boolean;
  running_partition: { label: string };
  boot_partition: { label: string };
  next_update_partition: { label: string };
  last_result: unknown;
  session: { written_bytes: number } | null;
}

describe('viperhttp: the canonical client flow of reference §1.9', () => {
  it('updates to 1.1.0, reboots into it, marks it valid and keeps it across another reboot', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    expect(consoleAppVersion(device.emulator)).toBe('1.0.0');

    // 1. Unauthorised status is refused; authorised status names two different slots.
    const refused = await device.get('/ota/status', {});
    expect(refused.status).toBe(401);
    expect(refused.json()).toEqual({ detail: 'invalid ota token' });
    const before = (await device.get('/ota/status')).json() as Status;
    expect(before.supported).toBe(true);
    expect(before.running_partition.label).toBe('ota_0');
    expect(before.next_update_partition.label).toBe('ota_1');

    // 2. Clean slate.
    expect((await device.post('/ota/abort')).json()).toEqual({ ok: true, aborted: false, active: false });

    // 3–4. Begin, then raw chunks with ?offset=, checking written_bytes after each.
    const update = image('1.1.0', 40 * 1024);
    const begin = await device.post('/ota/begin', {
      expected_size: update.length,
      expected_sha256: sha256Hex(update),
      force: true,
    });
    expect(begin.status).toBe(200);
    expect((begin.json() as Status).active).toBe(true);
    for (let sent = 0; sent < update.length; sent += 3840) {
      const part = Buffer.from(update.subarray(sent, sent + 3840));
      const chunk = await device.post(`/ota/chunk?offset=${sent}`, part);
      expect(chunk.status).toBe(200);
      expect((chunk.json() as Status).session?.written_bytes).toBe(sent + part.length);
    }

    // 5. Finalize with reboot: machine.reset() runs before any response, so the connection drops.
    const boots = bootsSeen(device.emulator);
    await expect(
      device.post('/ota/finalize', { set_boot: true, strict_size: true, reboot: true }),
    ).rejects.toBeInstanceOf(ConnectionDroppedError);

    // 6. The status answers again from the new image's boot.
    const after = (await waitForReboot(device, boots)).json() as Status;
    expect(after.running_partition.label).toBe('ota_1');
    expect(after.boot_partition.label).toBe('ota_1');
    expect(after.last_result).toBeNull();
    expect(consoleAppVersion(device.emulator)).toBe('1.1.0');
    expect(device.emulator.device.running?.version).toBe('1.1.0');

    // 7. Mark valid, reboot again: no rollback.
    expect((await device.post('/ota/mark-valid', {})).json()).toEqual({ ok: true });
    const marked = bootsSeen(device.emulator);
    expect((await device.post('/debug/reboot', { delay_ms: 1 })).status).toBe(200);
    const again = (await waitForReboot(device, marked)).json() as Status;
    expect(again.running_partition.label).toBe('ota_1');
    expect(consoleAppVersion(device.emulator)).toBe('1.1.0');
  });

  it('rolls back to the old image when the new one is rebooted without mark-valid', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await pushImage(device, image('1.1.0'));
    const boots = bootsSeen(device.emulator);
    await expect(device.post('/ota/finalize', { reboot: true })).rejects.toBeInstanceOf(
      ConnectionDroppedError,
    );
    expect(((await waitForReboot(device, boots)).json() as Status).running_partition.label).toBe('ota_1');
    expect(consoleAppVersion(device.emulator)).toBe('1.1.0');

    const unconfirmed = bootsSeen(device.emulator);
    await device.post('/debug/reboot', { delay_ms: 1 });
    const after = (await waitForReboot(device, unconfirmed)).json() as Status;
    expect(after.running_partition.label).toBe('ota_0');
    expect(consoleAppVersion(device.emulator)).toBe('1.0.0');
  });

  it('answers finalize without reboot with last_result, and boots the image at the next reset', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const update = image('1.2.0');
    await pushImage(device, update);
    const finalize = await device.post('/ota/finalize', { set_boot: true, strict_size: true });
    expect(finalize.status).toBe(200);
    expect(finalize.json()).toMatchObject({
      ok: true,
      session_id: 1,
      written_bytes: update.length,
      expected_size: update.length,
      sha256: sha256Hex(update),
      set_boot: true,
      reboot: false,
      partition: { label: 'ota_1' },
    });
    const status = (await device.get('/ota/status')).json() as Status;
    expect(status.active).toBe(false);
    expect(status.boot_partition.label).toBe('ota_1');
    expect(status.running_partition.label).toBe('ota_0');
    const boots = bootsSeen(device.emulator);
    await device.post('/debug/reboot');
    await waitForReboot(device, boots);
    expect(consoleAppVersion(device.emulator)).toBe('1.2.0');
  });

  it('keeps one connection alive across chunks, as the E2E client does', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const connection = await RawHttpConnection.open(device.port);
    try {
      const update = image('1.1.0', 8 * 1024);
      const begin = await connection.send(
        'POST',
        '/ota/begin',
        { ...AUTH, 'Content-Type': 'application/json' },
        JSON.stringify({ expected_size: update.length }),
      );
      expect(begin.status).toBe(200);
      expect(begin.headers.get('connection')).toBe('keep-alive');
      const chunk = await connection.send(
        'POST',
        '/ota/chunk?offset=0',
        { ...AUTH, 'Content-Type': 'application/octet-stream' },
        Buffer.from(update.subarray(0, 3840)),
      );
      expect(chunk.status).toBe(200);
      expect(connection.ended).toBe(false);
    } finally {
      connection.close();
    }
  });
});
