import type { Platform } from '../../device/index.ts';
import type { Esp32UpdateCore } from '../../esp32-arduino-update/index.ts';
import { type AuthScheme, storedPasswordHash as hashPassword } from './ota-auth.ts';

/** The sketch's ArduinoOTA settings and the library's timings, after defaults. */
export interface ArduinoOtaSettings {
  /** UDP port; 0 lets the first boot pick one (kept across reboots). A chip uses 8266 / 3232. */
  port: number;
  hostname: string;
  scheme: AuthScheme;
  /** The stored hash (`setPassword` → hash of it, `setPasswordHash` → verbatim); '' means no password. */
  passwordHash: string;
  /** ESP32 `setTimeout()`: the wait for data before re-sending the last count (1000 ms). */
  receiveTimeoutMs: number;
  /** ESP8266 `delay(1000)` on each side of the final `OK`. */
  resultDelayMs: number;
  /** ESP8266 `delay(100)` after the UDP `OK` / `ERR`. */
  replyDelayMs: number;
  /** `delay(100)` between onEnd and ESP.restart(). */
  restartDelayMs: number;
  rebootOnSuccess: boolean;
  /** ESP32 only: the Update library release (FS command numbers, MD5 case). */
  updateCore: Esp32UpdateCore;
  /** ESP32 only: Update's `_cryptMode` (reference §5.2 AES quirk). */
  cryptMode: 'auto' | 'none';
  /** ESP32 only: the sketch overrides verifyRollbackLater() to return true (and never confirms). */
  verifyRollbackLater: boolean;
}

export class ArduinoOtaOptionError extends Error {
  readonly code = 'ARDUINO_OTA_OPTION';
}

export const ARDUINO_OTA_DEFAULT_OPTIONS: Readonly<Record<string, unknown>> = {
  password: '',
  receiveTimeoutMs: 1000,
  resultDelayMs: 1000,
  replyDelayMs: 100,
  restartDelayMs: 100,
  rebootOnSuccess: true,
  cryptMode: 'auto',
  verifyRollbackLater: false,
};

/** Reads the profile options: password or passwordHash, authScheme, port, hostname and timings. */
export function resolveSettings(
  options: Readonly<Record<string, unknown>>,
  platform: Platform,
  defaultHostname: string,
): ArduinoOtaSettings {
  const scheme = (options.authScheme ?? 'md5') as AuthScheme;
  if (scheme !== 'md5' && scheme !== 'pbkdf2-sha256') {
    throw new ArduinoOtaOptionError(`authScheme must be 'md5' or 'pbkdf2-sha256', got '${String(scheme)}'`);
  }
  if (scheme === 'pbkdf2-sha256' && platform === 'esp8266') {
    throw new ArduinoOtaOptionError(
      'authScheme pbkdf2-sha256 exists only on arduino-esp32 ≥ 3.3.1; the ESP8266 core uses md5',
    );
  }
  const password = text(options.password, 'password');
  const givenHash =
    options.passwordHash === undefined ? undefined : text(options.passwordHash, 'passwordHash');
  let passwordHash = '';
  if (givenHash !== undefined && givenHash !== '') {
    const allowed = scheme === 'md5' ? [32] : [32, 64];
    if (!allowed.includes(givenHash.length)) {
      throw new ArduinoOtaOptionError(
        `passwordHash for ${scheme} must be ${allowed.join(' or ')} hex characters, got ${givenHash.length}`,
      );
    }
    passwordHash = givenHash;
  } else if (password !== '') {
    passwordHash = hashPassword(scheme, password);
  }
  return {
    port: integer(options.port ?? 0, 'port'),
    hostname: options.hostname === undefined ? defaultHostname : text(options.hostname, 'hostname'),
    scheme,
    passwordHash,
    receiveTimeoutMs: integer(options.receiveTimeoutMs, 'receiveTimeoutMs'),
    resultDelayMs: integer(options.resultDelayMs, 'resultDelayMs'),
    replyDelayMs: integer(options.replyDelayMs, 'replyDelayMs'),
    restartDelayMs: integer(options.restartDelayMs, 'restartDelayMs'),
    rebootOnSuccess: options.rebootOnSuccess !== false,
    updateCore: (options.updateCore ?? '3.3.0') as Esp32UpdateCore,
    cryptMode: options.cryptMode === 'none' ? 'none' : 'auto',
    verifyRollbackLater: options.verifyRollbackLater === true,
  };
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new ArduinoOtaOptionError(`option ${name} must be a string`);
  return value;
}

function integer(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ArduinoOtaOptionError(`option ${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}
