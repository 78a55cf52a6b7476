export type { ArduinoSketchOptions } from './arduino-sketch.ts';
export { buildArduinoSketch } from './arduino-sketch.ts';
export type { BootEsp8266Options, BootEsp8266Result, Esp8266ResetCause } from './boot-esp8266.ts';
export { bootEsp8266, EBOOT_CLEARS_COMMAND_EARLY } from './boot-esp8266.ts';
