import { describe, expect, it } from 'vitest';
import { ReceivedBytesCut } from './received-bytes-cut.ts';

describe('ReceivedBytesCut', () => {
  it('fires with the piece that holds the armed byte, saying how much came before it; once', () => {
    const cut = new ReceivedBytesCut();
    cut.arm(5000);
    expect(cut.arrive(2048)).toBeUndefined();
    expect(cut.arrive(2048)).toBeUndefined();
    expect(cut.arrive(2048)).toEqual({ received: 5000, takenBefore: 4096 });
    expect(cut.armed).toBe(false);
    expect(cut.arrive(2048)).toBeUndefined();
  });

  it('fires on the exact last byte of a piece and not one byte earlier', () => {
    const cut = new ReceivedBytesCut();
    cut.arm(4096);
    expect(cut.arrive(4095)).toBeUndefined();
    expect(cut.arrive(1)).toEqual({ received: 4096, takenBefore: 4095 });
  });

  it('counts nothing unarmed or once disarmed, and refuses a count below 1', () => {
    const cut = new ReceivedBytesCut();
    expect(cut.arrive(10)).toBeUndefined();
    cut.arm(3);
    cut.disarm();
    expect(cut.arrive(10)).toBeUndefined();
    expect(() => cut.arm(0)).toThrow(RangeError);
  });
});
