import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConformanceResult } from '../conformance-result.ts';
import { sourceLinks } from '../source-links.ts';

/** A file of evidence Allure keeps beside a result: console log, wire transcript, chart. */
export interface Evidence {
  name: string;
  /** File name inside the allure-results folder. */
  file: string;
  type?: string;
}

interface AllureAttachment {
  name: string;
  source: string;
  type?: string;
}
interface AllureStep {
  name?: string;
  attachments?: AllureAttachment[];
  steps?: AllureStep[];
}
interface AllureResult extends AllureStep {
  uuid: string;
  name: string;
  fullName?: string;
  historyId?: string;
  testCaseId?: string;
  status?: string;
  statusDetails?: { message?: string; trace?: string; expected?: string; actual?: string };
  labels?: { name: string; value: string }[];
  links?: { name?: string; url: string; type?: string }[];
  parameters?: { name: string; value: string }[];
  titlePath?: string[];
  description?: string;
  start?: number;
  stop?: number;
  stage?: string;
}

/** The key of one requirement on one target, in every report. */
export const resultKey = (target: string, id: string) => `${target}\u0000${id}`;

/**
 * The history ID of a requirement on a target: the same in every run of the same requirement
 * against the same target, whatever folder, process or host ran it (Allure tracks flaky and
 * changed results by it). Allure 3 derives its own from testCaseId and the parameters, which are
 * set from the same two values.
 */
export function historyIdFor(target: string, id: string): string {
  return createHash('md5').update(`${id}@${target}`).digest('hex');
}

const STATUS: Record<ConformanceResult['outcome'], string> = {
  pass: 'passed',
  fail: 'failed',
  skip: 'skipped',
  'rig-error': 'broken',
  'not-run': 'skipped',
};
const SEVERITY = { MUST: 'critical', SHOULD: 'normal', MAY: 'minor' } as const;
/** Labels allure-vitest derives from where the test file lives: a run's entry file, not the requirement. */
const OWN_LABELS = new Set(['epic', 'feature', 'story', 'severity', 'tag', 'requirementSource']);
const PLACE_LABELS = new Set([
  'parentSuite',
  'suite',
  'subSuite',
  'package',
  'thread',
  'host',
  '_fallbackTestCaseId',
]);

/**
 * Rewrites the Allure results a run wrote so the report reads as conformance, not as harness
 * internals: the tree is profile › group › target (not the run's entry-file path), history IDs
 * are requirement ID + target, a skipped requirement carries its reason, every result its level,
 * target and source links, and a failure its Expected and Actual. Results of requirements the
 * run did not select (--grep) are dropped; results.jsonl lines that no test produced (a target
 * that did not start, a suite file that did not load) are added, so Allure and the matrix list
 * the same rows. Returns each row's evidence files.
 */
export function normalizeAllureResults(
  dir: string,
  results: readonly ConformanceResult[],
  targetOfPath: (path: string) => string | undefined,
): Map<string, Evidence[]> {
  mkdirSync(dir, { recursive: true });
  const byKey = new Map(results.map((result) => [resultKey(result.target, result.id), result]));
  const evidence = new Map<string, Evidence[]>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('-result.json'))) {
    const path = join(dir, file);
    const raw = JSON.parse(readFileSync(path, 'utf8')) as AllureResult;
    const target =
      raw.parameters?.find((p) => p.name === 'target')?.value ??
      [...(raw.titlePath ?? []), raw.fullName ?? '']
        .map((part) => targetOfPath(part.split('#')[0]!))
        .find(Boolean);
    const id = raw.name.split(' ')[0] ?? '';
    const result = target === undefined ? undefined : byKey.get(resultKey(target, id));
    if (result === undefined) {
      rmSync(path);
      continue;
    }
    byKey.delete(resultKey(result.target, result.id));
    writeFileSync(path, JSON.stringify(conformanceResult(raw, result)));
    evidence.set(resultKey(result.target, result.id), attachmentsOf(raw));
  }
  for (const result of byKey.values()) {
    const uuid = randomUUID();
    const at = Date.now();
    const raw: AllureResult = {
      uuid,
      name: result.id,
      start: at,
      stop: at + result.durationMs,
      stage: 'finished',
    };
    writeFileSync(join(dir, `${uuid}-result.json`), JSON.stringify(conformanceResult(raw, result)));
    evidence.set(resultKey(result.target, result.id), []);
  }
  return evidence;
}

function conformanceResult(raw: AllureResult, result: ConformanceResult): AllureResult {
  const [profile, group] = result.id.split('/');
  const labels = (raw.labels ?? []).filter(
    (label) => !PLACE_LABELS.has(label.name) && !OWN_LABELS.has(label.name),
  );
  labels.push(
    { name: 'parentSuite', value: profile ?? result.id },
    { name: 'suite', value: group ?? result.id },
    { name: 'subSuite', value: result.target },
    { name: 'epic', value: profile ?? result.id },
    { name: 'feature', value: group ?? result.id },
    { name: 'story', value: result.id },
    { name: 'severity', value: SEVERITY[result.level] },
    { name: 'tag', value: result.level },
    { name: 'target', value: result.target },
    { name: 'level', value: result.level },
    { name: 'requirementSource', value: result.source },
  );
  const detail = result.detail ?? '';
  const expected = /^\s*Expected:\s*(.*)$/m.exec(detail)?.[1];
  const actual = /^\s*Actual:\s*([\s\S]*)$/m.exec(detail)?.[1];
  const statusDetails =
    result.outcome === 'pass'
      ? {}
      : {
          ...raw.statusDetails,
          message: detail,
          ...(expected !== undefined && actual !== undefined ? { expected, actual: actual.trimEnd() } : {}),
        };
  return {
    ...raw,
    name: `${result.id} [${result.level}] ${result.text}`,
    fullName: `${result.id} @ ${result.target}`,
    testCaseId: `${result.id} @ ${result.target}`,
    historyId: historyIdFor(result.target, result.id),
    titlePath: [profile ?? result.id, group ?? result.id, result.target],
    status: STATUS[result.outcome],
    statusDetails,
    labels,
    parameters: [{ name: 'target', value: result.target }],
    links: [...(raw.links ?? []), ...sourceLinks(result.source).map((link) => ({ ...link, type: 'link' }))],
    description: [
      `**${result.id}** [${result.level}] ${result.text}`,
      '',
      `Target: ${result.target}`,
      '',
      `Source: ${result.source}`,
      ...(result.outcome === 'skip' ? ['', `Skipped: ${detail}`] : []),
    ].join('\n'),
  };
}

function attachmentsOf(step: AllureStep): Evidence[] {
  return [
    ...(step.attachments ?? []).map((a) => ({
      name: a.name,
      file: a.source,
      ...(a.type ? { type: a.type } : {}),
    })),
    ...(step.steps ?? []).flatMap(attachmentsOf),
  ];
}

/** Reads an evidence file's text (empty when the file is gone). */
export function readEvidence(dir: string, evidence: Evidence): string {
  const path = join(dir, evidence.file);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
