/**
 * Emulated time in milliseconds, starting at 0. Flash operations advance it by their modelled
 * duration so tests can assert on time without sleeping; several emulated parts (flash, session
 * timeouts) can share one clock to stay consistent with each other.
 */
export class VirtualClock {
  private elapsedMs = 0;

  now(): number {
    return this.elapsedMs;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`VirtualClock.advance needs a finite, non-negative number of ms, got ${ms}`);
    }
    this.elapsedMs += ms;
  }
}
