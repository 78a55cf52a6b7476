import type { Arbitrary } from 'fast-check';

/**
 * One parser under fuzz. Declared in a `*.fuzz.ts` file beside the parser it feeds and run by
 * `fuzz/run.ts` (`npm run fuzz`) and, with fewer cases, by `fuzz/fuzz.test.ts` in `npm test`.
 */
export interface FuzzTarget {
  /** `area/parser`, e.g. `espota/invitation`. */
  name: string;
  /** Well-formed inputs: mutated, spliced and fed whole. */
  seeds: readonly Uint8Array[];
  /** Structure-aware inputs (fast-check), for what random bytes rarely reach. */
  structured?: Arbitrary<Uint8Array>;
  /** Feeds one input. It may throw only what `refuses` accepts: anything else is a crash. */
  run(input: Uint8Array): void;
  /** The parser's own typed refusals (a class with a `code`); default: nothing may be thrown. */
  refuses?(error: unknown): boolean;
}

/** A refusal is a project error with a stable `code`, never a TypeError or RangeError from inside. */
export function isTypedRefusal(error: unknown): boolean {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    !(error instanceof TypeError) &&
    !(error instanceof RangeError) &&
    !(error instanceof SyntaxError)
  );
}

export const ascii = (text: string): Uint8Array => Buffer.from(text, 'latin1');
