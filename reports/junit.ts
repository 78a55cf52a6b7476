import { createRequire } from 'node:module';
import { stripVTControlCharacters } from 'node:util';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { ConformanceResult } from './conformance-result.ts';
import type { RunMetadata, TargetIdentity } from './run-metadata.ts';

/**
 * Text a console printed, made fit for XML 1.0: colour and cursor sequences are dropped (a
 * coloured ESP-IDF log line is `\x1b[0;32mI (312) boot: …\x1b[0m`), and any other character XML
 * 1.0 cannot carry — not even as a character reference — is written as a visible `\xNN`.
 */
export function xmlSafe(text: string): string {
  return stripVTControlCharacters(text);
}

const require = createRequire(import.meta.url);
let xmlbuilder: typeof import('xmlbuilder2') | undefined;

/**
 * xmlbuilder2, loaded when first used rather than with this module: its 0.25 s of imports would
 * otherwise sit in a run's start-up, before any device is asked anything.
 */
function xml(): typeof import('xmlbuilder2') {
  xmlbuilder ??= require('xmlbuilder2') as typeof import('xmlbuilder2');
  return xmlbuilder;
}

/** Loads the JUnit writer's XML library on the next turn of the event loop (a run calls it once it has cores to spare). */
export function preloadJunitWriter(): void {
  if (xmlbuilder === undefined) setImmediate(xml);
}

const visible = (char: string) => `\\x${char.codePointAt(0)!.toString(16).padStart(2, '0')}`;

/**
 * JUnit XML, one testsuite per target: a failed requirement is a <failure>, a rig error an
 * <error> (the rig failed, not the device), a skip carries its reason. Each testsuite starts with
 * the run's metadata as <properties>. Written by xmlbuilder2, which escapes markup and replaces
 * what XML 1.0 cannot hold.
 */
export function toJunitXml(results: readonly ConformanceResult[], metadata?: RunMetadata): string {
  const root = xml()
    .create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: visible })
    .ele('testsuites', {
      name: 'ota-conformance',
      tests: results.length,
      failures: results.filter((r) => r.outcome === 'fail').length,
      errors: results.filter((r) => r.outcome === 'rig-error').length,
      skipped: results.filter((r) => r.outcome === 'skip' || r.outcome === 'not-run').length,
      ...(metadata ? { timestamp: metadata.startedAt } : {}),
    });
  const byTarget = new Map<string, ConformanceResult[]>();
  for (const result of results) byTarget.set(result.target, [...(byTarget.get(result.target) ?? []), result]);
  for (const [target, cases] of byTarget) {
    const count = (outcome: ConformanceResult['outcome']) =>
      cases.filter((c) => c.outcome === outcome).length;
    const suite = root.ele('testsuite', {
      name: target,
      tests: cases.length,
      failures: count('fail'),
      errors: count('rig-error'),
      skipped: count('skip') + count('not-run'),
      time: (cases.reduce((sum, c) => sum + c.durationMs, 0) / 1000).toFixed(3),
      ...(metadata ? { timestamp: metadata.startedAt, hostname: metadata.host } : {}),
    });
    if (metadata)
      writeProperties(
        suite,
        metadata,
        metadata.targets.find((t) => t.name === target),
      );
    for (const c of cases) {
      const testcase = suite.ele('testcase', {
        classname: `${target}.${c.id.split('/').slice(0, 2).join('.')}`,
        name: xmlSafe(`${c.id} [${c.level}] ${c.text}`),
        file: c.file,
        time: (c.durationMs / 1000).toFixed(3),
      });
      const detail = xmlSafe(c.detail ?? '');
      const firstLine = detail.split('\n')[0] ?? '';
      if (c.outcome === 'skip' || c.outcome === 'not-run') testcase.ele('skipped', { message: detail });
      else if (c.outcome === 'fail')
        testcase.ele('failure', { message: firstLine, type: 'RequirementFailure' }).txt(detail);
      else if (c.outcome === 'rig-error')
        testcase.ele('error', { message: firstLine, type: 'RigError' }).txt(detail);
    }
  }
  return root.end({ prettyPrint: true });
}

function writeProperties(suite: XMLBuilder, metadata: RunMetadata, target: TargetIdentity | undefined): void {
  const properties = suite.ele('properties');
  const property = (name: string, value: string | number | undefined) => {
    if (value !== undefined && value !== '')
      properties.ele('property', { name, value: xmlSafe(String(value)) });
  };
  property('run.id', metadata.runId);
  property('harness.version', metadata.harness.version);
  property(
    'harness.git',
    metadata.harness.git
      ? `${metadata.harness.git.commit}${metadata.harness.git.dirty ? ' (modified)' : ''}`
      : undefined,
  );
  property('run.started', metadata.startedAt);
  property('run.command', metadata.command.join(' '));
  property('rig', `${metadata.rig.name} (${metadata.rig.file})`);
  if (!target) return;
  property('target.kind', target.kind);
  property('target.profile', target.profile);
  property('target.chip', target.chip);
  property('target.mac', target.mac);
  property('target.address', target.address);
  property('target.defects', target.defects?.join(', '));
  property('target.seed', target.seed);
  property('target.firmware-versions', target.firmwareVersions.join(', '));
  for (const image of target.images)
    property('target.image', `sha256:${image.sha256} ${image.bytes} bytes via ${image.via}`);
}
