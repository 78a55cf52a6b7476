import type { FirmwareContext } from '../device/index.ts';
import { esp32ArduinoSignature } from '../firmware/signing-options.ts';
import { Esp32Update, type Esp32UpdateOptions } from './esp32-update.ts';

/** The global `Update` of one ESP32 boot: this boot's esp_ota_ops, flash and partition table, paced by the flash timing. */
export function esp32UpdateFor(
  context: FirmwareContext,
  options: Omit<Esp32UpdateOptions, 'flash' | 'ota' | 'table'> = {},
): Esp32Update {
  const esp32 = context.esp32;
  if (esp32 === undefined) {
    throw new RangeError(`the ESP32 Update library needs an ESP32; this device is an ${context.platform}`);
  }
  return new Esp32Update({
    flash: context.flash,
    ota: esp32.ota,
    table: esp32.table,
    pace: () => context.pace(),
    ...esp32ArduinoSignature(context.options, context.defects),
    ...options,
  });
}
