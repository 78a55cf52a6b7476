import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { create } from 'tar';
import { readEvidenceIndex } from '../evidence-index.ts';
import { PROTOCOL_NOTES_DIR } from '../protocol-notes.ts';
import { RESULTS_FILE, readResultsFile } from '../results-file.ts';
import { latestRunFolder } from '../run-folder.ts';
import type { RunMetadata } from '../run-metadata.ts';
import { ALLURE_REPORT, ALLURE_RESULTS, JUNIT_XML, RUN_JSON } from '../run-reports.ts';
import { rerunArguments, shellQuote } from './rerun-command.ts';

export class BundleError extends Error {
  readonly code = 'BUNDLE';
  override readonly name = 'BundleError';
}

/** A run folder given directly, or the `latest` run of an --out root. */
export function resolveRunFolder(dir: string): string {
  const absolute = resolve(dir);
  if (existsSync(join(absolute, RUN_JSON))) return absolute;
  const latest = latestRunFolder(absolute);
  if (latest && existsSync(join(latest, RUN_JSON))) return latest;
  throw new BundleError(`${dir}: not a run folder (no ${RUN_JSON}) and no latest run under it`);
}

export interface WrittenBundle {
  file: string;
  /** Paths inside the archive, below its top folder. */
  entries: string[];
  failed: number;
}

const COPIED = [
  RUN_JSON,
  RESULTS_FILE,
  JUNIT_XML,
  'matrix.html',
  'matrix.md',
  ALLURE_REPORT,
  'evidence.json',
];

/**
 * The vendor bundle: one .tar.gz (node-tar) holding everything a customer or a certification body
 * needs to read a run without the harness — the metadata, matrix, JUnit, single-file Allure report
 * and its results, each requirement's console log and wire transcript as files, the SHA-256 of
 * every image sent, the protocol notes the sources cite, and `rerun-failed.sh`, which re-runs
 * exactly the failed requirements on the same rig.
 */
export async function writeVendorBundle(
  runDir: string,
  options: { out?: string } = {},
): Promise<WrittenBundle> {
  const dir = resolveRunFolder(runDir);
  const metadata = JSON.parse(readFileSync(join(dir, RUN_JSON), 'utf8')) as RunMetadata;
  if (metadata.status !== 'complete')
    throw new BundleError(
      `${dir}: run ${metadata.runId} did not finish (status ${metadata.status}); bundle a finished run`,
    );
  const { results } = readResultsFile(join(dir, RESULTS_FILE));
  const name = `ota-conformance-${metadata.runId}`;
  const file = resolve(options.out ?? join(dirname(dir), `${name}.tar.gz`));
  const staging = mkdtempSync(join(tmpdir(), 'ota-bundle-'));
  const top = join(staging, name);
  try {
    mkdirSync(top);
    for (const entry of COPIED) if (existsSync(join(dir, entry))) cpSync(join(dir, entry), join(top, entry));
    if (existsSync(join(dir, ALLURE_RESULTS)))
      cpSync(join(dir, ALLURE_RESULTS), join(top, ALLURE_RESULTS), { recursive: true });
    cpSync(PROTOCOL_NOTES_DIR, join(top, 'docs', 'protocols'), { recursive: true });
    writeEvidenceFiles(dir, top);
    writeFileSync(join(top, 'images.sha256'), imagesList(metadata));
    writeFileSync(join(top, 'rig.redacted.json'), `${JSON.stringify(metadata.rig, null, 2)}\n`);
    const failed = results.filter((r) => r.outcome === 'fail' || r.outcome === 'rig-error');
    writeFileSync(join(top, 'rerun-failed.sh'), rerunScript(metadata, failed.length));
    chmodSync(join(top, 'rerun-failed.sh'), 0o755);
    writeFileSync(join(top, 'README.md'), readme(metadata, results.length, failed.length));
    mkdirSync(dirname(file), { recursive: true });
    const entries: string[] = [];
    await create(
      {
        gzip: true,
        file,
        cwd: staging,
        portable: true,
        onWriteEntry: (entry) => {
          entries.push(entry.path.slice(name.length + 1));
        },
      },
      [name],
    );
    return { file, entries: entries.filter(Boolean), failed: failed.length };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** logs/<target>/<id>.console.txt and transcripts/<target>/<id>.wire.txt, named for a reader. */
function writeEvidenceFiles(runDir: string, top: string): void {
  for (const [key, files] of readEvidenceIndex(runDir)) {
    const [target, id] = key.split('\u0000') as [string, string];
    const stem = id.replaceAll('/', '_');
    for (const evidence of files) {
      const source = join(runDir, ALLURE_RESULTS, evidence.file);
      if (!existsSync(source)) continue;
      const folder =
        evidence.name === 'console log'
          ? 'logs'
          : evidence.name === 'wire transcript'
            ? 'transcripts'
            : 'attachments';
      const suffix =
        folder === 'logs' ? 'console.txt' : folder === 'transcripts' ? 'wire.txt' : basename(evidence.file);
      mkdirSync(join(top, folder, target), { recursive: true });
      cpSync(source, join(top, folder, target, `${stem}.${suffix}`));
    }
  }
}

/** sha256sum's format, one image per line, then the target and how it was sent. */
function imagesList(metadata: RunMetadata): string {
  const lines = metadata.targets.flatMap((target) =>
    target.images.map(
      (image) =>
        `${image.sha256}  ${target.name} ${image.bytes} bytes via ${image.via}${image.version ? ` version ${image.version}` : ''}`,
    ),
  );
  return lines.length ? `${lines.join('\n')}\n` : '# no image was sent in this run\n';
}

function rerunScript(metadata: RunMetadata, failed: number): string {
  const args = rerunArguments(metadata, RESULTS_FILE).map(shellQuote).join(' ');
  return [
    '#!/bin/sh',
    `# Re-runs exactly the ${failed} requirement(s) that failed (or hit a rig error) in run ${metadata.runId},`,
    `# on the same rig (${metadata.rig.name}). Secrets come from the environment, as in the original run.`,
    '# OTA_CONFORMANCE overrides how the harness is started (default: npx ota-conformance).',
    'set -e',
    'cd "$(dirname "$0")"',
    ...(failed === 0
      ? ['echo "Nothing failed in this run; nothing to re-run."', 'exit 0']
      : [`exec \${OTA_CONFORMANCE:-npx ota-conformance} run ${args} "$@"`]),
    '',
  ].join('\n');
}

function readme(metadata: RunMetadata, total: number, failed: number): string {
  return [
    `# ota-conformance run ${metadata.runId}`,
    '',
    `${total} results, ${failed} failed or rig errors; rig ${metadata.rig.name}; harness ${metadata.harness.version}${metadata.harness.git ? ` (${metadata.harness.git.commit})` : ''}; started ${metadata.startedAt}.`,
    '',
    '| file | what |',
    '|---|---|',
    '| matrix.html, matrix.md | requirements × targets with level, verdict and evidence; open matrix.html from disk |',
    '| allure-report.html | the Allure report as one file (opens from disk, no network) |',
    '| junit.xml | JUnit XML, each testsuite headed by the run metadata |',
    '| run.json | the run: harness version and commit, redacted rig, targets (chip, MAC, images), date, seeds, command |',
    '| results.jsonl | the run metadata, then one line per requirement |',
    "| logs/, transcripts/ | each requirement's console log and wire transcript |",
    '| images.sha256 | the SHA-256 of every image sent (sha256sum format) |',
    '| docs/protocols/ | the protocol notes the requirement sources cite, with their upstream links |',
    '| rerun-failed.sh | re-runs exactly the failed requirements on the same rig |',
    '',
  ].join('\n');
}
