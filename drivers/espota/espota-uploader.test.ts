import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { buildArduinoSketch } from '../../emulators/boot/index.ts';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { EspotaError } from './errors.ts';
import { EspotaUploader, type EspotaUploaderOptions } from './espota-uploader.ts';

const PASSWORD = 'espota-test-password';
const started: StartedEmulator[] = [];
const uploaders: EspotaUploader[] = [];

afterEach(async () => {
  for (const uploader of uploaders.splice(0)) await uploader.close();
  for (const emulator of started.splice(0)) await emulator.stop();
});

async function device(
  platform: 'esp8266' | 'esp32',
  options: Record<string, unknown> = {},
  defects: string[] = [],
): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'arduino-ota',
    platform,
    // The ESP8266's one-second pauses around the final OK are real; most tests do not need them.
    options: { resultDelayMs: 0, ...options },
    defects,
    controlPlane: false,
    timing: 'none',
  });
  started.push(emulator);
  return emulator;
}

function uploaderFor(emulator: StartedEmulator, overrides: Partial<EspotaUploaderOptions> = {}) {
  const { host, port } = emulator.endpoints().services.ota!;
  const lines: string[] = [];
  const uploader = new EspotaUploader({
    host,
    port,
    targetName: `dut-${emulator.platform}`,
    timeouts: { invitationMs: 2000, authMs: 2000, connectBackMs: 2000, ackMs: 2000, resultMs: 5000 },
    transcript: { record: (step, direction, text) => lines.push(`${direction} [${step}] ${text}`) },
    ...overrides,
  });
  uploaders.push(uploader);
  return { uploader, lines };
}

function sketch(version: string, appSize = 32 * 1024): Uint8Array {
  const bytes = buildArduinoSketch({ appSize, seed: 7 });
  writeSketchDescriptor(bytes, { version, projectName: 'espota-test' });
  return bytes;
}

function nextBoot(emulator: StartedEmulator): Promise<string | undefined> {
  return new Promise((resolve) => {
    const stop = emulator.device.onBoot((image) => {
      stop();
      resolve(image?.version);
    });
  });
}

async function expectEspotaError(promise: Promise<unknown>, code: string): Promise<EspotaError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(EspotaError);
  expect((error as EspotaError).code).toBe(code);
  return error as EspotaError;
}

describe('EspotaUploader against the arduino-ota emulator (real loopback UDP/TCP)', () => {
  it('uploads a sketch to an ESP8266 with the real one-second pauses, gets OK and the new sketch boots', async () => {
    const emulator = await device('esp8266', { resultDelayMs: 1000 });
    const { uploader, lines } = uploaderFor(emulator);
    const image = sketch('2.0.0');
    const progress: number[] = [];
    const booted = nextBoot(emulator);
    const result = await uploader.upload(image, { onProgress: (p) => progress.push(p.acked) });
    expect(result.result).toBe('OK');
    expect(result.bytes).toBe(image.length);
    expect(result.acked).toBe(image.length);
    expect(result.acks.reduce((sum, count) => sum + count, 0)).toBe(image.length);
    expect(progress.at(-1)).toBe(image.length);
    expect(await booted).toBe('2.0.0');
    expect(lines.some((line) => line.startsWith(`send [invitation] 0 `))).toBe(true);
    expect(lines).toContain('receive [invitation] OK');
  });

  it('uploads an app image to an ESP32 (OK right after the last count) and it boots', async () => {
    const emulator = await device('esp32');
    const { uploader } = uploaderFor(emulator, { chunkSize: 1024 });
    const image = buildEsp32Image({ version: '3.1.0', size: 48 * 1024, seed: 3 });
    const booted = nextBoot(emulator);
    const result = await uploader.upload(image);
    expect(result).toMatchObject({ result: 'OK', bytes: image.length, acked: image.length });
    expect(await booted).toBe('3.1.0');
  });

  it('answers the MD5 challenge of an ESP8266 with a password', async () => {
    const emulator = await device('esp8266', { password: PASSWORD });
    const { uploader, lines } = uploaderFor(emulator, { password: PASSWORD, authScheme: 'md5' });
    const booted = nextBoot(emulator);
    expect((await uploader.upload(sketch('2.1.0'))).result).toBe('OK');
    expect(await booted).toBe('2.1.0');
    expect(lines.some((line) => /^receive \[invitation\] AUTH [0-9a-f]{32}$/.test(line))).toBe(true);
    expect(lines.some((line) => /^send \[authenticate\] 200 [0-9a-f]{32} [0-9a-f]{32}$/.test(line))).toBe(
      true,
    );
  });

  it('answers the PBKDF2-SHA256 challenge of an ESP32 ≥ 3.3.1 (64-hex nonce) in auto mode', async () => {
    const emulator = await device('esp32', { password: PASSWORD, authScheme: 'pbkdf2-sha256' });
    const { uploader, lines } = uploaderFor(emulator, { password: PASSWORD });
    const result = await uploader.upload(buildEsp32Image({ version: '3.2.0', size: 32 * 1024, seed: 4 }));
    expect(result.result).toBe('OK');
    expect(lines.some((line) => /^send \[authenticate\] 200 [0-9a-f]{64} [0-9a-f]{64}$/.test(line))).toBe(
      true,
    );
  });

  it('refuses to answer a 64-hex nonce with the MD5 scheme when told md5', async () => {
    const emulator = await device('esp32', { password: PASSWORD, authScheme: 'pbkdf2-sha256' });
    const { uploader } = uploaderFor(emulator, { password: PASSWORD, authScheme: 'md5' });
    const error = await expectEspotaError(
      uploader.upload(buildEsp32Image({ size: 32 * 1024 })),
      'ESPOTA_AUTH_SCHEME',
    );
    expect(error.message).toContain('Invalid nonce length: 64');
  });

  it('reports a wrong password as ESPOTA_AUTH_FAILED with no connect-back, and the right one then works', async () => {
    for (const [platform, scheme] of [
      ['esp8266', 'md5'],
      ['esp32', 'pbkdf2-sha256'],
    ] as const) {
      const emulator = await device(platform, { password: PASSWORD, authScheme: scheme });
      const wrong = uploaderFor(emulator, { password: `${PASSWORD}-wrong` });
      const image = platform === 'esp8266' ? sketch('9.9.9') : buildEsp32Image({ size: 32 * 1024 });
      const listener = await wrong.uploader.listen();
      const reply = await wrong.uploader.invite({
        listenPort: listener.port,
        size: image.length,
        md5: 'a'.repeat(32),
      });
      expect(reply.kind).toBe('auth');
      const answer = await wrong.uploader.authenticate(
        reply.kind === 'auth' ? reply.nonce : '',
        `${PASSWORD}-wrong`,
      );
      expect(answer).toEqual({ kind: 'auth-failed', text: 'Authentication Failed' });
      await expectEspotaError(listener.accept(300), 'ESPOTA_NO_CONNECT_BACK');
      expect(listener.connections).toBe(0);
      await listener.close();
      const error = await expectEspotaError(wrong.uploader.upload(image), 'ESPOTA_AUTH_FAILED');
      expect(error.message).toContain('authenticate');
      expect(error.message).toContain(`dut-${platform}`);
      const right = uploaderFor(emulator, { password: PASSWORD });
      expect((await right.uploader.upload(image)).result).toBe('OK');
    }
  });

  it('fails a dead target within the invitation timeout and leaves nothing running', async () => {
    // A bound UDP socket that never answers: the "device" is there but dead.
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const uploader = new EspotaUploader({
      host: '127.0.0.1',
      port: silent.address().port,
      targetName: 'dead-board',
      password: PASSWORD,
      timeouts: { invitationMs: 300 },
    });
    uploaders.push(uploader);
    const startedAt = Date.now();
    const error = await expectEspotaError(uploader.upload(new Uint8Array(4096)), 'ESPOTA_NO_REPLY');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    expect(Date.now() - startedAt).toBeLessThan(2000);
    expect(error.message).toContain('dead-board');
    expect(error.message).toContain('invitation');
    expect(error.step).toBe('invitation');
    silent.close();
  });

  it('an ESP32 times a stalled uploader out (re-sends its count three times, then closes) and takes a fresh invitation', async () => {
    const emulator = await device('esp32', { receiveTimeoutMs: 200 });
    const { uploader } = uploaderFor(emulator, { chunkSize: 1024, timeouts: { ackMs: 1000 } });
    const image = buildEsp32Image({ version: '4.0.0', size: 32 * 1024, seed: 5 });
    const error = await expectEspotaError(
      uploader.upload(image, { stallAfter: 8 * 1024 }),
      'ESPOTA_DEVICE_CLOSED',
    );
    expect(error.progress?.bytesSent).toBe(8 * 1024);
    expect(error.progress?.bytesAcked).toBe(8 * 1024);
    const last = error.progress?.acks.at(-1);
    expect(error.progress?.acks.slice(-4)).toEqual([last, last, last, last]);
    expect(error.progress?.elapsedMs).toBeGreaterThanOrEqual(3 * 200);
    const booted = nextBoot(emulator);
    expect((await uploader.upload(image)).result).toBe('OK');
    expect(await booted).toBe('4.0.0');
  });

  it('a device without a stream timeout keeps a stalled uploader hanging: ESPOTA_ACK_TIMEOUT, then no answer', async () => {
    const emulator = await device('esp32', { receiveTimeoutMs: 200 }, ['no-stream-timeout']);
    const { uploader } = uploaderFor(emulator, { timeouts: { ackMs: 800, invitationMs: 500 } });
    const image = buildEsp32Image({ size: 32 * 1024 });
    await expectEspotaError(uploader.upload(image, { stallAfter: 4096 }), 'ESPOTA_ACK_TIMEOUT');
  });

  it('an ESP8266 ends the session when the stalled uploader gives up and closes', async () => {
    const emulator = await device('esp8266');
    const { uploader } = uploaderFor(emulator, { timeouts: { ackMs: 300 } });
    const image = sketch('5.0.0');
    const error = await expectEspotaError(uploader.upload(image, { stallAfter: 2920 }), 'ESPOTA_ACK_TIMEOUT');
    expect(error.progress?.bytesAcked).toBe(2920);
    const booted = nextBoot(emulator);
    expect((await uploader.upload(image)).result).toBe('OK');
    expect(await booted).toBe('5.0.0');
  });

  it('returns the device error text for a wrong MD5 and for a corrupted stream, and the old sketch stays', async () => {
    const emulator = await device('esp8266');
    const { uploader } = uploaderFor(emulator);
    const image = sketch('6.0.0');
    const wrongMd5 = await uploader.upload(image, { md5: '0'.repeat(32) });
    expect(wrongMd5.result).toMatch(
      /^ERROR\[7\]: MD5 verification failed: expected: 0{32}, calculated: [0-9a-f]{32}$/,
    );
    expect(wrongMd5.acked).toBe(image.length);
    const corrupted = await uploader.upload(image, { corruptAt: 5000 });
    expect(corrupted.result).toMatch(/^ERROR\[7\]: MD5 verification failed/);
    expect(emulator.device.running?.version).toBe('1.0.0');
    const esp32 = await device('esp32');
    const { uploader: esp32Uploader } = uploaderFor(esp32);
    const result = await esp32Uploader.upload(buildEsp32Image({ size: 32 * 1024 }), { md5: 'f'.repeat(32) });
    expect(result.result).toBe('MD5 Check Failed');
  });

  it('never writes the password, nor the hashes a device stores for it, into errors or transcripts', async () => {
    const emulator = await device('esp8266', { password: PASSWORD });
    const seen: string[] = [];
    const uploader = new EspotaUploader({
      host: emulator.endpoints().services.ota!.host,
      port: emulator.endpoints().services.ota!.port,
      targetName: `board-${PASSWORD}`,
      password: PASSWORD,
      redact: (text) => text.replaceAll('board-', 'rig-redacted-'),
      transcript: { record: (_step, _direction, text) => seen.push(text) },
      timeouts: { invitationMs: 300 },
    });
    uploaders.push(uploader);
    expect((await uploader.upload(sketch('7.0.0'))).result).toBe('OK');
    const wrong = new EspotaUploader({
      host: '127.0.0.1',
      port: 9,
      targetName: `board-${PASSWORD}`,
      password: PASSWORD,
      redact: (text) => text.replaceAll('board-', 'rig-redacted-'),
      timeouts: { invitationMs: 100 },
      transcript: { record: (_step, _direction, text) => seen.push(text) },
    });
    uploaders.push(wrong);
    const error = await expectEspotaError(wrong.upload(new Uint8Array(16)), 'ESPOTA_NO_REPLY');
    const everything = [...seen, error.message].join('\n');
    expect(everything).toContain('***');
    expect(everything).not.toContain(PASSWORD);
    expect(error.message).toContain('rig-redacted-***');
    expect(seen.length).toBeGreaterThan(5);
  });
});
