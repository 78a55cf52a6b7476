import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ACTION_COPY_RAW,
  decodeEbootCommand,
  EBOOT_COMMAND_BYTES,
  EBOOT_MAGIC,
  ebootCrc32,
  encodeEbootCommand,
} from './eboot-command.ts';
import { RtcUserMemory } from './rtc-user-memory.ts';

describe('eboot command CRC', () => {
  it('is CRC-32/MPEG-2 (check value 0x0376E6E7), not zlib’s reflected CRC-32', () => {
    const check = new TextEncoder().encode('123456789');
    expect(ebootCrc32(check)).toBe(0x0376e6e7);
    expect(zlibCrc32(check)).toBe(0xcbf43926);
    expect(ebootCrc32(check)).not.toBe(zlibCrc32(check));
  });
});

describe('encodeEbootCommand / decodeEbootCommand', () => {
  const copy = { action: ACTION_COPY_RAW, args: [0x0fe000, 0x000000, 0x52a10] };

  it('lays out magic, action, args and a CRC over the first 124 bytes, little-endian', () => {
    const bytes = encodeEbootCommand(copy);
    const view = new DataView(bytes.buffer);
    expect(bytes.length).toBe(EBOOT_COMMAND_BYTES);
    expect(view.getUint32(0, true)).toBe(EBOOT_MAGIC);
    expect(view.getUint32(4, true)).toBe(1);
    expect(view.getUint32(8, true)).toBe(0x0fe000);
    expect(view.getUint32(12, true)).toBe(0);
    expect(view.getUint32(16, true)).toBe(0x52a10);
    expect(view.getUint32(124, true)).toBe(ebootCrc32(bytes.subarray(0, 124)));
    const decoded = decodeEbootCommand(bytes);
    expect(decoded?.action).toBe(ACTION_COPY_RAW);
    expect(decoded?.args.slice(0, 3)).toEqual([0x0fe000, 0, 0x52a10]);
  });

  it('rejects a command with a flipped bit anywhere the CRC covers, and a wrong magic', () => {
    const good = encodeEbootCommand(copy);
    expect(decodeEbootCommand(good)).toBeDefined();
    const flipped = good.slice();
    flipped[9]! ^= 0x01;
    expect(decodeEbootCommand(flipped)).toBeUndefined();
    const wrongMagic = good.slice();
    new DataView(wrongMagic.buffer).setUint32(0, 0xeb002000, true);
    expect(decodeEbootCommand(wrongMagic)).toBeUndefined();
  });

  it('accepts any magic matching 0xEB001xxx under EBOOT_MAGIC_MASK when its CRC is right', () => {
    const bytes = encodeEbootCommand(copy);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 0xeb001abc, true);
    view.setUint32(124, ebootCrc32(bytes.subarray(0, 124)), true);
    expect(decodeEbootCommand(bytes)?.magic).toBe(0xeb001abc);
  });
});

describe('RtcUserMemory', () => {
  it('clears only the magic and crc words, so the command no longer decodes', () => {
    const rtc = new RtcUserMemory();
    rtc.writeEbootCommandBytes(encodeEbootCommand({ action: ACTION_COPY_RAW, args: [0x1000, 0, 16] }));
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeDefined();
    rtc.clearEbootCommand();
    const after = rtc.readEbootCommandBytes();
    expect(decodeEbootCommand(after)).toBeUndefined();
    expect(new DataView(after.buffer).getUint32(8, true)).toBe(0x1000);
  });

  it('keeps the command over a power cycle by default and loses it with powerOff: "lose"', () => {
    const command = encodeEbootCommand({ action: ACTION_COPY_RAW, args: [0x1000, 0, 16] });
    const retaining = new RtcUserMemory();
    retaining.writeEbootCommandBytes(command);
    retaining.powerCycle();
    expect(decodeEbootCommand(retaining.readEbootCommandBytes())).toBeDefined();
    const losing = new RtcUserMemory({ powerOff: 'lose' });
    losing.writeEbootCommandBytes(command);
    losing.powerCycle();
    expect(decodeEbootCommand(losing.readEbootCommandBytes())).toBeUndefined();
  });
});
