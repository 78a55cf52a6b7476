import type { BootEvent } from '../../../drivers/serial/index.ts';
import type { Target } from '../../../drivers/target/index.ts';

type Profile = Target['profile'];

/**
 * The line an app prints about itself once it runs, per profile, for chips whose boot log does
 * not name the app (an ESP8266 ROM and eboot print no version). Each pattern has a `version`
 * group and may have a `project` group. These are the lines of the sketches the reference
 * examples are built from; a lab's own test sketch must print the same (or the rig names its
 * own pattern in `options.bootVersionPattern`).
 * - arduino-ota: BasicOTA's `Booting` line with the build's project and version.
 * - web-update, http-update: the lab sketch's `Sketch <project> version <version>`.
 * - mqtt-trigger: Homie's `💡 Firmware <name> (<version>)`, Tasmota's `APP: Tasmota <version> (…) starting`.
 * ESP32 targets need none: ESP-IDF's `app_init: App version:` names the app (reference/esp-idf.md §7.2).
 */
export const SKETCH_BOOT_LINES: Readonly<Record<Profile, readonly RegExp[]>> = {
  viperhttp: [],
  'viperhttp-doc': [],
  'arduino-ota': [/Booting (?<project>\S+) (?<version>\S+)/],
  'web-update': [/^Sketch (?<project>\S+) version (?<version>\S+)/],
  'http-update': [/^Sketch (?<project>\S+) version (?<version>\S+)/],
  'esp-https-ota': [],
  'mqtt-trigger': [
    /Firmware (?<project>\S+) \((?<version>[^)]+)\)/,
    /APP: Tasmota (?<version>\S+) \((?<project>[^)]+)\) starting/,
  ],
  luartos: [],
};

/** The per-profile table, with the rig's own pattern first when it gives one. */
export function bootVersionPatterns(target: Pick<Target, 'profile' | 'description'>): readonly RegExp[] {
  const own = target.description.options?.bootVersionPattern;
  const table = SKETCH_BOOT_LINES[target.profile] ?? [];
  if (typeof own !== 'string' || own === '') return table;
  return [new RegExp(own), ...table];
}

/**
 * The line a pull-profile app prints when an update it downloaded failed and it keeps running, per
 * profile: the harness stops waiting for a reboot there (after a short grace, see pull-delivery).
 * - esp-https-ota: ESP-IDF's advanced_https_ota example logs `ESP HTTPS OTA Begin failed` or, at
 *   its `ota_end:` label, `ESP_HTTPS_OTA upgrade failed` (with the esp_err_t after a failed
 *   finish); the simple_ota example logs `Firmware upgrade failed`.
 * - http-update: the httpUpdate examples print `HTTP_UPDATE_FAILED Error (<code>): <text>` (the
 *   ESP8266 example spells it `HTTP_UPDATE_FAILD`), reference/arduino-ota.md §3.1.
 * - luartos: net.ota() prints `Failed, error <err>` when esp_ota_begin fails, `Chunk written
 *   unsuccessfully in partition (offset 0x…), error <err>` when a write does, and `Failed` when
 *   esp_ota_end refuses the image, and returns each time without a restart (Lua-RTOS-ESP32 6b455df4
 *   `components/sys/drivers/net.c` 494, 509, 524; viperhttp-luartos-mqtt.md §2.4). Not its
 *   `Failed, err <err>` of a refused boot partition (531): the device still restarts after it.
 * Other profiles (and a lab's firmware that prints something else) wait out the reboot window,
 * unless the rig names the line in `options.updateFailedPattern`.
 */
export const UPDATE_FAILED_LINES: Readonly<Partial<Record<Profile, readonly RegExp[]>>> = {
  'esp-https-ota': [/ESP_HTTPS_OTA upgrade failed|ESP HTTPS OTA Begin failed|Firmware upgrade failed/],
  'http-update': [/HTTP_UPDATE_FAILE?D Error \(-?\d+\)/],
  luartos: [
    /^Failed(, error -?\d+)?$/,
    /^Chunk written unsuccessfully in partition \(offset 0x[0-9a-f]+\), error -?\d+/,
  ],
};

/** The per-profile failure lines, with the rig's own pattern first when it gives one. */
export function updateFailedPatterns(target: Pick<Target, 'profile' | 'description'>): readonly RegExp[] {
  const own = target.description.options?.updateFailedPattern;
  const table = UPDATE_FAILED_LINES[target.profile] ?? [];
  if (typeof own !== 'string' || own === '') return table;
  return [new RegExp(own), ...table];
}

/** What one console line says about the boot it belongs to. */
export type BootFact =
  | { kind: 'reset'; platform: 'esp32' | 'esp8266'; code: number; reason: string; software: boolean }
  | { kind: 'partition'; offset: number }
  | { kind: 'version'; version: string; project?: string }
  | { kind: 'eboot-copy'; result: number };

/**
 * Reads one console line: the serial driver's boot events (ROM reset lines, the bootloader's
 * `Loaded app from partition at offset`, `App version:`, eboot's `@cp:`), then the profile's own
 * app line. A software reset is ESP32 SW_CPU_RESET (0xc) or SW_RESET (0x3), ESP8266 `rst cause:3`.
 */
export function bootFacts(
  text: string,
  events: readonly BootEvent[],
  patterns: readonly RegExp[],
): BootFact[] {
  const facts: BootFact[] = [];
  for (const event of events) {
    if (event.kind === 'esp32-reset') {
      facts.push({
        kind: 'reset',
        platform: 'esp32',
        code: event.resetCode,
        reason: event.resetReason,
        software: event.resetCode === 0xc || event.resetCode === 0x3,
      });
    } else if (event.kind === 'esp8266-reset') {
      facts.push({
        kind: 'reset',
        platform: 'esp8266',
        code: event.resetCause,
        reason: event.resetCauseName,
        software: event.resetCause === 3,
      });
    } else if (event.kind === 'app-loaded') {
      facts.push({ kind: 'partition', offset: event.partitionOffset });
    } else if (event.kind === 'app-version') {
      facts.push({ kind: 'version', version: event.version });
    } else if (event.kind === 'eboot-copy') {
      facts.push({ kind: 'eboot-copy', result: event.result });
    }
  }
  if (facts.some((fact) => fact.kind === 'version' || fact.kind === 'reset')) return facts;
  for (const pattern of patterns) {
    const match = pattern.exec(text);
    const version = match?.groups?.version;
    if (version === undefined) continue;
    const project = match?.groups?.project;
    facts.push({ kind: 'version', version, ...(project === undefined ? {} : { project }) });
    break;
  }
  return facts;
}
