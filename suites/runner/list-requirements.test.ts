import { describe, expect, it } from 'vitest';
import { PROFILES } from '../../vocabulary/index.ts';
import { listRequirements } from './list-requirements.ts';

describe('listRequirements', () => {
  it('collects every suite without a target: unique IDs, a level, a text and a source each, every profile covered', async () => {
    const requirements = await listRequirements();
    const ids = requirements.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of requirements) {
      expect(r.id).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+\/\d+$/);
      expect(['MUST', 'SHOULD', 'MAY']).toContain(r.level);
      expect(r.text.length).toBeGreaterThan(10);
      expect(r.source.length).toBeGreaterThan(5);
    }
    const profiles = new Set(ids.map((id) => id.split('/')[0]));
    for (const profile of PROFILES) expect(profiles).toContain(profile);
    expect(profiles).toContain('update-server');
    expect(profiles).toContain('rollback');
  }, 120_000);

  it('keeps only the IDs under a --grep prefix', async () => {
    const auth = await listRequirements({ grep: 'viperhttp/auth/' });
    expect(auth.length).toBeGreaterThan(0);
    expect(auth.every((r) => r.id.startsWith('viperhttp/auth/'))).toBe(true);
  }, 120_000);
});
