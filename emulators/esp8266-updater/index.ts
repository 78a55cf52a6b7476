export type { EbootCommand } from './eboot-command.ts';
export {
  ACTION_COPY_RAW,
  ACTION_LOAD_APP,
  decodeEbootCommand,
  EBOOT_COMMAND_BYTES,
  EBOOT_MAGIC,
  ebootCrc32,
  encodeEbootCommand,
} from './eboot-command.ts';
export type { Esp8266Layout } from './esp8266-layout.ts';
export {
  APP_START_OFFSET,
  FLASH_SECTOR_SIZE,
  LAYOUT_1M_FS64K,
  LAYOUT_4M_FS2M,
  magicFlashChipMode,
  magicFlashChipSize,
  roundUpToSector,
} from './esp8266-layout.ts';
export type {
  Esp8266StreamSource,
  Esp8266UpdaterOptions,
  FlashFaults,
  SignatureDefect,
  UpdateCommand,
} from './esp8266-updater.ts';
export { Esp8266CoreAbortError, Esp8266Updater, U_FLASH, U_FS } from './esp8266-updater.ts';
export type { RtcPowerOffBehaviour, RtcUserMemoryOptions } from './rtc-user-memory.ts';
export { RTC_USER_MEMORY_ADDRESS, RTC_USER_MEMORY_BYTES, RtcUserMemory } from './rtc-user-memory.ts';
export type { VerifierOptions } from './signature-verifier.ts';
export { RsaSigningVerifier, UnsupportedVerifierKeyError } from './signature-verifier.ts';
export type { CoreVersion, ErrorContext, UpdateErrorCode } from './update-error.ts';
export { errorText, formatPrintError, UpdateError } from './update-error.ts';
