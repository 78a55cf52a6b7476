import type { FirmwareContext } from '../../device/index.ts';
import { MqttTriggerConfigError } from './errors.ts';

export const DIALECTS = ['buttons-json', 'buttons-u', 'tasmota', 'homie'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** The options every dialect reads, after the module's defaults. */
export interface MqttTriggerOptions {
  dialect: Dialect;
  /** `mqtt://host:port` of the broker the device connects to. */
  brokerUrl: string;
  username?: string;
  password?: string;
  /**
   * The device's identity in topics: the Tasmota `%topic%`, the Homie device id, the buttons
   * device id (a 48-bit MAC as a decimal integer). Derived from the emulator name when absent.
   */
  deviceId: string;
  /** Tasmota FullTopic prefix style is fixed (`%prefix%/%topic%/`); Homie's base topic (`homie/`). */
  baseTopic: string;
  /** buttons-u `CONFIG_OTA_URL`, Tasmota's compile-time `OTA_URL` (what `OtaUrl 1` restores). */
  otaUrl: string;
  /** Homie `$implementation/ota/enabled`. */
  otaEnabled: boolean;
  /** buttons-u `OTA_COUNTDOWN_MS` (5000 on the real firmware). */
  otaCountdownMs: number;
  /** Delay between a successful download and the restart (buttons-json waits 1 s). */
  restartDelayMs: number;
  /** Period of the buttons QoS 0 status report (`STATUS_REPORT_INTERVAL_MS` = 15 s); 0 = only at connect. */
  statusIntervalMs: number;
  /** buttons-u device type: the second topic level it answers to. */
  deviceType: 'switch' | 'relay';
  /** How long the device waits before reconnecting to a broker that went away. */
  reconnectMs: number;
  /** Homie: the bytes one TCP read delivers to the OTA handler; 206 is published every 100 of them. */
  homieChunkBytes: number;
  /** HTTP client timeout of the downloads (esp_http_client `timeout_ms`, ESP8266httpUpdate 8000 ms). */
  httpTimeoutMs: number;
}

export const DEFAULT_OPTIONS: Readonly<Record<string, unknown>> = {
  dialect: 'buttons-u',
  brokerUrl: 'mqtt://127.0.0.1:1883',
  baseTopic: 'homie/',
  otaUrl: 'http://127.0.0.1/firmware.bin',
  otaEnabled: true,
  otaCountdownMs: 5000,
  restartDelayMs: 1000,
  statusIntervalMs: 15_000,
  deviceType: 'switch',
  reconnectMs: 1000,
  homieChunkBytes: 1460,
  httpTimeoutMs: 8000,
};

export function readOptions(context: FirmwareContext): MqttTriggerOptions {
  const raw = context.options;
  const dialect = raw.dialect;
  if (typeof dialect !== 'string' || !(DIALECTS as readonly string[]).includes(dialect)) {
    throw new MqttTriggerConfigError(
      `option dialect must be one of ${DIALECTS.join(', ')}; got ${JSON.stringify(dialect)}`,
    );
  }
  const brokerUrl = stringOption(raw, 'brokerUrl');
  if (!/^mqtts?:\/\//.test(brokerUrl)) {
    throw new MqttTriggerConfigError(
      `option brokerUrl must be an mqtt:// or mqtts:// URL; got '${brokerUrl}'`,
    );
  }
  const deviceType = raw.deviceType;
  if (deviceType !== 'switch' && deviceType !== 'relay') {
    throw new MqttTriggerConfigError(
      `option deviceType must be 'switch' or 'relay'; got ${JSON.stringify(deviceType)}`,
    );
  }
  return {
    dialect: dialect as Dialect,
    brokerUrl,
    username: optionalString(raw, 'username'),
    password: optionalString(raw, 'password'),
    deviceId: optionalString(raw, 'deviceId') ?? defaultDeviceId(dialect as Dialect, context.name),
    baseTopic: withTrailingSlash(stringOption(raw, 'baseTopic')),
    otaUrl: stringOption(raw, 'otaUrl'),
    otaEnabled: raw.otaEnabled === true,
    otaCountdownMs: numberOption(raw, 'otaCountdownMs'),
    restartDelayMs: numberOption(raw, 'restartDelayMs'),
    statusIntervalMs: numberOption(raw, 'statusIntervalMs'),
    deviceType,
    reconnectMs: numberOption(raw, 'reconnectMs'),
    homieChunkBytes: Math.max(1, numberOption(raw, 'homieChunkBytes')),
    httpTimeoutMs: numberOption(raw, 'httpTimeoutMs'),
  };
}

/**
 * Stable per emulator name, shaped as each firmware shapes it: a MAC-derived integer for
 * buttons, `tasmota_XXXXXX` (the last MAC bytes) for Tasmota, a hex id for Homie.
 */
function defaultDeviceId(dialect: Dialect, name: string): string {
  let hash = 0x811c9dc5;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  const low = hash & 0xffffff;
  const hex = low.toString(16).toUpperCase().padStart(6, '0');
  if (dialect === 'tasmota') return `tasmota_${hex}`;
  if (dialect === 'homie') return `5ccf7f${hex.toLowerCase()}`;
  return String(0x24_6f_28 * 2 ** 24 + low);
}

function withTrailingSlash(topic: string): string {
  return topic.endsWith('/') ? topic : `${topic}/`;
}

function stringOption(raw: Readonly<Record<string, unknown>>, name: string): string {
  const value = raw[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new MqttTriggerConfigError(
      `option ${name} must be a non-empty string; got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function optionalString(raw: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = raw[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new MqttTriggerConfigError(`option ${name} must be a string; got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The option every dialect waits out between its last word on an update and esp_restart(). */
export function restartDelayOption(raw: Readonly<Record<string, unknown>>): number {
  return numberOption(raw, 'restartDelayMs');
}

function numberOption(raw: Readonly<Record<string, unknown>>, name: string): number {
  const value = raw[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new MqttTriggerConfigError(`option ${name} must be a number ≥ 0; got ${JSON.stringify(value)}`);
  }
  return value;
}
