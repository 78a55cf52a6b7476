import type { StartedEmulator } from '../../start-emulator.ts';

/** Test support: the emulator's console history as text lines. */
export function consoleText(emulator: StartedEmulator): string[] {
  return emulator.device.console.lines().map((line) => line.text);
}

/** The first console line from index `after` on that matches, waiting for it up to `timeoutMs`. */
export async function waitForLine(
  emulator: StartedEmulator,
  pattern: RegExp,
  after = 0,
  timeoutMs = 5000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = consoleText(emulator)
      .slice(after)
      .find((line) => pattern.test(line));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no console line matching ${pattern} in time`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Lets a restart the device might (wrongly) do after its answer happen before we look. */
export async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

/** The version an Arduino test sketch prints at its start (`Sketch <project> version <v>`) after a reset pin pulse. */
export async function resetAndReadVersion(emulator: StartedEmulator): Promise<string> {
  const before = consoleText(emulator).length;
  await emulator.device.resetPin();
  const line = await waitForLine(emulator, /^Sketch \S+ version /, before);
  return line.replace(/^Sketch \S+ version /, '');
}

/**
 * After a power cut armed with `cutPowerAfterBytes`: waits until the device is dark, powers it on
 * and returns the version the sketch prints (`banner`'s first group), or `no sketch booted: …` with
 * the last console lines. `whileDark` runs between the two (an update server told to stop offering
 * the image).
 */
export async function powerOnAfterCutAndReadVersion(
  emulator: StartedEmulator,
  options: { whileDark?: () => void; banner?: RegExp } = {},
): Promise<string> {
  const banner = options.banner ?? /^Sketch \S+ version (\S+)$/;
  const deadline = Date.now() + 5_000;
  while (emulator.device.state !== 'off') {
    if (Date.now() > deadline) throw new Error('the power was not cut');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  options.whileDark?.();
  const before = consoleText(emulator).length;
  await emulator.device.powerOn();
  return await waitForLine(emulator, banner, before, 2_000)
    .then((line) => banner.exec(line)?.[1] ?? line)
    .catch(() => `no sketch booted: ${consoleText(emulator).slice(before).slice(-3).join(' | ')}`);
}
