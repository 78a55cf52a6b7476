import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listRequirements } from '../suites/runner/list-requirements.ts';
import { noteCitations } from './protocol-notes.ts';
import { sourceLinks } from './source-links.ts';

describe('protocol notes', () => {
  it('resolves a cited section, or its nearest enclosing section, to the upstream URLs it lists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'notes-'));
    writeFileSync(
      join(dir, 'x.md'),
      [
        '# X',
        '## 1. One',
        'Upstream: https://example.org/one',
        '### 1.5 Five',
        'text',
        '## 2. Two',
        'no upstream',
      ].join('\n'),
    );
    expect(noteCitations('docs/protocols/x.md §1.5 (file.c L1); §2', dir)).toEqual([
      { note: 'docs/protocols/x.md', section: '1.5', resolved: '1', upstream: ['https://example.org/one'] },
      { note: 'docs/protocols/x.md', section: '2', upstream: [] },
    ]);
  });

  it('every requirement cites the project’s notes (none the unshipped reference/), each citation with an upstream URL', async () => {
    const requirements = await listRequirements();
    const unresolved: string[] = [];
    for (const r of requirements) {
      expect(r.source, r.id).not.toMatch(/(^|[^\w/])reference\//);
      for (const citation of noteCitations(r.source))
        if (citation.upstream.length === 0) unresolved.push(`${r.id}: ${citation.note} §${citation.section}`);
    }
    expect(unresolved).toEqual([]);
    const cited = requirements.filter((r) => noteCitations(r.source).length > 0);
    expect(cited.length).toBeGreaterThan(requirements.length / 2);
    // What the reports link: viperhttp/auth/1 leads to ViperHTTP's own code.
    const auth = requirements.find((r) => r.id === 'viperhttp/auth/1')!;
    expect(sourceLinks(auth.source).map((l) => l.url)).toContain(
      'https://github.com/mateuszsury/ViperHTTP/blob/9645128490c36031c5e2e5ed3df0c332c5f6571f/viperhttp_ota.py#L610-L625',
    );
  }, 120_000);
});
