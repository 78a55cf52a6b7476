/**
 * The UPDATE_ERROR_* codes 0–7, which Update.h (arduino-esp32) and Updater.h (ESP8266 core) number
 * alike; from 8 on the two cores mean different things (reference/arduino-ota.md §7 pitfall 6).
 */
export const SHARED_UPDATE_ERROR = {
  OK: 0,
  WRITE: 1,
  ERASE: 2,
  READ: 3,
  SPACE: 4,
  SIZE: 5,
  STREAM: 6,
  MD5: 7,
} as const;

/** Codes 0–6 are worded the same by both cores and by every release; MD5 (7) is not. */
const SHARED_ERROR_TEXT: Readonly<Record<number, string>> = {
  [SHARED_UPDATE_ERROR.OK]: 'No Error',
  [SHARED_UPDATE_ERROR.WRITE]: 'Flash Write Failed',
  [SHARED_UPDATE_ERROR.ERASE]: 'Flash Erase Failed',
  [SHARED_UPDATE_ERROR.READ]: 'Flash Read Failed',
  [SHARED_UPDATE_ERROR.SPACE]: 'Not Enough Space',
  [SHARED_UPDATE_ERROR.SIZE]: 'Bad Size Given',
  [SHARED_UPDATE_ERROR.STREAM]: 'Stream Read Timeout',
};

/** The text both cores give codes 0–6, or undefined for any other code (the core words it). */
export function sharedUpdateErrorText(code: number): string | undefined {
  return SHARED_ERROR_TEXT[code];
}
