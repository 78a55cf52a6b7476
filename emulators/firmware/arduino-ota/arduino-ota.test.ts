import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { powerOnAfterCutAndReadVersion } from '../test-support/console-lines.ts';
import { espota, invitationLine, sendDatagram } from './espota-test-client.ts';

const md5Hex = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bootsOf = (emulator: StartedEmulator, version: string) =>
  consoleText(emulator)
    .split('\n')
    .filter((line) => line === `Booting arduino-ota-demo ${version}`).length;

const FAST = { resultDelayMs: 20, replyDelayMs: 5, restartDelayMs: 5, receiveTimeoutMs: 150 };

const running: StartedEmulator[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()?.stop();
});

async function start(options: Partial<EmulatorOptions> & { options?: Record<string, unknown> } = {}) {
  const emulator = await startEmulator({
    profile: 'arduino-ota',
    ...options,
    options: { ...FAST, ...options.options },
  });
  running.push(emulator);
  return emulator;
}

function otaPort(emulator: StartedEmulator): number {
  const endpoint = emulator.endpoints().services.ota;
  if (!endpoint) throw new Error('the firmware published no ota endpoint');
  return endpoint.port;
}

function sketch(version: string, seed = 5): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: 24 * 1024, seed });
  writeSketchDescriptor(bytes, { version, projectName: 'arduino-ota-demo' });
  return bytes;
}

function esp32App(version: string, seed = 5): Uint8Array {
  return buildEsp32Image({ size: 32 * 1024, version, projectName: 'arduino-ota-demo', seed });
}

const consoleText = (emulator: StartedEmulator) =>
  emulator.device.console
    .lines()
    .map((line) => line.text)
    .join('\n');

async function waitForConsole(emulator: StartedEmulator, pattern: RegExp, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(consoleText(emulator))) {
    if (Date.now() > deadline) throw new Error(`console never matched ${pattern}:\n${consoleText(emulator)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('arduino-ota on ESP8266 (default platform)', () => {
  it('invitation → OK → counted upload → OK → eboot copies the staged sketch → the new version boots', async () => {
    const emulator = await start();
    expect(emulator.platform).toBe('esp8266');
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
    const image = sketch('2.0.0');
    const outcome = await espota({ port: otaPort(emulator), image });
    expect(outcome.invitationReply).toBe('OK');
    expect(outcome.connected).toBe(true);
    expect(outcome.error).toBeUndefined();
    // Counts are bare decimals with no delimiter; the sum is the image, then OK on its own.
    expect(outcome.received).toMatch(/^\d+OK$/);
    expect(outcome.result).toBe('OK');
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    const log = consoleText(emulator);
    expect(log).toMatch(/^@cp:\S*0$/m);
    expect(log).toContain('Start updating sketch');
    expect(log).toContain('Progress: 0%');
    expect(log).toContain('Progress: 100%');
    expect(log).toMatch(/^End$/m);
    expect(log.indexOf('End')).toBeLessThan(log.indexOf('Booting arduino-ota-demo 2.0.0'));
    expect(emulator.device.running?.md5).toBe(md5Hex(image));
  });

  it('acknowledges each 1460-byte chunk with its byte count', async () => {
    const emulator = await start();
    const image = sketch('2.0.0');
    const outcome = await espota({ port: otaPort(emulator), image });
    const counts = outcome.received.replace(/OK$/, '');
    const expected = [];
    for (let offset = 0; offset < image.length; offset += 1460)
      expected.push(Math.min(1460, image.length - offset));
    expect(counts).toBe(expected.join(''));
  });

  it('drops an invitation with an unknown command or a short MD5 without a reply; a good one is answered', async () => {
    const emulator = await start();
    const port = otaPort(emulator);
    const md5 = md5Hex(sketch('2.0.0'));
    expect(await sendDatagram(port, invitationLine(5, 40000, 1000, md5), 200)).toBeUndefined();
    expect(await sendDatagram(port, invitationLine(0, 40000, 1000, md5.slice(1)), 200)).toBeUndefined();
    // A well-formed one is answered OK (the device then fails to connect to the dead port).
    expect(await sendDatagram(port, invitationLine(0, 1, 1000, md5), 500)).toBe('OK');
    await waitForConsole(emulator, /Error\[2\]: Connect Failed/);
  });

  it('answers ERR: ERROR[4]: Not Enough Space on UDP when Update.begin() fails, before any TCP', async () => {
    const emulator = await start();
    const outcome = await espota({
      port: otaPort(emulator),
      image: new Uint8Array(3 * 1024 * 1024).fill(0xe9),
      connectTimeoutMs: 300,
    });
    expect(outcome.invitationReply).toBe('ERR: ERROR[4]: Not Enough Space\n');
    expect(outcome.connected).toBe(false);
    await waitForConsole(emulator, /Error\[1\]: Begin Failed/);
  });

  it('challenges with AUTH <32 hex> when a password is set and takes the MD5 answer', async () => {
    const emulator = await start({ options: { password: 'admin' } });
    const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0'), password: 'admin' });
    expect(outcome.invitationReply).toMatch(/^AUTH [0-9a-f]{32}$/);
    expect(outcome.invitationReply).toHaveLength(37);
    expect(outcome.authReply).toBe('OK');
    expect(outcome.received.endsWith('OK')).toBe(true);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('takes a passwordHash option verbatim', async () => {
    const hash = createHash('md5').update('s3cret').digest('hex');
    const emulator = await start({ options: { passwordHash: hash } });
    const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0'), password: 's3cret' });
    expect(outcome.authReply).toBe('OK');
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('answers a wrong password with Authentication Failed and never connects back', async () => {
    const emulator = await start({ options: { password: 'admin' } });
    const outcome = await espota({
      port: otaPort(emulator),
      image: sketch('2.0.0'),
      password: 'wrong',
      connectTimeoutMs: 400,
    });
    expect(outcome.authReply).toBe('Authentication Failed');
    expect(outcome.connected).toBe(false);
    await waitForConsole(emulator, /Error\[0\]: Auth Failed/);
    expect(bootsOf(emulator, '2.0.0')).toBe(0);
  });

  it('defect accepts-wrong-password: the same wrong answer gets OK and the image is installed', async () => {
    const emulator = await start({ options: { password: 'admin' }, defects: ['accepts-wrong-password'] });
    const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0'), password: 'wrong' });
    expect(outcome.authReply).toBe('OK');
    expect(outcome.connected).toBe(true);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('defect ignores-password: with a password set, an invitation gets no AUTH challenge', async () => {
    const good = await start({ options: { password: 'admin' } });
    const bad = await start({ options: { password: 'admin' }, defects: ['ignores-password'] });
    const refused = await espota({ port: otaPort(good), image: sketch('2.0.0'), password: 'wrong' });
    expect(refused.invitationReply).toMatch(/^AUTH [0-9a-f]{32}$/);
    expect(refused.connected).toBe(false);
    const open = await espota({ port: otaPort(bad), image: sketch('2.0.0'), password: 'wrong' });
    expect(open.invitationReply).not.toMatch(/^AUTH/);
    await waitForConsole(bad, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('defect static-nonce: every invitation gets the same nonce, where a conforming device changes it', async () => {
    const nonces = async (emulator: StartedEmulator) => {
      const seen: string[] = [];
      for (let i = 0; i < 2; i++) {
        const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0'), password: 'wrong' });
        seen.push(outcome.invitationReply ?? '');
      }
      return seen;
    };
    const [first, second] = await nonces(await start({ options: { password: 'admin' } }));
    expect(first).not.toBe(second);
    const [again, same] = await nonces(
      await start({ options: { password: 'admin' }, defects: ['static-nonce'] }),
    );
    expect(again).toMatch(/^AUTH /);
    expect(same).toBe(again);
  });

  it('refuses an image whose MD5 differs from the invitation with ERROR[7] and keeps the old image after a reset', async () => {
    const emulator = await start();
    const image = sketch('2.0.0');
    const announced = '0123456789abcdef0123456789abcdef';
    const outcome = await espota({ port: otaPort(emulator), image, md5: announced });
    // The error follows the last count with no pause (pitfall 2), so it is read as the tail.
    expect(outcome.received).toMatch(/^\d+ERROR\[7\]/);
    expect(
      outcome.received.endsWith(
        `ERROR[7]: MD5 verification failed: expected: ${announced}, calculated: ${md5Hex(image)}\n`,
      ),
    ).toBe(true);
    expect(outcome.closedByDevice).toBe(true);
    await waitForConsole(emulator, /Error\[4\]: End Failed/);
    await emulator.device.resetPin();
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0[\s\S]*Booting arduino-ota-demo 1\.0\.0/);
    expect(bootsOf(emulator, '2.0.0')).toBe(0);
  });

  it('defect accepts-bad-md5: the mismatching image is acknowledged OK and boots', async () => {
    const emulator = await start({ defects: ['accepts-bad-md5'] });
    const outcome = await espota({
      port: otaPort(emulator),
      image: sketch('2.0.0'),
      md5: '0123456789abcdef0123456789abcdef',
    });
    expect(outcome.result).toBe('OK');
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('rejects a stream corrupted in flight (MD5 of the announced file) and keeps running the old image', async () => {
    const emulator = await start();
    const image = sketch('2.0.0');
    const stream = image.slice();
    stream[9000] = (stream[9000] ?? 0) ^ 0x55;
    const outcome = await espota({ port: otaPort(emulator), image, stream });
    expect(outcome.received).toMatch(
      /^\d+ERROR\[7\]: MD5 verification failed: expected: [0-9a-f]{32}, calculated: [0-9a-f]{32}\n$/,
    );
    await sleep(100);
    expect(bootsOf(emulator, '1.0.0')).toBe(1);
    expect(bootsOf(emulator, '2.0.0')).toBe(0);
    // The device is back to IDLE: the intact stream is accepted next.
    const retry = await espota({ port: otaPort(emulator), image });
    expect(retry.result).toBe('OK');
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('restarts only after a successful upload; defect restarts-after-failed-upload reboots after ERROR[7]', async () => {
    for (const defects of [[], ['restarts-after-failed-upload']]) {
      const emulator = await start({ defects });
      const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0'), md5: 'f'.repeat(32) });
      expect(outcome.received).toMatch(/^\d+ERROR\[7\]/);
      await sleep(200);
      expect(bootsOf(emulator, '1.0.0')).toBe(defects.length === 0 ? 1 : 2);
    }
  });

  it('defect no-reboot-after-success: OK and End as usual, but the device keeps running the old image', async () => {
    for (const defects of [[], ['no-reboot-after-success']]) {
      const emulator = await start({ defects });
      await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
      const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0') });
      expect(outcome.result).toBe('OK');
      await waitForConsole(emulator, /^End$/m);
      if (defects.length === 0) {
        await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
        continue;
      }
      await sleep(200);
      expect(bootsOf(emulator, '1.0.0')).toBe(1);
      expect(bootsOf(emulator, '2.0.0')).toBe(0);
      // The image was installed all the same: a manual reset boots it.
      await emulator.device.resetPin();
      await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    }
  });

  it('keeps waiting while a stalled uploader holds the connection (the 1000-tick branch never fires) and recovers once it closes', async () => {
    const emulator = await start();
    const image = sketch('2.0.0');
    const held = await espota({ port: otaPort(emulator), image, stallAfterBytes: 4380, holdMs: 1500 });
    expect(held.closedByDevice).toBe(false);
    // The device notices only the close: it answers ERROR[0]: No Error and accepts a fresh invitation.
    await waitForConsole(emulator, /Error\[4\]: End Failed/);
    const retry = await espota({ port: otaPort(emulator), image });
    expect(retry.invitationReply).toBe('OK');
    expect(retry.result).toBe('OK');
  });

  it('defect no-stream-timeout: once an uploader stalls and leaves, fresh invitations go unanswered', async () => {
    const image = sketch('2.0.0');
    for (const defects of [[], ['no-stream-timeout']]) {
      const emulator = await start({ defects });
      await espota({ port: otaPort(emulator), image, stallAfterBytes: 2920, stallAction: 'close' });
      await sleep(100);
      const again = await espota({ port: otaPort(emulator), image, replyTimeoutMs: 500 });
      expect(again.invitationReply).toBe(defects.length === 0 ? 'OK' : undefined);
    }
  });
});

describe('arduino-ota on ESP8266: a power cut during the upload', () => {
  async function cutHalfwayAndPowerOn(defects: string[]): Promise<string> {
    const emulator = await start({ defects });
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
    const image = sketch('2.0.0');
    emulator.device.cutPowerAfterBytes(image.length >> 1);
    // The device goes dark mid-upload: the uploader sees the connection drop.
    await espota({ port: otaPort(emulator), image }).catch(() => undefined);
    return await powerOnAfterCutAndReadVersion(emulator, { banner: /^Booting arduino-ota-demo (\S+)$/ });
  }

  it('staged below the filesystem: the running sketch boots again after power returns', async () => {
    expect(await cutHalfwayAndPowerOn([])).toBe('1.0.0');
  });

  it('defect writes-sketch-in-place: the half-written sketch is what is left at 0x0', async () => {
    expect(await cutHalfwayAndPowerOn(['writes-sketch-in-place'])).toMatch(/^no sketch booted/);
  });
});

describe('arduino-ota on ESP32', () => {
  it('answers OK first, takes 1024-byte chunks, ends with OK and boots the image from ota_0, confirmed before setup()', async () => {
    const emulator = await start({ platform: 'esp32' });
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
    const outcome = await espota({ port: otaPort(emulator), image: esp32App('2.0.0'), chunkSize: 1024 });
    expect(outcome.invitationReply).toBe('OK');
    expect(outcome.received).toMatch(/^(1024)+OK$/);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    expect(consoleText(emulator)).toMatch(/Loaded app from partition at offset 0x110000/);
    // initArduino marked it valid: a reset keeps it.
    await emulator.device.resetPin();
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0[\s\S]*Booting arduino-ota-demo 2\.0\.0/);
  });

  it('with verifyRollbackLater the unconfirmed image is rolled back on the next reset', async () => {
    const emulator = await start({ platform: 'esp32', options: { verifyRollbackLater: true } });
    await espota({ port: otaPort(emulator), image: esp32App('2.0.0'), chunkSize: 1024 });
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    await emulator.device.resetPin();
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0[\s\S]*Booting arduino-ota-demo 1\.0\.0/);
  });

  it('reports a wrong MD5 as the bare text MD5 Check Failed\\r\\n and keeps the old image', async () => {
    const emulator = await start({ platform: 'esp32' });
    const outcome = await espota({
      port: otaPort(emulator),
      image: esp32App('2.0.0'),
      chunkSize: 1024,
      md5: '0'.repeat(32),
    });
    expect(outcome.invitationReply).toBe('OK');
    expect(outcome.received).toMatch(/^(1024)+MD5 Check Failed\r\n$/);
    await waitForConsole(emulator, /Error\[4\]: End Failed/);
    await emulator.device.resetPin();
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0[\s\S]*Booting arduino-ota-demo 1\.0\.0/);
    expect(bootsOf(emulator, '2.0.0')).toBe(0);
  });

  it('times out a stalled uploader: re-sends the last count 3 times, closes, then accepts a fresh invitation', async () => {
    const emulator = await start({ platform: 'esp32', options: { receiveTimeoutMs: 150 } });
    const image = esp32App('2.0.0');
    const stalled = await espota({
      port: otaPort(emulator),
      image,
      chunkSize: 1024,
      stallAfterBytes: 3072,
      holdMs: 3000,
    });
    expect(stalled.closedByDevice).toBe(true);
    // Three counts, then the last count re-sent three times before the device gives up.
    expect(stalled.received).toBe(`${'1024'.repeat(3)}${'1024'.repeat(3)}`);
    expect(stalled.closedAfterStallMs).toBeGreaterThanOrEqual(4 * 150 - 50);
    await waitForConsole(emulator, /Error\[3\]: Receive Failed/);
    const retry = await espota({ port: otaPort(emulator), image, chunkSize: 1024 });
    expect(retry.invitationReply).toBe('OK');
    expect(retry.received.endsWith('OK')).toBe(true);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('defect no-stream-timeout: the stalled session is never closed and a fresh invitation is not answered', async () => {
    const emulator = await start({
      platform: 'esp32',
      defects: ['no-stream-timeout'],
      options: { receiveTimeoutMs: 150 },
    });
    const image = esp32App('2.0.0');
    const stalledUpload = espota({
      port: otaPort(emulator),
      image,
      chunkSize: 1024,
      stallAfterBytes: 3072,
      holdMs: 1500,
    });
    await sleep(900);
    expect(
      await sendDatagram(otaPort(emulator), invitationLine(0, 1, image.length, md5Hex(image)), 300),
    ).toBeUndefined();
    const stalled = await stalledUpload;
    expect(stalled.closedByDevice).toBe(false);
    expect(stalled.received).toBe('102410241024');
  });

  it('PBKDF2-HMAC-SHA256 scheme: AUTH <64 hex>, the SHA-256 answer passes, the MD5-hash answer fails', async () => {
    const emulator = await start({
      platform: 'esp32',
      options: { password: 'admin', authScheme: 'pbkdf2-sha256' },
    });
    const wrong = await espota({
      port: otaPort(emulator),
      image: esp32App('2.0.0'),
      chunkSize: 1024,
      password: 'admin',
      pbkdf2PasswordHash: 'md5',
      authFromNewSocket: true,
      connectTimeoutMs: 300,
    });
    expect(wrong.invitationReply).toMatch(/^AUTH [0-9a-f]{64}$/);
    expect(wrong.invitationReply).toHaveLength(69);
    expect(wrong.authReply).toBe('Authentication Failed');
    expect(wrong.connected).toBe(false);
    const right = await espota({
      port: otaPort(emulator),
      image: esp32App('2.0.0'),
      chunkSize: 1024,
      password: 'admin',
      authFromNewSocket: true,
    });
    expect(right.authReply).toBe('OK');
    expect(right.received.endsWith('OK')).toBe(true);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });

  it('an image without 0xE9: Decryption error under the default AES-auto mode (§5.2 quirk), Wrong Magic Byte with it off', async () => {
    const image = esp32App('2.0.0').slice();
    image[0] = 0x00;
    for (const [cryptMode, text] of [
      ['auto', 'Decryption error'],
      ['none', 'Wrong Magic Byte'],
    ] as const) {
      const emulator = await start({ platform: 'esp32', options: { cryptMode } });
      const outcome = await espota({ port: otaPort(emulator), image, chunkSize: 1024 });
      // Update resets its size on the error, so isFinished() turns true and the loop ends at once.
      expect(outcome.received).toMatch(new RegExp(`^(1024)+${text}\\r\\n$`));
      expect(outcome.closedByDevice).toBe(true);
      await waitForConsole(emulator, /Error\[4\]: End Failed/);
      expect(bootsOf(emulator, '2.0.0')).toBe(0);
    }
  });
});

describe('arduino-ota console on a pseudo-terminal', () => {
  it('shows the BasicOTA lines of an update and the new boot banner on the PTY', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const emulator = await start({ console: 'pty' });
    const path = emulator.endpoints().console;
    if (path === undefined) throw new Error('no PTY path');
    const reader = createReadStream(path);
    let text = '';
    reader.on('data', (chunk) => {
      text += chunk.toString();
    });
    reader.on('error', () => {});
    try {
      await sleep(200);
      const outcome = await espota({ port: otaPort(emulator), image: sketch('2.0.0') });
      expect(outcome.result).toBe('OK');
      const deadline = Date.now() + 5000;
      while (!text.includes('Booting arduino-ota-demo 2.0.0') && Date.now() < deadline) await sleep(20);
      expect(text).toContain('Start updating sketch');
      expect(text).toContain('Progress: 100%');
      expect(text).toMatch(/End\r?\n/);
      expect(text).toContain('Booting arduino-ota-demo 2.0.0');
    } finally {
      reader.destroy();
    }
  });
});

describe.each(['esp8266', 'esp32'] as const)(
  'arduino-ota on %s: a port past 65535 in the invitation',
  (platform) => {
    it('connects back to its low 16 bits as the real uint16_t port does, and a 99999 invitation leaves the device answering', async () => {
      const emulator = await start({ platform });
      await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
      const image = platform === 'esp8266' ? sketch('2.0.0') : esp32App('2.0.0');
      // A listener on port p is reached by an invitation naming p + 65536.
      const { createServer } = await import('node:net');
      const server = createServer((socket) => socket.destroy());
      server.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no listener port');
      const reached = new Promise<boolean>((resolve) => {
        server.once('connection', () => resolve(true));
        setTimeout(() => resolve(false), 3000);
      });
      expect(
        await sendDatagram(otaPort(emulator), invitationLine(0, address.port + 65536, 1000, md5Hex(image))),
      ).toBe('OK');
      expect(await reached).toBe(true);
      server.close();
      // 99999 → 34463 (nothing listens there, or something refuses): a connect error, not a dead process.
      expect(await sendDatagram(otaPort(emulator), invitationLine(0, 99999, 1000, md5Hex(image)))).toBe('OK');
      await sleep(platform === 'esp8266' ? 1500 : 200);
      const outcome = await espota({ port: otaPort(emulator), image, chunkSize: 1024 });
      expect(outcome.invitationReply).toBe('OK');
      expect(outcome.received).toMatch(/OK$/);
      await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    });
  },
);
