import { readResultsFile } from '../../reports/results-file.ts';

/** A selection the run cannot honour (bad --shard, nothing to re-run): the CLI exits 2. */
export class RunSelectionError extends Error {
  readonly code = 'RUN_SELECTION';
  override readonly name = 'RunSelectionError';
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** `--shard 2/3` → { index: 2, count: 3 }. */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index < 1 || index > count)
    throw new RunSelectionError(`--shard ${text}: expected i/n with 1 ≤ i ≤ n, e.g. --shard 1/4`);
  return { index, count };
}

/**
 * The targets of one shard: the rig's targets sorted by name, dealt round-robin, so every host of
 * a CI job matrix that runs `--shard i/n` on the same rig gets a disjoint share and together they
 * cover every target once.
 */
export function shardTargets<T extends { name: string }>(targets: readonly T[], shard: Shard): T[] {
  const sorted = [...targets].sort((a, b) => a.name.localeCompare(b.name));
  const share = sorted.filter((_, position) => position % shard.count === shard.index - 1);
  if (share.length === 0)
    throw new RunSelectionError(
      `--shard ${shard.index}/${shard.count}: the rig's ${targets.length} target(s) leave this shard none; use at most ${targets.length} shards`,
    );
  return share;
}

/**
 * What `--rerun-failed <results.jsonl>` runs again: by target, the requirement IDs that failed or
 * hit a rig error; `undefined` IDs for a target whose failure was not one requirement's (it did not
 * start, or a suite file did not load), which runs again whole.
 */
export function failuresToRerun(resultsFile: string): Map<string, string[] | undefined> {
  const { results } = readResultsFile(resultsFile);
  const failures = new Map<string, string[] | undefined>();
  for (const result of results) {
    if (result.outcome !== 'fail' && result.outcome !== 'rig-error') continue;
    const whole = result.id === `${result.target}/rig` || result.id === `${result.target}/suites`;
    const ids = failures.has(result.target) ? failures.get(result.target) : [];
    failures.set(result.target, whole || ids === undefined ? undefined : [...ids, result.id]);
  }
  if (failures.size === 0)
    throw new RunSelectionError(
      `--rerun-failed ${resultsFile}: no requirement failed there; nothing to re-run`,
    );
  return failures;
}

/** Keeps the targets a re-run names; a failed target the rig no longer has is an error. */
export function rerunTargets<T extends { name: string }>(
  targets: readonly T[],
  failures: ReadonlyMap<string, unknown>,
  resultsFile: string,
): T[] {
  const missing = [...failures.keys()].filter((name) => !targets.some((target) => target.name === name));
  if (missing.length > 0)
    throw new RunSelectionError(
      `--rerun-failed ${resultsFile}: target(s) ${missing.join(', ')} failed there but are not in this rig (${targets.map((t) => t.name).join(', ')})`,
    );
  return targets.filter((target) => failures.has(target.name));
}
