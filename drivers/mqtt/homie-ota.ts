import { createHash } from 'node:crypto';
import { noteImageSent } from '../image-ledger/index.ts';
import type { MqttHarness, MqttMessage } from './mqtt-harness.ts';

/** `$implementation/ota/status` parsed: `"<code>[ <info>]"` (reference §3.3). */
export interface HomieOtaStatus {
  code: number;
  /** `BAD_CHECKSUM`, `BAD_FIRMWARE`, `NOT_ENOUGH_SPACE`, `FLASH_ERROR`, `INTERNAL_ERROR <n>`, or `<written>/<total>` for 206. */
  info?: string;
  text: string;
}

export function parseHomieStatus(text: string): HomieOtaStatus | undefined {
  const match = /^(\d{3})(?: (.*))?$/.exec(text);
  if (!match) return undefined;
  return { code: Number(match[1]), ...(match[2] === undefined ? {} : { info: match[2] }), text };
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/**
 * Homie for ESP8266 firmware over MQTT (reference/viperhttp-luartos-mqtt.md §3.3): the image as
 * one message on `<base><id>/$implementation/ota/firmware/<md5>`, answered on the retained
 * `$implementation/ota/status`.
 */
export class HomieOta {
  readonly deviceTopic: string;
  readonly statusTopic: string;

  constructor(
    private readonly harness: MqttHarness,
    readonly deviceId: string,
    baseTopic = 'homie/',
  ) {
    this.deviceTopic = `${baseTopic.endsWith('/') ? baseTopic : `${baseTopic}/`}${deviceId}`;
    this.statusTopic = `${this.deviceTopic}/$implementation/ota/status`;
  }

  /**
   * Sends the image (raw, or Base64 text) to `…/ota/firmware/<md5>`; `md5` defaults to the
   * image's own. Returns the log mark from just before the publish.
   */
  async sendFirmware(
    image: Uint8Array,
    options: { md5?: string; encoding?: 'raw' | 'base64'; step?: string } = {},
  ): Promise<number> {
    noteImageSent(image, 'homie mqtt');
    const md5 = options.md5 ?? md5Hex(image);
    const step = options.step ?? `send the firmware (${options.encoding ?? 'raw'}, md5 ${md5})`;
    await this.harness.subscribe(this.statusTopic, step);
    const since = this.harness.mark();
    const payload = options.encoding === 'base64' ? Buffer.from(image).toString('base64') : image;
    await this.harness.publish(`${this.deviceTopic}/$implementation/ota/firmware/${md5}`, payload, {
      qos: 1,
      step,
    });
    return since;
  }

  /** Publishes any payload to any firmware subtopic (malformed-trigger checks). */
  async sendRaw(
    subtopic: string,
    payload: string | Uint8Array,
    step = `publish to ${subtopic}`,
  ): Promise<number> {
    await this.harness.subscribe(this.statusTopic, step);
    const since = this.harness.mark();
    await this.harness.publish(`${this.deviceTopic}/${subtopic}`, payload, { qos: 1, step });
    return since;
  }

  /** Waits for a live (not replayed) status that satisfies `predicate`. */
  async expectStatus(
    predicate: (status: HomieOtaStatus) => boolean,
    options: { since?: number; timeoutMs?: number; step?: string } = {},
  ): Promise<HomieOtaStatus> {
    const message = await this.harness.expectMessage(
      this.statusTopic,
      (candidate) => {
        const status = parseHomieStatus(candidate.text);
        return status !== undefined && predicate(status);
      },
      { step: 'wait for $implementation/ota/status', ...options, live: true },
    );
    return parseHomieStatus(message.text)!;
  }

  /** Live statuses logged since `since`, in order. */
  statuses(since = 0): HomieOtaStatus[] {
    return this.harness
      .messages(this.statusTopic, since)
      .filter((message) => !message.retain)
      .map((message) => parseHomieStatus(message.text))
      .filter((status): status is HomieOtaStatus => status !== undefined);
  }

  /** A retained device attribute such as `$fw/version`, `$fw/checksum`, `$implementation/ota/enabled`. */
  async attribute(name: string): Promise<string | undefined> {
    const message = await this.harness.retained(`${this.deviceTopic}/${name}`, { step: `read ${name}` });
    return message?.text;
  }

  /** Waits for `<attribute>` to be published (retained or live) with a value that satisfies `predicate`. */
  async expectAttribute(
    name: string,
    predicate: (value: string) => boolean,
    options: { since?: number; timeoutMs?: number; step?: string } = {},
  ): Promise<string> {
    const message: MqttMessage = await this.harness.expectMessage(
      `${this.deviceTopic}/${name}`,
      (candidate) => predicate(candidate.text),
      { step: `wait for ${name}`, ...options },
    );
    return message.text;
  }

  fwVersion(): Promise<string | undefined> {
    return this.attribute('$fw/version');
  }

  fwChecksum(): Promise<string | undefined> {
    return this.attribute('$fw/checksum');
  }

  async otaEnabled(): Promise<boolean | undefined> {
    const value = await this.attribute('$implementation/ota/enabled');
    return value === undefined ? undefined : value === 'true';
  }
}
