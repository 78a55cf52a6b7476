import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVitest } from 'vitest/node';
import type { TargetDescription } from '../../drivers/target/index.ts';
import { ConformanceReporter } from '../../reports/conformance-reporter.ts';
import {
  type ConformanceResult,
  exitCodeFor,
  formatSummaryTable,
  summarize,
  type TargetSummary,
} from '../../reports/conformance-result.ts';
import { toJunitXml } from '../../reports/junit.ts';
import { type LoadedTarget, loadRig, type Rig, redactorForRig } from '../../rigs/index.ts';
import { startTargets } from './start-targets.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_RIG = join(PROJECT_ROOT, 'rigs', 'emulators.json');

export interface RunOptions {
  rig?: string;
  /** Ad-hoc targets from the command line, replacing the rig's. */
  adHocTargets?: LoadedTarget[];
  /** Only targets with these names. */
  only?: string[];
  /** Requirement ID prefix (`viperhttp/auth`). */
  grep?: string;
  strict?: boolean;
  junit?: string;
  outDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Live progress and the summary; default stdout. */
  write?: (text: string) => void;
  /** Suites folder (the kill matrix and tests may point elsewhere). */
  suitesDir?: string;
}

export interface RunOutcome {
  exitCode: 0 | 1 | 2;
  results: ConformanceResult[];
  summaries: TargetSummary[];
}

/**
 * The conformance run: load the rig, start what it embeds, run every suite of each target's
 * profile as one vitest project per target, and report. Results are appended to
 * results.jsonl as each requirement ends, so a killed run keeps what it finished.
 */
export async function runConformance(options: RunOptions = {}): Promise<RunOutcome> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const outDir = options.outDir ?? join(PROJECT_ROOT, 'reports', 'out');
  const suitesDir = options.suitesDir ?? join(PROJECT_ROOT, 'suites');
  const rig: Rig = await loadRig(options.rig ?? DEFAULT_RIG, { env });
  let targets = options.adHocTargets ?? rig.targets;
  if (options.only?.length) targets = targets.filter((target) => options.only!.includes(target.name));
  const redactor = redactorForRig({ ...rig, targets }, env);
  mkdirSync(outDir, { recursive: true });
  const allureDir = join(outDir, 'allure-results');
  rmSync(allureDir, { recursive: true, force: true });
  const lockDir = join(outDir, 'locks');

  const started = await startTargets(rig, targets, { env, lockDir });
  for (const note of started.notes) write(`note: ${note}\n`);
  const reporter = new ConformanceReporter({
    resultsFile: join(outDir, 'results.jsonl'),
    write,
    redact: (text) => redactor.redact(text),
    root: PROJECT_ROOT,
  });
  // vitest matches a test's full name: the file and the describe (the suite file's path) before the
  // requirement's ID and text.
  const grepPattern = options.grep
    ? `(?:^|\\.suite\\.ts )${options.grep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`
    : undefined;
  try {
    const vitest = await createVitest(
      'test',
      {
        config: false,
        root: PROJECT_ROOT,
        watch: false,
        passWithNoTests: true,
        testNamePattern: grepPattern,
      },
      {
        test: {
          reporters: [reporter, ['allure-vitest/reporter', { resultsDir: allureDir }]],
          // One worker per target, all at once: the suites wait on devices far more than they
          // compute. Each target's suite files load into one test file (the entry), so its worker
          // runs them one after another from start to end and the module graph loads once per
          // target; threads, not processes, to share the cores' time cheaply.
          pool: 'threads',
          maxWorkers: Number(
            process.env.OTA_RUN_WORKERS ?? Math.max(1, Math.min(16, started.descriptions.length)),
          ),
          isolate: false,
          projects: started.descriptions.map((description) => ({
            test: {
              name: `conformance:${description.name}`,
              root: PROJECT_ROOT,
              include: [TARGET_ENTRY],
              setupFiles: ['allure-vitest/setup'],
              isolate: false,
              provide: {
                target: description,
                suiteFiles: suitesFor(suitesDir, description).map((absolute) => ({
                  absolute,
                  relative: relative(PROJECT_ROOT, absolute),
                })),
              },
              testTimeout: 60_000,
              hookTimeout: 60_000,
            },
          })),
        },
      },
    );
    try {
      await vitest.start();
    } finally {
      await vitest.close();
    }
  } finally {
    await started.stop();
  }

  const results = [
    ...reporter.results,
    ...started.notStarted.map(
      (entry): ConformanceResult => ({
        target: entry.target,
        id: `${entry.target}/rig`,
        level: 'MUST',
        text: 'the target can be started and reached',
        source: options.rig ?? 'rigs/emulators.json',
        outcome: 'rig-error',
        detail: redactor.redact(entry.reason),
        durationMs: 0,
        file: '',
      }),
    ),
  ];
  const summaries = summarize(results);
  write(`\n${formatSummaryTable(summaries)}\n`);
  const junit = toJunitXml(results);
  writeFileSync(join(outDir, 'junit.xml'), junit);
  if (options.junit) writeFileSync(options.junit, junit);
  return { exitCode: exitCodeFor(summaries, options.strict ?? false), results, summaries };
}

/** The one test file of each target's project: it loads the target's suite files in order. */
const TARGET_ENTRY = relative(
  PROJECT_ROOT,
  fileURLToPath(new URL('./target-suites.entry.ts', import.meta.url)),
);

/**
 * The suite files a target runs, in order: its profile's, then the cross-profile ones for a
 * device; the update-server suites (the harness plays the device) for a server under test.
 */
export function suitesFor(suitesDir: string, description: TargetDescription): string[] {
  const folders =
    description.kind === 'update-server' ? ['update-server'] : [String(description.profile), 'common'];
  return folders.flatMap((folder) => suiteFilesIn(join(suitesDir, folder)));
}

function suiteFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.suite.ts'))
    .sort()
    .map((name) => join(dir, name));
}
