/** A chip that lost power mid-write abandons its work: that rejection is not a crash. */
const isPowerLoss = (error: unknown) =>
  (error as { code?: unknown } | undefined)?.code === 'FLASH_POWER_LOST';

export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

interface Supervised {
  name: string;
  /** The firmware it runs (its folder under emulators/firmware/). */
  firmware: string;
  restart(): Promise<void>;
}

/** Frames of emulator firmware code: `…/emulators/firmware/<profile>/<file>.ts:line:col`. */
const FIRMWARE_FRAME = /[\\/]emulators[\\/]firmware[\\/]([a-z0-9-]+)[\\/]/;

/**
 * Which supervised emulators a crash belongs to, read from the innermost firmware frame of its
 * stack: every emulator running that firmware (they share the code, and nothing in a Node stack
 * tells two instances apart). Empty when no firmware frame is on the stack (shared device code).
 */
export function crashOwners(
  stack: string,
  supervised: readonly { name: string; firmware: string }[],
): string[] {
  for (const line of stack.split('\n')) {
    const firmware = FIRMWARE_FRAME.exec(line)?.[1];
    if (firmware !== undefined)
      return supervised.filter((entry) => entry.firmware === firmware).map((entry) => entry.name);
  }
  return [];
}

/**
 * Keeps a crash in one emulator of a shared host process from going unnoticed or touching the
 * others. An exception or rejection nobody caught is attributed by its stack to the emulators
 * running that firmware, reported with the stack (a rig error for those targets only) and
 * answered with a restart of each, as a chip's panic handler reboots it; the process lives on.
 * Attribution is by stack, not by async context: in Node 20 neither AsyncLocalStorage (lost
 * across an accepted TCP connection) nor a domain (70× the cost of every await) fits here.
 */
export class EmulatorSupervisor {
  private readonly supervised = new Map<string, Supervised>();
  private readonly onFailure = (error: unknown) => this.failed(error);

  constructor(
    private readonly onCrash: (name: string, stack: string) => void,
    private readonly onUnowned: (stack: string) => void,
  ) {
    process.on('uncaughtException', this.onFailure);
    process.on('unhandledRejection', this.onFailure);
  }

  watch(entry: Supervised): void {
    this.supervised.set(entry.name, entry);
  }

  forget(name: string): void {
    this.supervised.delete(name);
  }

  dispose(): void {
    process.off('uncaughtException', this.onFailure);
    process.off('unhandledRejection', this.onFailure);
  }

  private failed(error: unknown): void {
    if (isPowerLoss(error)) return;
    const stack = describeError(error);
    const owners = crashOwners(stack, [...this.supervised.values()]);
    if (owners.length === 0) {
      this.onUnowned(stack);
      return;
    }
    for (const name of owners) {
      this.onCrash(name, stack);
      void this.supervised
        .get(name)
        ?.restart()
        .catch(() => undefined);
    }
  }
}
