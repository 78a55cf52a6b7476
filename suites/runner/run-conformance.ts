import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sweepStaleLeases, type TargetDescription } from '../../drivers/target/index.ts';
import { preloadAllureReport } from '../../reports/allure/allure-report.ts';
import { ConformanceReporter } from '../../reports/conformance-reporter.ts';
import {
  type ConformanceResult,
  EXIT_CODES,
  type ExitCode,
  exitCodeFor,
  formatFoldedOutcomes,
  formatSummaryTable,
  summarize,
  type TargetSummary,
} from '../../reports/conformance-result.ts';
import { preloadJunitWriter } from '../../reports/junit.ts';
import { RESULTS_FILE } from '../../reports/results-file.ts';
import { openRunFolder, type RunFolder } from '../../reports/run-folder.ts';
import { startRunMetadata } from '../../reports/run-metadata.ts';
import { writeRunJson, writeRunReports } from '../../reports/run-reports.ts';
import { type LoadedTarget, loadRig, type Rig, redactorForRig } from '../../rigs/index.ts';
import type { ProvidedTarget } from '../framework/current-target.ts';
import { REQUIREMENT_TIMEOUT_MS } from '../framework/requirement-scope.ts';
import type { EmulatorHost } from './emulator-host.ts';
import { preflightTargets } from './preflight/index.ts';
import { RedactingAllureReporter } from './redacting-allure-reporter.ts';
import { failuresToRerun, rerunTargets, type Shard, shardTargets } from './run-selection.ts';
import { startTargets } from './start-targets.ts';
import { targetOfDescribe } from './target-describe.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_RIG = join(PROJECT_ROOT, 'rigs', 'emulators.json');

export interface RunOptions {
  rig?: string;
  /** Ad-hoc targets from the command line, replacing the rig's. */
  adHocTargets?: LoadedTarget[];
  /** Only targets with these names. */
  only?: string[];
  /** Only targets that carry every one of these tags (the rig's `tags`, as labgrid places have). */
  tags?: string[];
  /** Requirement ID prefix (`viperhttp/auth`). */
  grep?: string;
  strict?: boolean;
  junit?: string;
  /** The root of the run folders: this run writes into `<outDir>/<run-id>/` (default reports/out). */
  outDir?: string;
  /** Told of every result as it is recorded (the kill matrix's progress). */
  onResult?: (result: ConformanceResult) => void;
  /** This run's share of the targets (`--shard i/n`). */
  shard?: Shard;
  /** Re-run only what failed in this results.jsonl, on the same targets. */
  rerunFailed?: string;
  /** Write the single-file Allure report (default true). */
  allureReport?: boolean;
  /** The command line, for the run's metadata (default process.argv). */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Live progress and the summary; default stdout. */
  write?: (text: string) => void;
  /** Suites folder (the kill matrix and tests may point elsewhere). */
  suitesDir?: string;
  /** Print every skip as it happens instead of one line per reason at the end. */
  verbose?: boolean;
  /** The embedded emulators' host, started before this module loaded (EmulatorHost.startEarlyFor); the run stops it. */
  emulatorHost?: EmulatorHost;
}

/** `--grep` (or `--only`) selected no requirement of any target: bad arguments, exit 2. */
export class NothingSelectedError extends Error {
  readonly code = 'RUN_NOTHING_SELECTED';
}

export interface RunOutcome {
  exitCode: ExitCode;
  /** The folder this run wrote its results and reports into. */
  run: RunFolder;
  results: ConformanceResult[];
  summaries: TargetSummary[];
}

/**
 * The conformance run: load the rig, start what it embeds, run every suite of each target's
 * profile (each target in a worker of its own, all in one vitest project), and report. Results are
 * appended to results.jsonl as each requirement ends, so a killed run keeps what it finished.
 */
export async function runConformance(options: RunOptions = {}): Promise<RunOutcome> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const outDir = options.outDir ?? join(PROJECT_ROOT, 'reports', 'out');
  const suitesDir = options.suitesDir ?? join(PROJECT_ROOT, 'suites');
  const rig: Rig = await loadRig(options.rig ?? DEFAULT_RIG, { env });
  let targets = options.adHocTargets ?? rig.targets;
  if (options.only?.length) {
    const unknown = options.only.filter((name) => !targets.some((target) => target.name === name));
    if (unknown.length > 0) {
      throw new Error(
        `--only ${unknown.join(', ')}: the rig has no such target; its targets: ${targets.map((t) => t.name).join(', ')}`,
      );
    }
    targets = targets.filter((target) => options.only!.includes(target.name));
  }
  if (options.tags?.length) targets = targetsWithTags(targets, options.tags);
  const rerun = options.rerunFailed ? failuresToRerun(options.rerunFailed) : undefined;
  if (rerun) targets = rerunTargets(targets, rerun, options.rerunFailed!);
  if (options.shard) targets = shardTargets(targets, options.shard);
  const redactor = redactorForRig({ ...rig, targets }, env);
  // Each run owns a folder of its own (reports/out/<run-id>/, `latest` points at it); targets'
  // leases stay in the shared root, so two runs at once still take turns on one board.
  const run = openRunFolder(
    outDir,
    options.shard ? { suffix: `shard${options.shard.index}of${options.shard.count}` } : {},
  );
  const metadata = startRunMetadata({
    runId: run.id,
    projectRoot: PROJECT_ROOT,
    rig,
    targets,
    redactor,
    argv: options.argv,
    selection: {
      ...(options.grep ? { grep: options.grep } : {}),
      ...(options.only?.length ? { only: options.only } : {}),
      ...(options.tags?.length ? { tags: options.tags } : {}),
      ...(options.shard ? { shard: options.shard } : {}),
      ...(options.rerunFailed ? { rerun: options.rerunFailed } : {}),
    },
  });
  writeRunJson(run.dir, metadata);
  const allureDir = join(run.dir, 'allure-results');
  const lockDir = join(run.root, 'locks');
  // Leases of runs that were killed would otherwise stay behind under target names nobody reuses.
  await sweepStaleLeases(lockDir);

  const rigFile = options.rig ?? DEFAULT_RIG;
  write(
    `ota-conformance run: rig ${rig.name} (${options.adHocTargets ? '--target' : displayPath(rigFile)})\n` +
      `  targets: ${targets.map((target) => `${target.name} (${target.profile}, ${target.kind})`).join(', ')}\n` +
      `  output:  ${run.dir}\n`,
  );
  const starting = startTargets(rig, targets, { env, lockDir, emulatorHost: options.emulatorHost });
  // vitest (with Vite) loads here while the emulator process boots on the other core.
  const loadingVitest = import('vitest/node');
  loadingVitest.catch(() => {});
  const started = await starting;
  for (const note of started.notes) write(`note: ${note}\n`);
  // Every target is checked before its suites (on the other core while vitest loads): one
  // unreachable or wrong device is one rig error, and its requirements are reported as not run.
  const preflight = preflightTargets(started.descriptions);
  const reporter = new ConformanceReporter({
    resultsFile: join(run.dir, RESULTS_FILE),
    onResult: (result) => {
      // The report writers' libraries (Allure's generator, a second or more of module loading on the
      // main thread, and xmlbuilder2 for JUnit) load once no more targets are left running than
      // there are cores, so that they take a core the run no longer keeps busy. Loaded with the
      // first result instead, they took CPU from the worker while every target was starting (2
      // cores: the default run's tail is one target for 2 s).
      if (reporter.unfinishedTargets() <= availableParallelism()) {
        preloadJunitWriter();
        if (options.allureReport ?? true) preloadAllureReport();
      }
      options.onResult?.(result);
    },
    header: metadata,
    write,
    redact: (text) => redactor.redact(text),
    root: PROJECT_ROOT,
    targetOfSuite: targetOfDescribe,
    verbose: options.verbose ?? false,
  });
  // A target the run could not start is a rig error, reported (and kept) before anything runs.
  for (const entry of started.notStarted) {
    reporter.record({
      target: entry.target,
      id: `${entry.target}/rig`,
      level: 'MUST',
      text: 'the target can be started and reached',
      source: options.rig ?? 'rigs/emulators.json',
      outcome: 'rig-error',
      detail: redactor.redact(entry.reason),
      durationMs: 0,
      file: '',
    });
  }
  const notRun = new Map<string, string>();
  for (const failure of await preflight) {
    notRun.set(failure.target, `preflight failed at "${failure.step}"`);
    reporter.record({
      target: failure.target,
      id: `${failure.target}/preflight`,
      level: 'MUST',
      text: `preflight: ${failure.step}`,
      source: 'the rig (suites/runner/preflight)',
      outcome: 'rig-error',
      detail: redactor.redact(failure.reason),
      durationMs: failure.durationMs,
      file: '',
    });
  }
  // vitest matches a test's full name: the file and the describe (the suite file's path) before the
  // requirement's ID and text.
  const grepPattern = options.grep
    ? `(?:^|\\.suite\\.ts )${options.grep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`
    : undefined;
  // A few test files, each a two-line entry naming its targets (target-suites.ts does the rest),
  // written in the run's folder (the --out folder is writable; the installed package may not be).
  const entriesDir = join(run.dir, 'entries');
  mkdirSync(entriesDir, { recursive: true });
  const provided: Record<string, ProvidedTarget> = {};
  for (const description of started.descriptions) {
    const reason = notRun.get(description.name);
    provided[description.name] = {
      description,
      ...(reason === undefined ? {} : { notRun: reason }),
      suiteFiles: suitesFor(suitesDir, description).map((absolute) => ({
        absolute,
        relative: relative(PROJECT_ROOT, absolute),
      })),
      ...(rerun?.get(description.name) ? { requirementIds: rerun.get(description.name) } : {}),
    };
  }
  const groups = workerGroups(
    started.descriptions.map((description) => ({
      name: description.name,
      weight: provided[description.name]!.suiteFiles.length,
    })),
    Number(
      env.OTA_RUN_WORKERS ??
        defaultWorkers(started.descriptions.some((description) => description.kind === 'emulator')),
    ),
  );
  groups.forEach((names, index) => {
    writeFileSync(
      join(entriesDir, `group-${index + 1}${ENTRY_SUFFIX}`),
      `import { loadTargetSuites } from ${JSON.stringify(TARGET_SUITES)};\nloadTargetSuites(${JSON.stringify(names)});\n`,
    );
  });
  try {
    // Nothing started (every target a rig error): nothing to run, only the rig errors to report.
    if (started.descriptions.length > 0) await runSuites();
  } finally {
    rmSync(entriesDir, { recursive: true, force: true });
    await started.stop();
  }
  // An emulator that crashed is the rig's fault, not the device's: one rig error per crash, with
  // the stack, for that target only (the host restarted it and the other targets went on).
  for (const crash of started.crashes()) {
    reporter.record({
      target: crash.name,
      id: `${crash.name}/emulator`,
      level: 'MUST',
      text: 'the emulator runs without crashing',
      source: 'suites/runner/emulator-host.ts',
      outcome: 'rig-error',
      detail: redactor.redact(`the emulator crashed and was restarted: ${crash.error}`),
      durationMs: 0,
      file: '',
    });
  }

  async function runSuites(): Promise<void> {
    const { createVitest } = await loadingVitest;
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
          reporters: [reporter, new RedactingAllureReporter(allureDir, redactor)],
          // One project, so one Vite server transforms each module once for every target; one
          // worker per entry file, all at once, each running its targets side by side (the suites
          // wait on devices far more than they compute) and each target's suites one after another.
          name: 'conformance',
          include: [`${escapeGlob(entriesDir)}/*${ENTRY_SUFFIX}`],
          pool: 'threads',
          isolate: true,
          maxWorkers: groups.length,
          // Targets at once, per worker: a rig of a few dozen (the kill matrix) takes turns.
          maxConcurrency: Math.ceil(MAX_TARGETS_AT_ONCE / groups.length),
          setupFiles: ['allure-vitest/setup'],
          provide: { targets: provided },
          testTimeout: REQUIREMENT_TIMEOUT_MS,
          hookTimeout: REQUIREMENT_TIMEOUT_MS,
          // Vite's transformed modules kept on disk between runs (keyed by each file's content and the
          // config): a run after the first loads its workers about a second sooner (2.4 → 1.2 s from
          // vitest's start to the first result on the default rig). Beside the run folders, which a
          // run can always write.
          experimental: { fsModuleCache: true, fsModuleCachePath: join(outDir, MODULE_CACHE) },
        },
      },
    );
    try {
      await vitest.start();
    } finally {
      await vitest.close();
    }
  }

  const results = [...reporter.results];
  // With --grep, a target none of whose requirements it selects is not part of the run; without,
  // every target is, and one with no result at all ran nothing.
  const selected = reporter.selectedPerTarget();
  const collected = started.descriptions.filter((description) => selected.has(description.name));
  if (options.grep && collected.length > 0 && collected.every((d) => (selected.get(d.name) ?? 0) === 0)) {
    throw new NothingSelectedError(
      `--grep ${options.grep} selects no requirement of ${collected.map((d) => d.name).join(', ')}; \`ota-conformance list\` shows the IDs`,
    );
  }
  const inRun = targets
    .map((target) => target.name)
    .filter(
      (name) =>
        !options.grep || (selected.get(name) ?? 0) > 0 || results.some((result) => result.target === name),
    );
  const summaries = summarize(results, inRun);
  const folded = formatFoldedOutcomes(results, { verbose: options.verbose ?? false });
  if (folded) write(`\n${folded}\n`);
  write(`\n${formatSummaryTable(summaries)}\n`);
  const exitCode = exitCodeFor(summaries, options.strict ?? false);
  const { junit } = await writeRunReports(run, metadata, results, exitCode, {
    targetOfPath: targetOfDescribe,
    allureReport: options.allureReport,
    note: (text) => write(`note: ${text}\n`),
  });
  if (options.junit) writeFileSync(options.junit, junit);
  write(
    `\nreports in ${displayPath(run.dir)}: ${reportsIn(run.dir).join(', ')}${options.junit ? `; JUnit also at ${displayPath(options.junit)}` : ''}\n` +
      `exit ${exitCode}: ${EXIT_MEANING[exitCode]}\n`,
  );
  return { exitCode, run, results, summaries };
}

const EXIT_MEANING: Record<ExitCode, string> = {
  [EXIT_CODES.passed]: 'every MUST passed and every target ran',
  [EXIT_CODES.deviceFailed]: 'a device failed a requirement',
  [EXIT_CODES.usage]: 'bad arguments or rig',
  [EXIT_CODES.rigOrNothingRan]: 'no device failure, but rig errors or a target that ran nothing',
};

/** Vite's module cache, in the --out root beside the run folders. */
const MODULE_CACHE = '.module-cache';

const TARGET_SUITES = fileURLToPath(new URL('./target-suites.ts', import.meta.url));
const ENTRY_SUFFIX = '.entry.ts';

/**
 * How many targets run at once, over all workers: the default rig's twenty all together; a larger
 * rig (the kill matrix has a target per defect) in turns, so no device waits on a harness too busy
 * to answer it in time.
 */
const MAX_TARGETS_AT_ONCE = 20;

/**
 * How many workers a run uses: one per core, less the core the embedded emulators' host keeps busy
 * when the run has one, at most four. Every worker loads the whole harness (most of a worker's CPU
 * time), and the targets in one worker run side by side, so a few workers cost far less than one
 * per target and wait on devices just as well (the default rig on 2 cores: 14.7–14.9 s with one
 * worker beside the host, 15.0–15.5 s with two; the kill matrix 226 s with one, 236 s with two).
 */
export function defaultWorkers(hasEmulatorHost: boolean, cores = availableParallelism()): number {
  return Math.min(4, Math.max(1, cores - (hasEmulatorHost ? 1 : 0)));
}

/**
 * The targets split into at most `count` groups, one entry file each: heaviest first (the most
 * suite files), each to the lightest group so far, so no worker gets all the long targets.
 */
export function workerGroups(
  targets: readonly { name: string; weight: number }[],
  count: number,
): string[][] {
  const size = Math.max(
    1,
    Math.min(Number.isFinite(count) && count >= 1 ? Math.floor(count) : 1, targets.length),
  );
  const groups = Array.from({ length: size }, () => ({ names: [] as string[], weight: 0 }));
  for (const target of [...targets].sort((a, b) => b.weight - a.weight)) {
    const lightest = groups.reduce((best, group) => (group.weight < best.weight ? group : best));
    lightest.names.push(target.name);
    lightest.weight += target.weight;
  }
  return groups.filter((group) => group.names.length > 0).map((group) => group.names);
}

/** A path as a literal in a glob (an --out folder may hold brackets or parentheses). */
function escapeGlob(path: string): string {
  return path.replace(/[()[\]{}*?!+@\\]/g, '\\$&');
}

/**
 * The suite files a target runs, in order: its profile's, then the cross-profile ones for a
 * device; the update-server suites (the harness plays the device) for a server under test. A
 * device that claims `signed-images` refuses every unsigned image the other suites send, so it
 * runs the signed-update suites (suites/signed) instead.
 */
export function suitesFor(suitesDir: string, description: TargetDescription): string[] {
  if (description.kind === 'update-server') {
    // Only the server's own pull path: a Lua RTOS server is not listed as skipping every HTTPUpdate check.
    return suiteFilesIn(join(suitesDir, 'update-server')).filter((file) =>
      basename(file).startsWith(`${description.profile}.`),
    );
  }
  if (description.capabilities.includes('signed-images')) return suiteFilesIn(join(suitesDir, 'signed'));
  return [String(description.profile), 'common'].flatMap((folder) => suiteFilesIn(join(suitesDir, folder)));
}

function suiteFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.suite.ts'))
    .sort()
    .map((name) => join(dir, name));
}

/** What a finished run folder holds, as listed at the end of the run (folders with a slash). */
function reportsIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.'))
    .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
    .sort();
}

/** A path as the user would type it: relative below the working folder, absolute elsewhere. */
function displayPath(path: string): string {
  const below = relative(process.cwd(), path);
  return below === '' ? '.' : below.startsWith('..') ? path : below;
}

/** The targets that carry every tag asked for; none is a bad argument that lists the tags the rig has. */
export function targetsWithTags<T extends { name: string; tags?: readonly string[] }>(
  targets: readonly T[],
  tags: readonly string[],
): T[] {
  const selected = targets.filter((target) => tags.every((tag) => target.tags?.includes(tag)));
  if (selected.length === 0) {
    const present = [...new Set(targets.flatMap((target) => target.tags ?? []))].sort();
    throw new Error(
      `--tags ${tags.join(',')}: no target carries ${tags.length > 1 ? 'all of them' : 'it'}; tags in the rig: ${present.length > 0 ? present.join(', ') : 'none'}`,
    );
  }
  return selected;
}
