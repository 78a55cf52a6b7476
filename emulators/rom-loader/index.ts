export {
  CHIP_DETECT_MAGIC_REG_ADDR,
  type ChipPersonality,
  ChipRegisters,
  ESP32_PERSONALITY,
  ESP8266_PERSONALITY,
  emulatedMac,
  personalityFor,
} from './chip-registers.ts';
export { romDownloadBanner } from './download-banner.ts';
export { OP, ROM_ERROR, STUB_ERROR } from './opcodes.ts';
export { type LoaderPersonality, RomLoader, type RomLoaderOptions } from './rom-loader.ts';
export { SLIP_END, SlipDecoder, slipEncode } from './slip.ts';
export { type ModemLines, pinsFor, STRAP_LATCH_MS } from './strap-lines.ts';
