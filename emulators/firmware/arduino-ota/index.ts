export { arduinoOtaFirmware } from './arduino-ota-firmware.ts';
export { ArduinoOtaOptionError } from './arduino-ota-options.ts';
