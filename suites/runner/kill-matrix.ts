import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  type ReferenceServerProfile,
  referenceServerDefects,
} from '../../drivers/reference-update-server/index.ts';
import type { DefectDescriptor } from '../../emulators/device/index.ts';
import { firmwareFor } from '../../emulators/index.ts';
import type { ConformanceResult } from '../../reports/conformance-result.ts';
import { KillMatrixProgress } from './kill-matrix-progress.ts';
import { DEFAULT_RIG, PROJECT_ROOT, runConformance } from './run-conformance.ts';

export const KILL_MATRIX_MD = 'kill-matrix.md';

/** Separates a base target from its defect in the matrix rig's target names. */
const DEFECT_SEPARATOR = '-defect-';
const REQUIREMENT_ID = /^[a-z0-9-]+\/[a-z0-9-]+\/\d+$/;

export interface KillMatrixDefect {
  /**
   * Whose defect it is: an emulator's profile (`luartos`), or `update-server/<profile>` for the
   * harness' reference update server playing that profile's server (role 2 of DESIGN.md).
   */
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
  /** Requirements that did not pass on a conforming target (must be empty). */
  conformingFailures: ConformanceResult[];
  /** Defects no requirement caught. */
  survivors: string[];
  /** Defects not caught by a requirement they name. */
  missedNamed: { defect: string; ids: string[] }[];
  /** MUST requirements that caught no defect. */
  toothless: string[];
  wallMs: number;
}

type RigEntry = Record<string, unknown>;

/** A conforming target of the default rig that the matrix runs once per defect of its catalog. */
interface MatrixBase {
  target: RigEntry;
  /** The catalog's owner, as KillMatrixDefect.profile. */
  group: string;
  defects: readonly DefectDescriptor[];
  /** The same target with one defect switched on. */
  withDefect(name: string): RigEntry;
}

/**
 * The targets with a defect catalog: embedded emulators (the firmware's defects) and the embedded
 * reference update server (its own defects, judged by the role-2 suites).
 */
function matrixBase(target: RigEntry): MatrixBase | undefined {
  const profile = String(target.profile);
  if (target.kind === 'emulator') {
    return {
      target,
      group: profile,
      defects: firmwareFor(profile).defects,
      withDefect: (name) => ({
        ...target,
        emulator: { ...(target.emulator as RigEntry | undefined), defects: [name] },
      }),
    };
  }
  if (target.kind === 'update-server' && target.embedded === true) {
    return {
      target,
      group: `update-server/${profile}`,
      // startEmbeddedUpdateServer serves http-update, esp-https-ota and luartos.
      defects: referenceServerDefects(profile as ReferenceServerProfile),
      withDefect: (name) => ({ ...target, defects: [name] }),
    };
  }
  return undefined;
}

/** `--profile update-server` selects every reference-server group, `update-server/luartos` one. */
function selected(group: string, profiles: string[] | undefined): boolean {
  return !profiles || profiles.some((p) => group === p || group.startsWith(`${p}/`));
}

/**
 * Runs every profile's suites against its conforming emulator, and the update-server suites
 * against the embedded reference update server, and each once per defect of its catalog, all as
 * targets of one run (so they share the cores), and judges the suites: every defect must be
 * caught — by the requirements it names —, every MUST requirement must catch one, and the
 * conforming targets must pass everything.
 */
export async function runKillMatrix(
  options: {
    /** Where kill-matrix.md and .json go (default reports/out); the runs go in its kill-matrix/ folder. */
    outDir?: string;
    profiles?: string[];
    /** Progress lines while it runs (default: none). */
    progress?: (text: string) => void;
    progressEveryMs?: number;
  } = {},
): Promise<KillMatrix> {
  const outDir = resolve(options.outDir ?? join(PROJECT_ROOT, 'reports', 'out'));
  // Each run of the matrix is a run folder of its own under kill-matrix/, so matrices run side by
  // side (per profile) never share results.
  const runsDir = join(outDir, 'kill-matrix');
  mkdirSync(runsDir, { recursive: true });
  const base = JSON.parse(readFileSync(DEFAULT_RIG, 'utf8')) as { targets: RigEntry[] };
  const bases = new Map<string, MatrixBase>();
  for (const target of base.targets) {
    const entry = matrixBase(target);
    if (entry && selected(entry.group, options.profiles)) bases.set(String(target.name), entry);
  }
  const catalog = new Map<string, KillMatrixDefect>();
  const targets: RigEntry[] = [];
  for (const { target, group, defects, withDefect } of bases.values()) {
    targets.push(target);
    for (const defect of defects) {
      const key = `${group}:${defect.name}`;
      if (!catalog.has(key)) {
        catalog.set(key, {
          profile: group,
          name: defect.name,
          named: defect.breaks.filter((id) => REQUIREMENT_ID.test(id)),
          killedBy: [],
        });
      }
      targets.push({ ...withDefect(defect.name), name: `${target.name}${DEFECT_SEPARATOR}${defect.name}` });
    }
  }
  const rigFile = join(mkdtempSync(join(tmpdir(), 'kill-matrix-rig-')), 'rig.json');
  writeFileSync(rigFile, `${JSON.stringify({ name: 'kill-matrix', targets }, null, 2)}\n`);
  const write = options.progress ?? (() => {});
  write(
    `kill matrix: ${targets.length} targets (${bases.size} conforming, ${targets.length - bases.size} with one defect each); results in ${runsDir}\n`,
  );
  const progress = new KillMatrixProgress(targets.length, write, options.progressEveryMs, (target) =>
    target.includes(DEFECT_SEPARATOR),
  );
  const startedAt = performance.now();
  let outcome: Awaited<ReturnType<typeof runConformance>>;
  try {
    outcome = await runConformance({
      rig: rigFile,
      outDir: runsDir,
      write: () => {},
      allureReport: false,
      onResult: (result) => progress.onResult(result),
    });
  } finally {
    progress.finish();
    rmSync(dirname(rigFile), { recursive: true, force: true });
  }
  const wallMs = performance.now() - startedAt;

  const baseNames = new Set(bases.keys());
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
    const key = `${bases.get(baseName)?.group}:${defectName}`;
    const defect = catalog.get(key);
    if (!defect) continue;
    if (!defect.killedBy.includes(result.id)) defect.killedBy.push(result.id);
    const row = requirements.get(result.id)!;
    if (!row.kills.includes(key)) row.kills.push(key);
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
  const json = `${JSON.stringify(matrix, null, 2)}\n`;
  writeFileSync(join(outDir, KILL_MATRIX_MD), formatKillMatrix(matrix));
  writeFileSync(join(outDir, 'kill-matrix.json'), json);
  writeFileSync(join(outcome.run.dir, 'kill-matrix.json'), json);
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
      `Conforming targets failed: ${matrix.conformingFailures.length ? matrix.conformingFailures.map((r) => `${r.target} ${r.id}`).join(', ') : 'nothing'}.`,
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
