import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetDescription } from '../../drivers/target/index.ts';
import { suitesFor } from './run-conformance.ts';

const suitesDir = join(import.meta.dirname, '..');
const device = (capabilities: TargetDescription['capabilities']): TargetDescription => ({
  name: 'x',
  profile: 'web-update',
  kind: 'emulator',
  capabilities,
  lockDir: '/tmp',
});
const names = (files: string[]) => files.map((file) => relative(suitesDir, file));

describe('suitesFor', () => {
  it("runs a device's profile suites and the cross-profile ones", () => {
    const files = names(suitesFor(suitesDir, device(['console'])));
    expect(files).toContain(join('web-update', 'upload.suite.ts'));
    expect(files).toContain(join('common', 'rollback.suite.ts'));
    expect(files.some((file) => file.startsWith('signed'))).toBe(false);
  });

  it("runs only the signed-update suites on a signing build, which refuses the others' unsigned images", () => {
    expect(names(suitesFor(suitesDir, device(['console', 'signed-images'])))).toEqual([
      join('signed', 'signed.suite.ts'),
    ]);
  });
});
