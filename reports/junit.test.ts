import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ConformanceResult } from './conformance-result.ts';
import { toJunitXml } from './junit.ts';
import type { RunMetadata } from './run-metadata.ts';

const python3 = spawnSync('python3', ['--version']).status === 0;

/** Python's xml.etree (expat) refuses anything XML 1.0 forbids, `&#x1b;` included. */
function strictParse(xml: string): { ok: boolean; error: string; summary: string } {
  const child = spawnSync(
    'python3',
    [
      '-c',
      [
        'import json, sys, xml.etree.ElementTree as ET',
        'root = ET.fromstring(sys.stdin.buffer.read())',
        'cases = root.findall("./testsuite/testcase")',
        'print(len(cases), len(root.findall("./testsuite/testcase/failure")), len(root.findall("./testsuite/testcase/skipped")), root.find("./testsuite/properties/property[@name=\'harness.version\']").get("value"))',
        'print(json.dumps(root.find("./testsuite/testcase/failure").text))',
      ].join('\n'),
    ],
    { input: xml, encoding: 'utf8' },
  );
  return { ok: child.status === 0, error: child.stderr, summary: child.stdout };
}

const CONSOLE = '\x1b[0;32mI (312) boot: Loaded app from partition at offset 0x110000\x1b[0m\x01\x00 end';

const results: ConformanceResult[] = [
  {
    target: 'bench-esp32',
    id: 'esp-https-ota/image/1',
    level: 'MUST',
    text: 'refuses an image for another chip <esp32s3> & says so',
    source: 'docs/protocols/esp-idf.md',
    outcome: 'fail',
    detail: `Expected: refused\n  Actual: accepted\nconsole:\n${CONSOLE}`,
    durationMs: 1200,
    file: 'suites/esp-https-ota/image.suite.ts',
  },
  {
    target: 'bench-esp32',
    id: 'esp-https-ota/image/2',
    level: 'SHOULD',
    text: 'skipped "one"',
    source: 'x',
    outcome: 'skip',
    detail: 'target bench-esp32 does not claim rollback',
    durationMs: 0,
    file: 'suites/esp-https-ota/image.suite.ts',
  },
  {
    target: 'bench-esp32',
    id: 'esp-https-ota/image/3',
    level: 'MUST',
    text: 'passes',
    source: 'x',
    outcome: 'pass',
    durationMs: 5,
    file: 'suites/esp-https-ota/image.suite.ts',
  },
];

const metadata = {
  kind: 'ota-conformance-run',
  runId: '20261207-040000-1',
  harness: { name: 'ota-conformance', version: '0.1.0' },
  node: 'v20',
  host: 'h',
  startedAt: '2026-12-07T04:00:00.000Z',
  status: 'complete',
  pid: 1,
  command: ['run', '--token', '***'],
  cwd: '/',
  rig: { file: 'rigs/lab.json', name: 'lab', targets: [] },
  selection: {},
  seeds: {},
  targets: [
    {
      name: 'bench-esp32',
      kind: 'board',
      profile: 'esp-https-ota',
      chip: 'esp32',
      mac: '24:0a:c4:12:34:56',
      images: [{ sha256: 'ab'.repeat(32), bytes: 1024, via: 'update server' }],
      firmwareVersions: ['1.2.0'],
    },
  ],
} satisfies RunMetadata;

describe('toJunitXml', () => {
  it.skipIf(!python3)(
    'is XML 1.0 that a strict parser (python3 xml.etree) reads, whatever the console printed',
    () => {
      const xml = toJunitXml(results, metadata);
      expect(xml).not.toMatch(/&#x(1b|7|0);/i);
      expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/);
      const parsed = strictParse(xml);
      expect(parsed.error).toBe('');
      expect(parsed.ok).toBe(true);
      const [counts, failureJson] = parsed.summary.split('\n', 2);
      const failureText = JSON.parse(failureJson!) as string;
      expect(counts).toBe('3 1 1 0.1.0');
      // The log line survives, without its colour codes; the bell and NUL are visible escapes.
      expect(failureText).toContain(
        'I (312) boot: Loaded app from partition at offset 0x110000\\x01\\x00 end',
      );
    },
  );

  it.skipIf(python3)('needs python3 for the strict-parser check (python3 is not installed)', () => {});

  it('the strict parser refuses what the old writer wrote (&#x1b;), so the check can fail', () => {
    if (!python3) return;
    const bad =
      '<?xml version="1.0"?><testsuites><testsuite><testcase name="&#x1b;"/></testsuite></testsuites>';
    expect(strictParse(bad).ok).toBe(false);
  });

  it('heads each testsuite with the run and the target: version, rig, chip, MAC, image SHA-256', () => {
    const xml = toJunitXml(results, metadata);
    expect(xml).toContain('<property name="harness.version" value="0.1.0"/>');
    expect(xml).toContain('<property name="target.mac" value="24:0a:c4:12:34:56"/>');
    expect(xml).toContain(
      `<property name="target.image" value="sha256:${'ab'.repeat(32)} 1024 bytes via update server"/>`,
    );
    expect(xml).toContain('<failure message="Expected: refused" type="RequirementFailure">');
    expect(xml).toContain('<skipped message="target bench-esp32 does not claim rollback"/>');
    expect(xml).toContain(
      'name="esp-https-ota/image/1 [MUST] refuses an image for another chip &lt;esp32s3&gt; &amp; says so"',
    );
  });
});
