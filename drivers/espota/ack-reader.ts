/** The longest result text kept: the device's answer is a line, not a stream. */
export const MAX_RESULT_TEXT = 4096;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * Reads what the device writes on the data connection: ASCII decimal counts of the bytes it
 * consumed, with no delimiter (`14601460`), then the result text (`OK`, `ERROR[7]: …\n`, `MD5
 * Check Failed\r\n`; reference/arduino-ota.md §1.5). espota itself only waits for *some* bytes
 * per chunk; to report the counts, a run of digits is split greedily into the longest numbers
 * that do not exceed the bytes still unacknowledged and leave no leading zero behind — with
 * lock-step sending that is never more than a chunk or two, which makes the split unambiguous
 * for counts a real device writes.
 */
export class AckReader {
  readonly acks: number[] = [];
  acked = 0;
  /** Counts the device wrote again without having consumed anything new. */
  resent = 0;
  /** Everything after the counts, as text. Once it starts, all further bytes belong to it. */
  text = '';
  private digits = '';

  /** Takes one TCP read; `sent` is how many image bytes had gone out when it arrived. */
  push(data: Uint8Array, sent: number): void {
    if (this.text.length > 0) {
      // The result is one short line (`OK`, `ERROR[7]: …`); a device that keeps talking is cut off.
      if (this.text.length < MAX_RESULT_TEXT)
        this.text = (
          this.text + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
        ).slice(0, MAX_RESULT_TEXT);
      return;
    }
    let textFrom = -1;
    let value = 0;
    for (let i = 0; i < data.length; i++) {
      const byte = data[i]!;
      if (byte < DIGIT_0 || byte > DIGIT_9) {
        textFrom = i;
        break;
      }
      value = value * 10 + (byte - DIGIT_0);
    }
    // The common case on the data path: one whole new count in one read, no strings needed.
    const outstanding = sent - this.acked;
    if (
      textFrom === -1 &&
      this.digits === '' &&
      data[0] !== DIGIT_0 &&
      value > 0 &&
      value <= outstanding &&
      value * 10 > outstanding
    ) {
      this.acks.push(value);
      this.acked += value;
      return;
    }
    const digitEnd = textFrom === -1 ? data.length : textFrom;
    if (digitEnd > 0) this.digits += Buffer.from(data.buffer, data.byteOffset, digitEnd).toString('latin1');
    if (textFrom === -1) {
      this.split(sent, false);
      return;
    }
    this.split(sent, true);
    this.text = Buffer.from(data.buffer, data.byteOffset + textFrom, data.length - textFrom)
      .toString('latin1')
      .slice(0, MAX_RESULT_TEXT);
  }

  /** The connection ended: whatever digits are still pending are counts. */
  finish(sent: number): void {
    this.split(sent, true);
  }

  private split(sent: number, final: boolean): void {
    while (this.digits.length > 0) {
      const digits = this.digits;
      const outstanding = sent - this.acked;
      const last = this.acks.at(-1);
      let take = 0;
      let value = 0;
      for (let length = 1; length <= digits.length; length++) {
        value = value * 10 + (digits.charCodeAt(length - 1) - DIGIT_0);
        if (value > outstanding) break;
        if (length === digits.length || digits[length] !== '0') take = length;
      }
      if (take === 0) {
        // Nothing new fits: the ESP32 re-sends its last count while it waits for data (§1.5).
        const repeat = last === undefined ? '' : String(last);
        if (repeat !== '' && digits.startsWith(repeat)) {
          this.acks.push(last!);
          this.resent++;
          this.digits = digits.slice(repeat.length);
          continue;
        }
        if (!final && repeat.startsWith(digits)) return;
        // A count larger than what was sent: recorded as the device wrote it.
        take = digits.length;
      }
      const count = Number(digits.slice(0, take));
      // A count that could still grow with the next segment's digits waits for it.
      if (!final && take === digits.length && count * 10 <= outstanding) return;
      this.acks.push(count);
      this.acked += count;
      this.digits = digits.slice(take);
    }
  }
}
