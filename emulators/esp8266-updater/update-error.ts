import { SHARED_UPDATE_ERROR, sharedUpdateErrorText } from '../arduino-update-core/index.ts';

/** UPDATE_ERROR_* of cores/esp8266/Updater.h (HEAD). Codes 8–16 mean other things on ESP32. */
export const UpdateError = {
  ...SHARED_UPDATE_ERROR,
  FLASH_CONFIG: 8,
  NEW_FLASH_CONFIG: 9,
  MAGIC_BYTE: 10,
  BOOTSTRAP: 11,
  SIGN: 12,
  NO_DATA: 13,
  OOM: 14,
  RUNNING_ALREADY: 15,
  UNKNOWN_COMMAND: 16,
} as const;
export type UpdateErrorCode = (typeof UpdateError)[keyof typeof UpdateError];

/**
 * Core releases whose Updater differs in a way a test can see: 2.7.4 (no NO_DATA, MD5 target kept
 * across updates, signature left in the copied size), 3.0.2 (NO_DATA; old texts, CRLF), 3.1.2
 * (getErrorString, OOM, printf with LF) and HEAD (RUNNING_ALREADY, UNKNOWN_COMMAND).
 */
export type CoreVersion = '2.7.4' | '3.0.2' | '3.1.2' | 'head';

export interface ErrorContext {
  targetMd5: string;
  calculatedMd5: string;
  realFlashSize: number;
  sdkFlashSize: number;
}

/** True for the cores whose printError() is the old `ERROR[%u]: ` + println (≤ 3.0.2). */
export function usesLegacyErrorPrinting(core: CoreVersion): boolean {
  return core === '2.7.4' || core === '3.0.2';
}

/**
 * The text for a code as that core words it (codes 0–6 alike in every release and on ESP32). On 3.1.2/HEAD this is getErrorString(); on ≤ 3.0.2,
 * which has no getErrorString(), it is what printError() prints after the `ERROR[n]: ` prefix,
 * without its line ending.
 */
export function errorText(core: CoreVersion, code: number, context: ErrorContext): string {
  const shared = sharedUpdateErrorText(code);
  if (shared !== undefined) return shared;
  // Worded alike by every ESP8266 release.
  if (code === UpdateError.SIGN) return 'Signature verification failed';
  if (code === UpdateError.BOOTSTRAP) return 'Invalid bootstrapping state, reset ESP8266 before updating';
  if (usesLegacyErrorPrinting(core)) return legacyErrorText(core, code, context);
  switch (code) {
    case UpdateError.MD5:
      return `MD5 verification failed: expected: ${context.targetMd5}, calculated: ${context.calculatedMd5}`;
    case UpdateError.FLASH_CONFIG:
      return `Flash config wrong: real: ${context.realFlashSize}, SDK: ${context.sdkFlashSize}`;
    case UpdateError.NEW_FLASH_CONFIG:
      return `new Flash config wrong, real size: ${context.realFlashSize}`;
    case UpdateError.MAGIC_BYTE:
      return 'Magic byte is not 0xE9';
    case UpdateError.NO_DATA:
      return 'No data supplied';
    case UpdateError.OOM:
      return 'Out of memory';
    case UpdateError.RUNNING_ALREADY:
      if (core === 'head') return 'Update already running';
      return 'UNKNOWN';
    case UpdateError.UNKNOWN_COMMAND:
      if (core === 'head') return 'Unknown update command';
      return 'UNKNOWN';
    default:
      return 'UNKNOWN';
  }
}

function legacyErrorText(core: CoreVersion, code: number, context: ErrorContext): string {
  switch (code) {
    case UpdateError.NO_DATA:
      return core === '3.0.2' ? 'No data supplied' : 'UNKNOWN';
    case UpdateError.MD5:
      return `MD5 Failed: expected:${context.targetMd5}, calculated:${context.calculatedMd5}`;
    case UpdateError.FLASH_CONFIG:
      return `Flash config wrong real: ${context.realFlashSize} IDE: ${context.sdkFlashSize}`;
    case UpdateError.NEW_FLASH_CONFIG:
      return `new Flash config wrong real: ${context.realFlashSize}`;
    case UpdateError.MAGIC_BYTE:
      return 'Magic byte is wrong, not 0xE9';
    default:
      return 'UNKNOWN';
  }
}

/**
 * printError()'s exact output. 3.1.2/HEAD: printf("ERROR[%hhu]: %s\n"). ≤ 3.0.2: printf
 * "ERROR[%u]: " then println (CRLF), except the MD5, FLASH_CONFIG and NEW_FLASH_CONFIG texts,
 * which were printf'd with a bare "\n".
 */
export function formatPrintError(core: CoreVersion, code: number, context: ErrorContext): string {
  const text = errorText(core, code, context);
  if (!usesLegacyErrorPrinting(core)) return `ERROR[${code & 0xff}]: ${text}\n`;
  const printfCodes: readonly number[] = [
    UpdateError.MD5,
    UpdateError.FLASH_CONFIG,
    UpdateError.NEW_FLASH_CONFIG,
  ];
  return `ERROR[${code}]: ${text}${printfCodes.includes(code) ? '\n' : '\r\n'}`;
}
