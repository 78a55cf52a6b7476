import type { DefectDescriptor } from '../device/index.ts';

/**
 * The defect every firmware that updates an ESP8266 through the core's Updater can have: the new
 * sketch written over the running one instead of staged for eboot (Esp8266Updater's
 * `writeSketchInPlace`, asked for with `createUpdater({ writeSketchInPlace })`).
 */
export const WRITES_SKETCH_IN_PLACE: DefectDescriptor = {
  name: 'writes-sketch-in-place',
  breaks: [
    'rollback/power-cut/1',
    'reference/arduino-ota.md §4.7 power-loss semantics 1: the Updater stages the new sketch below the filesystem and eboot copies it only once it is complete, so a power cut during the transfer leaves the running sketch untouched',
  ],
  description:
    'ESP8266: writes the new sketch straight over the running one at 0x0 instead of staging it for eboot',
};
