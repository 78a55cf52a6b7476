import { EspError } from './esp-error.ts';

/**
 * The SECURE_VERSION eFuse field: the chip's secure version is the number of burnt bits
 * (`esp_efuse_read_secure_version` = popcount), and bits can only ever be burnt, never cleared.
 * 32 bits on ESP32 (reference/esp-idf.md §3.6).
 */
export class SecureVersionEfuse {
  private bits: number;

  constructor(
    bits = 0,
    readonly fieldBits = 32,
  ) {
    if (!Number.isInteger(fieldBits) || fieldBits < 1 || fieldBits > 32) {
      throw new RangeError(`eFuse field width must be 1..32 bits, got ${fieldBits}`);
    }
    this.bits = (bits & fieldMask(fieldBits)) >>> 0;
  }

  /** The raw field, for inspection. */
  get raw(): number {
    return this.bits;
  }

  get value(): number {
    let count = 0;
    for (let word = this.bits; word !== 0; word >>>= 1) count += word & 1;
    return count;
  }

  /** `esp_efuse_check_secure_version`: may an app with this secure_version run? */
  allows(secureVersion: number): boolean {
    return secureVersion >= this.value;
  }

  /**
   * Burns the bits that raise the field to `version` (the low `version` bits, as
   * `esp_efuse_update_secure_version` does). A lower or equal version burns nothing.
   */
  burn(version: number): void {
    if (!Number.isInteger(version) || version < 0) {
      throw new RangeError(`secure version must be a non-negative integer, got ${version}`);
    }
    if (version > this.fieldBits) {
      throw new EspError(
        'ESP_ERR_INVALID_ARG',
        `Max secure version is ${this.fieldBits}. Given ${version} version can not be written.`,
      );
    }
    const current = this.value;
    // The chip burns the difference of the two low-bit masks, trusting that the field holds low bits.
    if (version > current) this.bits = (this.bits | (fieldMask(version) - fieldMask(current))) >>> 0;
  }
}

export type SecureVersionUpdate = 'burnt' | 'unchanged' | 'refused';

/**
 * `esp_efuse_update_secure_version` with its log lines: raises the field to an app's
 * secure_version, or refuses when the app's version is already below the field.
 */
export function updateSecureVersion(
  efuse: SecureVersionEfuse,
  secureVersion: number,
  log: (level: 'E' | 'I', tag: string, message: string) => void,
): SecureVersionUpdate {
  const current = efuse.value;
  if (current < secureVersion) {
    efuse.burn(secureVersion);
    log('I', 'efuse', `Anti-rollback is set. eFuse field is updated(${secureVersion}).`);
    return 'burnt';
  }
  if (current > secureVersion) {
    log(
      'E',
      'efuse',
      `Anti-rollback is not set. secure_version of app is lower that eFuse field(${current}).`,
    );
    return 'refused';
  }
  return 'unchanged';
}

function fieldMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : ((1 << bits) >>> 0) - 1;
}
