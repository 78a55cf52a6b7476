/**
 * A power cut armed at a count of image bytes the device takes in from the network (the
 * `received` cut of the control plane): the firmware reports every piece of image it takes off a
 * socket, and the piece that brings the count to the armed number is the moment the power goes —
 * that piece never reaches the update code, everything before it did. It lets a campaign cut in
 * the transfer itself (between flash writes, inside a buffer the firmware has not written yet), at
 * a byte count, as a board is cut by the bytes the harness sent or the device acknowledged.
 */
export class ReceivedBytesCut {
  private remaining: number | undefined;
  private armedAt = 0;
  private taken = 0;

  /** Arms the cut: power goes as the `bytes`-th image byte from now arrives (bytes ≥ 1). */
  arm(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 1)
      throw new RangeError(`a received-bytes cut needs a count ≥ 1, got ${bytes}`);
    this.remaining = bytes;
    this.armedAt = bytes;
    this.taken = 0;
  }

  disarm(): void {
    this.remaining = undefined;
  }

  get armed(): boolean {
    return this.remaining !== undefined;
  }

  /**
   * Counts `length` arriving image bytes. Returns undefined while the power stays; once the armed
   * byte is among them, disarms and returns the armed count and how many image bytes the update
   * code had taken before this piece (the cut falls inside it).
   */
  arrive(length: number): { received: number; takenBefore: number } | undefined {
    if (this.remaining === undefined || length <= 0) return undefined;
    if (length < this.remaining) {
      this.remaining -= length;
      this.taken += length;
      return undefined;
    }
    const takenBefore = this.taken;
    this.disarm();
    return { received: this.armedAt, takenBefore };
  }
}
