import { afterEach, describe, expect, it } from 'vitest';
import type { StartedEmulator } from '../../start-emulator.ts';
import { ConnectionDroppedError, rawRequest } from './raw-http-client.test-support.ts';
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

// biome-ignore lint/suspicious/noExplicitAny: JSON read back from the wire, shape asserted by the test
type Wire = any;

/** Two 128 KiB slots, so the partition-capacity rows are reachable with a few dozen chunks. */
const SMALL_SLOTS_CSV = `nvs,data,nvs,,0x4000,
otadata,data,ota,,0x2000,
phy_init,data,phy,,0x1000,
ota_0,app,ota_0,,128K,
ota_1,app,ota_1,,128K,
`;

async function expectDetail(
  response: Promise<{ status: number; json(): unknown; headers: Map<string, string> }>,
  status: number,
  detail: string,
) {
  const answer = await response;
  expect({ status: answer.status, body: answer.json() }).toEqual({ status, body: { detail } });
  expect(answer.headers.get('content-type')).toBe('application/json');
}

async function status(device: Booted): Promise<Wire> {
  return (await device.get('/ota/status')).json() as Wire;
}

describe('viperhttp authentication (reference §1.3)', () => {
  it('refuses every OTA route without the token with 401, before parsing anything', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    for (const [method, path] of [
      ['GET', '/ota/status'],
      ['POST', '/ota/begin'],
      ['POST', '/ota/chunk'],
      ['POST', '/ota/finalize'],
      ['POST', '/ota/abort'],
      ['POST', '/ota/upload'],
      ['POST', '/ota/mark-valid'],
    ] as const) {
      await expectDetail(rawRequest(device.port, method, path, {}, ''), 401, 'invalid ota token');
    }
    await expectDetail(device.post('/ota/begin', { expected_size: 'abc' }, {}), 401, 'invalid ota token');
  });

  it('accepts the token in X-OTA-Token (any case) or ?token=, and refuses Bearer, wrong or shadowed tokens', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    expect((await device.get('/ota/status', { 'X-OTA-Token': TOKEN })).status).toBe(200);
    expect((await device.get('/ota/status', { 'x-ota-token': TOKEN })).status).toBe(200);
    expect((await device.get(`/ota/status?token=${TOKEN}`, {})).status).toBe(200);
    await expectDetail(
      device.get('/ota/status', { Authorization: `Bearer ${TOKEN}` }),
      401,
      'invalid ota token',
    );
    await expectDetail(device.get('/ota/status', { 'X-OTA-Token': `${TOKEN}x` }), 401, 'invalid ota token');
    await expectDetail(device.get('/ota/status?TOKEN=ota-e2e-token', {}), 401, 'invalid ota token');
    // A present header wins over the query, even when it is wrong.
    await expectDetail(
      device.get(`/ota/status?token=${TOKEN}`, { 'X-OTA-Token': 'nope' }),
      401,
      'invalid ota token',
    );
  });

  it('installs the routes without auth when no token is configured, and honours a custom header name', async () => {
    const open = await boot(started, { profile: 'viperhttp', options: { token: null } });
    expect((await open.get('/ota/status', {})).status).toBe(200);
    const custom = await boot(started, {
      profile: 'viperhttp',
      options: { tokenHeader: 'Authorization', prefix: 'update/' },
    });
    expect((await custom.get('/update/status', { Authorization: TOKEN })).status).toBe(200);
    await expectDetail(
      custom.get('/update/status', { Authorization: `Bearer ${TOKEN}` }),
      401,
      'invalid ota token',
    );
    expect((await custom.get('/ota/status', { Authorization: TOKEN })).status).toBe(404);
  });
});

describe('viperhttp begin errors (reference §1.5–1.6)', () => {
  it('refuses a second session with 409 unless force=true, which starts session 2', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    expect((await device.post('/ota/begin', {})).status).toBe(200);
    await expectDetail(device.post('/ota/begin', {}), 409, 'ota session already active');
    await expectDetail(device.post('/ota/begin', { force: 'maybe' }), 409, 'ota session already active');
    const forced = await device.post('/ota/begin?force=yes', {});
    expect(forced.status).toBe(200);
    expect((forced.json() as Wire).session.id).toBe(2);
    expect((forced.json() as Wire).last_error).toBeNull();
  });

  it('checks expected_size (JSON, form or query) as an int, >= 0, within the partition', async () => {
    const device = await boot(started, { profile: 'viperhttp', esp32: { partitionCsv: SMALL_SLOTS_CSV } });
    await expectDetail(device.post('/ota/begin', { expected_size: '12a' }), 400, 'expected_size must be int');
    await expectDetail(
      device.post('/ota/begin?expected_size=1.5', undefined),
      400,
      'expected_size must be int',
    );
    await expectDetail(device.post('/ota/begin', { expected_size: -1 }), 400, 'expected_size must be >= 0');
    await expectDetail(
      rawRequest(
        device.port,
        'POST',
        '/ota/begin',
        { ...AUTH, 'Content-Type': 'application/x-www-form-urlencoded' },
        'expected_size=131073',
      ),
      400,
      'expected_size exceeds update partition capacity',
    );
    const exact = await device.post('/ota/begin', { expected_size: ' 131072 ' });
    expect(exact.status).toBe(200);
    expect((exact.json() as Wire).session.expected_size).toBe(131072);
  });

  it('checks expected_sha256 as 64 hex chars, any case, and ignores the doc’s "size"', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await expectDetail(
      device.post('/ota/begin', { expected_sha256: 'abc' }),
      400,
      'expected_sha256 must be 64 hex chars',
    );
    await expectDetail(
      device.post('/ota/begin', { expected_sha256: 'g'.repeat(64) }),
      400,
      'expected_sha256 must be lowercase/uppercase hex',
    );
    const upper = await device.post('/ota/begin', { expected_sha256: ` ${'AB'.repeat(32)} `, size: 8 });
    expect(upper.status).toBe(200);
    const session = (upper.json() as Wire).session;
    expect(session.expected_sha256).toBe('ab'.repeat(32));
    expect(session.expected_size).toBeNull();
  });
});

describe('viperhttp chunk errors (reference §1.5–1.6)', () => {
  it('refuses a chunk without a session (409), then accepts it after begin', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await expectDetail(device.post('/ota/chunk', Buffer.from('abcd')), 409, 'ota session is not active');
    await device.post('/ota/begin', {});
    expect((await device.post('/ota/chunk', Buffer.from('abcd'))).status).toBe(200);
  });

  it('refuses empty chunks and bad offsets, and resumes from written_bytes after a retransmit', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await device.post('/ota/begin', { expected_size: 16 });
    await expectDetail(device.post('/ota/chunk?offset=0', Buffer.alloc(0)), 400, 'empty chunk');
    await expectDetail(device.post('/ota/chunk?offset=x', Buffer.from('abcd')), 400, 'offset must be int');
    await expectDetail(device.post('/ota/chunk?offset=-4', Buffer.from('abcd')), 400, 'offset must be >= 0');
    expect((await device.post('/ota/chunk?offset=0', Buffer.from('abcd'))).status).toBe(200);
    await expectDetail(
      device.post('/ota/chunk?offset=0', Buffer.from('abcd')),
      409,
      'offset mismatch; only sequential writes are supported',
    );
    const written = (await status(device)).session.written_bytes;
    expect(written).toBe(4);
    expect((await device.post(`/ota/chunk?offset=${written}`, Buffer.from('efgh'))).status).toBe(200);
    await expectDetail(device.post('/ota/chunk', Buffer.alloc(9, 1)), 400, 'chunk exceeds expected_size');
    expect((await device.post('/ota/chunk', Buffer.alloc(8, 1))).status).toBe(200);
  });

  it('refuses a chunk past the partition end when no size was given', async () => {
    const device = await boot(started, { profile: 'viperhttp', esp32: { partitionCsv: SMALL_SLOTS_CSV } });
    await device.post('/ota/begin', {});
    const chunk = Buffer.alloc(3840, 0xa5);
    let sent = 0;
    while (sent + chunk.length <= 131072) {
      expect((await device.post(`/ota/chunk?offset=${sent}`, chunk)).status).toBe(200);
      sent += chunk.length;
    }
    await expectDetail(
      device.post(`/ota/chunk?offset=${sent}`, chunk),
      400,
      'chunk exceeds update partition capacity',
    );
    expect((await device.post(`/ota/chunk?offset=${sent}`, chunk.subarray(0, 131072 - sent))).status).toBe(
      200,
    );
  });

  it('takes data_base64 / data_hex from a JSON body and reports undecodable ones', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await device.post('/ota/begin', {});
    await expectDetail(
      device.post('/ota/chunk', { data_base64: 'abc' }),
      400,
      "invalid data_base64: ValueError('incorrect padding',)",
    );
    await expectDetail(
      device.post('/ota/chunk', { data_hex: 'abc' }),
      400,
      "invalid data_hex: ValueError('odd-length string',)",
    );
    await expectDetail(
      device.post('/ota/chunk', { data_hex: 'zz' }),
      400,
      "invalid data_hex: ValueError('non-hex digit found',)",
    );
    const b64 = await device.post('/ota/chunk', {
      data_base64: Buffer.from('abcd').toString('base64'),
      offset: 0,
    });
    expect((b64.json() as Wire).session.written_bytes).toBe(4);
    const hex = await device.post('/ota/chunk', { data_hex: '01020304', offset: 4 });
    expect((hex.json() as Wire).session.written_bytes).toBe(8);
  });
});

describe('viperhttp finalize errors (reference §1.5–1.6)', () => {
  it('refuses finalize without a session, without bytes, and with a size that does not match', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await expectDetail(device.post('/ota/finalize', {}), 409, 'ota session is not active');
    await device.post('/ota/begin', {});
    await expectDetail(device.post('/ota/finalize', {}), 409, 'no firmware bytes written');
    const update = image('1.1.0');
    await device.post('/ota/begin', { expected_size: update.length, force: true });
    await device.post('/ota/chunk', Buffer.from(update.subarray(0, 3840)));
    await expectDetail(device.post('/ota/finalize', {}), 409, 'written size does not match expected_size');
    // strict_size=false goes on to set_boot, which validates the truncated image and fails.
    await expectDetail(
      device.post('/ota/finalize', { strict_size: false }),
      500,
      "failed to set boot partition: OSError(-5379, 'ESP_ERR_OTA_VALIDATE_FAILED')",
    );
    expect((await status(device)).active).toBe(true);
    // Without set_boot the same session finalizes.
    const kept = await device.post('/ota/finalize', { strict_size: 'off', set_boot: '0' });
    expect(kept.status).toBe(200);
    expect(kept.json()).toMatchObject({ ok: true, set_boot: false, written_bytes: 3840 });
  });

  it('answers a SHA mismatch with 409, keeps the session active, and the old image runs after a reboot', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const update = image('1.1.0');
    await pushImage(device, update, { sha: sha256Hex(image('other')) });
    await expectDetail(device.post('/ota/finalize', { reboot: true }), 409, 'sha256 mismatch');
    await expectDetail(device.post('/ota/finalize', { sha256: sha256Hex(update) }), 409, 'sha256 mismatch');
    const after = await status(device);
    expect(after.active).toBe(true);
    expect(after.last_error).toBeNull();
    expect(after.boot_partition.label).toBe('ota_0');
    expect((await device.post('/ota/abort')).json()).toEqual({
      ok: true,
      aborted: true,
      session_id: 1,
      active: false,
    });
    expect((await status(device)).last_error).toBe('aborted');
    const boots = bootsSeen(device.emulator);
    await device.post('/debug/reboot', { delay_ms: 1 });
    expect(((await waitForReboot(device, boots)).json() as Wire).running_partition.label).toBe('ota_0');
    expect(consoleAppVersion(device.emulator)).toBe('1.0.0');
  });
});

describe('viperhttp upload and mark-valid (reference §1.5)', () => {
  it('refuses an empty upload and applies a whole image that fits one request', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    await expectDetail(device.post('/ota/upload', Buffer.alloc(0)), 400, 'empty upload body');
    const tiny = image('1.3.0', 3072);
    await expectDetail(
      device.post(`/ota/upload?expected_sha256=${'0'.repeat(64)}`, tiny),
      409,
      'sha256 mismatch',
    );
    expect((await status(device)).last_error).toBe('aborted');
    const boots = bootsSeen(device.emulator);
    await expect(
      device.post(`/ota/upload?expected_sha256=${sha256Hex(tiny)}&reboot=true`, tiny),
    ).rejects.toBeInstanceOf(ConnectionDroppedError);
    await waitForReboot(device, boots);
    expect(consoleAppVersion(device.emulator)).toBe('1.3.0');
  });

  // The 500 row ("mark_app_valid failed: …") needs otadata with no active entry; the bootloader
  // writes ota_seq=1 on the first boot of a two-slot table, so a running app always has one.
  it('marks the running app valid on a first boot and after an OTA boot', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    expect((await device.post('/ota/mark-valid', {})).json()).toEqual({ ok: true });
    await pushImage(device, image('1.1.0'));
    const boots = bootsSeen(device.emulator);
    await expect(device.post('/ota/finalize', { reboot: true })).rejects.toBeInstanceOf(
      ConnectionDroppedError,
    );
    await waitForReboot(device, boots);
    expect((await device.post('/ota/mark-valid', {})).json()).toEqual({ ok: true });
  });
});

describe('viperhttp status schema (reference §1.7)', () => {
  it('reports partitions, session progress and results with the documented fields and true values', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const idle = await status(device);
    expect(idle).toEqual({
      supported: true,
      active: false,
      running_partition: {
        raw: [0, 0x10, 0x10000, 0x180000, 'ota_0', false],
        type: 0,
        subtype: 0x10,
        address: 0x10000,
        size: 0x180000,
        label: 'ota_0',
        encrypted: false,
      },
      boot_partition: expect.objectContaining({ label: 'ota_0' }),
      next_update_partition: expect.objectContaining({ label: 'ota_1', address: 0x190000, subtype: 0x11 }),
      last_result: null,
      last_error: null,
      session: null,
    });
    const sha = '9ac2'.padEnd(64, '0');
    await device.post('/ota/begin', { expected_size: 8, expected_sha256: sha });
    const busy = (await device.post('/ota/chunk?offset=0', Buffer.from([1, 2, 3, 4]))).json() as Wire;
    expect(busy.active).toBe(true);
    expect(busy.session).toEqual({
      id: 1,
      active: true,
      partition: idle.next_update_partition,
      capacity_bytes: 0x180000,
      block_size: 4096,
      block_count: 384,
      written_bytes: 4,
      expected_size: 8,
      remaining_bytes: 4,
      progress_pct: 50,
      expected_sha256: sha,
      elapsed_ms: expect.any(Number),
    });
    await device.post('/ota/begin', { expected_size: 0, force: true });
    const zero = (await status(device)).session;
    expect([zero.progress_pct, zero.remaining_bytes]).toEqual([null, 0]);
    await device.post('/ota/begin', { force: true });
    const open = (await status(device)).session;
    expect([open.progress_pct, open.remaining_bytes, open.id]).toEqual([null, null, 3]);
    // The demo app's unauthenticated mirror of the status (the session's clock moves between the two reads).
    const withoutClock = (snapshot: Wire) => ({
      ...snapshot,
      session: { ...(snapshot.session as Record<string, unknown>), elapsed_ms: 'clock' },
    });
    const mirror = (await device.get('/debug/ota-status', {})).json() as Wire;
    expect(withoutClock(mirror)).toEqual(withoutClock(await status(device)));
  });
});
