import type { Platform, Profile } from '../../vocabulary/index.ts';
import type { Esp32ChipOptions, EspOtaOps, SecureVersionEfuse } from '../esp32-ota-ops/index.ts';
import type {
  CoreVersion,
  Esp8266Layout,
  Esp8266Updater,
  Esp8266UpdaterOptions,
  RtcUserMemory,
} from '../esp8266-updater/index.ts';
import type { NorFlash } from '../flash/index.ts';
import type { PartitionEntry, PartitionTable } from '../partition-table/index.ts';

export { type Platform, PROFILES, type Profile } from '../../vocabulary/index.ts';

/** What runs on the chip now, as read from the flash after the boot — never from a shortcut. */
export interface RunningImage {
  platform: Platform;
  /** App version: `esp_app_desc_t.version` on ESP32, the version marker of the sketch on ESP8266. */
  version: string;
  projectName: string;
  secureVersion: number;
  /** SHA-256 of the image bytes as booted (hex). */
  sha256: string;
  /** MD5 of the image bytes as booted (hex): what ESP8266 reports as its sketch MD5. */
  md5: string;
  /** Size of the image in bytes. */
  size: number;
  /** Partition label it booted from (`factory`, `ota_0`, …; `app` on ESP8266). */
  partition: string;
  /** Flash offset it booted from. */
  offset: number;
  /**
   * The build's `__DATE__ __TIME__` (`Feb  7 2026 03:04:05`): `esp_app_desc_t` date/time on ESP32,
   * the sketch descriptor's on ESP8266; absent when the image records none.
   */
  built?: string;
}

/** A deliberate non-conformance an emulated firmware can be started with. */
export interface DefectDescriptor {
  /** Kebab-case name given to `--defect`. */
  name: string;
  /** The requirement(s) it breaks, as IDs (`viperhttp/session/3`) or, before the suites exist, the reference text. */
  breaks: readonly string[];
  /** One sentence: what the defective device does wrong. */
  description: string;
}

/** How a firmware prints to the UART. */
export interface FirmwareConsole {
  /** One raw line, as `printf("...\n")` would. */
  line(text: string): void;
  /** An ESP-IDF log line: `I (123) tag: message` with the time since boot in ms. */
  log(level: 'E' | 'W' | 'I' | 'D', tag: string, message: string): void;
  /** Bytes the host sends on the UART (RX), for this boot only. */
  onInput(listener: (data: Buffer) => void): void;
  /** Each line typed on the UART (CR, LF or CRLF ended, trimmed, non-empty), for this boot only. */
  onCommand(listener: (line: string) => void): void;
}

/** A named network endpoint a firmware opened (kept on the same port across reboots). */
export interface Endpoint {
  protocol: 'http' | 'https' | 'tcp' | 'udp' | 'mqtt';
  host: string;
  port: number;
}

/**
 * Everything a firmware sees of its chip during one boot. `signal` aborts when this boot ends
 * (software reset, power off or a power cut): the firmware must drop its sockets then, as a real
 * chip's would vanish.
 */
export interface FirmwareContext {
  readonly name: string;
  readonly platform: Platform;
  readonly running: RunningImage;
  readonly console: FirmwareConsole;
  readonly defects: ReadonlySet<string>;
  /** Profile options (token, password, timeouts, URLs), after the module's defaults. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Host the firmware binds its servers to (loopback in tests). */
  readonly host: string;
  readonly flash: NorFlash;
  /** Ports chosen on the first boot, so a reboot listens where the harness expects. */
  preferredPort(name: string): number;
  /** Reports an endpoint the firmware is serving on. */
  publish(name: string, endpoint: Endpoint): void;
  /** A software reset (`esp_restart()` / `ESP.restart()`): this boot ends, the chip boots again. */
  restart(): void;
  /**
   * Reports `length` image bytes just taken from the network, before the update code sees them.
   * False when the power went as they arrived (a control-plane `received` cut): drop them and stop,
   * this boot is over.
   */
  imageBytesArrived(length: number): boolean;
  /**
   * Waits for the real time the flash model spent on the virtual clock since the last call, so
   * a device with the `esp32` timing profile is as slow as a chip. Free with the `none` profile.
   */
  pace(): Promise<void>;
  /** Non-volatile key/value store (NVS): survives reboots and power cycles. */
  readonly nvs: Map<string, string>;
  readonly signal: AbortSignal;
  /** Platform services: exactly one of these is set, matching `platform`. */
  readonly esp32?: Esp32Services;
  readonly esp8266?: Esp8266Services;
}

/** A firmware running on one boot of the device. */
export interface RunningFirmware {
  /** Tears down what this boot opened; called on reset and power loss. Must not throw. */
  stop(): Promise<void>;
}

/** One profile's firmware: what it runs on and the defects it can be built with. */
export interface FirmwareModule {
  readonly profile: Profile;
  readonly platforms: readonly Platform[];
  readonly defects: readonly DefectDescriptor[];
  readonly defaultOptions: Readonly<Record<string, unknown>>;
  /** The chip this firmware is normally built for (partition layout, rollback, core version). */
  readonly deviceDefaults?: { esp32?: Esp32DeviceOptions; esp8266?: Esp8266DeviceOptions };
  /**
   * How long after an update's last word (its success answer or line) this firmware restarts
   * itself, given its options (defaults applied): the library's fixed delay, or the option that
   * sets it. The emulator reports it with its endpoints, so the harness watches a refused update
   * for a restart just that long and a margin, not the 600 ms it allows a board it knows nothing
   * of (suites/framework/strategy/observe.ts). Omitted by a firmware that only restarts on request.
   */
  restartDelayMs?(options: Readonly<Record<string, unknown>>, platform: Platform): number;
  start(context: FirmwareContext): Promise<RunningFirmware>;
}

export interface Esp32DeviceOptions {
  /** Partition table CSV; defaults to FACTORY_TWO_OTA_CSV. */
  partitionCsv?: string;
  flashSize?: number;
  chip?: Omit<Esp32ChipOptions, 'efuse'> & { efuseSecureVersion?: number };
}

export interface Esp8266DeviceOptions {
  layout?: Esp8266Layout;
  core?: CoreVersion;
  /** Options the firmware's Updater is built with (a signing build's verifier, ATOMIC_FS_UPDATE). */
  updater?: Pick<Esp8266UpdaterOptions, 'verifier' | 'atomicFsUpdate'>;
  /** Whether RTC user memory survives a real power-off (reference: UNCONFIRMED; default retain). */
  rtcPowerOff?: 'retain' | 'lose';
}

/** Services an ESP32 firmware uses during one boot. */
export interface Esp32Services {
  readonly ota: EspOtaOps;
  readonly table: PartitionTable;
  readonly runningPartition: PartitionEntry;
  readonly efuse: SecureVersionEfuse;
  readonly rollback: boolean;
  readonly antiRollback: boolean;
  readonly chipId: number;
}

/** Services an ESP8266 firmware uses during one boot. */
export interface Esp8266Services {
  readonly layout: Esp8266Layout;
  readonly rtc: RtcUserMemory;
  readonly core: CoreVersion;
  /**
   * A fresh `Update` object (the Arduino core's global Updater, as it is after boot); a firmware's
   * defect may ask for a broken one.
   */
  createUpdater(
    broken?: Pick<Esp8266UpdaterOptions, 'writeSketchInPlace' | 'signatureDefect'>,
  ): Esp8266Updater;
}
