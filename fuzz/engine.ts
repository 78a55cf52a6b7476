import fc from 'fast-check';
import { SeededRandom } from '../fixtures/random/index.ts';
import type { FuzzTarget } from './fuzz-target.ts';

/** A case that crashed: enough to replay it (`npm run fuzz -- --seed S --target T --case I`). */
export interface FuzzCrash {
  target: string;
  seed: number;
  index: number;
  kind: CaseKind;
  input: Uint8Array;
  error: string;
}

export interface FuzzOutcome {
  target: string;
  cases: number;
  /** Cases per generator kind. */
  byKind: Record<CaseKind, number>;
  crashes: FuzzCrash[];
  /** Slowest single case, ms: a parser that loops on some input shows here. */
  slowestMs: number;
  wallMs: number;
}

type CaseKind = 'random' | 'mutated' | 'spliced' | 'structured' | 'seed';
const KINDS: readonly CaseKind[] = ['random', 'mutated', 'structured', 'spliced'];

/** Numbers and tokens that break parsers more often than random bytes do. */
const INTERESTING = [
  '0',
  '-1',
  '65535',
  '65536',
  '99999',
  '2147483647',
  '2147483648',
  '4294967295',
  '4294967296',
  '18446744073709551616',
  '1e309',
  'NaN',
  '%00',
  '\r\n',
  '\r\n\r\n',
  '\n',
  '"',
  '\\',
  '{',
  '[',
  '\u0000',
  '\u00ff',
].map((text) => Buffer.from(text, 'latin1'));
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xe9, 0xc0, 0xdb, 0x0d, 0x0a, 0x20, 0x22];

/** One to four edits of `input`: bit flips, interesting bytes and tokens, inserts, deletes, cuts, repeats. */
export function mutate(random: SeededRandom, input: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(input);
  const rounds = random.int(1, 4);
  for (let round = 0; round < rounds; round++) {
    const at = bytes.length === 0 ? 0 : random.int(0, bytes.length - 1);
    switch (random.int(0, 7)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << random.int(0, 7));
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = INTERESTING_BYTES[random.int(0, INTERESTING_BYTES.length - 1)]!;
        break;
      case 2:
        bytes = concat(bytes.subarray(0, at), random.bytes(random.int(1, 32)), bytes.subarray(at));
        break;
      case 3:
        bytes = concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + random.int(1, 64))));
        break;
      case 4:
        bytes = bytes.subarray(0, random.int(0, bytes.length));
        break;
      case 5: {
        const end = Math.min(bytes.length, at + random.int(1, 64));
        bytes = concat(bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end));
        break;
      }
      default: {
        const token = INTERESTING[random.int(0, INTERESTING.length - 1)]!;
        const end = Math.min(bytes.length, at + random.int(0, 8));
        bytes = concat(bytes.subarray(0, at), token, bytes.subarray(end));
      }
    }
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/**
 * The `index`th case of `seed` for `target`, the same on every machine: random bytes, a mutated
 * seed, a splice of two seeds, or a fast-check value (its batch is drawn from the same seed).
 */
export function caseFor(
  target: FuzzTarget,
  seed: number,
  index: number,
  structured: readonly Uint8Array[],
): { kind: CaseKind; input: Uint8Array } {
  if (index < target.seeds.length) return { kind: 'seed', input: target.seeds[index]! };
  const random = new SeededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  let kind = KINDS[index % KINDS.length]!;
  if (kind === 'structured' && structured.length === 0) kind = 'mutated';
  if ((kind === 'mutated' || kind === 'spliced') && target.seeds.length === 0) kind = 'random';
  switch (kind) {
    case 'random':
      return { kind, input: random.bytes(random.int(0, 600)) };
    case 'structured':
      return { kind, input: structured[index % structured.length]! };
    case 'spliced': {
      const a = target.seeds[random.int(0, target.seeds.length - 1)]!;
      const b = target.seeds[random.int(0, target.seeds.length - 1)]!;
      return {
        kind,
        input: mutate(
          random,
          concat(a.subarray(0, random.int(0, a.length)), b.subarray(random.int(0, b.length))),
        ),
      };
    }
    default:
      return { kind, input: mutate(random, target.seeds[random.int(0, target.seeds.length - 1)]!) };
  }
}

/** Draws the structured batch once per run: `count` fast-check values from `seed`. */
export function structuredBatch(target: FuzzTarget, seed: number, count: number): Uint8Array[] {
  if (target.structured === undefined) return [];
  return fc.sample(target.structured, { seed, numRuns: Math.max(1, count) });
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

/** Runs `cases` cases of `target`; `only` replays a single index. */
export function fuzz(
  target: FuzzTarget,
  options: { seed: number; cases: number; only?: number },
): FuzzOutcome {
  const started = performance.now();
  const byKind: Record<CaseKind, number> = { random: 0, mutated: 0, spliced: 0, structured: 0, seed: 0 };
  const crashes: FuzzCrash[] = [];
  const seen = new Set<string>();
  let slowestMs = 0;
  // A quarter of the cases are structured: draw that many values once.
  const structured = structuredBatch(target, options.seed, Math.ceil(options.cases / KINDS.length) || 1);
  const first = options.only ?? 0;
  const last = options.only ?? options.cases - 1;
  for (let index = first; index <= last; index++) {
    const { kind, input } = caseFor(target, options.seed, index, structured);
    byKind[kind]++;
    const before = performance.now();
    try {
      target.run(input);
    } catch (error) {
      if (!(target.refuses?.(error) ?? false)) {
        const text = describe(error);
        // One report per distinct failure site, with the first input that reached it.
        const site = text.split('\n').slice(0, 2).join('\n');
        if (!seen.has(site)) {
          seen.add(site);
          crashes.push({ target: target.name, seed: options.seed, index, kind, input, error: text });
        }
      }
    }
    slowestMs = Math.max(slowestMs, performance.now() - before);
  }
  return {
    target: target.name,
    cases: last - first + 1,
    byKind,
    crashes,
    slowestMs,
    wallMs: performance.now() - started,
  };
}
