export {
  bootEsp32,
  type Esp32BootOptions,
  type Esp32BootResult,
  FACTORY_INDEX,
  otaSlotOf,
  TEST_APP_INDEX,
} from './boot-esp32.ts';
export { ESP32_RESET_REASONS, type Esp32ResetReason, esp32RomLines } from './rom-log.ts';
