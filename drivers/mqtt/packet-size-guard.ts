/**
 * Watches the bytes a broker sends and stops the connection at the first MQTT packet whose
 * announced size is over a limit, before the client buffers it: mqtt.js (through mqtt-packet)
 * collects a whole packet before it emits it, and MQTT 3.1.1 lets one packet announce up to
 * 268,435,455 bytes (OASIS MQTT 3.1.1 §2.2.3, Remaining Length). It only reads each packet's fixed
 * header (one type byte and a variable-length size); the payload bytes are skipped, not copied.
 */
export class MqttPacketSizeGuard {
  /** Bytes of the current packet still to skip (its remaining length, counted down). */
  private skipping = 0;
  /** Remaining-length bytes read so far of the current fixed header; -1 before its type byte. */
  private lengthBytes = -1;
  private length = 0;
  private multiplier = 1;

  constructor(
    private readonly limit: number,
    private readonly onOverLimit: (announced: number) => void,
  ) {}

  /** Feeds what arrived; returns false once a packet broke the limit (stop reading). */
  push(data: Uint8Array): boolean {
    let index = 0;
    while (index < data.length) {
      if (this.skipping > 0) {
        const take = Math.min(this.skipping, data.length - index);
        this.skipping -= take;
        index += take;
        continue;
      }
      const byte = data[index++]!;
      if (this.lengthBytes < 0) {
        this.lengthBytes = 0;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      // A fifth length byte is malformed; mqtt-packet rejects it on its own, we just stop counting.
      if ((byte & 0x80) !== 0 && this.lengthBytes < 4) continue;
      if (this.length > this.limit) {
        this.onOverLimit(this.length);
        return false;
      }
      this.skipping = this.length;
      this.lengthBytes = -1;
    }
    return true;
  }
}
