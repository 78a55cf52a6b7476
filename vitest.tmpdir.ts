import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Global set-up of the unit tests: one temporary folder for the whole test run, handed to every
 * worker and child process as TMPDIR, and removed when the run ends. Tests make run folders, rigs,
 * packed installs and kill matrices under tmpdir() by the hundred (a full run left 0.5 GB behind,
 * 4.8 GB over a day's kill-matrix tests), and a machine whose disk fills up fails everything else.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'ota-conformance-tests-'));
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
