import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';
import type { ConformanceResult, Outcome } from './conformance-result.ts';

export interface ConformanceReporterOptions {
  /** results.jsonl: one line per requirement, appended as each one ends (a killed run keeps them). */
  resultsFile: string;
  /** Live progress lines go here; default stdout. */
  write?: (text: string) => void;
  /** Redacts every detail before it is printed or written. */
  redact?: (text: string) => string;
  root: string;
  /** The target of a describe (a run runs each target's suites under a describe named after it). */
  targetOfSuite?: (name: string) => string | undefined;
  /** Print every skip as it happens; otherwise skips are folded into one line per reason at the end. */
  verbose?: boolean;
  /** Told of every result as it is recorded (progress of a long run). */
  onResult?: (result: ConformanceResult) => void;
  /** The file's first line: the run's metadata, so the results describe themselves. */
  header?: object;
}

const MARK: Record<Outcome, string> = { pass: '✓', fail: '✗', skip: '-', 'rig-error': '!', 'not-run': '·' };

/**
 * Prints one line per requirement as it ends and appends it to results.jsonl, so progress is
 * visible live and nothing finished is lost if the run dies.
 */
export class ConformanceReporter implements Reporter {
  readonly results: ConformanceResult[] = [];
  private readonly write: (text: string) => void;
  private readonly redact: (text: string) => string;
  /** Requirements selected per target (known once its entry file is collected) and done so far. */
  private readonly progress = new Map<string, { done: number; total: number }>();

  constructor(private readonly options: ConformanceReporterOptions) {
    this.write = options.write ?? ((text) => process.stdout.write(text));
    this.redact = options.redact ?? ((text) => text);
    mkdirSync(dirname(options.resultsFile), { recursive: true });
    writeFileSync(options.resultsFile, options.header ? `${JSON.stringify(options.header)}\n` : '');
  }

  /** The number of requirements each target will run, for the done/total on every line. */
  onTestModuleCollected(testModule: TestModule): void {
    for (const target of this.targetsOf(testModule)) {
      if (!this.progress.has(target)) this.progress.set(target, { done: 0, total: 0 });
    }
    for (const testCase of testModule.children.allTests()) {
      if (
        !testCase.meta().requirement ||
        testCase.options.mode === 'skip' ||
        testCase.options.mode === 'todo'
      )
        continue;
      const target = this.targetOf(testCase);
      const entry = this.progress.get(target) ?? { done: 0, total: 0 };
      entry.total++;
      this.progress.set(target, entry);
    }
  }

  /** Requirements selected (and so reported) per target. */
  selectedPerTarget(): ReadonlyMap<string, number> {
    return new Map([...this.progress].map(([target, { total }]) => [target, total]));
  }

  /** Targets collected so far that still have requirements to report. */
  unfinishedTargets(): number {
    let unfinished = 0;
    for (const { done, total } of this.progress.values()) if (done < total) unfinished++;
    return unfinished;
  }

  /** A suite file that does not load (or a hook that throws) is the harness failing: a rig error. */
  onTestSuiteResult(testSuite: TestSuite): void {
    this.recordErrors(this.targetOf(testSuite), testSuite.name, testSuite.errors());
  }

  onTestModuleEnd(testModule: TestModule): void {
    const errors = testModule.errors();
    if (errors.length === 0) return;
    // The file itself failed: every target it runs lost its requirements.
    const file = relative(this.options.root, testModule.moduleId);
    for (const target of this.targetsOf(testModule)) this.recordErrors(target, file, errors);
  }

  /** The target a test or describe ran against: its enclosing target describe, else the project name. */
  private targetOf(task: TestCase | TestSuite): string {
    for (let at: TestCase | TestSuite | TestModule = task; at.type !== 'module'; at = at.parent) {
      const target = at.type === 'suite' ? this.options.targetOfSuite?.(at.name) : undefined;
      if (target !== undefined) return target;
    }
    return task.project.name;
  }

  /** The targets a test file runs: its target describes (the project name when it has none). */
  private targetsOf(testModule: TestModule): string[] {
    const targets = [...testModule.children]
      .map((child) => (child.type === 'suite' ? this.options.targetOfSuite?.(child.name) : undefined))
      .filter((target): target is string => target !== undefined);
    return targets.length > 0 ? targets : [testModule.project.name];
  }

  private recordErrors(target: string, file: string, errors: readonly { message: string }[]): void {
    if (errors.length === 0) return;
    this.record({
      target,
      id: `${target}/suites`,
      level: 'MUST',
      text: 'the suite files load and run',
      source: file,
      outcome: 'rig-error',
      detail: this.redact(errors.map((error) => error.message).join('\n')),
      durationMs: 0,
      file,
    });
  }

  /** A result that is not one requirement's (a target that could not start, a suite file that did not load). */
  record(entry: ConformanceResult): void {
    this.results.push(entry);
    appendFileSync(this.options.resultsFile, `${JSON.stringify(entry)}\n`);
    this.options.onResult?.(entry);
    this.write(`${MARK[entry.outcome]} ${entry.target}  ${entry.text}\n${indent(entry.detail ?? '')}\n`);
  }

  onTestCaseResult(testCase: TestCase): void {
    const suiteLoad = testCase.meta().suiteLoad;
    if (suiteLoad !== undefined && testCase.result().state === 'failed') {
      this.recordErrors(this.targetOf(testCase), suiteLoad, testCase.result().errors ?? []);
    }
    const meta = testCase.meta().requirement;
    if (!meta) return;
    const result = testCase.result();
    // Not selected (--grep): vitest marks it skipped before it runs; it is no result at all.
    if (result.state === 'skipped' && testCase.options.mode === 'skip' && result.note === undefined) return;
    const errors = result.state === 'failed' ? result.errors : undefined;
    let outcome: Outcome;
    let detail: string | undefined;
    const notRun = testCase.meta().notRun;
    if (result.state === 'passed') outcome = 'pass';
    else if (result.state === 'skipped' && notRun !== undefined) {
      outcome = 'not-run';
      detail = this.redact(notRun);
    } else if (result.state === 'skipped') {
      outcome = 'skip';
      detail = result.note ?? 'skipped';
    } else {
      const first = errors?.[0];
      const rig = first !== undefined && isRigErrorShape(first);
      outcome = rig ? 'rig-error' : 'fail';
      detail = this.redact(first ? `${first.message}` : 'failed');
    }
    const entry: ConformanceResult = {
      target: this.targetOf(testCase),
      id: meta.id,
      level: meta.level,
      text: meta.text,
      source: meta.source,
      outcome,
      ...(detail === undefined ? {} : { detail }),
      durationMs: Math.round(testCase.diagnostic()?.duration ?? 0),
      ...(testCase.meta().images?.length ? { images: testCase.meta().images } : {}),
      file: suiteFileOf(testCase) ?? relative(this.options.root, testCase.module.moduleId),
    };
    this.results.push(entry);
    appendFileSync(this.options.resultsFile, `${JSON.stringify(entry)}\n`);
    const progress = this.progress.get(entry.target);
    if (progress) progress.done++;
    this.options.onResult?.(entry);
    // Skips and requirements not run are folded into one line per reason at the end of the run.
    if ((outcome === 'skip' && !this.options.verbose) || outcome === 'not-run') return;
    const count = progress ? ` ${progress.done}/${progress.total}` : '';
    const note = outcome === 'skip' ? `  (${detail})` : outcome === 'pass' ? '' : `\n${indent(detail ?? '')}`;
    this.write(
      `${MARK[outcome]} ${entry.target}${count}  ${entry.id} [${entry.level}] ${entry.text}${note}\n`,
    );
  }
}

/** The suite file a requirement comes from: the run's entry file names it in the enclosing describe. */
function suiteFileOf(testCase: TestCase): string | undefined {
  for (let parent = testCase.parent; parent.type === 'suite'; parent = parent.parent) {
    if (parent.name.endsWith('.suite.ts')) return parent.name;
  }
  return undefined;
}

function isRigErrorShape(error: { name?: string; message?: string; code?: unknown }): boolean {
  if (error.name === 'RigFailure') return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && ['TARGET_SETUP', 'TARGET_LOCK_TIMEOUT', 'RIG_FAILURE'].includes(code))
    return true;
  return /^(TargetSetupError|TargetLockTimeoutError)\b/.test(error.name ?? '');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
