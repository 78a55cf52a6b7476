/*
 * What one requirement opened on the harness side and must close on every path: when it passes,
 * fails, or is given up on at its timeout (vitest then leaves its body running, and an update
 * server still bound to the device's update address would make every later requirement fail with
 * EADDRINUSE). A worker runs one target's requirements one after another, so one registry per
 * worker is one per target.
 */

/**
 * How long one requirement may take unless it declares more (`timeoutMs`): the run gives vitest
 * this as its test timeout. A requirement that waits on a device timeout longer than a step adds
 * that timeout to it (e.g. http-update/integrity/2 and the ESP8266 Updater's 60 s stream timeout).
 */
export const REQUIREMENT_TIMEOUT_MS = 60_000;

const open = new Set<() => Promise<void>>();

/**
 * Registers `close` to run when the current requirement ends, however it ends. Returns the
 * function to call instead of `close` on the normal path (it runs it once and forgets it).
 */
export function closeWithRequirement(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const once = () => {
    open.delete(once);
    closing ??= close();
    return closing;
  };
  open.add(once);
  return once;
}

/** Closes everything the current requirement left open; a close that fails does not stop the others. */
export async function closeWhatTheRequirementOpened(): Promise<void> {
  const closers = [...open];
  open.clear();
  await Promise.allSettled(closers.map((close) => close()));
}
