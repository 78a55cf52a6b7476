import { describe, expect, it } from 'vitest';
import { MqttPacketSizeGuard } from './packet-size-guard.ts';

/** A PUBLISH fixed header announcing `length` bytes (MQTT 3.1.1 §2.2.3). */
function header(length: number): number[] {
  const bytes = [0x30];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

describe('MqttPacketSizeGuard', () => {
  it('lets packets up to the limit through, fed in any split, and stops at the first one over it', () => {
    const seen: number[] = [];
    const guard = new MqttPacketSizeGuard(300, (announced) => seen.push(announced));
    const stream = Buffer.from([
      ...header(300),
      ...new Array(300).fill(7),
      ...header(2),
      1,
      2,
      ...header(268_435_455),
    ]);
    // Byte by byte: the length straddles every boundary.
    let open = true;
    for (const byte of stream) open = guard.push(Buffer.from([byte])) && open;
    expect(open).toBe(false);
    expect(seen).toEqual([268_435_455]);
  });

  it('a stream of packets within the limit in one chunk passes untouched', () => {
    const guard = new MqttPacketSizeGuard(1024, () => {
      throw new Error('no packet is over the limit');
    });
    const packets = [
      header(0),
      header(127),
      new Array(127).fill(0),
      header(128),
      new Array(128).fill(0),
    ].flat();
    expect(guard.push(Buffer.from(packets))).toBe(true);
  });
});
