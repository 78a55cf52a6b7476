import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type StartedBroker, startEmbeddedBroker } from '../../drivers/mqtt/index.ts';
import { inRollout } from '../../drivers/reference-update-server/index.ts';
import { createTestCertificates } from '../../drivers/update-server/index.ts';
import { buildEsp32Image, buildEsp8266Image } from '../../fixtures/index.ts';
import { runConformance } from '../../suites/runner/run-conformance.ts';
import { parseRate, serveOptionsFrom } from './serve.ts';
import { concurrentDownloads, download, type ServeProcess, spawnServe } from './serve-process.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const running: ServeProcess[] = [];
const brokers: StartedBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
  await Promise.all(running.splice(0).map((server) => server.stop()));
});

async function serve(args: string[]): Promise<ServeProcess> {
  const server = await spawnServe(args);
  running.push(server);
  return server;
}

function folderWith(files: Record<string, Uint8Array | string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'serve-'));
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  return dir;
}

describe('ota-conformance serve', () => {
  it('200 concurrent downloads under --rate-limit 2M: the aggregate rate stays within 10 % of the limit, every download is the image', async () => {
    const image = buildEsp32Image({ size: 32 * 1024, version: '3.0.0', seed: 5 });
    const limit = 2 * 1024 * 1024;
    const server = await serve([folderWith({ '3.0.0.bin': image }), '--rate-limit', '2M']);
    const { downloads, bytes, seconds, bytesPerSecond } = await concurrentDownloads(server.url, 200);
    const expected = sha256(image);
    expect(downloads.filter((d) => d.status !== 200 || sha256(d.body) !== expected)).toEqual([]);
    const ratio = bytesPerSecond / limit;
    console.info(
      `serve: 200 downloads, ${bytes} bytes in ${seconds.toFixed(3)} s = ${ratio.toFixed(3)} × the limit`,
    );
    // The behaviour: never more than the limit (plus the 50 ms burst, 1.6 % of this run) and 10 %.
    expect(ratio).toBeLessThanOrEqual(1.1);
    // Not a speed claim (the machine may be loaded): only that the limit is not a stall. The
    // rate near the limit is measured in serve.bench.ts.
    expect(ratio).toBeGreaterThanOrEqual(0.5);
    // Every request is in the log once its answer is through.
    await expect.poll(() => server.log.length, { timeout: 5_000 }).toBe(200);
    expect(
      server.log.every((line) => / GET \/firmware\.bin\?device=bench-\d+ 200 32768B \d+ms$/.test(line)),
    ).toBe(true);
  }, 60_000);

  it('--device-rate-limit holds each device to its own rate, and two downloads of one device share it', async () => {
    const image = buildEsp32Image({ size: 64 * 1024, version: '3.0.0', seed: 6 });
    const server = await serve([folderWith({ '3.0.0.bin': image }), '--device-rate-limit', '128k']);
    const [slow, fast] = await Promise.all([
      download(`${server.url}/firmware.bin?device=slow`),
      download(`${server.url}/firmware.bin?device=fast`),
    ]);
    expect(sha256(slow.body)).toBe(sha256(image));
    expect(sha256(fast.body)).toBe(sha256(image));
    // 64 KiB at 128 KiB/s is 0.5 s; from the first byte, less the 50 ms burst and the first
    // 4 KiB piece (31 ms): at least 419 ms.
    expect(slow.last - slow.first).toBeGreaterThan(419);
    // The other device is held to the same rate on its own budget.
    expect(fast.last - fast.first).toBeGreaterThan(419);
    // Two downloads of one device share its limit: together they take twice as long as one.
    const [a, b] = await Promise.all([
      download(`${server.url}/firmware.bin?device=pair`),
      download(`${server.url}/firmware.bin?device=pair`),
    ]);
    // 128 KiB at 128 KiB/s: 1 s, less the burst and the first piece.
    expect(Math.max(a.last, b.last) - Math.min(a.first, b.first)).toBeGreaterThan(919);
  }, 60_000);

  it('--rollout 25: the newest release goes to the devices in the stage (the same ones on every poll), the one before to the rest; every version stays at /<version>.bin', async () => {
    const older = buildEsp32Image({ size: 16 * 1024, version: '1.0.0', seed: 7 });
    const newer = buildEsp32Image({ size: 16 * 1024, version: '1.1.0', seed: 8 });
    const server = await serve([folderWith({ '1.0.0.bin': older, '1.1.0.bin': newer }), '--rollout', '25']);
    const devices = Array.from(
      { length: 200 },
      (_, index) =>
        `AA:BB:CC:00:${(index >> 8).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`,
    );
    const got = await Promise.all(
      devices.map((device) => download(`${server.url}/firmware.bin?device=${device}`)),
    );
    const newest = got.filter((answer) => sha256(answer.body) === sha256(newer)).length;
    const previous = got.filter((answer) => sha256(answer.body) === sha256(older)).length;
    expect(newest + previous).toBe(200);
    // A hash stage: about a quarter, not exactly (a binomial spread of ±3 σ ≈ ±18 devices).
    expect(newest).toBeGreaterThan(50 - 18);
    expect(newest).toBeLessThan(50 + 18);
    const again = await Promise.all(
      devices.map((device) => download(`${server.url}/firmware.bin?device=${device}`)),
    );
    expect(again.map((answer) => sha256(answer.body))).toEqual(got.map((answer) => sha256(answer.body)));
    // Raising the stage only adds devices.
    for (const device of devices) if (inRollout(device, 25)) expect(inRollout(device, 50)).toBe(true);
    expect(sha256((await download(`${server.url}/1.1.0.bin`)).body)).toBe(sha256(newer));
    expect(sha256((await download(`${server.url}/1.0.0.bin`)).body)).toBe(sha256(older));
  }, 60_000);

  it('passes its own server suites: esp_https_ota over HTTPS with the pinned certificate, ESP8266/ESP32 HTTPUpdate, and Tasmota rollout triggers', async () => {
    const certificates = await createTestCertificates();
    const keys = folderWith({
      'cert.pem': certificates.certPem,
      'key.pem': certificates.keyPem,
      'ca.pem': certificates.caPem,
    });
    const images = folderWith({
      '1.0.0.bin': buildEsp32Image({ size: 48 * 1024, version: '1.0.0', seed: 9 }),
      '1.1.0.bin': buildEsp32Image({ size: 48 * 1024, version: '1.1.0', seed: 10 }),
    });
    const https = await serve([
      images,
      '--tls-cert',
      join(keys, 'cert.pem'),
      '--tls-key',
      join(keys, 'key.pem'),
    ]);
    const updates = folderWith({
      'esp8266/1.0.0.bin': buildEsp8266Image({ size: 32 * 1024, seed: 11 }),
      'esp8266/1.1.0.bin': buildEsp8266Image({ size: 32 * 1024, seed: 12 }),
      'esp32/1.0.0.bin': buildEsp32Image({ size: 32 * 1024, version: '1.0.0', seed: 13 }),
      'esp32/1.1.0.bin': buildEsp32Image({ size: 32 * 1024, version: '1.1.0', seed: 14 }),
    });
    const httpUpdate = await serve([updates, '--profile', 'http-update']);
    // A rollout server for Tasmota plugs: new builds in the folder are announced on the broker.
    const broker = await startEmbeddedBroker();
    brokers.push(broker);
    const builds = folderWith({
      '1.0.0.bin': buildEsp32Image({ size: 24 * 1024, version: '1.0.0', seed: 15 }),
    });
    const nextBuild = join(
      folderWith({ 'build.img': buildEsp32Image({ size: 24 * 1024, version: '2.0.0', seed: 16 }) }),
      'build.img',
    );
    const rollout = await serve([
      builds,
      '--mqtt-broker',
      broker.url,
      '--mqtt-dialect',
      'tasmota',
      '--mqtt-topic',
      'bench-plug',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'serve-rig-'));
    const rig = join(dir, 'rig.json');
    writeFileSync(
      rig,
      JSON.stringify({
        name: 'serve',
        targets: [
          {
            name: 'serve-images',
            kind: 'update-server',
            profile: 'esp-https-ota',
            url: https.url,
            capabilities: ['range', 'tls', 'etag', 'redirects'],
            tls: { caFile: join(keys, 'ca.pem') },
          },
          {
            name: 'serve-rollout',
            kind: 'update-server',
            profile: 'mqtt-trigger',
            url: rollout.url,
            options: {
              dialect: 'tasmota',
              topic: 'bench-plug',
              brokerUrl: broker.url,
              dropFolder: builds,
              buildFile: nextBuild,
              dropName: '2.{stamp}.bin',
            },
          },
          {
            name: 'serve-http-update',
            kind: 'update-server',
            profile: 'http-update',
            url: httpUpdate.url,
            capabilities: ['range'],
            options: { latestVersion: '1.1.0', olderVersion: '1.0.0' },
          },
        ],
      }),
    );
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      write: (text) => lines.push(text),
    });
    const notPassed = outcome.results.filter((result) => result.outcome !== 'pass');
    expect(notPassed.map((result) => `${result.target} ${result.id}: ${result.detail}`)).toEqual([]);
    expect(outcome.results.filter((result) => result.target === 'serve-images')).toHaveLength(11);
    expect(outcome.results.filter((result) => result.target === 'serve-http-update')).toHaveLength(9);
    expect(outcome.results.filter((result) => result.target === 'serve-rollout')).toHaveLength(3);
    expect(outcome.exitCode).toBe(0);
  }, 120_000);

  it('names the flag of every bad option', () => {
    const base = {
      profile: 'esp-https-ota',
      host: '127.0.0.1',
      port: '0',
      path: '/firmware.bin',
      rollout: '100',
      log: 'text',
    } as const;
    expect(() => serveOptionsFrom('x', { ...base, rollout: '120' })).toThrow(
      /--rollout: expected a percentage 0–100, got '120'/,
    );
    expect(() => serveOptionsFrom('x', { ...base, port: '70000' })).toThrow(/--port/);
    expect(() => serveOptionsFrom('x', { ...base, tlsCert: 'c.pem' })).toThrow(
      /--tls-cert and --tls-key go together/,
    );
    expect(() => serveOptionsFrom('x', { ...base, rateLimit: 'fast' })).toThrow(
      /--rate-limit: expected bytes per second/,
    );
    expect(parseRate('--rate-limit', '2M')).toBe(2 * 1024 * 1024);
    expect(parseRate('--rate-limit', '512k')).toBe(512 * 1024);
    expect(parseRate('--rate-limit', '1000')).toBe(1000);
    expect(serveOptionsFrom('x', { ...base, rateLimit: '1M', deviceRateLimit: '64k' }).limits).toEqual({
      totalBytesPerSecond: 1024 * 1024,
      deviceBytesPerSecond: 64 * 1024,
    });
  });
});
