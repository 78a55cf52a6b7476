import { codedError } from '../../vocabulary/index.ts';

/** The serial port (device path, `socket://` or `tcp://`) cannot be opened. */
export class FlasherPortError extends codedError('FLASHER_PORT', 'FlasherPortError') {}
/** The chip never answered SYNC: not in download mode, wrong port, or nothing on the line. */
export class FlasherSyncError extends codedError('FLASHER_NO_SYNC', 'FlasherSyncError') {}
/** The chip that answered is not the family the rig names. */
export class FlasherChipMismatchError extends codedError(
  'FLASHER_CHIP_MISMATCH',
  'FlasherChipMismatchError',
) {}
/** A step did not finish within its time. */
export class FlasherTimeoutError extends codedError('FLASHER_TIMEOUT', 'FlasherTimeoutError') {}
/** Written bytes did not verify (MD5 or read-back differ). */
export class FlasherVerifyError extends codedError('FLASHER_VERIFY', 'FlasherVerifyError') {}
/** The flash protocol failed after connecting (esptool-js reported an error). */
export class FlasherProtocolError extends codedError('FLASHER_PROTOCOL', 'FlasherProtocolError') {}
/** After the reset the app did not come up as expected. */
export class FlasherBootError extends codedError('FLASHER_BOOT', 'FlasherBootError') {}
/** Firmware named by the rig cannot be read or is not what it claims to be. */
export class FirmwareSourceError extends codedError('FIRMWARE_SOURCE', 'FirmwareSourceError') {}
