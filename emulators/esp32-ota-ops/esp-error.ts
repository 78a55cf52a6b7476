/**
 * `esp_err_t` values the OTA model returns (reference/esp-idf.md §4.1; `esp_err.h` for the generic
 * ones), so a report can print the number a real chip would have printed.
 */
export const ESP_ERR = {
  ESP_FAIL: -1,
  ESP_ERR_NO_MEM: 0x101,
  ESP_ERR_INVALID_ARG: 0x102,
  ESP_ERR_INVALID_STATE: 0x103,
  ESP_ERR_INVALID_SIZE: 0x104,
  ESP_ERR_NOT_FOUND: 0x105,
  ESP_ERR_NOT_SUPPORTED: 0x106,
  ESP_ERR_INVALID_VERSION: 0x10a,
  ESP_ERR_NOT_ALLOWED: 0x10d,
  ESP_ERR_IMAGE_FLASH_FAIL: 0x2001,
  ESP_ERR_IMAGE_INVALID: 0x2002,
  ESP_ERR_OTA_PARTITION_CONFLICT: 0x1501,
  ESP_ERR_OTA_SELECT_INFO_INVALID: 0x1502,
  ESP_ERR_OTA_VALIDATE_FAILED: 0x1503,
  ESP_ERR_OTA_SMALL_SEC_VER: 0x1504,
  ESP_ERR_OTA_ROLLBACK_FAILED: 0x1505,
  ESP_ERR_OTA_ROLLBACK_INVALID_STATE: 0x1506,
  ESP_ERR_OTA_ALREADY_IN_PROGRESS: 0x1507,
} as const;

export type EspErrorCode = keyof typeof ESP_ERR;

/** A call of the modelled ESP-IDF API returned something other than ESP_OK. */
export class EspError extends Error {
  override readonly name = 'EspError';
  readonly err: number;

  constructor(
    readonly code: EspErrorCode,
    message: string,
  ) {
    super(`${code} (0x${(ESP_ERR[code] >>> 0).toString(16)}): ${message}`);
    this.err = ESP_ERR[code];
  }
}
