export { ESP_ERR, EspError, type EspErrorCode } from './esp-error.ts';
export { EspLogger, type EspLogLevel } from './esp-log.ts';
export {
  EspOtaOps,
  type EspOtaOpsOptions,
  OTA_SIZE_UNKNOWN,
  OTA_WITH_SEQUENTIAL_WRITES,
  type OtaHandle,
} from './esp-ota-ops.ts';
export {
  type Esp32Chip,
  type Esp32ChipOptions,
  findingTag,
  type ImageVerdict,
  imageFindingLogMessage,
  readAppDescriptor,
  resolveEsp32Chip,
  verifyPartitionImage,
} from './esp32-chip.ts';
export { SecureVersionEfuse, type SecureVersionUpdate, updateSecureVersion } from './secure-version-efuse.ts';
