/**
 * Reads what an ESP32 or ESP8266 prints while it boots and when it dies: the ROM's reset line,
 * the bootloader's choice of app, eboot's copy/load steps, and the panic, exception and
 * watchdog texts the chips print. Patterns follow reference/esp-idf.md §7 and
 * reference/arduino-ota.md §4.7; crash texts follow ESP-IDF's panic handler and the ESP8266
 * Arduino core's postmortem output.
 */

export type CrashKind =
  | 'guru-meditation'
  | 'interrupt-watchdog'
  | 'abort'
  | 'assert'
  | 'task-watchdog'
  | 'watchdog-reset'
  | 'stack-overflow'
  | 'brownout'
  | 'exception'
  | 'soft-watchdog'
  | 'hardware-watchdog';

export type BootEvent =
  | {
      kind: 'esp32-reset';
      /** The ROM's reset code, e.g. 0x1 POWERON_RESET, 0xc SW_CPU_RESET. */
      resetCode: number;
      resetReason: string;
      bootMode: number;
      bootModeName: string;
    }
  | { kind: 'app-loaded'; partitionOffset: number }
  | { kind: 'app-version'; version: string }
  | {
      kind: 'esp8266-reset';
      /** 0 unknown, 1 power-on, 2 reset pin, 3 software, 4 watchdog (Arduino doc/boards.rst). */
      resetCause: number;
      resetCauseName: string;
      /** (GPIO15<<2)|(GPIO0<<1)|GPIO2: 1 UART download, 3 flash, 4–7 SDIO. */
      bootMode: readonly [number, number];
      bootModeName: string;
    }
  | { kind: 'eboot-version'; version: string }
  /** `@cp:N`: eboot found a command and ran copy_raw; 0 is success. */
  | { kind: 'eboot-copy'; result: number; skippedIdenticalSector: boolean }
  /** `ld`, `~ld` (no command) or `@ld`: eboot loads the app. */
  | { kind: 'eboot-load'; commandFound: boolean | undefined }
  | { kind: 'eboot-load-error'; error: number }
  | { kind: 'crash'; crash: CrashKind; detail: string };

const ESP8266_RESET_CAUSES = ['unknown', 'power-on', 'reset pin', 'software reset', 'watchdog reset'];

// ESP-IDF colours its log lines; the escape codes are not part of the text a test means.
// biome-ignore lint/complexity/useRegexLiterals: the escape character reads clearer spelled out
const ANSI_ESCAPE = new RegExp('\\u001b\\[[0-9;]*[A-Za-z]', 'g');

const ESP32_RESET = /rst:0x([0-9a-f]+) \(([A-Z0-9_]+)\),boot:0x([0-9a-f]+) \(([A-Z0-9_]+)\)/i;
const APP_LOADED = /Loaded app from partition at offset 0x([0-9a-f]+)/i;
// The tag moved over ESP-IDF versions (cpu_start, app_start, app_init); the text did not.
const APP_VERSION = /^(?:[IWE] \(\d+\) )?[\w.]+: App version:\s+(\S.*?)\s*$/;
// The banner often arrives behind a CR, a space or baud-rate garbage, so it is searched, not anchored.
const ESP8266_BANNER = /ets Jan\s+8 2013,rst cause:(\d+), boot mode:\((\d+),(\d+)\)/;
const EBOOT_VERSION = /^v([0-9a-f]{8})$/;
const EBOOT_COPY = /^@cp:(B?)(\d+)$/;
const EBOOT_LOAD = /^([@~]?)ld$/;
const EBOOT_LOAD_ERROR = /^e:(\d+)$/;

const GURU = /Guru Meditation Error: Core\s+(\d+) panic'ed \(([^)]*)\)/;
// Before ESP-IDF v3: "Guru Meditation Error of type LoadProhibited occurred on core  1."
const GURU_OLD = /Guru Meditation Error of type (\w+) occurred on core\s+(\d+)/;
const ABORT = /abort\(\) was called at PC (0x[0-9a-f]+)(?: on core (\d+))?/i;
const ASSERT = /assert failed: (.*)$/;
const TASK_WDT = /Task watchdog got triggered/;
const STACK_OVERFLOW = /\*\*\*ERROR\*\*\* A stack overflow in task (.*?) has been detected/;
const BROWNOUT = /Brownout detector was triggered/;
const ESP8266_EXCEPTION = /^(?:Fatal e|E)xception \((\d+)\):/;
const SOFT_WDT = /^Soft WDT reset/;
const HARDWARE_WDT = /^wdt reset$/;
const ESP8266_USER_EXCEPTION = /^User exception \(panic\/abort\/assert\)/;

/** Removes colour codes and the spaces and CRs around a line (the ESP8266 banner often has them). */
export function cleanConsoleLine(line: string): string {
  const withoutAnsi = line.includes('\u001b') ? line.replace(ANSI_ESCAPE, '') : line;
  return withoutAnsi.trim();
}

/** The events one console line carries, in the order they happened (often none, at most two). */
export function parseBootLine(rawLine: string): readonly BootEvent[] {
  const line = cleanConsoleLine(rawLine);
  if (line === '') return [];

  let match = ESP32_RESET.exec(line);
  if (match) {
    const [, code = '', reason = '', mode = '', modeName = ''] = match;
    const reset: BootEvent = {
      kind: 'esp32-reset',
      resetCode: Number.parseInt(code, 16),
      resetReason: reason,
      bootMode: Number.parseInt(mode, 16),
      bootModeName: modeName,
    };
    // TG0WDT_SYS_RESET, RTCWDT_RTC_RESET, OWDT_RESET…: a watchdog fired before this boot.
    if (/WDT/.test(reason)) return [reset, crash('watchdog-reset', reason)];
    return [reset];
  }
  match = ESP8266_BANNER.exec(line);
  if (match) {
    const resetCause = Number(match[1]);
    const bootMode = [Number(match[2]), Number(match[3])] as const;
    return [
      {
        kind: 'esp8266-reset',
        resetCause,
        resetCauseName: ESP8266_RESET_CAUSES[resetCause] ?? `cause ${resetCause}`,
        bootMode,
        bootModeName: esp8266BootModeName(bootMode[0]),
      },
    ];
  }
  match = APP_LOADED.exec(line);
  if (match) return [{ kind: 'app-loaded', partitionOffset: Number.parseInt(match[1] ?? '', 16) }];
  match = APP_VERSION.exec(line);
  if (match) return [{ kind: 'app-version', version: match[1] ?? '' }];

  match = EBOOT_VERSION.exec(line);
  if (match) return [{ kind: 'eboot-version', version: match[1] ?? '' }];
  match = EBOOT_COPY.exec(line);
  if (match) {
    return [{ kind: 'eboot-copy', result: Number(match[2]), skippedIdenticalSector: match[1] === 'B' }];
  }
  match = EBOOT_LOAD.exec(line);
  if (match) {
    const marker = match[1];
    return [{ kind: 'eboot-load', commandFound: marker === '' ? undefined : marker === '@' }];
  }
  match = EBOOT_LOAD_ERROR.exec(line);
  if (match) return [{ kind: 'eboot-load-error', error: Number(match[1]) }];

  return detectCrash(line);
}

function detectCrash(line: string): readonly BootEvent[] {
  let match = GURU.exec(line);
  if (match) {
    const reason = match[2] ?? '';
    // "Interrupt wdt timeout on CPU0" comes through the same panic handler.
    const kind: CrashKind = /Interrupt wdt timeout/i.test(reason) ? 'interrupt-watchdog' : 'guru-meditation';
    return [crash(kind, `core ${match[1]}: ${reason}`)];
  }
  match = GURU_OLD.exec(line);
  if (match) return [crash('guru-meditation', `core ${match[2]}: ${match[1]}`)];
  match = ABORT.exec(line);
  if (match)
    return [crash('abort', `at PC ${match[1]}${match[2] === undefined ? '' : ` on core ${match[2]}`}`)];
  match = ASSERT.exec(line);
  if (match) return [crash('assert', match[1] ?? '')];
  if (TASK_WDT.test(line)) return [crash('task-watchdog', line)];
  match = STACK_OVERFLOW.exec(line);
  if (match) return [crash('stack-overflow', `task ${match[1]}`)];
  if (BROWNOUT.test(line)) return [crash('brownout', line)];
  match = ESP8266_EXCEPTION.exec(line);
  if (match) return [crash('exception', `exception cause ${match[1]}`)];
  if (SOFT_WDT.test(line)) return [crash('soft-watchdog', line)];
  if (HARDWARE_WDT.test(line)) return [crash('hardware-watchdog', line)];
  if (ESP8266_USER_EXCEPTION.test(line)) return [crash('abort', line)];
  return [];
}

function crash(kind: CrashKind, detail: string): BootEvent {
  return { kind: 'crash', crash: kind, detail };
}

function esp8266BootModeName(mode: number): string {
  if (mode === 1) return 'UART download';
  if (mode === 3) return 'flash';
  if (mode >= 4 && mode <= 7) return 'SDIO';
  return `mode ${mode}`;
}

export type CrashEvent = Extract<BootEvent, { kind: 'crash' }>;

/** What one boot showed: how it started, which app it loaded, and what went wrong. */
export interface BootRecord {
  platform: 'esp32' | 'esp8266' | 'unknown';
  resetReason?: string;
  resetCode?: number;
  bootMode?: string;
  partitionOffset?: number;
  appVersion?: string;
  ebootCopyResult?: number;
  ebootLoadError?: number;
  crashes: CrashEvent[];
}

/**
 * Folds console lines into boots: a reset line starts a new boot, later lines fill it in.
 * Crash lines before the first reset line are kept in a boot of unknown platform, since a
 * console opened mid-run still sees the app die.
 */
export class BootLogTracker {
  private readonly recorded: BootRecord[] = [];
  private readonly allEvents: BootEvent[] = [];
  private readonly listeners = new Set<(event: BootEvent) => void>();

  push(line: string): readonly BootEvent[] {
    const events = parseBootLine(line);
    for (const event of events) this.apply(event);
    return events;
  }

  get boots(): readonly BootRecord[] {
    return this.recorded;
  }

  get current(): BootRecord | undefined {
    return this.recorded.at(-1);
  }

  get events(): readonly BootEvent[] {
    return this.allEvents;
  }

  get crashes(): readonly CrashEvent[] {
    return this.recorded.flatMap((boot) => boot.crashes);
  }

  onEvent(listener: (event: BootEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(event: BootEvent): void {
    this.allEvents.push(event);
    switch (event.kind) {
      case 'esp32-reset':
        this.recorded.push({
          platform: 'esp32',
          resetReason: event.resetReason,
          resetCode: event.resetCode,
          bootMode: event.bootModeName,
          crashes: [],
        });
        break;
      case 'esp8266-reset':
        this.recorded.push({
          platform: 'esp8266',
          resetReason: event.resetCauseName,
          resetCode: event.resetCause,
          bootMode: event.bootModeName,
          crashes: [],
        });
        break;
      case 'app-loaded':
        this.boot().partitionOffset = event.partitionOffset;
        break;
      case 'app-version':
        this.boot().appVersion = event.version;
        break;
      case 'eboot-copy':
        this.boot().ebootCopyResult = event.result;
        break;
      case 'eboot-load-error':
        this.boot().ebootLoadError = event.error;
        break;
      case 'crash':
        this.boot().crashes.push(event);
        break;
      default:
        break;
    }
    for (const listener of this.listeners) listener(event);
  }

  private boot(): BootRecord {
    const current = this.recorded.at(-1);
    if (current !== undefined) return current;
    const unknown: BootRecord = { platform: 'unknown', crashes: [] };
    this.recorded.push(unknown);
    return unknown;
  }
}
