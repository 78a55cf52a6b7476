import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { targetsWithTags } from './run-conformance.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));

const targets = [
  { name: 'bench-1-esp32', tags: ['bench-1', 'esp32'] },
  { name: 'bench-2-esp32', tags: ['bench-2', 'esp32'] },
  { name: 'bench-2-esp8266', tags: ['bench-2', 'esp8266'] },
  { name: 'untagged' },
];

describe('--tags selects rig targets by their tags', () => {
  it('keeps the targets that carry every tag asked for', () => {
    expect(targetsWithTags(targets, ['bench-2']).map((target) => target.name)).toEqual([
      'bench-2-esp32',
      'bench-2-esp8266',
    ]);
    expect(targetsWithTags(targets, ['bench-2', 'esp32']).map((target) => target.name)).toEqual([
      'bench-2-esp32',
    ]);
  });

  it('a tag no target carries is an error listing the rig’s tags', () => {
    expect(() => targetsWithTags(targets, ['bench-3'])).toThrow(
      '--tags bench-3: no target carries it; tags in the rig: bench-1, bench-2, esp32, esp8266',
    );
  });

  it('through the CLI: a tag nobody carries exits 2 before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-tags-'));
    const rig = join(dir, 'rig.json');
    writeFileSync(
      rig,
      JSON.stringify({
        targets: [{ name: 'viperhttp', kind: 'emulator', profile: 'viperhttp', tags: ['bench-1'] }],
      }),
    );
    const child = spawn(process.execPath, [CLI, 'run', '--rig', rig, '--tags', 'bench-9', '--out', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain('--tags bench-9: no target carries it; tags in the rig: bench-1');
  }, 60_000);
});
