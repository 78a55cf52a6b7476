import { createHash } from 'node:crypto';
import { buildArduinoSketch } from '../emulators/boot/index.ts';
import type { StartedEmulator } from '../emulators/start-emulator.ts';
import { buildEsp32Image } from '../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../fixtures/esp8266-sketch/index.ts';
import type { SeededRandom } from '../fixtures/random/index.ts';
import type { ValidAnswer } from './hostile-answers.ts';

/** What a pull profile's device is started with: where its update server is, and the TLS it must trust. */
export interface PullSetup {
  /** `http(s)://127.0.0.1:port` of the fuzzing update server (and later of the well-behaved one). */
  origin: string;
  port: number;
  caPem: string;
}

/** How a fuzz run keeps a device asking: hostile triggers mixed in, or valid ones only. */
export interface AskOptions {
  random: SeededRandom;
  signal: AbortSignal;
  hostile: boolean;
  /** With `hostile` false: the version the well-behaved update must bring (Homie sends it itself). */
  version?: string;
  /** Counts each message published. */
  published(): void;
}

export interface PullDevice {
  emulator: StartedEmulator;
  /** Keeps the device downloading until `signal` aborts (MQTT triggers); absent for devices that poll. */
  keepAsking?(options: AskOptions): Promise<void>;
  /** Stops what the profile started besides the emulator (a broker, a client). */
  stop(): Promise<void>;
}

/**
 * One pull profile under network fuzzing: the emulated device is the client, and the hostile input
 * is what it receives — the answers of the fuzzing update server and, for MQTT triggers, the
 * messages on its command topics.
 */
export interface PullProfile {
  name: string;
  /** Hostile inputs per run: server answers, or (with `inputs: 'messages'`) firmware messages. */
  count: number;
  /** What the count counts; `messages` for a dialect whose image travels over MQTT (Homie). */
  inputs?: 'answers' | 'messages';
  /** `tls1.1`: Lua RTOS's TLSv1_1_client_method(); `tls`: any modern version. */
  tls?: 'tls' | 'tls1.1';
  /** Versions the fuzzing's valid answers may install (the device may run these, or its factory image). */
  versions: readonly string[];
  /** The valid answer to one request, which every fault starts from. */
  validAnswer(request: string, random: SeededRandom): ValidAnswer;
  /** The image the well-behaved server offers afterwards, with `version`. */
  finalImage(version: string): Uint8Array;
  start(setup: PullSetup): Promise<PullDevice>;
  /**
   * True when the real firmware is stuck until a reset by what it was sent (then the fuzzing pulls
   * the reset pin, as a lab would, and goes on); absent when nothing should ever stick.
   */
  stuckUntilReset?(lastLine: string): boolean;
}

/** Two versions the valid answers alternate between, so an app that refuses its own version still updates. */
export const FUZZ_VERSIONS = ['6.6.1', '6.6.2'] as const;

let sketches: Uint8Array[] | undefined;
let apps: Uint8Array[] | undefined;
/** The sketches of FUZZ_VERSIONS, built once. */
export const fuzzSketches = (): readonly Uint8Array[] => (sketches ??= FUZZ_VERSIONS.map(esp8266Sketch));
/** The ESP32 apps of FUZZ_VERSIONS, built once. */
export const fuzzApps = (): readonly Uint8Array[] => (apps ??= FUZZ_VERSIONS.map(esp32App));

/** An ESP32 app image of 24 KiB (header, segments, checksum, SHA-256), byte-identical per version. */
export function esp32App(version: string): Uint8Array {
  return buildEsp32Image({ version, projectName: 'fuzzed', size: 24 * 1024, seed: 31 });
}

/** An Arduino ESP8266 sketch (eboot and a 24 KiB app) that says `version`. */
export function esp8266Sketch(version: string): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: 24 * 1024, seed: 33 });
  writeSketchDescriptor(bytes, { version, projectName: 'fuzzed' });
  return bytes;
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/**
 * The answer a RangeHTTPServer-like server gives `request` for `image`: 200 with the whole image,
 * the head alone for HEAD, 206 with Content-Range for `Range: bytes=a-b` (esp_https_ota's partial
 * download), with the extra headers given.
 */
export function imageAnswer(
  request: string,
  image: Uint8Array,
  options: { protocol?: 'HTTP/1.0' | 'HTTP/1.1'; extra?: readonly (readonly [string, string])[] } = {},
): ValidAnswer {
  const protocol = options.protocol ?? 'HTTP/1.1';
  const extra = options.extra ?? [];
  const type = ['Content-Type', 'application/octet-stream'] as const;
  if (request.startsWith('HEAD ')) {
    return {
      statusLine: `${protocol} 200 OK`,
      headers: [type, ['Content-Length', String(image.length)], ...extra],
      body: new Uint8Array(0),
    };
  }
  const range = /^range:\s*bytes=(\d+)-(\d*)\s*$/im.exec(request);
  if (range) {
    const start = Math.min(Number(range[1]), image.length);
    const end = range[2] === '' ? image.length - 1 : Math.min(Number(range[2]), image.length - 1);
    const body = image.subarray(start, Math.max(start, end + 1));
    return {
      statusLine: `${protocol} 206 Partial Content`,
      headers: [
        type,
        ['Content-Length', String(body.length)],
        ['Content-Range', `bytes ${start}-${start + body.length - 1}/${image.length}`],
        ...extra,
      ],
      body,
    };
  }
  return {
    statusLine: `${protocol} 200 OK`,
    headers: [type, ['Content-Length', String(image.length)], ...extra],
    body: image,
  };
}
