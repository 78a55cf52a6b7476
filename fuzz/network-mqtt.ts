/**
 * The `mqtt-trigger` dialects under network fuzzing: a device connected to the embedded aedes broker
 * gets random and mutated messages on its command topics, mixed with valid triggers that send it to
 * the fuzzing update server (buttons-json, buttons-u, Tasmota); Homie's image travels in the message
 * itself, so there the hostile input is the firmware message.
 */
import { connect, type MqttClient } from 'mqtt';
import { startEmbeddedBroker } from '../drivers/mqtt/index.ts';
import { type StartedEmulator, startEmulator } from '../emulators/start-emulator.ts';
import type { SeededRandom } from '../fixtures/random/index.ts';
import { mutate } from './engine.ts';
import { urlStaysOnLoopback } from './hostile-answers.ts';
import {
  type AskOptions,
  esp32App,
  esp8266Sketch,
  FUZZ_VERSIONS,
  fuzzApps,
  fuzzSketches,
  imageAnswer,
  md5Hex,
  type PullDevice,
  type PullProfile,
  type PullSetup,
} from './pull-profile.ts';

/** The buttons device id: a MAC as a decimal integer, as buttonsMeshIDF forms it. */
const BUTTONS_ID = '40183289159373';
const TASMOTA_TOPIC = 'tasmota_F0221A';
const HOMIE_ID = '5ccf7ff0221a';
/** Between two rounds of messages: the device works through one round before the next comes. */
const ROUND_MS = 15;
/** buttons-json copies the URL into a 200-byte mesh message (reference/viperhttp-luartos-mqtt.md §3.1.a). */
const BUTTONS_URL_BYTES = 199;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pick<T>(random: SeededRandom, values: readonly T[]): T {
  return values[random.int(0, values.length - 1)]!;
}

/** Random bytes, or one of `seeds` mutated. */
function hostilePayload(random: SeededRandom, seeds: readonly (string | Uint8Array)[]): Buffer {
  if (random.int(0, 2) === 0) return Buffer.from(random.bytes(random.int(0, 300)));
  const seed = pick(random, seeds);
  return Buffer.from(mutate(random, typeof seed === 'string' ? Buffer.from(seed) : seed));
}

/** An MQTT-trigger device, the embedded broker it talks to and the harness's client on it. */
async function mqttDevice(
  options: Record<string, unknown>,
  platform: 'esp32' | 'esp8266',
  ask: (client: MqttClient, emulator: StartedEmulator, options: AskOptions) => Promise<void>,
): Promise<PullDevice> {
  const broker = await startEmbeddedBroker();
  let emulator: StartedEmulator | undefined;
  let client: MqttClient | undefined;
  try {
    emulator = await startEmulator({
      profile: 'mqtt-trigger',
      platform,
      timing: 'none',
      options: {
        brokerUrl: broker.url,
        restartDelayMs: 0,
        statusIntervalMs: 0,
        httpTimeoutMs: 400,
        ...options,
      },
    });
    client = connect(broker.url, { clientId: 'fuzz-harness', reconnectPeriod: 0 });
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client!.once('connect', () => resolve());
      client!.once('error', reject);
    });
  } catch (error) {
    client?.end(true);
    await emulator?.stop();
    await broker.stop();
    throw error;
  }
  const started = emulator;
  const harness = client;
  return {
    emulator: started,
    keepAsking: (askOptions) => ask(harness, started, askOptions),
    stop: async () => {
      await harness.endAsync(true);
      await broker.stop();
    },
  };
}

/** Publishes rounds until the signal: `hostileRound` when hostile, then `validRound`, each counted. */
async function rounds(
  client: MqttClient,
  options: AskOptions,
  round: { hostile(): [string, Buffer] | undefined; valid(): [string, Buffer][]; hostilePerRound: number },
): Promise<void> {
  while (!options.signal.aborted && client.connected) {
    const messages: [string, Buffer][] = [];
    if (options.hostile)
      for (let index = 0; index < round.hostilePerRound; index++) {
        const message = round.hostile();
        if (message) messages.push(message);
      }
    messages.push(...round.valid());
    for (const [topic, payload] of messages) {
      await client.publishAsync(topic, payload, { qos: 0 }).catch(() => {});
      options.published();
    }
    await pause(ROUND_MS);
  }
}

/** The historical buttonsMeshIDF root: `{"type":"ota_trigger","url":…}` on /switch/cmd/root. */
function buttonsJson(): PullProfile {
  return {
    name: 'mqtt-trigger/buttons-json',
    count: 100,
    versions: FUZZ_VERSIONS,
    validAnswer: (request, random) => imageAnswer(request, fuzzApps()[random.int(0, 1)]!),
    finalImage: esp32App,
    start: ({ origin }: PullSetup) =>
      mqttDevice({ dialect: 'buttons-json', deviceId: BUTTONS_ID }, 'esp32', (client, _emulator, options) => {
        const trigger = JSON.stringify({ type: 'ota_trigger', url: `${origin}/buttons.bin` });
        const seeds = [
          trigger,
          '{"type":"connections","data":{}}',
          '{"type":"ota_trigger","url":5}',
          `{"type":"ota_trigger","url":"${origin}/${'x'.repeat(300)}"}`,
        ];
        return rounds(client, options, {
          hostilePerRound: 3,
          hostile: () => {
            const payload = hostilePayload(options.random, seeds);
            if (!triggerStaysOnLoopback(payload, origin)) return undefined;
            const topic = pick(options.random, [
              '/switch/cmd/root',
              '/switch/cmd',
              `/switch/cmd/${BUTTONS_ID}`,
            ]);
            return [topic, payload];
          },
          valid: () => [['/switch/cmd/root', Buffer.from(trigger)]],
        });
      }),
  };
}

/** A mutated trigger is sent only if the URL the device would take from it cannot leave loopback. */
function triggerStaysOnLoopback(payload: Buffer, origin: string): boolean {
  let url: unknown;
  try {
    url = (JSON.parse(payload.toString('utf8')) as { url?: unknown } | null)?.url;
  } catch {
    return true;
  }
  if (typeof url !== 'string') return true;
  const kept = Buffer.from(url, 'utf8').subarray(0, BUTTONS_URL_BYTES).toString('utf8');
  return urlStaysOnLoopback(url, origin) && urlStaysOnLoopback(kept, origin);
}

/** buttonsMeshIDF HEAD: one byte `U` on /switch/cmd/<id>, the compile-time URL, a reboot after each failure. */
function buttonsU(): PullProfile {
  return {
    name: 'mqtt-trigger/buttons-u',
    count: 60,
    versions: FUZZ_VERSIONS,
    validAnswer: (request, random) => imageAnswer(request, fuzzApps()[random.int(0, 1)]!),
    finalImage: esp32App,
    start: ({ origin }: PullSetup) =>
      mqttDevice(
        { dialect: 'buttons-u', deviceId: BUTTONS_ID, otaUrl: `${origin}/buttons-u.bin`, otaCountdownMs: 0 },
        'esp32',
        (client, _emulator, options) =>
          rounds(client, options, {
            hostilePerRound: 3,
            hostile: () => [
              pick(options.random, [
                '/switch/cmd/root',
                '/switch/cmd',
                `/switch/cmd/${BUTTONS_ID}`,
                '/relay/cmd/7',
              ]),
              hostilePayload(options.random, ['U', 'P', '{"type":"x"}', 'UU']),
            ],
            valid: () => [[`/switch/cmd/${BUTTONS_ID}`, Buffer.from('U')]],
          }),
      ),
  };
}

/** Tasmota: `OtaUrl <url>` and `Upgrade 1` on cmnd/<topic>/, the download through ESPhttpUpdate. */
function tasmota(): PullProfile {
  return {
    name: 'mqtt-trigger/tasmota',
    // Few: each Upgrade waits for Tasmota's 250 ms state machine before it downloads.
    count: 40,
    versions: FUZZ_VERSIONS,
    validAnswer: (request, random) => {
      const image = fuzzSketches()[random.int(0, 1)]!;
      return imageAnswer(request, image, { extra: [['x-MD5', md5Hex(image)]] });
    },
    finalImage: esp8266Sketch,
    start: ({ origin }: PullSetup) => {
      const url = `${origin}/tasmota.bin`;
      return mqttDevice(
        { dialect: 'tasmota', deviceId: TASMOTA_TOPIC, otaUrl: url },
        'esp8266',
        (client, _emulator, options) =>
          rounds(client, options, {
            hostilePerRound: 3,
            hostile: () => {
              const command = pick(options.random, [
                'OtaUrl',
                'Upgrade',
                'upgrade',
                'Status',
                'Power',
                'OTAURL',
                '',
              ]);
              const payload = hostilePayload(options.random, [url, '1', '99.0.0', '2', '']);
              // The device stores what OtaUrl is given and downloads it at the next Upgrade.
              if (
                command.toLowerCase() === 'otaurl' &&
                !urlStaysOnLoopback(payload.toString('utf8').trim(), origin)
              )
                return undefined;
              return [`cmnd/${TASMOTA_TOPIC}/${command}`, payload];
            },
            valid: () => [
              [`cmnd/${TASMOTA_TOPIC}/OtaUrl`, Buffer.from(url)],
              [`cmnd/${TASMOTA_TOPIC}/Upgrade`, Buffer.from('1')],
            ],
          }),
      );
    },
  };
}

/** Homie for ESP8266: the image itself on `$implementation/ota/firmware/<md5>`, raw or Base64. */
function homie(): PullProfile {
  const base = `homie/${HOMIE_ID}/$implementation/ota/firmware`;
  return {
    name: 'mqtt-trigger/homie',
    count: 150,
    inputs: 'messages',
    versions: FUZZ_VERSIONS,
    validAnswer: (request, random) => imageAnswer(request, fuzzSketches()[random.int(0, 1)]!),
    finalImage: esp8266Sketch,
    start: () =>
      mqttDevice({ dialect: 'homie', deviceId: HOMIE_ID }, 'esp8266', async (client, _emulator, options) => {
        if (!options.hostile) {
          const image = esp8266Sketch(options.version ?? '0.0.0');
          return rounds(client, options, {
            hostilePerRound: 0,
            hostile: () => undefined,
            valid: () => [[`${base}/${md5Hex(image)}`, Buffer.from(image)]],
          });
        }
        let round = 0;
        return rounds(client, options, {
          hostilePerRound: 1,
          hostile: () => homieMessage(options.random, base),
          // A valid image now and then, so the device also flashes and reboots under fire.
          valid: () => (round++ % 40 === 39 ? [validHomie(options.random, base)] : []),
        });
      }),
  };
}

function validHomie(random: SeededRandom, base: string): [string, Buffer] {
  const image = pick(random, fuzzSketches());
  return [`${base}/${md5Hex(image)}`, Buffer.from(image)];
}

function homieMessage(random: SeededRandom, base: string): [string, Buffer] {
  const image = pick(random, fuzzSketches());
  const md5 = md5Hex(image);
  switch (random.int(0, 5)) {
    case 0:
      return [`${base}/${md5}`, Buffer.from(mutate(random, image))];
    case 1:
      return [
        `${base}/${md5}`,
        Buffer.from(mutate(random, Buffer.from(Buffer.from(image).toString('base64')))),
      ];
    case 2:
      return [
        `${base}/${pick(random, ['', 'x', md5.slice(1), md5.toUpperCase(), `${md5}0`, 'g'.repeat(32)])}`,
        Buffer.from(image),
      ];
    case 3:
      return [`${base}/${md5}`, Buffer.from(random.bytes(random.int(0, 2000)))];
    case 4:
      return [
        pick(random, [base, `${base}/${md5}/extra`, `homie/${HOMIE_ID}/$implementation/ota`]),
        Buffer.from(image),
      ];
    default:
      return [`${base}/${md5}`, Buffer.from(image.subarray(0, random.int(0, image.length - 1)))];
  }
}

export const MQTT_PROFILES: readonly PullProfile[] = [buttonsJson(), buttonsU(), tasmota(), homie()];
