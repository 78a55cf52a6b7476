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
