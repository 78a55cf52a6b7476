import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { xorChecksum } from '../../fixtures/esp-checksum/index.ts';
import { NorFlash } from '../flash/index.ts';
import {
  type ChipPersonality,
  ESP32_PERSONALITY,
  ESP8266_PERSONALITY,
  emulatedMac,
} from './chip-registers.ts';
import { OP } from './opcodes.ts';
import { RomLoader } from './rom-loader.ts';
import { SLIP_MAX_FRAME_BYTES, SlipDecoder, slipEncode } from './slip.ts';

interface Response {
  op: number;
  value: number;
  data: Uint8Array;
}

/** A host speaking raw frames to the loader, the way esptool builds them (reference §2.2). */
function host(chip: ChipPersonality, flashSize = 4 * 1024 * 1024) {
  const flash = new NorFlash({ size: flashSize });
  const frames: Uint8Array[] = [];
  const decoder = new SlipDecoder((frame) => frames.push(frame));
  let reboots = 0;
  const loader = new RomLoader({
    chip,
    flash,
    mac: emulatedMac('t'),
    transmit: (bytes) => decoder.push(bytes),
    runApp: () => reboots++,
  });
  const send = (op: number, data: Uint8Array = new Uint8Array(0), checksum = 0): Response[] => {
    frames.length = 0;
    const packet = new Uint8Array(8 + data.length);
    const view = new DataView(packet.buffer);
    view.setUint8(1, op);
    view.setUint16(2, data.length, true);
    view.setUint32(4, checksum, true);
    packet.set(data, 8);
    loader.receive(slipEncode(packet));
    return frames
      .filter((frame) => frame.length >= 8)
      .map((frame) => {
        const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
        return { op: frame[1]!, value: v.getUint32(4, true), data: frame.subarray(8) };
      });
  };
  const words = (...values: number[]) => {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, i) => {
      view.setUint32(i * 4, value >>> 0, true);
    });
    return bytes;
  };
  const block = (seq: number, data: Uint8Array) => {
    const payload = new Uint8Array(16 + data.length);
    payload.set(words(data.length, seq, 0, 0));
    payload.set(data, 16);
    return payload;
  };
  const sync = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)]);
  return { flash, loader, send, words, block, sync, frames, reboots: () => reboots };
}

describe('RomLoader — ROM personality', () => {
  it('answers one SYNC eight times with a non-zero value and the ESP32 ROM 4-byte status', () => {
    const { send, sync } = host(ESP32_PERSONALITY);
    const replies = send(OP.SYNC, sync);
    expect(replies).toHaveLength(8);
    for (const reply of replies) {
      expect(reply.op).toBe(OP.SYNC);
      expect(reply.value).toBe(0x20120707);
      expect([...reply.data]).toEqual([0, 0, 0, 0]);
    }
  });

  it('uses a 2-byte status on the ESP8266 ROM and reads its magic word (reference §2.6 trace)', () => {
    const { send, words } = host(ESP8266_PERSONALITY);
    const [reply] = send(OP.READ_REG, words(0x40001000));
    expect(reply!.value).toBe(0xfff0c101);
    expect([...reply!.data]).toEqual([0, 0]);
  });

  it('reads the ESP32 magic word and answers a SYNC that is not the SYNC pattern with failure 0x05', () => {
    const { send, words } = host(ESP32_PERSONALITY);
    expect(send(OP.READ_REG, words(0x40001000))[0]!.value).toBe(0x00f01d83);
    const bad = send(OP.SYNC, new Uint8Array(36));
    expect(bad).toHaveLength(1);
    expect([...bad[0]!.data]).toEqual([1, 5, 0, 0]);
  });

  it('answers GET_SECURITY_INFO on ESP32 as unsupported: opcode 0x00, status 01 05 (reference §3.4 b)', () => {
    const { send } = host(ESP32_PERSONALITY);
    const [reply] = send(OP.GET_SECURITY_INFO);
    expect(reply!.op).toBe(0x00);
    expect([...reply!.data.subarray(0, 2)]).toEqual([1, 5]);
  });

  it('runs the SPI user command 0x9F and leaves the JEDEC ID in W0 (reference §4.4)', () => {
    const { send, words } = host(ESP32_PERSONALITY);
    const base = 0x3ff42000;
    send(OP.WRITE_REG, words(base + 0x24, 0x7000009f, 0xffffffff, 0));
    send(OP.WRITE_REG, words(base, 1 << 18, 0xffffffff, 0));
    expect(send(OP.READ_REG, words(base))[0]!.value & (1 << 18)).toBe(0);
    expect(send(OP.READ_REG, words(base + 0x80))[0]!.value).toBe(0x1640ef);
  });

  it('writes FLASH_DATA blocks, refuses a block with a wrong checksum (0x07) and MD5s in ASCII hex', () => {
    const { send, words, block, flash } = host(ESP32_PERSONALITY);
    const data = Uint8Array.from({ length: 0x400 }, (_, i) => (i * 7) & 0xff);
    expect([...send(OP.FLASH_BEGIN, words(0x800, 2, 0x400, 0x10000))[0]!.data]).toEqual([0, 0, 0, 0]);
    const wrong = send(OP.FLASH_DATA, block(0, data), xorChecksum(data, 0, data.length) ^ 1);
    expect([...wrong[0]!.data]).toEqual([1, 7, 0, 0]);
    expect(flash.read(0x10000, 4)).toEqual(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    expect([...send(OP.FLASH_DATA, block(0, data), xorChecksum(data, 0, data.length))[0]!.data]).toEqual([
      0, 0, 0, 0,
    ]);
    expect([...send(OP.FLASH_DATA, block(1, data), xorChecksum(data, 0, data.length))[0]!.data]).toEqual([
      0, 0, 0, 0,
    ]);
    const [md5] = send(OP.SPI_FLASH_MD5, words(0x10000, 0x800, 0, 0));
    const expected = createHash('md5')
      .update(Buffer.concat([data, data]))
      .digest('hex');
    expect(Buffer.from(md5!.data.subarray(0, 32)).toString('ascii')).toBe(expected);
    expect([...md5!.data.subarray(32)]).toEqual([0, 0, 0, 0]);
  });

  it('reads 64 bytes per READ_FLASH_SLOW on ESP32 and refuses it on ESP8266', () => {
    const esp32 = host(ESP32_PERSONALITY);
    esp32.flash.program(0x2000, Uint8Array.of(1, 2, 3, 4));
    const [reply] = esp32.send(OP.READ_FLASH_SLOW, esp32.words(0x2000, 4));
    expect(reply!.data.length).toBe(64 + 4);
    expect([...reply!.data.subarray(0, 5)]).toEqual([1, 2, 3, 4, 0xff]);
    const esp8266 = host(ESP8266_PERSONALITY);
    expect(esp8266.send(OP.READ_FLASH_SLOW, esp8266.words(0x2000, 4))[0]!.op).toBe(0x00);
  });

  it("ESP8266 ROM: no SPI_ATTACH, no MD5; erases r + min(head, r) sectors for esptool's reduced erase size", () => {
    const { send, words, flash } = host(ESP8266_PERSONALITY);
    expect(send(OP.SPI_ATTACH, words(0, 0))[0]!.op).toBe(0x00);
    expect(send(OP.SPI_FLASH_MD5, words(0, 16, 0, 0))[0]!.op).toBe(0x00);
    flash.program(0x3000, new Uint8Array(18 * 4096));
    // esptool: offset 0x3000, 18 sectors → sends 9 (reference §6.2, observed).
    expect([...send(OP.FLASH_BEGIN, words(9 * 4096, 72, 0x400, 0x3000))[0]!.data]).toEqual([0, 0]);
    expect(flash.read(0x3000, 18 * 4096).every((byte) => byte === 0xff)).toBe(true);
    expect(flash.read(0x3000 + 18 * 4096, 1)[0]).toBe(0xff);
  });

  it('FLASH_END(0) reboots into the app, FLASH_END(1) stays', () => {
    const { send, words, reboots } = host(ESP32_PERSONALITY);
    send(OP.FLASH_END, words(1));
    expect(reboots()).toBe(0);
    send(OP.FLASH_END, words(0));
    expect(reboots()).toBe(1);
  });
});

describe('RomLoader — stub personality (after the host uploads the stub, strategy B of §5.3)', () => {
  function stubHost() {
    const h = host(ESP32_PERSONALITY);
    h.send(OP.MEM_BEGIN, h.words(4, 1, 0x1800, 0x400be000));
    const code = Uint8Array.of(1, 2, 3, 4);
    h.send(OP.MEM_DATA, h.block(0, code), xorChecksum(code, 0, 4));
    const replies = h.send(OP.MEM_END, h.words(0, 0x400be5ec));
    return { ...h, replies };
  }

  it('answers MEM_END first, then OHAI, then speaks with a 2-byte status and SYNC value 0', () => {
    const { replies, send, sync, loader, frames } = stubHost();
    expect(replies).toHaveLength(1);
    expect(replies[0]!.op).toBe(OP.MEM_END);
    expect(frames).toHaveLength(2);
    expect(Buffer.from(frames[1]!).toString('latin1')).toBe('OHAI');
    expect(loader.personality).toBe('stub');
    const syncs = send(OP.SYNC, sync);
    expect(syncs.map((reply) => reply.value)).toEqual(new Array(8).fill(0));
    expect([...syncs[0]!.data]).toEqual([0, 0]);
  });

  it('inflates FLASH_DEFL_DATA across blocks (one zlib stream), MD5s in 16 raw bytes', () => {
    const { send, words, block, flash } = stubHost();
    const image = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 31) % 251);
    const compressed = deflateSync(image, { level: 9 });
    const blockSize = 0x1000;
    const blocks = Math.ceil(compressed.length / blockSize);
    expect(send(OP.FLASH_DEFL_BEGIN, words(image.length, blocks, blockSize, 0x20000))[0]!.data[0]).toBe(0);
    for (let seq = 0; seq < blocks; seq++) {
      const slice = compressed.subarray(seq * blockSize, (seq + 1) * blockSize);
      expect([
        ...send(OP.FLASH_DEFL_DATA, block(seq, slice), xorChecksum(slice, 0, slice.length))[0]!.data,
      ]).toEqual([0, 0]);
    }
    expect(Buffer.from(flash.read(0x20000, image.length)).equals(Buffer.from(image))).toBe(true);
    const [md5] = send(OP.SPI_FLASH_MD5, words(0x20000, image.length, 0, 0));
    expect(Buffer.from(md5!.data.subarray(0, 16)).toString('hex')).toBe(
      createHash('md5').update(image).digest('hex'),
    );
  });

  it('streams READ_FLASH one packet per ack, then the MD5 frame (reference §6.7)', () => {
    const { send, words, flash, loader, frames } = stubHost();
    const data = Uint8Array.from({ length: 0x1800 }, (_, i) => i & 0xff);
    flash.program(0x30000, data);
    const replies = send(OP.READ_FLASH, words(0x30000, data.length, 0x1000, 64));
    expect(replies[0]!.op).toBe(OP.READ_FLASH);
    expect(replies[0]!.value).toBe(0);
    expect(frames[1]!.length).toBe(0x1000);
    expect(frames).toHaveLength(2);
    frames.length = 0;
    loader.receive(slipEncode(words(0x1000)));
    expect(frames[0]!.length).toBe(0x800);
    frames.length = 0;
    loader.receive(slipEncode(words(0x1800)));
    expect(Buffer.from(frames[0]!).toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
  });
});

describe('SLIP', () => {
  it('escapes C0 and DB and decodes them back, skipping noise between frames', () => {
    const packet = Uint8Array.of(1, 0xc0, 2, 0xdb, 3);
    const encoded = slipEncode(packet);
    expect([...encoded]).toEqual([0xc0, 1, 0xdb, 0xdc, 2, 0xdb, 0xdd, 3, 0xc0]);
    const got: number[][] = [];
    const decoder = new SlipDecoder((frame) => got.push([...frame]));
    decoder.push(Uint8Array.of(0x41, 0x42, 0xc0, 0xc0, ...encoded.subarray(1)));
    expect(got).toEqual([[...packet]]);
  });

  it('drops a frame longer than its limit without holding it, and decodes the next one', () => {
    const got: number[][] = [];
    const decoder = new SlipDecoder((frame) => got.push([...frame]), 1024);
    const fits = new Uint8Array(1024).fill(7);
    decoder.push(slipEncode(fits));
    decoder.push(slipEncode(new Uint8Array(1025).fill(9)));
    decoder.push(slipEncode(Uint8Array.of(1, 2, 3)));
    expect(got.map((frame) => frame.length)).toEqual([1024, 3]);
    expect(got[1]).toEqual([1, 2, 3]);
    expect(SLIP_MAX_FRAME_BYTES).toBeGreaterThanOrEqual(2 * (8 + 16 + 0x4000));
  });
});
