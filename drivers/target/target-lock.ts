import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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

async function holderIsGone(path: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(join(path, 'owner'), 'utf8'));
  } catch {
    // The owner file is written right after mkdir: give a fresh lock a moment before judging it.
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return !processIsAlive(pid);
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
