import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A bandwidth limit shared by everyone who takes from it (all downloads, or one device's): each
 * `take` reserves its bytes' share of time after the previous reservations, and waits until that
 * share is due, less one burst. Over any interval the bytes let through stay within
 * `bytesPerSecond × (interval + burst)`, however many downloads share it, with no queue to keep.
 * The burst is a token bucket's depth: time lost to a busy event loop or a slow reader is made
 * up to that much, so the rate holds near the limit on a loaded machine instead of sagging.
 */
export class ByteRate {
  /** When the bytes reserved so far are through, on the performance.now() clock. */
  private reservedUntil = 0;

  constructor(
    readonly bytesPerSecond: number,
    private readonly burstMs = 50,
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(
        `a bandwidth limit must be a positive number of bytes per second, got ${bytesPerSecond}`,
      );
    }
  }

  async take(bytes: number): Promise<void> {
    const now = performance.now();
    this.reservedUntil = Math.max(this.reservedUntil, now) + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.reservedUntil - this.burstMs - now;
    if (wait > 0) await sleep(wait);
  }

  /** Nothing reserved is still ahead: the limit has no memory of past downloads to keep. */
  idle(): boolean {
    return this.reservedUntil <= performance.now();
  }
}
