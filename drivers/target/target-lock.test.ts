import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireTargetLease, sweepStaleLeases } from './target-lock.ts';

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('target leases left by interrupted runs', () => {
  it('a sweep removes leases of dead holders and old ownerless ones, and keeps a live lease and a fresh ownerless one', async () => {
    const lockDir = mkdtempSync(join(tmpdir(), 'locks-'));
    const live = await acquireTargetLease(lockDir, 'live-board');
    mkdirSync(join(lockDir, 'dead-board.lock'));
    writeFileSync(join(lockDir, 'dead-board.lock', 'owner'), String(deadPid()));
    mkdirSync(join(lockDir, 'ownerless-old.lock'));
    const tenSecondsAgo = new Date(Date.now() - 10_000);
    utimesSync(join(lockDir, 'ownerless-old.lock'), tenSecondsAgo, tenSecondsAgo);
    mkdirSync(join(lockDir, 'ownerless-fresh.lock'));

    expect(await sweepStaleLeases(lockDir)).toBe(2);
    expect(readdirSync(lockDir).sort()).toEqual(['live-board.lock', 'ownerless-fresh.lock']);
    await live.release();
    expect(existsSync(join(lockDir, 'live-board.lock'))).toBe(false);
  });

  it('an old ownerless lease no longer blocks its target; a live one still does', async () => {
    const lockDir = mkdtempSync(join(tmpdir(), 'locks-'));
    mkdirSync(join(lockDir, 'board.lock'), { recursive: true });
    const old = new Date(Date.now() - 10_000);
    utimesSync(join(lockDir, 'board.lock'), old, old);
    const lease = await acquireTargetLease(lockDir, 'board', { timeoutMs: 1000 });
    await expect(acquireTargetLease(lockDir, 'board', { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'TARGET_LOCK_TIMEOUT',
    });
    await lease.release();
  });

  it('a missing lock folder sweeps nothing', async () => {
    expect(await sweepStaleLeases(join(tmpdir(), 'no-such-locks-folder-i14'))).toBe(0);
  });
});
