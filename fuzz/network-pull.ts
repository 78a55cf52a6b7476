/**
 * Network fuzzing of the pull profiles, where the emulated device is the client: it downloads from
 * a fuzzing update server on loopback (HostileUpdateServer) that answers each request with random
 * bytes or a valid answer with one fault, and for MQTT triggers it also gets random and mutated
 * messages on its command topics. The device must keep asking and never crash, hang or boot
 * garbage; afterwards a well-behaved server (the harness's own update server, on the same port)
 * offers a valid update, which must install and boot. Every input is drawn from the seed and the
 * answer's index, so a failure replays with `npm run fuzz -- --seed S --profile <name>`.
 */
import {
  createTestCertificates,
  firmware,
  type StartedUpdateServer,
  startUpdateServer,
  type TestCertificates,
} from '../drivers/update-server/index.ts';
import { startEmulator } from '../emulators/start-emulator.ts';
import { SeededRandom } from '../fixtures/random/index.ts';
import { emulatorFaultLines, lastConsoleLines, waitForVersion } from './device-survives.ts';
import { hostileAnswer } from './hostile-answers.ts';
import { type HostileServerTls, HostileUpdateServer } from './hostile-update-server.ts';
import { MQTT_PROFILES } from './network-mqtt.ts';
import {
  esp32App,
  esp8266Sketch,
  FUZZ_VERSIONS,
  fuzzApps,
  fuzzSketches,
  imageAnswer,
  md5Hex,
  type PullDevice,
  type PullProfile,
} from './pull-profile.ts';

/** A device that asks nothing for this long has hung: every fuzzed device times out well before. */
const SILENCE_MS = 8000;
/** How long a `stall` answer keeps the connection open and silent: past each device's read timeout. */
const STALL_MS = 600;
/** The read and connect timeouts the fuzzed devices are built with (the chips' own are 5–60 s). */
const DEVICE_TIMEOUT_MS = 400;
/** How often a polling device checks for an update while fuzzed. */
const POLL_MS = 5;

function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

const started = (emulator: PullDevice['emulator']): PullDevice => ({ emulator, stop: async () => {} });

const HTTP_PROFILES: PullProfile[] = [
  ...(['esp8266', 'esp32'] as const).map(
    (platform): PullProfile => ({
      name: `http-update/${platform}`,
      count: 150,
      versions: FUZZ_VERSIONS,
      validAnswer(request, random) {
        const image = (platform === 'esp8266' ? fuzzSketches() : fuzzApps())[random.int(0, 1)]!;
        return imageAnswer(request, image, { protocol: 'HTTP/1.0', extra: [['x-MD5', md5Hex(image)]] });
      },
      finalImage: platform === 'esp8266' ? esp8266Sketch : esp32App,
      // After a faulty x-MD5 the Updater stays running, and begin() then fails with no error code
      // (reference/arduino-ota.md §3.1 "(derived)", §4.1, §5.2): Error (0) at every check until a reset.
      stuckUntilReset: (line) => line.startsWith('HTTP_UPDATE_FAILED Error (0)'),
      start: async ({ origin }) =>
        started(
          await startEmulator({
            profile: 'http-update',
            platform,
            timing: 'none',
            options: {
              updateUrl: `${origin}/firmware.bin`,
              checkIntervalMs: POLL_MS,
              clientTimeoutMs: DEVICE_TIMEOUT_MS,
              streamTimeoutMs: DEVICE_TIMEOUT_MS,
              // ESP32: readBytes() waits this long, then delay(100), this many times.
              streamReadTimeoutMs: 50,
              streamTimeoutReads: 2,
              followRedirects: 'strict',
            },
          }),
        ),
    }),
  ),
  ...[false, true].map(
    (partial): PullProfile => ({
      name: partial ? 'esp-https-ota/partial' : 'esp-https-ota',
      count: 150,
      tls: 'tls',
      versions: FUZZ_VERSIONS,
      validAnswer: (request, random) => imageAnswer(request, fuzzApps()[random.int(0, 1)]!),
      finalImage: esp32App,
      start: async ({ origin, caPem }) =>
        started(
          await startEmulator({
            profile: 'esp-https-ota',
            timing: 'none',
            options: {
              updateUrl: `${origin}/ota.bin`,
              caPem,
              checkIntervalMs: POLL_MS,
              timeoutMs: DEVICE_TIMEOUT_MS,
              restartDelayMs: 0,
              partialHttpDownload: partial,
              partialHttpDownloadSize: 8 * 1024,
            },
          }),
        ),
    }),
  ),
  {
    name: 'luartos',
    count: 150,
    tls: 'tls1.1',
    versions: FUZZ_VERSIONS,
    validAnswer: (request, random) => imageAnswer(request, fuzzApps()[random.int(0, 1)]!),
    finalImage: esp32App,
    start: async ({ port }) =>
      started(
        await startEmulator({
          profile: 'luartos',
          timing: 'none',
          options: {
            server: '127.0.0.1',
            port,
            checkIntervalMs: POLL_MS,
            receiveTimeoutMs: DEVICE_TIMEOUT_MS,
          },
        }),
      ),
  },
];

export const PULL_PROFILES: readonly PullProfile[] = [...HTTP_PROFILES, ...MQTT_PROFILES];

export interface PullFuzzOptions {
  seed: number;
  write: (line: string) => void;
  /** Overrides each profile's count (a short run in `npm test`). */
  count?: number;
}

/** The random stream of hostile input `index` of `profile`: the same for a seed on every machine. */
export function inputRandom(seed: number, profile: string, index: number): SeededRandom {
  let salt = 0x811c9dc5;
  for (const char of profile) salt = Math.imul(salt ^ char.charCodeAt(0), 0x01000193);
  return new SeededRandom((seed ^ salt ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

/** One throw-away CA and server certificate per run (openssl), made only when a profile speaks TLS. */
const certificates = memo(() => createTestCertificates());

function tlsFor(profile: PullProfile, pem: TestCertificates | undefined): HostileServerTls | undefined {
  if (profile.tls === undefined || pem === undefined) return undefined;
  const base = { key: pem.keyPem, cert: pem.certPem };
  // OpenSSL 3 refuses TLS 1.1 at its default security level: Lua RTOS needs SECLEVEL=0.
  return profile.tls === 'tls1.1'
    ? { ...base, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }
    : base;
}

/**
 * Fuzzes one pull profile: hostile answers (and messages) until its count is reached, then checks
 * the device is healthy, then a valid update from a well-behaved server. Returns whether it passed.
 * Input `i` is the same whatever the count, so a short run's failure replays in the full one.
 */
export async function fuzzPullProfile(profile: PullProfile, options: PullFuzzOptions): Promise<boolean> {
  const startedAt = performance.now();
  const pem = profile.tls === undefined ? undefined : await certificates();
  const tls = tlsFor(profile, pem);
  const server = new HostileUpdateServer(
    (index, request, origin) =>
      hostileAnswer(
        inputRandom(options.seed, profile.name, index),
        profile.validAnswer(request, inputRandom(options.seed, `${profile.name}/valid`, index)),
        { origin, stallMs: STALL_MS },
      ),
    tls,
  );
  await server.start();
  const counted = { published: 0 };
  let device: PullDevice | undefined;
  let good: StartedUpdateServer | undefined;
  try {
    device = await profile.start({ origin: server.origin, port: server.port, caPem: pem?.caPem ?? '' });
    await underFire(profile, device, server, { ...options, counted });
    // Afterwards: a well-behaved server (the harness's own) where the hostile one was.
    const { port } = server;
    await server.stop();
    const version = `7.7.${options.seed % 100}`;
    good = await startUpdateServer({
      port,
      ...(tls ? { tls } : {}),
      routes: { '*': firmware(profile.finalImage(version)) },
    });
    await validUpdateBoots(device, version, options.seed, profile.name);
    const inputs =
      profile.inputs === 'messages'
        ? `${String(counted.published).padStart(7)} messages`
        : `${String(server.answered).padStart(7)} answers${counted.published > 0 ? ` + ${counted.published} messages` : ''}`;
    options.write(
      `network ${`${profile.name} (pull)`.padEnd(31)} ${inputs}  still downloads, valid update boots ${version}  ${((performance.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    return true;
  } catch (error) {
    options.write(
      `network ${profile.name}: FAILED after ${server.answered} answers and ${counted.published} messages: ${(error as Error).message}\n` +
        `  last answers: ${server.served.slice(-8).join(', ') || 'none'}\n` +
        (device ? `  console: ${lastConsoleLines(device.emulator, 6).join(' | ')}\n` : '') +
        `  replay: npm run fuzz -- --seed ${options.seed} --profile ${profile.name}`,
    );
    return false;
  } finally {
    await server.stop();
    if (device) {
      await device.emulator.stop();
      await device.stop();
    }
    await good?.stop();
  }
}

/**
 * The hostile phase: the device downloads (polling, or told to over MQTT) until `count` answers or
 * messages went out. Throws when it stopped asking, reported a fault of its own, booted anything but
 * the images it was validly sent, or is not running at the end.
 */
async function underFire(
  profile: PullProfile,
  device: PullDevice,
  server: HostileUpdateServer,
  options: PullFuzzOptions & { counted: { published: number } },
): Promise<void> {
  const { emulator } = device;
  const count = options.count ?? profile.count;
  const allowed = new Set([emulator.device.running?.version, ...profile.versions]);
  const badBoots: string[] = [];
  const unwatch = emulator.device.onBoot((image) => {
    if (image === undefined || !allowed.has(image.version))
      badBoots.push(image === undefined ? 'nothing (it halted)' : `'${image.version}'`);
  });
  const asking = new AbortController();
  const hostile = device.keepAsking?.({
    random: inputRandom(options.seed, `${profile.name}/messages`, 0),
    signal: asking.signal,
    hostile: true,
    published: () => options.counted.published++,
  });
  const resets = profile.stuckUntilReset
    ? unstick(emulator, profile.stuckUntilReset, asking.signal)
    : undefined;
  try {
    if (profile.inputs === 'messages')
      await waitForMessages(() => options.counted.published, count, SILENCE_MS);
    else await server.waitForAnswers(count, SILENCE_MS);
  } finally {
    asking.abort();
    unwatch();
    await resets;
    await hostile;
  }
  const faults = emulatorFaultLines(emulator);
  if (faults.length > 0) throw new Error(`the emulator reported a fault: ${faults[0]}`);
  if (badBoots.length > 0) throw new Error(`under fire the device booted ${badBoots[0]}`);
  // A valid answer at the end may have it rebooting: give the boot a moment.
  for (let waited = 0; emulator.device.state !== 'running' && waited < 2000; waited += 20)
    await new Promise((resolve) => setTimeout(resolve, 20));
  if (emulator.device.state !== 'running')
    throw new Error(`the device is ${emulator.device.state} after the fuzzing, not running`);
}

/** Power cycle, then the device (asked again where it must be asked) installs and boots `version`. */
async function validUpdateBoots(
  device: PullDevice,
  version: string,
  seed: number,
  name: string,
): Promise<void> {
  const { emulator } = device;
  // A real client may be left stuck by what it was sent until the next reset (ESP8266httpUpdate
  // returns without Update.end() after a faulty x-MD5, so the Updater stays running and every later
  // begin() fails: reference/arduino-ota.md §3.1, §4.1): a power cycle first.
  await emulator.device.powerOff();
  await emulator.device.powerOn();
  const asking = new AbortController();
  const valid = device.keepAsking?.({
    random: inputRandom(seed, `${name}/final`, 0),
    signal: asking.signal,
    hostile: false,
    version,
    published: () => {},
  });
  try {
    await waitForVersion(emulator, version);
  } finally {
    asking.abort();
    await valid;
  }
}

/** Pulls the reset pin whenever the console's last line says the firmware is stuck until a reset. */
async function unstick(
  emulator: PullDevice['emulator'],
  stuck: (line: string) => boolean,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const last = emulator.device.console.lines().at(-1)?.text ?? '';
    if (emulator.device.state === 'running' && stuck(last)) await emulator.device.resetPin();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `wanted` messages went out; throws when none went out for `silenceMs` (the client is gone). */
async function waitForMessages(count: () => number, wanted: number, silenceMs: number): Promise<void> {
  let last = count();
  let lastAt = Date.now();
  while (count() < wanted) {
    if (count() !== last) {
      last = count();
      lastAt = Date.now();
    } else if (Date.now() - lastAt > silenceMs) {
      throw new Error(`the harness stopped publishing after ${last} messages (is the broker gone?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
