/**
 * The reading side of one UDP datagram as ArduinoOTA consumes it (reference/arduino-ota.md §1.2):
 * its own parseInt() (skip spaces, at most 16 digits through atoi, 0 when the buffer fills),
 * read() of one character and readStringUntil().
 */
const INT_MAX = 0x7fffffff;

export class UdpPacketReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  peek(): number {
    return this.position < this.bytes.length ? (this.bytes[this.position] ?? -1) : -1;
  }

  read(): number {
    const value = this.peek();
    if (value !== -1) this.position++;
    return value;
  }

  /**
   * The digits go through newlib's atoi(), which is `(int)strtol()`: a value past INT_MAX
   * saturates at 2147483647 (long is 32 bits on Xtensa and RISC-V), it does not wrap.
   */
  parseInt(): number {
    while (this.peek() === 0x20) this.read();
    let digits = '';
    for (let index = 0; index < 16; index++) {
      const value = this.peek();
      if (value < 0x30 || value > 0x39) return digits === '' ? 0 : Math.min(Number(digits), INT_MAX);
      digits += String.fromCharCode(this.read());
    }
    return 0;
  }

  /** Characters up to (and consuming) `terminator`, or to the end of the datagram. */
  readStringUntil(terminator: string): string {
    const stop = terminator.charCodeAt(0);
    let text = '';
    for (let value = this.read(); value !== -1 && value !== stop; value = this.read()) {
      text += String.fromCharCode(value);
    }
    return text;
  }
}
