import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class TargetLockTimeoutError extends Error {
  readonly code = 'TARGET_LOCK_TIMEOUT';
}

/** A held lease on a target; `release()` is idempotent. */
export interface TargetLease {
  release(): Promise<void>;
}

/**
 * One suite file at a time per target, across worker processes and concurrent runs: a device
 * has one OTA session, one console and one power switch, so two suites interleaving on it would
 * judge each other's traffic. `mkdir` is atomic, so the lock directory is the lease; a lease
 * whose holder process is gone is broken, so a crashed run never blocks the next one.
 */
export async function acquireTargetLease(
  lockDir: string,
  targetName: string,
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<TargetLease> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const pollMs = options.pollMs ?? 15;
  const path = join(lockDir, `${encodeURIComponent(targetName)}.lock`);
  await mkdir(lockDir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, 'owner'), String(process.pid));
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { recursive: true, force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await holderIsGone(path)) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new TargetLockTimeoutError(
        `target ${targetName}: another suite held it for more than ${timeoutMs} ms (lock ${path})`,
      );
    }
    await sleep(pollMs);
  }
}

/**
 * A lock without an owner older than this was left by a process killed between its mkdir and
 * the owner write (microseconds apart): it will never get one, so it is broken too.
 */
const OWNERLESS_GRACE_MS = 5000;

async function holderIsGone(path: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(join(path, 'owner'), 'utf8'));
  } catch {
    // The owner file is written right after mkdir: give a fresh lock a moment before judging it.
    try {
      return Date.now() - (await stat(path)).mtimeMs > OWNERLESS_GRACE_MS;
    } catch {
      return true;
    }
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return !processIsAlive(pid);
}

/**
 * Removes every lease in `lockDir` whose holder is gone, so the leases of interrupted runs do not
 * pile up under names no later run uses again. Live leases are left alone. Returns how many went.
 */
export async function sweepStaleLeases(lockDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(lockDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const path = join(lockDir, name);
    if (await holderIsGone(path)) {
      await rm(path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/** False only when no process has this pid (one owned by another user still counts as alive). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
