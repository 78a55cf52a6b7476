import { connect, type MqttClient } from 'mqtt';
import type { Release } from './catalogue.ts';

/** The MQTT trigger conventions a rollout server can publish (docs/protocols/viperhttp-luartos-mqtt.md §3). */
export type TriggerDialect = 'buttons-json' | 'buttons-u' | 'tasmota' | 'homie';

export interface RolloutTriggerOptions {
  brokerUrl: string;
  dialect: TriggerDialect;
  /**
   * buttons-u: the command topic (`/switch/cmd`, `/relay/cmd`, `/<type>/cmd/<id>`; default
   * `/switch/cmd`); tasmota: the device topic; homie: the device id. buttons-json has one topic.
   */
  topic?: string;
  username?: string;
  password?: string;
}

/** One message of a trigger. */
export interface TriggerMessage {
  topic: string;
  payload: string | Uint8Array;
  qos: 0 | 1;
  retain: boolean;
}

/**
 * The messages that start a rollout of `release` (served at `url`) in `dialect`, never retained:
 * a retained command is replayed to every device that (re)subscribes, so each reboot would
 * start the update again (buttonsMeshIDF subscribes to its command topics on every connect, §3.1.b).
 * - buttons-json (§3.1.a): `{"type":"ota_trigger","url":…}` on `/switch/cmd/root`;
 * - buttons-u (§3.1.b): `U` on the command topic; the device pulls its fixed OTA_URL;
 * - tasmota (§3.2): `cmnd/<topic>/OtaUrl <url>`, then `cmnd/<topic>/Upgrade 1`;
 * - homie (§3.3): the image itself on `homie/<id>/$implementation/ota/firmware/<md5>`, QoS 1.
 */
export function triggerMessages(
  options: Pick<RolloutTriggerOptions, 'dialect' | 'topic'>,
  release: Release,
  url: string,
  retain = false,
): TriggerMessage[] {
  switch (options.dialect) {
    case 'buttons-json':
      return [
        { topic: '/switch/cmd/root', payload: JSON.stringify({ type: 'ota_trigger', url }), qos: 0, retain },
      ];
    case 'buttons-u':
      return [{ topic: options.topic ?? '/switch/cmd', payload: 'U', qos: 0, retain }];
    case 'tasmota': {
      const device = options.topic ?? 'tasmota';
      return [
        { topic: `cmnd/${device}/OtaUrl`, payload: url, qos: 1, retain },
        { topic: `cmnd/${device}/Upgrade`, payload: '1', qos: 1, retain },
      ];
    }
    case 'homie':
      return [
        {
          topic: `homie/${options.topic ?? 'device'}/$implementation/ota/firmware/${release.md5}`,
          payload: release.bytes,
          qos: 1,
          retain,
        },
      ];
  }
}

/** A connected publisher of rollout triggers. */
export interface RolloutTrigger {
  publish(messages: readonly TriggerMessage[]): Promise<void>;
  close(): Promise<void>;
}

export async function connectRolloutTrigger(options: RolloutTriggerOptions): Promise<RolloutTrigger> {
  const client: MqttClient = connect(options.brokerUrl, {
    clientId: `ota-conformance-serve-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no CONNACK from ${options.brokerUrl} within 5000 ms`)),
      5000,
    );
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    client.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  }).catch((error: unknown) => {
    client.end(true);
    throw error;
  });
  return {
    publish: async (messages) => {
      for (const message of messages) {
        await client.publishAsync(message.topic, Buffer.from(message.payload), {
          qos: message.qos,
          retain: message.retain,
        });
      }
    },
    close: () => client.endAsync(),
  };
}
