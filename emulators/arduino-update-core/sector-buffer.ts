/**
 * The RAM buffer of UpdateClass/UpdaterClass: write() fills it and hands it to the model's
 * `_writeBuffer` each time it is full (one flash sector on ESP32, 4096 or 256 bytes on ESP8266)
 * or holds the rest of the update.
 */
export class SectorBuffer {
  readonly bytes: Uint8Array;
  /** `_bufferLen`: how many bytes are held. */
  length = 0;

  constructor(readonly capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  /** The held bytes (a view, not a copy). */
  held(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  append(chunk: Uint8Array): void {
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  /**
   * The copy loop of write(): fills the buffer, calls `flush` (which empties it) whenever more is
   * left than fits, and once more when the buffer holds the whole `remaining()` of the update.
   * Returns the bytes taken: all of `data`, or the part before a failed flush.
   */
  fill(data: Uint8Array, remaining: () => number, flush: () => boolean): number {
    const length = data.length;
    let left = length;
    while (this.length + left > this.capacity) {
      const toBuffer = this.capacity - this.length;
      this.append(data.subarray(length - left, length - left + toBuffer));
      if (!flush()) return length - left;
      left -= toBuffer;
    }
    this.append(data.subarray(length - left));
    // remaining() does not count held bytes, so this is true once they complete the update.
    if (this.length === remaining() && !flush()) return length - left;
    return length;
  }
}
