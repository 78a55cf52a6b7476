import {
  buildEsp8266Image,
  type Esp8266FlashMode,
  type Esp8266FlashSize,
} from '../../../fixtures/esp8266-image/index.ts';
import { APP_START_OFFSET } from '../../esp8266-updater/index.ts';

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

const EBOOT_IMAGE_SIZE = 0x800;
/** elf2bin.py pads eboot up to the app with 0xAA. */
const EBOOT_PADDING = 0xaa;

/**
 * A sketch .bin laid out as the Arduino core's elf2bin.py writes it: the eboot image in the first
 * 4 KiB sector (padded with 0xAA), then the app image at APP_START_OFFSET.
 */
export function buildArduinoSketch(options: ArduinoSketchOptions): Uint8Array {
  const header = { flashMode: options.flashMode ?? 'dio', flashSize: options.flashSize ?? '4MB' } as const;
  const eboot = buildEsp8266Image({ size: EBOOT_IMAGE_SIZE, seed: options.ebootSeed ?? 0xeb00, ...header });
  const app = buildEsp8266Image({ size: options.appSize, seed: options.seed, ...header });
  const sketch = new Uint8Array(APP_START_OFFSET + app.length).fill(EBOOT_PADDING, 0, APP_START_OFFSET);
  sketch.set(eboot, 0);
  sketch.set(app, APP_START_OFFSET);
  return sketch;
}
