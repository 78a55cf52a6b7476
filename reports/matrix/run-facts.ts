import type { RunMetadata, TargetIdentity } from '../run-metadata.ts';

/** A run's metadata as the lines a reader scans first. */
export function runFacts(run: RunMetadata): [string, string][] {
  const git = run.harness.git;
  const seeds = Object.entries(run.seeds);
  return [
    ['harness', `${run.harness.name} ${run.harness.version}`],
    ['git commit', git ? `${git.commit}${git.dirty ? ' (with local changes)' : ''}` : 'not a git checkout'],
    ['started', run.startedAt],
    ['finished', run.finishedAt ?? `not finished (status ${run.status})`],
    ['host', `${run.host}, Node ${run.node}`],
    ['rig', `${run.rig.name} (${run.rig.file})`],
    ['command', run.command.join(' ')],
    ['selection', selectionText(run.selection)],
    ['seeds', seeds.length ? seeds.map(([target, seed]) => `${target}=${seed}`).join(', ') : 'none'],
    ...(run.exitCode === undefined ? [] : [['exit code', String(run.exitCode)] as [string, string]]),
    ...(run.mergedFrom ? [['merged from', run.mergedFrom.join(', ')] as [string, string]] : []),
  ];
}

function selectionText(selection: RunMetadata['selection']): string {
  const parts = [
    selection.grep ? `--grep ${selection.grep}` : '',
    selection.only?.length ? `--only ${selection.only.join(',')}` : '',
    selection.shard ? `--shard ${selection.shard.index}/${selection.shard.count}` : '',
    selection.rerun ? `--rerun-failed ${selection.rerun}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : 'every requirement of every target';
}

export function targetFacts(
  target: TargetIdentity,
): Record<'chip' | 'mac' | 'address' | 'firmware' | 'images', string> {
  return {
    chip: target.chip ?? '—',
    mac: target.mac ?? '—',
    address:
      target.address ??
      (target.defects?.length ? `emulated, defects: ${target.defects.join(', ')}` : 'embedded'),
    firmware: target.firmwareVersions.length ? target.firmwareVersions.join(', ') : '—',
    images: target.images.length
      ? target.images.map((image) => `${image.sha256} (${image.bytes} B, ${image.via})`).join('; ')
      : 'none',
  };
}
