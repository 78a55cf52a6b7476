import { codedError } from '../../vocabulary/index.ts';

/** Thrown by every read, erase and program while the chip has no power (after a cut or powerOff()). */
export class FlashPowerLostError extends codedError('FLASH_POWER_LOST', 'FlashPowerLostError') {}

/** An access outside the chip or an erase that does not start on a sector/block boundary. */
export class FlashAddressError extends codedError('FLASH_ADDRESS', 'FlashAddressError') {}

/** A NorFlash or power-cut setting that cannot describe a real chip or cut (bad size, bad limit). */
export class FlashUsageError extends codedError('FLASH_USAGE', 'FlashUsageError') {}
