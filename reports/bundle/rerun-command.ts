import { isAbsolute, join } from 'node:path';
import type { RunMetadata } from '../run-metadata.ts';

/** Flags of the original command that choose what ran or where it went; a re-run sets its own. */
const DROPPED_WITH_VALUE = new Set([
  '--grep',
  '--only',
  '--shard',
  '--rerun-failed',
  '--out',
  '--junit',
  '--token',
  '--password',
]);

/**
 * The `run` arguments that re-run exactly the failed requirements of a run on the same rig: the
 * original command's rig and targets (paths made absolute, secrets left to the environment as in
 * any run), without its selection flags, plus `--rerun-failed <results.jsonl>`.
 */
export function rerunArguments(metadata: RunMetadata, resultsFile: string): string[] {
  const runAt = metadata.command.indexOf('run');
  const original = runAt === -1 ? [] : metadata.command.slice(runAt + 1);
  const args: string[] = [];
  for (let i = 0; i < original.length; i++) {
    const arg = original[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (DROPPED_WITH_VALUE.has(flag)) {
      if (inline === undefined) i++;
      continue;
    }
    if (flag === '--rig') {
      const value = inline ?? original[++i] ?? '';
      args.push('--rig', isAbsolute(value) ? value : join(metadata.cwd, value));
      continue;
    }
    args.push(arg);
  }
  if (runAt === -1 && metadata.rig.file)
    args.push(
      '--rig',
      isAbsolute(metadata.rig.file) ? metadata.rig.file : join(metadata.cwd, metadata.rig.file),
    );
  return [...args, '--rerun-failed', resultsFile];
}

/** A POSIX shell word. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
