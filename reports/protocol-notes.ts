import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's protocol notes (docs/protocols/*.md), which requirement sources cite. */
export const PROTOCOL_NOTES_DIR = fileURLToPath(new URL('../docs/protocols/', import.meta.url));

/** One note: its sections by number (`1`, `1.5`, `3.1.a`), each with the upstream URLs it lists. */
export type ProtocolNote = Map<string, string[]>;

let notes: Map<string, ProtocolNote> | undefined;

/** Every note, read once: `## 1. Title` / `### 1.5 Title` headings and their `Upstream:` lines. */
export function protocolNotes(dir = PROTOCOL_NOTES_DIR): Map<string, ProtocolNote> {
  if (dir === PROTOCOL_NOTES_DIR && notes) return notes;
  const read = new Map<string, ProtocolNote>();
  if (existsSync(dir)) {
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.md'))) {
      const sections: ProtocolNote = new Map();
      let current = '';
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
        const heading = /^#{2,4}\s+(\d+(?:\.\d+)*(?:\.[a-z])?)\.?\s/.exec(line);
        if (heading) {
          current = heading[1]!;
          sections.set(current, []);
        } else if (line.startsWith('Upstream:')) {
          const urls = line.match(/https?:\/\/\S+/g) ?? [];
          sections.set(current, [...(sections.get(current) ?? []), ...urls]);
        }
      }
      read.set(file, sections);
    }
  }
  if (dir === PROTOCOL_NOTES_DIR) notes = read;
  return read;
}

export interface NoteCitation {
  /** `docs/protocols/<file>` as cited. */
  note: string;
  /** The section number as cited (`1.5`), or '' for the whole note. */
  section: string;
  /** The section of the note that answers it (the cited one, or the nearest enclosing one). */
  resolved?: string;
  upstream: string[];
}

/**
 * The protocol-note citations in a requirement's source — `docs/protocols/esp-idf.md §3.4–3.5
 * (…); §6.1` cites §3.4 and §6.1 of esp-idf.md — each with the upstream URLs of its section (or of
 * the nearest enclosing section that lists some).
 */
export function noteCitations(source: string, dir = PROTOCOL_NOTES_DIR): NoteCitation[] {
  const all = protocolNotes(dir);
  const citations: NoteCitation[] = [];
  const files = [...source.matchAll(/docs\/protocols\/([\w.-]+\.md)/g)];
  files.forEach((match, index) => {
    const file = match[1]!;
    const end = files[index + 1]?.index ?? nextOtherCitation(source, match.index! + match[0].length);
    const span = source.slice(match.index! + match[0].length, end);
    const sections = [...span.matchAll(/§\s*(\d+(?:\.\d+)*(?:\.[a-z])?)/g)].map((m) => m[1]!);
    const note = all.get(file);
    for (const section of sections.length ? sections : ['']) {
      const resolved = note ? resolveSection(note, section) : undefined;
      citations.push({
        note: `docs/protocols/${file}`,
        section,
        ...(resolved === undefined ? {} : { resolved }),
        upstream: resolved === undefined ? [] : (note!.get(resolved) ?? []),
      });
    }
  });
  return citations;
}

/** Where a note's citation ends: at the next file another source names (a seed, an RFC). */
function nextOtherCitation(source: string, from: number): number {
  const next = /\b(seeds\/|RFC\s)/.exec(source.slice(from));
  return next ? from + next.index : source.length;
}

/** The cited section, or the nearest enclosing one, that lists upstream URLs. */
function resolveSection(note: ProtocolNote, section: string): string | undefined {
  const parts = section ? section.split('.') : [];
  for (let length = parts.length; length >= 0; length--) {
    const candidate = parts.slice(0, length).join('.');
    if ((note.get(candidate)?.length ?? 0) > 0) return candidate;
  }
  return undefined;
}
