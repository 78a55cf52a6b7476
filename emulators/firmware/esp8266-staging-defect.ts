import { EBOOT_CLEARS_COMMAND_EARLY as EBOOT_DEFECT_NAME } from '../boot/index.ts';
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

/**
 * The other half of staging: eboot (the bootloader in sector 0, which every sketch carries) that
 * clears its RTC command before copying instead of after, as before core 2.6.3. The device boots
 * with it when the defect is named (emulators/boot bootEsp8266 `clearCommandBeforeCopy`).
 */
export const EBOOT_CLEARS_COMMAND_EARLY: DefectDescriptor = {
  name: EBOOT_DEFECT_NAME,
  breaks: [
    'rollback/eboot-copy/2',
    'reference/arduino-ota.md §4.7 eboot step 5: the command is cleared only after the copy (PR #6823, core 2.6.3), so a reset during the copy restarts it',
  ],
  description:
    'ESP8266: eboot clears its copy command before the copy instead of after it, so a power cut during the copy leaves a half-copied sketch that nothing copies again',
};
