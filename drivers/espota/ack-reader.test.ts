import { describe, expect, it } from 'vitest';
import { AckReader, MAX_RESULT_TEXT } from './ack-reader.ts';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('AckReader', () => {
  it('splits merged counts by what is still unacknowledged', () => {
    const reader = new AckReader();
    reader.push(bytes('14601460'), 2920);
    expect(reader.acks).toEqual([1460, 1460]);
    reader.push(bytes('1000460'), 4380);
    expect(reader.acks).toEqual([1460, 1460, 1000, 460]);
    expect(reader.acked).toBe(4380);
  });

  it('waits for the rest of a count split across reads', () => {
    const reader = new AckReader();
    reader.push(bytes('14'), 1460);
    expect(reader.acks).toEqual([]);
    reader.push(bytes('60'), 1460);
    expect(reader.acks).toEqual([1460]);
  });

  it('does not leave a count with a leading zero behind', () => {
    // 1001 would fit too, but then "000" could not be a count.
    const reader = new AckReader();
    reader.push(bytes('1001000'), 1100);
    expect(reader.acks).toEqual([100, 1000]);
    const fits = new AckReader();
    fits.push(bytes('1024976'), 2000);
    expect(fits.acks).toEqual([1024, 976]);
  });

  it('reads the ESP32 re-sends of the last count as repeats, not as new bytes', () => {
    const reader = new AckReader();
    reader.push(bytes('1460'), 1460);
    reader.push(bytes('1460'), 1460);
    reader.push(bytes('14601460'), 1460);
    expect(reader.acks).toEqual([1460, 1460, 1460, 1460]);
    expect(reader.acked).toBe(1460);
    expect(reader.resent).toBe(3);
  });

  it('separates the result text from the counts: OK glued to a count, and an error line', () => {
    const ok = new AckReader();
    ok.push(bytes('436OK'), 436);
    expect(ok.acks).toEqual([436]);
    expect(ok.text).toBe('OK');
    const error = new AckReader();
    error.push(bytes('1460'), 1460);
    error.push(bytes('ERROR[7]: MD5 verification failed: expected: 0, calculated: 1\n'), 1460);
    expect(error.text).toMatch(/^ERROR\[7\]/);
    expect(error.acks).toEqual([1460]);
  });

  it('takes pending digits as a count when the connection ends', () => {
    const reader = new AckReader();
    reader.push(bytes('12'), 1460);
    reader.finish(1460);
    expect(reader.acks).toEqual([12]);
  });
});

describe('AckReader: a device that keeps talking after its counts', () => {
  it('keeps the first MAX_RESULT_TEXT characters of the result and no more; a short result is whole', () => {
    const reader = new AckReader();
    reader.push(Buffer.from('1460ERROR[7]: '), 1460);
    for (let i = 0; i < 100; i++) reader.push(Buffer.alloc(64 * 1024, 0x41), 1460);
    expect(reader.acks).toEqual([1460]);
    expect(reader.text.length).toBe(MAX_RESULT_TEXT);
    expect(reader.text.startsWith('ERROR[7]: AAAA')).toBe(true);
    const short = new AckReader();
    short.push(Buffer.from('1460OK'), 1460);
    expect(short.text).toBe('OK');
  });
});
