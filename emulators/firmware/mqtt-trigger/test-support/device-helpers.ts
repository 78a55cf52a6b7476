import { createHash } from 'node:crypto';
import { buildEsp32Image } from '../../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../../boot/index.ts';
import type { StartedEmulator } from '../../../start-emulator.ts';

/** An ESP32 app whose descriptor carries a known version, build time and ELF SHA-256. */
export function esp32App(version: string, seed: number, date = 'Feb  7 2026', time = '12:00:00') {
  const appElfSha256 = createHash('sha256').update(`elf ${version} ${seed}`).digest();
  const image = buildEsp32Image({ version, size: 48 * 1024, seed, date, time, appElfSha256 });
  return {
    image,
    /** buttons-json `firmware`: the first 16 bytes of app_elf_sha256 in hex. */
    elfPrefix: appElfSha256.subarray(0, 16).toString('hex'),
    /** buttons-u `firmware`: the build time as unix seconds. */
    buildTime: Math.floor(Date.parse(`${date.replace(/\s+/g, ' ')} ${time} UTC`) / 1000),
  };
}

/** An Arduino ESP8266 sketch (eboot + app) with a version marker, and its MD5. */
export function esp8266Sketch(version: string, seed: number) {
  const sketch = buildArduinoSketch({ appSize: 40 * 1024, seed });
  writeSketchDescriptor(sketch, { version, projectName: 'mqtt-trigger-demo' });
  return { sketch, md5: createHash('md5').update(sketch).digest('hex') };
}

export function consoleText(emulator: StartedEmulator): string[] {
  return emulator.device.console.lines().map((line) => line.text);
}

export async function waitForConsole(
  emulator: StartedEmulator,
  pattern: RegExp,
  timeoutMs = 8000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = consoleText(emulator).find((text) => pattern.test(text));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`console never printed ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Count of ESP32 software resets (`rst:0xc`) or ESP8266 `rst cause:3` banners printed so far. */
export function softwareResets(emulator: StartedEmulator): number {
  return consoleText(emulator).filter((text) => /rst:0xc \(SW_CPU_RESET\)|rst cause:[23]\b/.test(text))
    .length;
}

export async function settle(ms = 300): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
