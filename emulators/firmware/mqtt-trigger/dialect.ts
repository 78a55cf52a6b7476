import type { FirmwareContext } from '../../device/index.ts';
import type { MqttTriggerOptions } from './options.ts';

/** What every dialect gets besides the boot's context and its options. */
export interface DialectEnvironment {
  readonly context: FirmwareContext;
  readonly options: MqttTriggerOptions;
  /** Seconds since this boot started (the `uptime` and `timestamp` fields). */
  uptimeSeconds(): number;
  /** The `crashes-on-malformed-trigger` path: a panic, then the chip resets. */
  crash(reason: string): void;
  /** A timer that dies with the boot. */
  later(ms: number, action: () => void): void;
  /**
   * What an ESP8266 firmware does just before `ESP.restart()` after `Update.end()`: with
   * `keeps-old-image` it saves its own state into the first RTC user memory block — where eboot
   * reads its copy command — so eboot boots the old sketch again.
   */
  beforeUpdateRestart(): void;
}

/** One boot of a dialect: its MQTT session and timers. */
export interface DialectBoot {
  /** Drops everything abruptly, as a reset does. */
  stop(): void;
}

export const DEFECTS = {
  flashesOnHomie304: 'flashes-on-homie-304',
  homieAcceptsBadChecksum: 'homie-accepts-bad-checksum',
  crashesOnMalformedTrigger: 'crashes-on-malformed-trigger',
  tasmotaUpgradesToOlder: 'tasmota-upgrades-to-older',
  restartsAfterFailedDownload: 'restarts-after-failed-download',
  noLastWill: 'no-last-will',
  ignoresOtaDisabled: 'ignores-ota-disabled',
  keepsOldImage: 'keeps-old-image',
  noGracefulDisconnect: 'no-graceful-disconnect',
} as const;
