import { currentTargetName } from './target-context.ts';

/*
 * What one requirement opened on the harness side and must close on every path: when it passes,
 * fails, or is given up on at its timeout (vitest then leaves its body running, and an update
 * server still bound to the device's update address would make every later requirement fail with
 * EADDRINUSE).
 */

/**
 * How long one requirement may take unless it declares more (`timeoutMs`): the run gives vitest
 * this as its test timeout. A requirement that waits on a device timeout longer than a step adds
 * that timeout to it (e.g. http-update/integrity/2 and the ESP8266 Updater's 60 s stream timeout).
 */
export const REQUIREMENT_TIMEOUT_MS = 60_000;

/**
 * What requirements opened, per target: a worker runs several targets at once, each target's
 * requirements one after another, so one registry per target is one per running requirement.
 * The registry is found through the target's async context (current-target.ts).
 */
const openPerTarget = new Map<string, Set<() => Promise<void>>>();

function registry(target: string | undefined): Set<() => Promise<void>> {
  const key = target ?? '';
  let open = openPerTarget.get(key);
  if (open === undefined) {
    open = new Set();
    openPerTarget.set(key, open);
  }
  return open;
}

/**
 * Registers `close` to run when the current requirement ends, however it ends. Returns the
 * function to call instead of `close` on the normal path (it runs it once and forgets it).
 */
export function closeWithRequirement(close: () => Promise<void>): () => Promise<void> {
  const open = registry(currentTargetName());
  let closing: Promise<void> | undefined;
  const once = () => {
    open.delete(once);
    closing ??= close();
    return closing;
  };
  open.add(once);
  return once;
}

/**
 * Closes everything the requirement running on `target` left open; a close that fails does not
 * stop the others. Named explicitly: the abort of a timed-out requirement runs outside its context.
 */
export async function closeWhatTheRequirementOpened(target: string | undefined): Promise<void> {
  const open = registry(target);
  const closers = [...open];
  open.clear();
  await Promise.allSettled(closers.map((close) => close()));
}
