export { FlashAddressError, FlashPowerLostError, FlashUsageError } from './errors.ts';
export type { FlashTiming, FlashTimingProfileName } from './flash-timing.ts';
export { FLASH_TIMING } from './flash-timing.ts';
export type {
  FlashOperation,
  FlashOperationKind,
  FlashStats,
  NorFlashOptions,
  PowerCutLimit,
} from './nor-flash.ts';
export { NorFlash } from './nor-flash.ts';
export { VirtualClock } from './virtual-clock.ts';
