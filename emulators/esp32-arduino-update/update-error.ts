import { SHARED_UPDATE_ERROR, sharedUpdateErrorText } from '../arduino-update-core/index.ts';

/**
 * UPDATE_ERROR_* of arduino-esp32 libraries/Update/src/Update.h (reference/arduino-ota.md §5.1).
 * Codes 8 and up mean other things than on ESP8266 (§7 pitfall 6).
 */
export const Esp32UpdateError = {
  ...SHARED_UPDATE_ERROR,
  MAGIC_BYTE: 8,
  ACTIVATE: 9,
  NO_PARTITION: 10,
  BAD_ARGUMENT: 11,
  ABORT: 12,
  DECRYPT: 13,
  SIGN: 14,
} as const;
export type Esp32UpdateErrorCode = (typeof Esp32UpdateError)[keyof typeof Esp32UpdateError];

const ERROR_TEXT: Readonly<Record<number, string>> = {
  7: 'MD5 Check Failed',
  8: 'Wrong Magic Byte',
  9: 'Could Not Activate The Firmware',
  10: 'Partition Could Not be Found',
  11: 'Bad Argument',
  12: 'Aborted',
  13: 'Decryption error',
  14: 'Signature Verification Failed',
};

/** `_err2str`: the text of a code, `UNKNOWN` for anything else. */
export function esp32UpdateErrorText(code: number): string {
  return sharedUpdateErrorText(code) ?? ERROR_TEXT[code] ?? 'UNKNOWN';
}
