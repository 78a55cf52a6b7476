import type { Esp8266FlashMode, Esp8266FlashSize } from '../../../fixtures/esp8266-image/index.ts';
import { layOutEsp8266Sketch } from '../../../fixtures/esp8266-sketch/index.ts';

export interface ArduinoSketchOptions {
  /** Bytes of the app image at 0x1000 (a multiple of 16). */
  appSize: number;
  /** Seeds the app's segment bytes: different seeds give different firmware. */
  seed: number;
  /** Seeds eboot's bytes; sketches built by the same core share one eboot (default). */
  ebootSeed?: number;
  flashMode?: Esp8266FlashMode;
  flashSize?: Esp8266FlashSize;
}

/**
 * A sketch .bin laid out as the Arduino core's elf2bin.py writes it: the eboot image in the first
 * 4 KiB sector (padded with 0xAA), then the app image at APP_START_OFFSET — the fixtures' layout,
 * with the app size and seed the boot model's tests choose.
 */
export function buildArduinoSketch(options: ArduinoSketchOptions): Uint8Array {
  return layOutEsp8266Sketch(options);
}
