import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firmwareFor } from '../../emulators/index.ts';
import type { ConformanceResult } from '../../reports/conformance-result.ts';
import { DEFAULT_RIG, PROJECT_ROOT, runConformance } from './run-conformance.ts';

/** Separates a base target from its defect in the matrix rig's target names. */
const DEFECT_SEPARATOR = '-defect-';
const REQUIREMENT_ID = /^[a-z0-9-]+\/[a-z0-9-]+\/\d+$/;

export interface KillMatrixDefect {
  profile: string;
  name: string;
  /** Requirement IDs the defect's documentation says it breaks. */
  named: string[];
  /** Requirement IDs that failed on a target with this defect (and passed on the conforming one). */
  killedBy: string[];
}

export interface KillMatrix {
  requirements: { id: string; level: string; text: string; kills: string[] }[];
  defects: KillMatrixDefect[];
  /** Requirements that did not pass on a conforming emulator (must be empty). */
  conformingFailures: ConformanceResult[];
  /** Defects no requirement caught. */
  survivors: string[];
  /** Defects not caught by a requirement they name. */
  missedNamed: { defect: string; ids: string[] }[];
  /** MUST requirements that caught no defect. */
  toothless: string[];
  wallMs: number;
}

/**
 * Runs every profile's suites against its conforming emulator and once per defect of the
 * catalog, all as targets of one run (so they share the cores), and judges the suites: every
 * defect must be caught — by the requirements it names —, every MUST requirement must catch
 * one, and the conforming emulators must pass everything.
 */
export async function runKillMatrix(
  options: { outDir?: string; profiles?: string[] } = {},
): Promise<KillMatrix> {
  // One folder per run: kill matrices run side by side (per profile) must not share results.
  const outDir = options.outDir ?? join(PROJECT_ROOT, 'reports', 'out', 'kill-matrix', `run-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  const base = JSON.parse(readFileSync(DEFAULT_RIG, 'utf8')) as { targets: Record<string, unknown>[] };
  const emulatorTargets = base.targets.filter(
    (t) => t.kind === 'emulator' && (!options.profiles || options.profiles.includes(String(t.profile))),
  );
  const catalog = new Map<string, KillMatrixDefect>();
  const targets: Record<string, unknown>[] = [];
  for (const target of emulatorTargets) {
    targets.push(target);
    const profile = String(target.profile);
    for (const defect of firmwareFor(profile).defects) {
      const key = `${profile}:${defect.name}`;
      if (!catalog.has(key)) {
        catalog.set(key, {
          profile,
          name: defect.name,
          named: defect.breaks.filter((id) => REQUIREMENT_ID.test(id)),
          killedBy: [],
        });
      }
      const emulator = {
        ...(target.emulator as Record<string, unknown> | undefined),
        defects: [defect.name],
      };
      targets.push({ ...target, name: `${target.name}${DEFECT_SEPARATOR}${defect.name}`, emulator });
    }
  }
  const rigFile = join(outDir, 'rig.json');
  writeFileSync(rigFile, `${JSON.stringify({ name: 'kill-matrix', targets }, null, 2)}\n`);
  const startedAt = performance.now();
  const outcome = await runConformance({ rig: rigFile, outDir, write: () => {} });
  const wallMs = performance.now() - startedAt;

  const baseNames = new Set(emulatorTargets.map((t) => String(t.name)));
  const conformingFailures = outcome.results.filter(
    (r) => baseNames.has(r.target) && (r.outcome === 'fail' || r.outcome === 'rig-error'),
  );
  const passedOnBase = new Set(
    outcome.results
      .filter((r) => baseNames.has(r.target) && r.outcome === 'pass')
      .map((r) => `${r.target}|${r.id}`),
  );
  const ranOnBase = new Set([...passedOnBase].map((key) => key.slice(key.indexOf('|') + 1)));
  const requirements = new Map<string, KillMatrix['requirements'][number]>();
  for (const result of outcome.results) {
    if (!requirements.has(result.id))
      requirements.set(result.id, { id: result.id, level: result.level, text: result.text, kills: [] });
    const separator = result.target.indexOf(DEFECT_SEPARATOR);
    if (separator === -1 || result.outcome !== 'fail') continue;
    const baseName = result.target.slice(0, separator);
    if (!passedOnBase.has(`${baseName}|${result.id}`)) continue;
    const defectName = result.target.slice(separator + DEFECT_SEPARATOR.length);
    const profile = String(emulatorTargets.find((t) => t.name === baseName)?.profile);
    const defect = catalog.get(`${profile}:${defectName}`);
    if (!defect) continue;
    if (!defect.killedBy.includes(result.id)) defect.killedBy.push(result.id);
    const row = requirements.get(result.id)!;
    if (!row.kills.includes(`${profile}:${defectName}`)) row.kills.push(`${profile}:${defectName}`);
  }
  const defects = [...catalog.values()];
  const matrix: KillMatrix = {
    requirements: [...requirements.values()].sort((a, b) =>
      a.id.localeCompare(b.id, 'en', { numeric: true }),
    ),
    defects,
    conformingFailures,
    survivors: defects.filter((d) => d.killedBy.length === 0).map((d) => `${d.profile}:${d.name}`),
    missedNamed: defects
      .map((d) => ({
        defect: `${d.profile}:${d.name}`,
        ids: d.named.filter((id) => !d.killedBy.includes(id)),
      }))
      .filter((entry) => entry.ids.length > 0),
    // A MUST that ran on no conforming target here (no target claims what it needs) cannot kill
    // in this run; it is judged in a run that includes a target it applies to.
    toothless: [...requirements.values()]
      .filter((r) => r.level === 'MUST' && r.kills.length === 0 && ranOnBase.has(r.id))
      .map((r) => r.id),
    wallMs,
  };
  writeFileSync(join(PROJECT_ROOT, 'reports', 'out', 'kill-matrix.md'), formatKillMatrix(matrix));
  writeFileSync(join(outDir, 'kill-matrix.json'), `${JSON.stringify(matrix, null, 2)}\n`);
  return matrix;
}

export function formatKillMatrix(matrix: KillMatrix): string {
  const defectKeys = matrix.defects.map((d) => `${d.profile}:${d.name}`);
  const lines = [
    '# Kill matrix',
    '',
    `${matrix.requirements.length} requirements × ${matrix.defects.length} defects, run in ${(matrix.wallMs / 1000).toFixed(1)} s.`,
    `Survivors: ${matrix.survivors.length ? matrix.survivors.join(', ') : 'none'}. ` +
      `MUST requirements without a kill: ${matrix.toothless.length ? matrix.toothless.join(', ') : 'none'}. ` +
      `Conforming emulators failed: ${matrix.conformingFailures.length ? matrix.conformingFailures.map((r) => `${r.target} ${r.id}`).join(', ') : 'nothing'}.`,
    '',
    '## Defects',
    '',
    '| defect | names | killed by |',
    '|---|---|---|',
    ...matrix.defects.map(
      (d) =>
        `| ${d.profile}:${d.name} | ${d.named.join(', ') || '—'} | ${d.killedBy.join(', ') || '**survived**'} |`,
    ),
    '',
    '## Requirements × defects',
    '',
    `| requirement | level | ${defectKeys.map((_, i) => `d${i + 1}`).join(' | ')} |`,
    `|---|---|${defectKeys.map(() => '---').join('|')}|`,
    ...matrix.requirements.map(
      (r) =>
        `| ${r.id} | ${r.level} | ${defectKeys.map((key) => (r.kills.includes(key) ? 'X' : '')).join(' | ')} |`,
    ),
    '',
    defectKeys.map((key, i) => `d${i + 1} = ${key}`).join('  \n'),
    '',
  ];
  return lines.join('\n');
}
