import type { StartedEmulator } from '../emulators/start-emulator.ts';

/** What every network fuzz run requires of a device afterwards: it runs `version` within 15 s. */
export async function waitForVersion(emulator: StartedEmulator, version: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (emulator.device.running?.version !== version) {
    if (Date.now() > deadline)
      throw new Error(
        `the device still runs ${emulator.device.running?.version ?? 'nothing'} (${emulator.device.state}), not ${version}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Console lines where an emulator reports a fault of its own (a bug it caught instead of crashing). */
export function emulatorFaultLines(emulator: StartedEmulator): string[] {
  return emulator.device.console
    .lines()
    .map((line) => line.text)
    .filter((text) => /emulator fault/i.test(text));
}

export function lastConsoleLines(emulator: StartedEmulator, count: number): string[] {
  return emulator.device.console
    .lines()
    .slice(-count)
    .map((line) => line.text);
}

/**
 * Collects what would otherwise kill the process: an uncaught exception or an unhandled rejection
 * in an in-process emulator or in the harness; and a listener leak (MaxListenersExceededWarning),
 * which kills a long-running emulator more slowly. The run reports them as failures of the profile
 * that was running, with the stack, and goes on with the next one.
 */
export function watchProcessFaults(): { take(): string[]; dispose(): void } {
  let faults: string[] = [];
  const record = (error: unknown) => {
    faults.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
  };
  const leak = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') record(warning);
  };
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  process.on('warning', leak);
  return {
    take: () => {
      const taken = faults;
      faults = [];
      return taken;
    },
    dispose: () => {
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
      process.off('warning', leak);
    },
  };
}
