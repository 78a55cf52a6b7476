import { existsSync, lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The folder one run owns: `<out>/<run-id>/`, with `<out>/latest` pointing at the newest. */
export interface RunFolder {
  id: string;
  /** Absolute path of the run's own folder. */
  dir: string;
  /** The --out root that holds every run's folder, `latest` and what runs share (locks, history). */
  root: string;
}

export const LATEST_LINK = 'latest';

/**
 * A sortable ID unique on one host at one moment: UTC time to the second, then the process ID (two
 * runs started in the same second are two processes), then a suffix (a shard, or a counter when
 * the same process opens two folders in one second, as tests do).
 */
export function runIdFor(date: Date, pid: number, suffix = ''): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${pid}${suffix ? `-${suffix}` : ''}`;
}

/**
 * Creates the folder of a new run under `root` and points `root/latest` at it. Each run writes
 * only into its own folder, so two runs at once never share a results file, and an interrupted
 * run's folder holds only what it wrote (never a previous run's junit.xml beside its partial
 * results). `latest` moves by an atomic rename, so a reader never finds it missing.
 */
export function openRunFolder(root: string, options: { suffix?: string; now?: Date } = {}): RunFolder {
  const absoluteRoot = resolve(root);
  mkdirSync(absoluteRoot, { recursive: true });
  const now = options.now ?? new Date();
  let id = runIdFor(now, process.pid, options.suffix);
  for (let n = 2; existsSync(join(absoluteRoot, id)); n++)
    id = runIdFor(now, process.pid, `${options.suffix ?? ''}${n}`);
  const dir = join(absoluteRoot, id);
  mkdirSync(dir);
  pointLatestAt(absoluteRoot, id);
  return { id, dir, root: absoluteRoot };
}

function pointLatestAt(root: string, id: string): void {
  const link = join(root, LATEST_LINK);
  // A real folder named `latest` (someone's own) is left alone; the run is still in its folder.
  if (existsSync(link) && !lstatSync(link).isSymbolicLink()) return;
  const temporary = join(root, `.latest-${process.pid}-${Date.now()}`);
  rmSync(temporary, { force: true });
  symlinkSync(id, temporary, 'dir');
  renameSync(temporary, link);
}

/** The run folder `root/latest` points at, or undefined when there is none. */
export function latestRunFolder(root: string): string | undefined {
  const link = join(resolve(root), LATEST_LINK);
  try {
    return join(resolve(root), readlinkSync(link));
  } catch {
    return undefined;
  }
}
