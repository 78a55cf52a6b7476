/**
 * Network fuzzing of running emulators: each push profile's sockets (its service and its power
 * control plane) get random and mutated traffic from a seeded generator; afterwards the emulator
 * must still answer, and a valid update must still install and boot. The pull profiles, where the
 * device is the client, are fuzzed from the other side (network-pull.ts). In-process emulators on
 * loopback; an uncaught exception or unhandled rejection anywhere fails the profile that ran.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { connect } from 'node:net';
import { ViperHttpClient } from '../drivers/http/index.ts';
import { buildArduinoSketch } from '../emulators/boot/index.ts';
import { espota } from '../emulators/firmware/arduino-ota/espota-test-client.ts';
import { type StartedEmulator, startEmulator } from '../emulators/start-emulator.ts';
import { buildEsp32Image } from '../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../fixtures/esp8266-sketch/index.ts';
import { SeededRandom } from '../fixtures/random/index.ts';
import { waitForVersion, watchProcessFaults } from './device-survives.ts';
import { resolveOnlyLocalhost } from './loopback-only.ts';
import { fuzzPullProfile, PULL_PROFILES } from './network-pull.ts';

/** Messages per socket: enough to walk every parser state, few enough for a 2-core machine. */
const MESSAGES = 400;

export interface NetworkFuzzReport {
  failures: number;
}

interface Profile {
  name: string;
  start(): Promise<StartedEmulator>;
  /** Valid messages to mutate. */
  seeds(emulator: StartedEmulator): Buffer[];
  transport: 'tcp' | 'udp';
  service: string;
  /** A valid update that must install and boot `version` after the fuzzing. */
  update(emulator: StartedEmulator, version: string): Promise<void>;
}

function sketch(version: string): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: 24 * 1024, seed: 9 });
  writeSketchDescriptor(bytes, { version, projectName: 'fuzzed' });
  return bytes;
}

const BOUNDARY = '----fuzzBoundary';
function multipart(image: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="firmware"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    image,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

const PROFILES: Profile[] = [
  {
    name: 'viperhttp',
    transport: 'tcp',
    service: 'http',
    start: () => startEmulator({ profile: 'viperhttp', options: { token: 'fuzz-token' }, timing: 'none' }),
    seeds: () => [
      Buffer.from('GET /ota/status HTTP/1.1\r\nHost: d\r\nX-OTA-Token: fuzz-token\r\n\r\n'),
      Buffer.from(
        'POST /ota/begin HTTP/1.1\r\nX-OTA-Token: fuzz-token\r\nContent-Length: 13\r\n\r\n{"size":1024}',
      ),
      Buffer.from(
        'POST /ota/chunk?offset=0 HTTP/1.1\r\nX-OTA-Token: fuzz-token\r\nContent-Length: 4\r\n\r\n\xe9\x00\x00\x00',
      ),
      Buffer.from('POST /ota/upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n'),
    ],
    async update(emulator, version) {
      const { host, port } = emulator.endpoints().services.http!;
      const client = new ViperHttpClient({
        baseUrl: `http://${host}:${port}`,
        targetName: 'fuzzed-viperhttp',
        dialect: 'viperhttp',
        token: 'fuzz-token',
        timeouts: { stepMs: 10_000 },
      });
      try {
        await client.pushImage(buildEsp32Image({ version, size: 64 * 1024, seed: 4 }), { reboot: true });
      } finally {
        await client.destroy();
      }
    },
  },
  {
    name: 'viperhttp-doc',
    transport: 'tcp',
    service: 'http',
    // A short session timeout: a session a fuzzed begin opened must not block the update afterwards
    // for the seed's default 5 s (the doc dialect has no abort route).
    start: () =>
      startEmulator({
        profile: 'viperhttp-doc',
        options: { token: 'fuzz-token', sessionTimeoutMs: 300 },
        timing: 'none',
      }),
    seeds: () => [
      Buffer.from('GET /ota/status HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer fuzz-token\r\n\r\n'),
      Buffer.from(
        'POST /ota/begin HTTP/1.1\r\nAuthorization: Bearer fuzz-token\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"size":1024}',
      ),
      Buffer.from(
        'POST /ota/write HTTP/1.1\r\nAuthorization: bearer fuzz-token\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n\xe9\x00\x00\x00',
      ),
      Buffer.from(
        `POST /ota/finalize HTTP/1.1\r\nAuthorization: Bearer fuzz-token\r\nContent-Length: 91\r\n\r\n{"sha256":"${'ab'.repeat(32)}","reboot":true}`,
      ),
    ],
    async update(emulator, version) {
      const { host, port } = emulator.endpoints().services.http!;
      const client = new ViperHttpClient({
        baseUrl: `http://${host}:${port}`,
        targetName: 'fuzzed-viperhttp-doc',
        dialect: 'viperhttp-doc',
        token: 'fuzz-token',
        timeouts: { stepMs: 10_000 },
      });
      try {
        // An idle session a fuzzed begin left open times out first (seeds/viperhttp-ota.md § OTA Session Management).
        const deadline = Date.now() + 3000;
        while ((await client.status()).active === true && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        await client.pushImage(buildEsp32Image({ version, size: 64 * 1024, seed: 4 }), { reboot: true });
      } finally {
        await client.destroy();
      }
    },
  },
  {
    name: 'web-update',
    transport: 'tcp',
    service: 'http',
    start: () => startEmulator({ profile: 'web-update', platform: 'esp8266', timing: 'none' }),
    seeds: () => [
      Buffer.from('GET /update HTTP/1.1\r\nHost: d\r\n\r\n'),
      Buffer.concat([
        Buffer.from(
          `POST /update HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: 200\r\n\r\n`,
        ),
        multipart(Buffer.from('\xe9\x01\x02\x03')).subarray(0, 200),
      ]),
    ],
    update: (emulator, version) =>
      new Promise((resolve, reject) => {
        const { host, port } = emulator.endpoints().services.http!;
        const body = multipart(sketch(version));
        const sent = request(
          {
            host,
            port,
            method: 'POST',
            path: '/update',
            agent: false,
            headers: {
              'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`,
              'Content-Length': body.length,
            },
          },
          (response) => {
            response.resume();
            response.on('end', () =>
              response.statusCode === 200
                ? resolve()
                : reject(new Error(`upload answered ${response.statusCode}`)),
            );
          },
        );
        sent.on('error', reject);
        sent.end(body);
      }),
  },
  {
    name: 'arduino-ota',
    transport: 'udp',
    service: 'ota',
    start: () =>
      startEmulator({
        profile: 'arduino-ota',
        platform: 'esp8266',
        timing: 'none',
        options: { resultDelayMs: 20, replyDelayMs: 5, restartDelayMs: 5 },
      }),
    seeds: () => {
      const md5 = createHash('md5').update(sketch('0.0.1')).digest('hex');
      return [
        Buffer.from(`0 1 24576 ${md5}\n`),
        Buffer.from(`100 99999 1000 ${md5}\n`),
        Buffer.from(`200 ${md5} ${md5}\n`),
      ];
    },
    async update(emulator, version) {
      const outcome = await espota({ port: emulator.endpoints().services.ota!.port, image: sketch(version) });
      if (outcome.error !== undefined) throw new Error(`espota: ${outcome.error}`);
    },
  },
];

function mutate(random: SeededRandom, seed: Buffer): Buffer {
  const bytes = Buffer.from(seed);
  for (let flips = random.int(1, 6); flips > 0; flips--) {
    const at = random.int(0, Math.max(0, bytes.length - 1));
    bytes[at] = random.int(0, 3) === 0 ? random.int(0, 255) : (bytes[at] ?? 0) ^ (1 << random.int(0, 7));
  }
  return random.int(0, 3) === 0 ? bytes.subarray(0, random.int(0, bytes.length)) : bytes;
}

function sendTcp(host: string, port: number, message: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.on('error', done);
    socket.on('data', () => {});
    socket.once('connect', () => socket.write(message));
    // Some answer, some hold the connection for a body that never comes: do not wait for them.
    setTimeout(done, 30);
  });
}

/** Twenty connections at a time: the device's backlog holds them, as a busy network would. */
async function sendTcpBatches(host: string, port: number, messages: Buffer[]): Promise<void> {
  for (let at = 0; at < messages.length; at += 20)
    await Promise.all(messages.slice(at, at + 20).map((message) => sendTcp(host, port, message)));
}

async function sendUdp(host: string, port: number, messages: Buffer[]): Promise<void> {
  const socket = createSocket('udp4');
  socket.on('error', () => {});
  for (const message of messages) {
    socket.send(message, port, host);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  socket.close();
}

/** The HTTP control plane of every emulator gets the same treatment. */
const CONTROL_SEEDS = [
  Buffer.from('POST /power/cycle HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n'),
  Buffer.from('GET /cm?cmnd=Power%20On HTTP/1.1\r\n\r\n'),
  Buffer.from('GET // HTTP/1.1\r\n\r\n'),
];

/** The names `--profile` takes: every push profile, then every pull profile. */
export function networkProfileNames(): string[] {
  return [...PROFILES, ...PULL_PROFILES].map(({ name }) => name);
}

export async function fuzzEmulators(options: {
  seed: number;
  write: (line: string) => void;
  /** Only the profile of this name (`viperhttp`, `http-update/esp8266`, `mqtt-trigger/homie`…). */
  profile?: string;
}): Promise<NetworkFuzzReport> {
  const wanted = (name: string) => options.profile === undefined || options.profile === name;
  const faults = watchProcessFaults();
  const restoreLookup = resolveOnlyLocalhost();
  let failures = 0;
  // A fault thrown outside any await of the profile still belongs to the profile that ran.
  const settle = (name: string, passed: boolean) => {
    const thrown = faults.take();
    for (const fault of thrown)
      options.write(`network ${name}: FAILED, uncaught in the process:\n${indent(fault)}`);
    if (!passed || thrown.length > 0) failures++;
  };
  try {
    for (const profile of PROFILES.filter(({ name }) => wanted(name)))
      settle(profile.name, await fuzzPushProfile(profile, options));
    for (const profile of PULL_PROFILES.filter(({ name }) => wanted(name)))
      settle(profile.name, await fuzzPullProfile(profile, options));
  } finally {
    restoreLookup();
    faults.dispose();
  }
  return { failures };
}

function indent(text: string): string {
  return text
    .split('\n')
    .slice(0, 8)
    .map((line) => `  | ${line}`)
    .join('\n');
}

async function fuzzPushProfile(
  profile: Profile,
  options: { seed: number; write: (line: string) => void },
): Promise<boolean> {
  const started = performance.now();
  const random = new SeededRandom(options.seed ^ profile.name.length);
  const emulator = await profile.start();
  let sent = 0;
  try {
    const endpoint = emulator.endpoints().services[profile.service]!;
    const seeds = profile.seeds(emulator);
    const messages = Array.from({ length: MESSAGES }, (_, index) =>
      index % 3 === 0
        ? Buffer.from(random.bytes(random.int(1, 700)))
        : mutate(random, seeds[index % seeds.length]!),
    );
    if (profile.transport === 'udp') await sendUdp(endpoint.host, endpoint.port, messages);
    else await sendTcpBatches(endpoint.host, endpoint.port, messages);
    sent += messages.length;
    const control = new URL(emulator.endpoints().control!);
    for (let index = 0; index < MESSAGES / 4; index++) {
      const message =
        index % 2 === 0
          ? Buffer.from(random.bytes(random.int(1, 300)))
          : mutate(random, CONTROL_SEEDS[index % CONTROL_SEEDS.length]!);
      await sendTcp(control.hostname, Number(control.port), message);
      sent++;
    }
    // The control plane may have been told to switch the power off: a known state first.
    await emulator.device.powerOn();
    const version = `7.7.${options.seed % 100}`;
    await profile.update(emulator, version);
    await waitForVersion(emulator, version);
    options.write(
      `network ${profile.name.padEnd(31)} ${String(sent).padStart(7)} messages  still answers, valid update boots ${version}  ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return true;
  } catch (error) {
    options.write(
      `network ${profile.name}: FAILED after ${sent} messages: ${(error as Error).message}\n` +
        `  replay: npm run fuzz -- --seed ${options.seed} --profile ${profile.name}`,
    );
    return false;
  } finally {
    await emulator.stop();
  }
}
