import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { socatMissing } from '../../console/socat.test-support.ts';
import type { StartedEmulator } from '../../start-emulator.ts';
import { ConnectionDroppedError, encodeRequest, RawHttpConnection } from './raw-http-client.test-support.ts';
import {
  AUTH,
  type Booted,
  boot,
  bootsSeen,
  consoleAppVersion,
  image,
  pushImage,
  sha256Hex,
  TOKEN,
  waitForReboot,
} from './viperhttp-test-kit.test-support.ts';

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

function pair(defect: string): Promise<[Booted, Booted]> {
  return Promise.all([
    boot(started, { profile: 'viperhttp' }),
    boot(started, { profile: 'viperhttp', defects: [defect] }),
  ]);
}

/** Pushes, finalizes with reboot, waits for the boot; returns the running slot label. */
async function updateAndReboot(device: Booted, bytes: Uint8Array): Promise<string> {
  await pushImage(device, bytes);
  const before = bootsSeen(device.emulator);
  await expect(device.post('/ota/finalize', { reboot: true })).rejects.toBeInstanceOf(ConnectionDroppedError);
  return ((await waitForReboot(device, before)).json() as { running_partition: { label: string } })
    .running_partition.label;
}

function writtenOf(answer: { json(): unknown }): number | undefined {
  return (answer.json() as { session: { written_bytes: number } | null }).session?.written_bytes;
}

function nextSlotSize(status: unknown): number {
  return (status as { next_update_partition: { size: number } }).next_update_partition.size;
}

async function reboot(device: Booted): Promise<void> {
  const before = bootsSeen(device.emulator);
  await device.post('/debug/reboot', { delay_ms: 1 });
  await waitForReboot(device, before);
}

describe('viperhttp defects, each beside the conforming device', () => {
  it('accepts-any-token: a wrong X-OTA-Token passes', async () => {
    const [good, bad] = await pair('accepts-any-token');
    const wrong = { 'X-OTA-Token': 'guess' };
    expect((await good.get('/ota/status', wrong)).status).toBe(401);
    expect((await bad.get('/ota/status', wrong)).status).toBe(200);
  });

  it('status-without-token: GET /ota/status answers without a token, other routes still refuse', async () => {
    const [good, bad] = await pair('status-without-token');
    expect((await good.get('/ota/status', {})).status).toBe(401);
    expect((await bad.get('/ota/status', {})).status).toBe(200);
    expect((await bad.post('/ota/abort', {}, {})).status).toBe(401);
  });

  it('accepts-bearer: Authorization: Bearer <token> is taken as the token', async () => {
    const [good, bad] = await pair('accepts-bearer');
    const bearer = { authorization: `Bearer ${TOKEN}` };
    expect((await good.get('/ota/status', bearer)).status).toBe(401);
    expect((await bad.get('/ota/status', bearer)).status).toBe(200);
  });

  it('skips-set-boot: finalize answers set_boot true, yet the old image keeps booting', async () => {
    const [good, bad] = await pair('skips-set-boot');
    const update = image('1.1.0');
    for (const device of [good, bad]) {
      await pushImage(device, update, { sha: sha256Hex(update) });
      const answer = await device.post('/ota/finalize', {});
      expect(answer.status).toBe(200);
      expect((answer.json() as { set_boot: boolean }).set_boot).toBe(true);
    }
    await reboot(good);
    await reboot(bad);
    expect(consoleAppVersion(good.emulator)).toBe('1.1.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.0.0');
  });

  it('accepts-bad-sha: finalize with a mismatching expected_sha256 succeeds and the image boots', async () => {
    const [good, bad] = await pair('accepts-bad-sha');
    const update = image('1.1.0');
    const wrong = sha256Hex(image('6.6.6'));
    for (const device of [good, bad]) await pushImage(device, update, { sha: wrong });
    expect((await good.post('/ota/finalize', {})).status).toBe(409);
    expect((await bad.post('/ota/finalize', {})).status).toBe(200);
    await reboot(good);
    await reboot(bad);
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('commits-before-verifying: the 409 is answered, but the mismatching image boots next', async () => {
    const [good, bad] = await pair('commits-before-verifying');
    const update = image('1.1.0');
    const wrong = sha256Hex(image('6.6.6'));
    for (const device of [good, bad]) {
      await pushImage(device, update, { sha: wrong });
      expect((await device.post('/ota/finalize', {})).json()).toEqual({ detail: 'sha256 mismatch' });
    }
    const status = async (device: Booted) =>
      ((await device.get('/ota/status')).json() as { boot_partition: { label: string } }).boot_partition
        .label;
    expect(await status(good)).toBe('ota_0');
    expect(await status(bad)).toBe('ota_1');
    await reboot(good);
    await reboot(bad);
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('allows-second-session: begin without force replaces the active session', async () => {
    const [good, bad] = await pair('allows-second-session');
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    expect((await good.post('/ota/begin', {})).status).toBe(409);
    const second = await bad.post('/ota/begin', {});
    expect(second.status).toBe(200);
    expect((second.json() as { session: { id: number } }).session.id).toBe(2);
  });

  it('ignores-offset: a chunk at the wrong offset is appended', async () => {
    const [good, bad] = await pair('ignores-offset');
    for (const device of [good, bad]) {
      await device.post('/ota/begin', {});
      await device.post('/ota/chunk?offset=0', Buffer.from('abcd'));
    }
    expect((await good.post('/ota/chunk?offset=0', Buffer.from('abcd'))).status).toBe(409);
    const appended = await bad.post('/ota/chunk?offset=0', Buffer.from('abcd'));
    expect((appended.json() as { session: { written_bytes: number } }).session.written_bytes).toBe(8);
  });

  it('never-rolls-back: an image nobody marked valid survives the next reset', async () => {
    const [good, bad] = await pair('never-rolls-back');
    for (const device of [good, bad]) {
      expect(await updateAndReboot(device, image('1.1.0'))).toBe('ota_1');
      await reboot(device);
    }
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('otadata-in-place: the second update is lost because its otadata entry is ANDed over the first boot’s', async () => {
    const [good, bad] = await pair('otadata-in-place');
    for (const device of [good, bad]) {
      expect(await updateAndReboot(device, image('1.1.0'))).toBe('ota_1');
      expect((await device.post('/ota/mark-valid', {})).status).toBe(200);
      await updateAndReboot(device, image('1.2.0', 24 * 1024, 8));
    }
    expect(consoleAppVersion(good.emulator)).toBe('1.2.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('accepts-empty-chunk: an empty chunk is answered 200 instead of 400 "empty chunk"', async () => {
    const [good, bad] = await pair('accepts-empty-chunk');
    for (const device of [good, bad]) await device.post('/ota/begin', { expected_size: 4096 });
    expect((await good.post('/ota/chunk?offset=0', Buffer.alloc(0))).json()).toEqual({
      detail: 'empty chunk',
    });
    const empty = await bad.post('/ota/chunk?offset=0', Buffer.alloc(0));
    expect(empty.status).toBe(200);
    expect(writtenOf(empty)).toBe(0);
  });

  it('ignores-expected-size: a chunk past expected_size is written', async () => {
    const [good, bad] = await pair('ignores-expected-size');
    for (const device of [good, bad]) await device.post('/ota/begin', { expected_size: 3000 });
    const refused = await good.post('/ota/chunk?offset=0', Buffer.alloc(3001));
    expect(refused.json()).toEqual({ detail: 'chunk exceeds expected_size' });
    const over = await bad.post('/ota/chunk?offset=0', Buffer.alloc(3001));
    expect(over.status).toBe(200);
    expect(writtenOf(over)).toBe(3001);
  });

  it('ignores-capacity: begin takes an expected_size larger than the update slot', async () => {
    const [good, bad] = await pair('ignores-capacity');
    const capacity = nextSlotSize((await good.get('/ota/status')).json());
    const over = { expected_size: capacity + 1 };
    expect((await good.post('/ota/begin', over)).json()).toEqual({
      detail: 'expected_size exceeds update partition capacity',
    });
    expect((await bad.post('/ota/begin', over)).status).toBe(200);
  });

  it('force-ignored: begin with force=true still answers 409 while a session is active', async () => {
    const [good, bad] = await pair('force-ignored');
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    const forced = { force: true };
    expect((await good.post('/ota/begin', forced)).status).toBe(200);
    expect((await bad.post('/ota/begin', forced)).json()).toEqual({ detail: 'ota session already active' });
    // Abort still ends the session, so a begin after it works.
    await bad.post('/ota/abort', {});
    expect((await bad.post('/ota/begin', {})).status).toBe(200);
  });

  it('chunk-without-session: a chunk with no session is answered 200 with the idle status', async () => {
    const [good, bad] = await pair('chunk-without-session');
    const chunk = Buffer.alloc(512, 0xa5);
    expect((await good.post('/ota/chunk?offset=0', chunk)).json()).toEqual({
      detail: 'ota session is not active',
    });
    const dropped = await bad.post('/ota/chunk?offset=0', chunk);
    expect(dropped.status).toBe(200);
    expect((dropped.json() as { session: unknown }).session).toBeNull();
  });

  it('abort-keeps-session: abort says aborted=true but the session stays active', async () => {
    const [good, bad] = await pair('abort-keeps-session');
    for (const device of [good, bad]) {
      await device.post('/ota/begin', {});
      expect((await device.post('/ota/abort', {})).json()).toMatchObject({ aborted: true, session_id: 1 });
    }
    const idle = (await good.get('/ota/status')).json() as { active: boolean; last_error: string };
    const kept = (await bad.get('/ota/status')).json() as { active: boolean; last_error: string };
    expect(idle).toMatchObject({ active: false, last_error: 'aborted' });
    expect(kept).toMatchObject({ active: true, last_error: 'aborted' });
    expect((await bad.post('/ota/begin', {})).status).toBe(409);
  });

  it('stale-progress: remaining_bytes and progress_pct keep their values from begin', async () => {
    const [good, bad] = await pair('stale-progress');
    const progress = async (device: Booted) => {
      await device.post('/ota/begin', { expected_size: 10_000 });
      await device.post('/ota/chunk?offset=0', Buffer.alloc(2500));
      const { session } = (await device.get('/ota/status')).json() as {
        session: { written_bytes: number; remaining_bytes: number; progress_pct: number };
      };
      return [session.written_bytes, session.remaining_bytes, session.progress_pct];
    };
    expect(await progress(good)).toEqual([2500, 7500, 25]);
    expect(await progress(bad)).toEqual([2500, 10_000, 0]);
  });

  it('ignores-strict-size: a short image reaches the SHA check instead of the size refusal', async () => {
    const [good, bad] = await pair('ignores-strict-size');
    const update = image('1.1.0');
    for (const device of [good, bad]) {
      await device.post('/ota/begin', { expected_size: update.length, expected_sha256: sha256Hex(update) });
      await device.post('/ota/chunk?offset=0', Buffer.from(update.subarray(0, 3840)));
    }
    expect((await good.post('/ota/finalize', { set_boot: false })).json()).toEqual({
      detail: 'written size does not match expected_size',
    });
    expect((await bad.post('/ota/finalize', { set_boot: false })).json()).toEqual({
      detail: 'sha256 mismatch',
    });
    // Without a digest at begin, the short image is finalized outright.
    await bad.post('/ota/begin', { expected_size: update.length, force: true });
    await bad.post('/ota/chunk?offset=0', Buffer.from(update.subarray(0, 3840)));
    expect((await bad.post('/ota/finalize', { set_boot: false })).status).toBe(200);
  });

  it('finalizes-empty: a session with nothing written finalizes with 200', async () => {
    const [good, bad] = await pair('finalizes-empty');
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    expect((await good.post('/ota/finalize', { set_boot: false })).json()).toEqual({
      detail: 'no firmware bytes written',
    });
    const empty = await bad.post('/ota/finalize', { set_boot: false });
    expect(empty.status).toBe(200);
    expect(empty.json()).toMatchObject({ ok: true, written_bytes: 0 });
  });

  it('sets-boot-at-begin: the update slot is selected for boot before a byte is written', async () => {
    const [good, bad] = await pair('sets-boot-at-begin');
    const bootLabel = async (device: Booted) =>
      ((await device.get('/ota/status')).json() as { boot_partition: { label: string } }).boot_partition
        .label;
    for (const device of [good, bad]) expect((await device.post('/ota/begin', {})).status).toBe(200);
    expect(await bootLabel(good)).toBe('ota_0');
    expect(await bootLabel(bad)).toBe('ota_1');
    // A mismatching image is refused, yet the slot stays selected.
    const update = image('1.1.0');
    for (const device of [good, bad]) {
      await pushImage(device, update, { sha: sha256Hex(image('6.6.6')) });
      expect((await device.post('/ota/finalize', {})).status).toBe(409);
    }
    expect(await bootLabel(good)).toBe('ota_0');
    expect(await bootLabel(bad)).toBe('ota_1');
  });

  it('finalize-keeps-session: after a finalize without reboot the session is still active', async () => {
    const [good, bad] = await pair('finalize-keeps-session');
    for (const device of [good, bad]) {
      await device.post('/ota/begin', {});
      await device.post('/ota/chunk?offset=0', Buffer.alloc(100, 1));
      expect((await device.post('/ota/finalize', { set_boot: false })).json()).toMatchObject({ ok: true });
    }
    const active = async (device: Booted) =>
      ((await device.get('/ota/status')).json() as { active: boolean; last_result: unknown }).active;
    expect(await active(good)).toBe(false);
    expect(await active(bad)).toBe(true);
    expect((await bad.post('/ota/begin', {})).status).toBe(409);
  });

  it('mark-valid-no-op: {"ok":true} is answered, yet the unconfirmed image rolls back at the next reset', async () => {
    const [good, bad] = await pair('mark-valid-no-op');
    for (const device of [good, bad]) {
      expect(await updateAndReboot(device, image('1.1.0'))).toBe('ota_1');
      expect((await device.post('/ota/mark-valid', {})).json()).toEqual({ ok: true });
      await reboot(device);
    }
    expect(consoleAppVersion(good.emulator)).toBe('1.1.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.0.0');
  });

  it('no-413-close: the 413 leaves the connection open and the next request on it is served', async () => {
    const [good, bad] = await pair('no-413-close');
    const tooLarge = encodeRequest(
      'POST',
      '/ota/chunk?offset=0',
      { ...AUTH, 'Content-Type': 'application/octet-stream' },
      Buffer.alloc(4096, 0x22),
    );
    const status = encodeRequest('GET', '/ota/status', AUTH);
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    const closes = await RawHttpConnection.open(good.port);
    closes.write(Buffer.concat([tooLarge, status]));
    expect((await closes.readResponse()).status).toBe(413);
    await closes.closed;
    const stays = await RawHttpConnection.open(bad.port);
    stays.write(Buffer.concat([tooLarge, status]));
    expect((await stays.readResponse()).status).toBe(413);
    const next = await stays.readResponse();
    expect(next.status).toBe(200);
    expect(writtenOf(next)).toBe(0);
    stays.close();
  });

  it('accepts-chunked: a Transfer-Encoding: chunked body is decoded and written', async () => {
    const [good, bad] = await pair('accepts-chunked');
    const headers = { ...AUTH, 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/octet-stream' };
    const body = '4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n';
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    const refused = await RawHttpConnection.open(good.port);
    expect((await refused.send('POST', '/ota/chunk?offset=0', headers, body)).status).toBe(400);
    refused.close();
    const decoded = await RawHttpConnection.open(bad.port);
    const answer = await decoded.send('POST', '/ota/chunk?offset=0', headers, body);
    expect(answer.status).toBe(200);
    expect(writtenOf(answer)).toBe(6);
    decoded.close();
  });
});

describe('viperhttp console on a pseudo-terminal', () => {
  it('prints the boot log of the updated image to a serial port at 115200', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const device = await boot(started, { profile: 'viperhttp', console: 'pty' });
    const path = device.emulator.endpoints().console!;
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    const received: Buffer[] = [];
    port.on('data', (chunk: Buffer) => received.push(chunk));
    try {
      const deadline = Date.now() + 3000;
      while (!device.emulator.device.console.readerAttached && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await updateAndReboot(device, image('1.1.0'));
      const text = () => Buffer.concat(received).toString('latin1');
      while (
        !/SW_CPU_RESET[\s\S]*viperhttp: OTA routes at \/ota/.test(text()) &&
        Date.now() < deadline + 2000
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const afterReset = text().slice(
        text().indexOf('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n'),
      );
      expect(afterReset.startsWith('rst:0xc')).toBe(true);
      expect(afterReset).toMatch(/I \(\d+\) app_init: App version:\s+1\.1\.0\r\n/);
      expect(afterReset).toMatch(/Loaded app from partition at offset 0x190000/);
      expect(afterReset).toMatch(/viperhttp: OTA routes at \/ota on port \d+\r\n/);
      // The first boot, before the update, ran 1.0.0 from ota_0.
      expect(text().slice(0, text().indexOf('rst:0xc'))).toMatch(/App version:\s+1\.0\.0\r\n/);
    } finally {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
  });
});
