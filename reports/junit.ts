import type { ConformanceResult } from './conformance-result.ts';

const escapeXml = (text: string) =>
  text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    // XML 1.0 cannot carry most control characters, which a console log may contain.
    .replaceAll(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, (c) => `&#x${c.charCodeAt(0).toString(16)};`);

/**
 * JUnit XML, one testsuite per target: a failed requirement is a <failure>, a rig error an
 * <error> (the rig failed, not the device), a skip carries its reason.
 */
export function toJunitXml(results: readonly ConformanceResult[]): string {
  const byTarget = new Map<string, ConformanceResult[]>();
  for (const result of results) byTarget.set(result.target, [...(byTarget.get(result.target) ?? []), result]);
  const suites: string[] = [];
  for (const [target, cases] of byTarget) {
    const count = (outcome: ConformanceResult['outcome']) =>
      cases.filter((c) => c.outcome === outcome).length;
    const time = cases.reduce((sum, c) => sum + c.durationMs, 0) / 1000;
    const body = cases.map((c) => {
      const name = `${c.id} [${c.level}] ${c.text}`;
      const open = `    <testcase classname="${escapeXml(`${target}.${c.id.split('/').slice(0, 2).join('.')}`)}" name="${escapeXml(name)}" file="${escapeXml(c.file)}" time="${(c.durationMs / 1000).toFixed(3)}"`;
      if (c.outcome === 'pass') return `${open}/>`;
      const detail = escapeXml(c.detail ?? '');
      const inner =
        c.outcome === 'skip' || c.outcome === 'not-run'
          ? `<skipped message="${detail}"/>`
          : c.outcome === 'fail'
            ? `<failure message="${escapeXml(firstLine(c.detail))}" type="RequirementFailure">${detail}</failure>`
            : `<error message="${escapeXml(firstLine(c.detail))}" type="RigError">${detail}</error>`;
      return `${open}>\n      ${inner}\n    </testcase>`;
    });
    suites.push(
      `  <testsuite name="${escapeXml(target)}" tests="${cases.length}" failures="${count('fail')}" errors="${count('rig-error')}" skipped="${count('skip') + count('not-run')}" time="${time.toFixed(3)}">\n${body.join('\n')}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ota-conformance">\n${suites.join('\n')}\n</testsuites>\n`;
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0] ?? '';
}
