/** Thrown by every read, erase and program while the chip has no power (after a cut or powerOff()). */
export class FlashPowerLostError extends Error {
  readonly code = 'FLASH_POWER_LOST';
  override readonly name = 'FlashPowerLostError';
}

/** An access outside the chip or an erase that does not start on a sector/block boundary. */
export class FlashAddressError extends Error {
  readonly code = 'FLASH_ADDRESS';
  override readonly name = 'FlashAddressError';
}

/** A NorFlash or power-cut setting that cannot describe a real chip or cut (bad size, bad limit). */
export class FlashUsageError extends Error {
  readonly code = 'FLASH_USAGE';
  override readonly name = 'FlashUsageError';
}
