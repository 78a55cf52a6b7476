import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';

/**
 * The doc dialect driven by a client written from seeds/viperhttp-ota.md (undici, one request per
 * call like the seed's `requests` example), observed through its status route and the console.
 */
const TOKEN = 'your-secure-token';
const BEARER = { authorization: `Bearer ${TOKEN}` };
/** The seed's client uses 4096-byte chunks; ViperHTTP's 4096-byte request buffer cannot take them. */
const CHUNK = 3840;

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON read back from the wire, shape asserted by the test
  body: any;
}

interface DocDevice {
  emulator: StartedEmulator;
  base: string;
  call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
}

async function bootDoc(
  profile: 'viperhttp' | 'viperhttp-doc',
  extra: Partial<EmulatorOptions> = {},
): Promise<DocDevice> {
  const emulator = await startEmulator({ profile, ...extra });
  started.push(emulator);
  const { port } = emulator.endpoints().services.http!;
  const base = `http://127.0.0.1:${port}`;
  return {
    emulator,
    base,
    async call(method, path, body, headers = BEARER) {
      const binary = body instanceof Uint8Array;
      const response = await request(`${base}${path}`, {
        method,
        headers: {
          ...headers,
          ...(body === undefined
            ? {}
            : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
        },
        body: body === undefined ? undefined : binary ? body : JSON.stringify(body),
      });
      const text = await response.body.text();
      const type = String(response.headers['content-type'] ?? '');
      return { status: response.statusCode, body: type.includes('json') ? JSON.parse(text) : text };
    },
  };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function appVersion(emulator: StartedEmulator): string | undefined {
  const lines = emulator.device.console.lines();
  for (let index = lines.length - 1; index >= 0; index--) {
    const match = /App version:\s+(\S+)$/.exec(lines[index]!.text);
    if (match) return match[1];
  }
  return undefined;
}

function boots(emulator: StartedEmulator): number {
  return emulator.device.console.lines().filter((line) => line.text.startsWith('rst:')).length;
}

async function waitForBoot(device: DocDevice, before: number): Promise<Answer> {
  const deadline = Date.now() + 5000;
  while (boots(device.emulator) <= before) {
    if (Date.now() > deadline) throw new Error('no reboot on the console');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  for (;;) {
    try {
      return await device.call('GET', '/ota/status');
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** The seed's lifecycle: begin {"size"}, chunks to /ota/write, finalize {"sha256"}. */
async function upload(device: DocDevice, image: Uint8Array, sha = sha256Hex(image), reboot = false) {
  const begin = await device.call('POST', '/ota/begin', { size: image.length });
  expect(begin.status).toBe(200);
  for (let offset = 0; offset < image.length; offset += CHUNK) {
    const write = await device.call('POST', '/ota/write', image.subarray(offset, offset + CHUNK));
    expect(write.status).toBe(200);
  }
  return device.call('POST', '/ota/finalize', { sha256: sha, reboot });
}

const update = (version: string) => buildEsp32Image({ version, size: 20 * 1024, seed: 5 });

describe('viperhttp-doc: the seed’s lifecycle', () => {
  it('begins, writes, finalizes with the SHA, reboots into 1.1.0 and stays there after a power cycle', async () => {
    const device = await bootDoc('viperhttp-doc');
    const image = update('1.1.0');
    const begin = await device.call('POST', '/ota/begin', { size: image.length });
    expect(begin).toEqual({
      status: 200,
      body: { ok: true, session_id: 1, size: image.length, timeout_ms: 5000 },
    });
    let seq = 0;
    for (let offset = 0; offset < image.length; offset += CHUNK) {
      const write = await device.call('POST', '/ota/write', image.subarray(offset, offset + CHUNK));
      seq++;
      expect(write.body).toMatchObject({ seq, written: Math.min(offset + CHUNK, image.length) });
    }
    const progress = await device.call('GET', '/ota/status');
    expect(progress.body.session).toMatchObject({
      size: image.length,
      written: image.length,
      progress_pct: 100,
      seq,
    });
    const before = boots(device.emulator);
    const finalize = await device.call('POST', '/ota/finalize', { sha256: sha256Hex(image), reboot: true });
    expect(finalize).toEqual({
      status: 200,
      body: { ok: true, session_id: 1, size: image.length, sha256: sha256Hex(image), reboot: true },
    });
    const after = await waitForBoot(device, before);
    expect(after.body.running_partition.label).toBe('ota_1');
    expect(appVersion(device.emulator)).toBe('1.1.0');

    const cycled = boots(device.emulator);
    expect(
      (await request(`${device.emulator.endpoints().control}/power/cycle?offMs=0`, { method: 'POST' }))
        .statusCode,
    ).toBe(200);
    expect((await waitForBoot(device, cycled)).body.running_partition.label).toBe('ota_1');
    expect(appVersion(device.emulator)).toBe('1.1.0');
  });

  it('gets 413 for the seed client’s own 4096-byte chunks, which the 4096-byte request buffer cannot hold', async () => {
    const device = await bootDoc('viperhttp-doc');
    await device.call('POST', '/ota/begin', { size: 8192 });
    const tooBig = await device.call('POST', '/ota/write', new Uint8Array(4096));
    expect(tooBig).toEqual({ status: 413, body: 'Payload Too Large' });
    expect((await device.call('POST', '/ota/write', new Uint8Array(CHUNK))).status).toBe(200);
  });
});

describe('viperhttp-doc: the seed’s error table (400/401/409/500)', () => {
  it('401 for a missing, wrong or X-OTA-Token credential; 200 for the Bearer token', async () => {
    const device = await bootDoc('viperhttp-doc');
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer nope' },
      { 'x-ota-token': TOKEN },
      { authorization: TOKEN },
    ];
    for (const headers of refused) {
      expect(await device.call('GET', '/ota/status', undefined, headers)).toEqual({
        status: 401,
        body: { detail: 'invalid ota token' },
      });
    }
    expect((await device.call('GET', '/ota/status')).status).toBe(200);
    expect(
      (await device.call('GET', '/ota/status', undefined, { authorization: `bearer ${TOKEN}` })).status,
    ).toBe(200);
  });

  it('400 for a missing or bad size, 409 for a second session, 200 once it ends', async () => {
    const device = await bootDoc('viperhttp-doc');
    for (const body of [{}, { size: 'big' }, { size: -1 }, { expected_size: 100 }]) {
      expect(await device.call('POST', '/ota/begin', body)).toEqual({
        status: 400,
        body: { detail: 'missing or invalid parameter: size' },
      });
    }
    expect((await device.call('POST', '/ota/begin', { size: 0x180001 })).body).toEqual({
      detail: 'size exceeds update partition capacity',
    });
    expect((await device.call('POST', '/ota/begin', { size: 100 })).status).toBe(200);
    expect(await device.call('POST', '/ota/begin', { size: 100 })).toEqual({
      status: 409,
      body: { detail: 'ota session already active' },
    });
  });

  it('400 for writes and finalize without a session, empty or oversized writes, and a missing SHA', async () => {
    const device = await bootDoc('viperhttp-doc');
    const noSession = { status: 400, body: { detail: 'invalid session state: no active session' } };
    expect(await device.call('POST', '/ota/write', new Uint8Array(4))).toEqual(noSession);
    expect(await device.call('POST', '/ota/finalize', { sha256: '0'.repeat(64) })).toEqual(noSession);
    await device.call('POST', '/ota/begin', { size: 8 });
    expect((await device.call('POST', '/ota/write', new Uint8Array(0))).status).toBe(400);
    expect((await device.call('POST', '/ota/write', new Uint8Array(9))).body).toEqual({
      detail: 'chunk exceeds declared size',
    });
    expect((await device.call('POST', '/ota/write', new Uint8Array(4))).status).toBe(200);
    expect((await device.call('POST', '/ota/finalize', {})).body).toEqual({
      detail: 'missing or invalid parameter: sha256',
    });
    expect(
      (await device.call('POST', '/ota/finalize', { sha256: sha256Hex(new Uint8Array(4)) })).body,
    ).toEqual({
      detail: 'invalid session state: 4 of 8 bytes written',
    });
  });

  it('rejects a SHA mismatch with 400 and keeps running the current firmware after a reboot', async () => {
    const device = await bootDoc('viperhttp-doc');
    const image = update('1.1.0');
    const mismatch = await upload(device, image, sha256Hex(update('9.9.9')));
    expect(mismatch).toEqual({ status: 400, body: { detail: 'sha256 mismatch' } });
    const status = await device.call('GET', '/ota/status');
    expect(status.body).toMatchObject({ active: false, last_error: 'sha256 mismatch', last_result: null });
    const before = boots(device.emulator);
    await request(`${device.emulator.endpoints().control}/power/cycle?offMs=0`, { method: 'POST' });
    expect((await waitForBoot(device, before)).body.running_partition.label).toBe('ota_0');
    expect(appVersion(device.emulator)).toBe('1.0.0');
  });

  it('500 when the finalized bytes are not a bootable image', async () => {
    const device = await bootDoc('viperhttp-doc');
    const junk = new Uint8Array(4096).fill(0x42);
    const answer = await upload(device, junk.subarray(0, CHUNK));
    expect(answer).toEqual({
      status: 500,
      body: { detail: "failed to set boot partition: OSError(-5379, 'ESP_ERR_OTA_VALIDATE_FAILED')" },
    });
  });
});

describe('viperhttp-doc: session timeout', () => {
  it('cancels a session with no write within sessionTimeoutMs; writes in time keep it alive', async () => {
    const device = await bootDoc('viperhttp-doc', { options: { sessionTimeoutMs: 150 } });
    await device.call('POST', '/ota/begin', { size: 64 });
    for (let index = 0; index < 4; index++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect((await device.call('POST', '/ota/write', new Uint8Array(4))).status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await device.call('POST', '/ota/write', new Uint8Array(4))).toEqual({
      status: 400,
      body: { detail: 'invalid session state: no active session' },
    });
    expect((await device.call('GET', '/ota/status')).body).toMatchObject({
      active: false,
      last_error: 'session timed out',
    });
    expect(
      device.emulator.device.console
        .lines()
        .some((line) => /W \(\d+\) ota: session 1 timed out/.test(line.text)),
    ).toBe(true);
    expect((await device.call('POST', '/ota/begin', { size: 64 })).status).toBe(200);
  });
});

describe('viperhttp-doc defects', () => {
  it('accepts-any-token: a wrong Bearer token passes', async () => {
    const good = await bootDoc('viperhttp-doc');
    const bad = await bootDoc('viperhttp-doc', { defects: ['accepts-any-token'] });
    const headers = { authorization: 'Bearer wrong' };
    expect((await good.call('GET', '/ota/status', undefined, headers)).status).toBe(401);
    expect((await bad.call('GET', '/ota/status', undefined, headers)).status).toBe(200);
    expect((await bad.call('GET', '/ota/status', undefined, {})).status).toBe(401);
  });

  it('accepts-bad-sha: a mismatching image is committed and boots', async () => {
    const image = update('1.1.0');
    const wrong = sha256Hex(update('9.9.9'));
    const good = await bootDoc('viperhttp-doc');
    expect((await upload(good, image, wrong, true)).status).toBe(400);
    const bad = await bootDoc('viperhttp-doc', { defects: ['accepts-bad-sha'] });
    const before = boots(bad.emulator);
    expect((await upload(bad, image, wrong, true)).status).toBe(200);
    await waitForBoot(bad, before);
    expect(appVersion(bad.emulator)).toBe('1.1.0');
    expect(appVersion(good.emulator)).toBe('1.0.0');
  });

  it('never-times-out-session: an idle session still blocks a new begin', async () => {
    const options = { sessionTimeoutMs: 100 };
    const good = await bootDoc('viperhttp-doc', { options });
    const bad = await bootDoc('viperhttp-doc', { options, defects: ['never-times-out-session'] });
    await good.call('POST', '/ota/begin', { size: 64 });
    await bad.call('POST', '/ota/begin', { size: 64 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await good.call('POST', '/ota/begin', { size: 64 })).status).toBe(200);
    expect((await bad.call('POST', '/ota/begin', { size: 64 })).status).toBe(409);
  });

  /** The conforming device and one built with `defect`, booted side by side. */
  async function pairDoc(defect: string): Promise<[DocDevice, DocDevice]> {
    return [await bootDoc('viperhttp-doc'), await bootDoc('viperhttp-doc', { defects: [defect] })];
  }

  it('status-without-token: GET /ota/status answers without a token; begin still asks for it', async () => {
    const [good, bad] = await pairDoc('status-without-token');
    expect((await good.call('GET', '/ota/status', undefined, {})).status).toBe(401);
    expect((await bad.call('GET', '/ota/status', undefined, {})).status).toBe(200);
    expect((await bad.call('POST', '/ota/begin', { size: 64 }, {})).status).toBe(401);
  });

  it('size-optional: begin {} opens a session sized to the update slot', async () => {
    const [good, bad] = await pairDoc('size-optional');
    expect((await good.call('POST', '/ota/begin', {})).status).toBe(400);
    const opened = await bad.call('POST', '/ota/begin', {});
    expect(opened.status).toBe(200);
    const status = await bad.call('GET', '/ota/status');
    expect(opened.body.size).toBe(status.body.next_update_partition.size);
  });

  it('finalize-without-sha: finalize {} commits the image unverified', async () => {
    const [good, bad] = await pairDoc('finalize-without-sha');
    const image = update('1.1.0');
    for (const device of [good, bad]) {
      await device.call('POST', '/ota/begin', { size: image.length });
      for (let offset = 0; offset < image.length; offset += CHUNK)
        await device.call('POST', '/ota/write', image.subarray(offset, offset + CHUNK));
    }
    expect((await good.call('POST', '/ota/finalize', {})).status).toBe(400);
    const committed = await bad.call('POST', '/ota/finalize', {});
    expect(committed.status).toBe(200);
    expect(committed.body.sha256).toBe(sha256Hex(image));
  });

  it('write-without-session: a write with no session is answered 200 and dropped', async () => {
    const [good, bad] = await pairDoc('write-without-session');
    const chunk = new Uint8Array(64).fill(0x5a);
    expect((await good.call('POST', '/ota/write', chunk)).status).toBe(400);
    const dropped = await bad.call('POST', '/ota/write', chunk);
    expect(dropped.status).toBe(200);
    expect(dropped.body).toEqual({ ok: true, written: 0 });
    expect((await bad.call('GET', '/ota/status')).body.session).toBeNull();
  });

  it('allows-second-session: a second begin replaces the active session', async () => {
    const [good, bad] = await pairDoc('allows-second-session');
    for (const device of [good, bad]) await device.call('POST', '/ota/begin', { size: 8192 });
    expect((await good.call('POST', '/ota/begin', { size: 4096 })).status).toBe(409);
    const second = await bad.call('POST', '/ota/begin', { size: 4096 });
    expect(second.status).toBe(200);
    expect(second.body.session_id).toBe(2);
    expect((await bad.call('GET', '/ota/status')).body.session).toMatchObject({ id: 2, size: 4096 });
  });

  it('no-progress: the status carries no byte counters; the write answer still does', async () => {
    const [good, bad] = await pairDoc('no-progress');
    for (const device of [good, bad]) {
      await device.call('POST', '/ota/begin', { size: 8192 });
      expect((await device.call('POST', '/ota/write', new Uint8Array(1000))).body.written).toBe(1000);
    }
    expect((await good.call('GET', '/ota/status')).body.session).toMatchObject({ written: 1000, size: 8192 });
    const session = (await bad.call('GET', '/ota/status')).body.session;
    expect(session).toMatchObject({ id: 1, seq: 1 });
    expect(session.written).toBeUndefined();
    expect(session.size).toBeUndefined();
  });

  it('set-boot-skipped: finalize answers 200 but the reboot brings back 1.0.0', async () => {
    const [good, bad] = await pairDoc('set-boot-skipped');
    const image = update('1.1.0');
    for (const device of [good, bad]) {
      const before = boots(device.emulator);
      expect((await upload(device, image, sha256Hex(image), true)).status).toBe(200);
      await waitForBoot(device, before);
    }
    expect(appVersion(good.emulator)).toBe('1.1.0');
    expect(appVersion(bad.emulator)).toBe('1.0.0');
  });
});

describe('the doc dialect against the real viperhttp profile (reference §0.1)', () => {
  it('gets 401 for Bearer and 404 for /ota/write; its {"size"} is ignored at begin', async () => {
    const device = await bootDoc('viperhttp', { options: { token: TOKEN } });
    expect(await device.call('POST', '/ota/begin', { size: 1024 })).toEqual({
      status: 401,
      body: { detail: 'invalid ota token' },
    });
    expect(await device.call('POST', '/ota/write', new Uint8Array(16))).toEqual({
      status: 404,
      body: 'Not Found',
    });
    const real = { 'x-ota-token': TOKEN };
    const begin = await device.call('POST', '/ota/begin', { size: 1024 }, real);
    expect(begin.status).toBe(200);
    expect(begin.body.session.expected_size).toBeNull();
    // The SHA sent at finalize is ignored: no size and no SHA check happen at all.
    await device.call('POST', '/ota/chunk', new Uint8Array(16), real);
    const finalize = await device.call(
      'POST',
      '/ota/finalize',
      { sha256: '0'.repeat(64), set_boot: false },
      real,
    );
    expect(finalize.status).toBe(200);
  });
});
