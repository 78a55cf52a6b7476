export { controlPlaneLines } from './control-plane-lines.ts';
export {
  FirmwareSourceError,
  FlasherBootError,
  FlasherChipMismatchError,
  FlasherPortError,
  FlasherProtocolError,
  FlasherSyncError,
  FlasherTimeoutError,
  FlasherVerifyError,
} from './errors.ts';
export { EspFlasher, type FlasherOptions, type FlashFile, type WrittenFile } from './esp-flasher.ts';
export {
  type FirmwareBuild,
  type FirmwarePart,
  firmwareFor,
  type ImageChoice,
  readFirmwareBuild,
} from './firmware-source.ts';
export { type KnownStatePlan, planKnownState } from './flash-plan.ts';
export { decodeFlash, type FlashReader, type FlashReport, formatFlashReport } from './flash-report.ts';
export {
  type FlashOutcome,
  type FlashTargetOptions,
  flasherOptionsFor,
  flashTarget,
  readTargetFlash,
} from './flash-target.ts';
export { type ModemLineSink, type ModemLineState, WebSerialPort } from './web-serial-port.ts';
