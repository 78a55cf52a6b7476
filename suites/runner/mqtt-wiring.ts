import { type StartedBroker, startEmbeddedBroker } from '../../drivers/mqtt/index.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import type { MqttConfig, Resolved } from '../../rigs/index.ts';
import { freePort } from './free-port.ts';

/** The part of a rig entry the MQTT wiring reads (emulator and board entries both have it). */
interface MqttTargetEntry {
  name: string;
  profile: string;
  mqtt?: Resolved<MqttConfig>;
}

type MqttDescription = NonNullable<TargetDescription['mqtt']>;

/** The emulator's dialect names (emulators/firmware/mqtt-trigger); the rig's `buttons-mesh` is HEAD's `U`. */
const RIG_DIALECT_TO_EMULATOR: Readonly<Record<string, string>> = {
  'buttons-mesh': 'buttons-u',
  tasmota: 'tasmota',
  homie: 'homie',
};
const EMULATOR_DEFAULT_DIALECT = 'buttons-u';

/**
 * What `ota-conformance run` does for MQTT targets: an embedded broker (aedes) for every entry
 * that says `"mqtt": { "embedded": {} }` (shared only by entries naming the same fixed address),
 * stopped after the run; the
 * broker URL, the dialect and the device's topic in the description; for an emulator also the
 * firmware options that make the device agree (brokerUrl, deviceId, dialect, and the
 * compile-time otaUrl of the `U` dialect pointing at the port the suites' update server binds).
 */
export class MqttWiring {
  private readonly brokers = new Map<string, Promise<StartedBroker>>();

  /**
   * Fills in an emulator's firmware options (in place) and returns the description fields:
   * `mqtt`, and `updateServer` when the rig gave none (the suites still need the port the
   * device's otaUrl names).
   */
  async wireEmulator(
    target: MqttTargetEntry,
    firmwareOptions: Record<string, unknown>,
    updateServer: { host: string; port: number } | undefined,
  ): Promise<Partial<Pick<TargetDescription, 'mqtt' | 'updateServer'>>> {
    if (!target.mqtt) return {};
    const brokerUrl = await this.brokerUrlFor(target);
    firmwareOptions.brokerUrl ??= brokerUrl;
    if (target.mqtt.username !== undefined) firmwareOptions.username ??= target.mqtt.username;
    if (target.mqtt.password !== undefined) firmwareOptions.password ??= target.mqtt.password;
    const rigDialect = target.mqtt.dialect ? RIG_DIALECT_TO_EMULATOR[target.mqtt.dialect] : undefined;
    firmwareOptions.dialect ??= rigDialect ?? EMULATOR_DEFAULT_DIALECT;
    const dialect = String(firmwareOptions.dialect);
    firmwareOptions.deviceId ??= target.mqtt.topic ?? deviceIdFor(dialect, target.name);
    let update = updateServer;
    if (!update) update = { host: '127.0.0.1', port: await freePort() };
    firmwareOptions.otaUrl ??= `http://${update.host}:${update.port}/firmware.bin`;
    return {
      mqtt: describeMqtt(target.mqtt, brokerUrl, dialect, String(firmwareOptions.deviceId)),
      ...(updateServer ? {} : { updateServer: update }),
    };
  }

  /** A board keeps its own firmware; it only gets the embedded broker's URL when the rig asks for one. */
  async wireBoard(target: MqttTargetEntry, description: TargetDescription): Promise<TargetDescription> {
    if (!target.mqtt) return description;
    const brokerUrl = await this.brokerUrlFor(target);
    const dialect = target.mqtt.dialect ?? stringOption(description.options, 'dialect');
    const topic = target.mqtt.topic ?? stringOption(description.options, 'deviceId');
    return { ...description, mqtt: describeMqtt(target.mqtt, brokerUrl, dialect, topic) };
  }

  async stop(): Promise<void> {
    const started = await Promise.allSettled(this.brokers.values());
    this.brokers.clear();
    await Promise.all(
      started.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
    );
  }

  private async brokerUrlFor(target: MqttTargetEntry): Promise<string> {
    const mqtt = target.mqtt!;
    if (mqtt.brokerUrl) return mqtt.brokerUrl;
    const host = mqtt.embedded?.host ?? '127.0.0.1';
    const port = mqtt.embedded?.port ?? 0;
    // A broker on "any port" is the target's own: buttonsMeshIDF devices all use the same fixed
    // topics (/switch/state/root, /switch/cmd/root), so two of them on one broker would hear each
    // other's triggers. A fixed address can be bound once, so the targets naming it share it.
    const key = port === 0 ? `target:${target.name}` : `${host}:${port}`;
    let broker = this.brokers.get(key);
    if (!broker) {
      broker = startEmbeddedBroker({ host, port });
      this.brokers.set(key, broker);
    }
    try {
      return (await broker).url;
    } catch (error) {
      this.brokers.delete(key);
      throw new Error(`target ${target.name}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function describeMqtt(
  config: Resolved<MqttConfig>,
  brokerUrl: string,
  dialect: string | undefined,
  topic: string | undefined,
): MqttDescription {
  return {
    brokerUrl,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(dialect === undefined ? {} : { dialect }),
    ...(topic === undefined ? {} : { topic }),
  };
}

/**
 * A stable device id per target name in the shape each firmware uses: a MAC-derived integer for
 * buttonsMeshIDF, `tasmota_XXXXXX` for Tasmota, a lower-case hex id for Homie. Set explicitly so
 * the description can name the topic the device will use.
 */
function deviceIdFor(dialect: string, name: string): string {
  let hash = 0x811c9dc5;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  const low = hash & 0xffffff;
  const hex = low.toString(16).padStart(6, '0');
  if (dialect === 'tasmota') return `tasmota_${hex.toUpperCase()}`;
  if (dialect === 'homie') return `5ccf7f${hex}`;
  return String(0x24_6f_28 * 2 ** 24 + low);
}

function stringOption(options: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = options?.[name];
  return typeof value === 'string' ? value : undefined;
}
