import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildEsp8266Image } from '../../fixtures/esp8266-image/index.ts';
import { gzipImage } from '../../fixtures/gzip-image/index.ts';
import { signImage } from '../../fixtures/signed-image/index.ts';
import { NorFlash } from '../flash/index.ts';
import { decodeEbootCommand } from './eboot-command.ts';
import { type Esp8266Layout, LAYOUT_1M_FS64K, LAYOUT_4M_FS2M } from './esp8266-layout.ts';
import { Esp8266CoreAbortError, Esp8266Updater, type Esp8266UpdaterOptions } from './esp8266-updater.ts';
import { RtcUserMemory } from './rtc-user-memory.ts';
import { type CoreVersion, errorText, formatPrintError, UpdateError } from './update-error.ts';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKeyPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const otherPublicKeyPem = otherKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function makeDevice(
  options: Partial<Omit<Esp8266UpdaterOptions, 'flash' | 'rtc'>> & { flashSize?: number } = {},
) {
  const layout: Esp8266Layout = options.layout ?? LAYOUT_1M_FS64K;
  const flash = new NorFlash({ size: options.flashSize ?? layout.flashSize });
  const rtc = new RtcUserMemory();
  const updater = new Esp8266Updater({ ...options, layout, flash, rtc });
  return { flash, rtc, updater, layout };
}

/** Begin, write in 1460-byte pieces like ArduinoOTA, end. */
function upload(
  updater: Esp8266Updater,
  image: Uint8Array,
  md5Hex?: string,
  command: 'flash' | 'fs' = 'flash',
) {
  if (!updater.begin(image.length, command)) return false;
  if (md5Hex !== undefined) updater.setMD5(md5Hex);
  for (let offset = 0; offset < image.length; offset += 1460) {
    updater.write(image.subarray(offset, offset + 1460));
  }
  return updater.end();
}

const image = buildEsp8266Image({ size: 0x6000, seed: 7, flashMode: 'dio', flashSize: '1MB' });

describe('error texts per core (Updater.cpp getErrorString / printError)', () => {
  const context = {
    targetMd5: 'A'.repeat(32),
    calculatedMd5: 'b'.repeat(32),
    realFlashSize: 1048576,
    sdkFlashSize: 4194304,
  };
  const modern: Record<number, string> = {
    0: 'No Error',
    1: 'Flash Write Failed',
    2: 'Flash Erase Failed',
    3: 'Flash Read Failed',
    4: 'Not Enough Space',
    5: 'Bad Size Given',
    6: 'Stream Read Timeout',
    7: `MD5 verification failed: expected: ${'A'.repeat(32)}, calculated: ${'b'.repeat(32)}`,
    8: 'Flash config wrong: real: 1048576, SDK: 4194304',
    9: 'new Flash config wrong, real size: 1048576',
    10: 'Magic byte is not 0xE9',
    11: 'Invalid bootstrapping state, reset ESP8266 before updating',
    12: 'Signature verification failed',
    13: 'No data supplied',
    14: 'Out of memory',
    15: 'Update already running',
    16: 'Unknown update command',
    17: 'UNKNOWN',
  };
  it('HEAD words every code and prints "ERROR[%hhu]: %s\\n"', () => {
    for (const [code, text] of Object.entries(modern)) {
      expect(errorText('head', Number(code), context)).toBe(text);
      expect(formatPrintError('head', Number(code), context)).toBe(`ERROR[${code}]: ${text}\n`);
    }
  });
  it('3.1.2 has the same texts but no 15 or 16', () => {
    for (const [code, text] of Object.entries(modern)) {
      const expected = Number(code) >= 15 ? 'UNKNOWN' : text;
      expect(errorText('3.1.2', Number(code), context)).toBe(expected);
    }
  });
  it('3.0.2 and 2.7.4 print the old texts with CRLF, except the printf’d ones with LF', () => {
    for (const core of ['3.0.2', '2.7.4'] as const) {
      expect(formatPrintError(core, 10, context)).toBe('ERROR[10]: Magic byte is wrong, not 0xE9\r\n');
      expect(formatPrintError(core, 7, context)).toBe(
        `ERROR[7]: MD5 Failed: expected:${'A'.repeat(32)}, calculated:${'b'.repeat(32)}\n`,
      );
      expect(formatPrintError(core, 8, context)).toBe(
        'ERROR[8]: Flash config wrong real: 1048576 IDE: 4194304\n',
      );
      expect(formatPrintError(core, 9, context)).toBe('ERROR[9]: new Flash config wrong real: 1048576\n');
      expect(formatPrintError(core, 12, context)).toBe('ERROR[12]: Signature verification failed\r\n');
      expect(formatPrintError(core, 14, context)).toBe('ERROR[14]: UNKNOWN\r\n');
    }
    expect(formatPrintError('3.0.2', 13, context)).toBe('ERROR[13]: No data supplied\r\n');
    expect(formatPrintError('2.7.4', 13, context)).toBe('ERROR[13]: UNKNOWN\r\n');
  });
});

describe('begin() checks', () => {
  it('SIZE for size 0; a non-zero size begins', () => {
    const { updater } = makeDevice();
    expect(updater.begin(0)).toBe(false);
    expect(updater.getError()).toBe(UpdateError.SIZE);
    expect(updater.printError()).toBe('ERROR[5]: Bad Size Given\n');
    expect(updater.begin(1000)).toBe(true);
    expect(updater.getError()).toBe(UpdateError.OK);
  });

  it('BOOTSTRAP in UART download boot mode 1; flash boot mode 3 begins', () => {
    const stuck = makeDevice({ bootMode: 1 }).updater;
    expect(stuck.begin(1000)).toBe(false);
    expect(stuck.getErrorString()).toBe('Invalid bootstrapping state, reset ESP8266 before updating');
    expect(makeDevice({ bootMode: 3 }).updater.begin(1000)).toBe(true);
  });

  it('FLASH_CONFIG when the chip is smaller than the sketch was built for', () => {
    const small = makeDevice({ layout: LAYOUT_4M_FS2M, flashSize: 1024 * 1024 }).updater;
    expect(small.begin(1000)).toBe(false);
    expect(small.getError()).toBe(UpdateError.FLASH_CONFIG);
    expect(small.getErrorString()).toBe('Flash config wrong: real: 1048576, SDK: 4194304');
    expect(makeDevice({ layout: LAYOUT_4M_FS2M }).updater.begin(1000)).toBe(true);
  });

  it('stages at FS_start − roundup4k(size) and refuses (SPACE) when that is below the rounded sketch', () => {
    const layout = { ...LAYOUT_1M_FS64K, sketchSize: 0x40001 }; // rounds up to 0x41000
    const { updater } = makeDevice({ layout });
    const largest = layout.fsStart - 0x41000;
    expect(updater.begin(largest)).toBe(true);
    expect(updater.stagingAddress()).toBe(0x41000);
    const other = makeDevice({ layout }).updater;
    expect(other.begin(largest + 1)).toBe(false);
    expect(other.getError()).toBe(UpdateError.SPACE);
    const unaligned = makeDevice({ layout }).updater;
    expect(unaligned.begin(0x1001)).toBe(true);
    expect(unaligned.stagingAddress()).toBe(layout.fsStart - 0x2000);
  });

  it('SPACE when write() would pass the announced size; writing exactly the size is accepted', () => {
    const { updater } = makeDevice();
    updater.begin(100);
    expect(updater.write(new Uint8Array(101))).toBe(0);
    expect(updater.getError()).toBe(UpdateError.SPACE);
    expect(updater.isRunning()).toBe(false);
    const ok = makeDevice().updater;
    ok.begin(100);
    expect(ok.write(new Uint8Array(100))).toBe(100);
    expect(ok.remaining()).toBe(0);
  });

  it('RUNNING_ALREADY on HEAD; 3.1.2 refuses a second begin() without a code', () => {
    const head = makeDevice({ core: 'head' }).updater;
    head.begin(1000);
    expect(head.begin(1000)).toBe(false);
    expect(head.getErrorString()).toBe('Update already running');
    expect(head.isRunning()).toBe(false);
    const release = makeDevice({ core: '3.1.2' }).updater;
    release.begin(1000);
    expect(release.begin(1000)).toBe(false);
    expect(release.getError()).toBe(UpdateError.OK);
    expect(release.isRunning()).toBe(true);
  });

  it('UNKNOWN_COMMAND on HEAD; 3.1.2 returns false with no code; U_FS (100) is known', () => {
    const head = makeDevice({ core: 'head' }).updater;
    expect(head.begin(1000, 7)).toBe(false);
    expect(head.getError()).toBe(UpdateError.UNKNOWN_COMMAND);
    expect(head.printError()).toBe('ERROR[16]: Unknown update command\n');
    const release = makeDevice({ core: '3.1.2' }).updater;
    expect(release.begin(1000, 7)).toBe(false);
    expect(release.getError()).toBe(UpdateError.OK);
    expect(makeDevice({ core: 'head' }).updater.begin(1000, 100)).toBe(true);
  });

  it('OOM when the buffer cannot be allocated (3.1.2); 2.7.4 aborts instead; low heap uses 256 bytes', () => {
    const starving = makeDevice({ core: '3.1.2', freeHeap: 100 }).updater;
    expect(starving.begin(1000)).toBe(false);
    expect(starving.getErrorString()).toBe('Out of memory');
    expect(() => makeDevice({ core: '2.7.4', freeHeap: 100 }).updater.begin(1000)).toThrow(
      Esp8266CoreAbortError,
    );
    const lowHeap = makeDevice({ freeHeap: 5000 });
    expect(upload(lowHeap.updater, image, md5(image))).toBe(true);
  });
});

describe('write path faults (ESP.flashEraseSector/flashWrite/flashRead returning false)', () => {
  it('ERASE, WRITE and READ each discard the update; without the fault the same upload succeeds', () => {
    const cases = [
      { faults: { erase: () => true }, code: UpdateError.ERASE, text: 'Flash Erase Failed' },
      { faults: { write: () => true }, code: UpdateError.WRITE, text: 'Flash Write Failed' },
      { faults: { read: () => true }, code: UpdateError.READ, text: 'Flash Read Failed' },
    ];
    for (const { faults, code, text } of cases) {
      const { updater, rtc } = makeDevice({ faults });
      expect(upload(updater, image)).toBe(false);
      expect(updater.getError()).toBe(code);
      expect(updater.getErrorString()).toBe(text);
      expect(updater.isRunning()).toBe(false);
      expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
    }
    const clean = makeDevice();
    expect(upload(clean.updater, image)).toBe(true);
    expect(decodeEbootCommand(clean.rtc.readEbootCommandBytes())).toBeDefined();
  });
});

describe('writeStream()', () => {
  const streamOf = (bytes: Uint8Array, stallAfter = Number.POSITIVE_INFINITY) => {
    let position = 0;
    return {
      peek: () => (position < bytes.length ? bytes[position]! : -1),
      readBytes(length: number) {
        if (position >= stallAfter) return new Uint8Array(0);
        const chunk = bytes.subarray(position, Math.min(position + length, bytes.length, stallAfter));
        position += chunk.length;
        return chunk;
      },
    };
  };

  it('STREAM after the timeout without data; the complete stream is accepted', () => {
    const { updater } = makeDevice();
    updater.begin(image.length);
    expect(updater.writeStream(streamOf(image, 0x2000), 5000)).toBe(0x2000);
    expect(updater.getError()).toBe(UpdateError.STREAM);
    expect(updater.printError()).toBe('ERROR[6]: Stream Read Timeout\n');
    const ok = makeDevice().updater;
    ok.begin(image.length);
    expect(ok.writeStream(streamOf(image))).toBe(image.length);
    expect(ok.end()).toBe(true);
  });

  it('MAGIC_BYTE at once for a first byte that is neither 0xE9 nor 0x1F; gzip 0x1F is let through', () => {
    const bad = image.slice();
    bad[0] = 0x00;
    const { updater, flash } = makeDevice();
    updater.begin(bad.length);
    const stagedAt = updater.stagingAddress();
    expect(updater.writeStream(streamOf(bad))).toBe(0);
    expect(updater.getError()).toBe(UpdateError.MAGIC_BYTE);
    expect(flash.read(stagedAt, 4)).toEqual(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    const gz = gzipImage(image);
    const ok = makeDevice().updater;
    ok.begin(gz.length);
    expect(ok.writeStream(streamOf(gz))).toBe(gz.length);
    expect(ok.end()).toBe(true);
  });
});

describe('end() checks', () => {
  it('writes eboot a COPY_RAW command {staging, 0, size} on success', () => {
    const { updater, rtc, flash, layout } = makeDevice();
    expect(upload(updater, image, md5(image))).toBe(true);
    const command = decodeEbootCommand(rtc.readEbootCommandBytes());
    expect(command?.action).toBe(1);
    expect(command?.args.slice(0, 3)).toEqual([layout.fsStart - 0x6000, 0, image.length]);
    expect(flash.read(layout.fsStart - 0x6000, image.length)).toEqual(image);
  });

  it('writeSketchInPlace (a defect catalogs use): the sketch goes over 0x0 and eboot gets no command', () => {
    const { updater, rtc, flash, layout } = makeDevice({ writeSketchInPlace: true });
    const staging = layout.fsStart - 0x6000;
    const before = flash.read(staging, image.length);
    expect(upload(updater, image, md5(image))).toBe(true);
    expect(flash.read(0, image.length)).toEqual(image);
    expect(flash.read(staging, image.length)).toEqual(before);
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
  });

  it('MD5 mismatch is error 7 with both sums; the right sum in upper case passes', () => {
    const { updater, rtc } = makeDevice();
    const wrong = '0'.repeat(32);
    expect(upload(updater, image, wrong)).toBe(false);
    expect(updater.getErrorString()).toBe(
      `MD5 verification failed: expected: ${wrong}, calculated: ${md5(image)}`,
    );
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
    const legacy = makeDevice({ core: '2.7.4' }).updater;
    expect(upload(legacy, image, wrong)).toBe(false);
    expect(legacy.printError()).toBe(`ERROR[7]: MD5 Failed: expected:${wrong}, calculated:${md5(image)}\n`);
    expect(upload(makeDevice().updater, image, md5(image).toUpperCase())).toBe(true);
  });

  it('setMD5 takes exactly 32 characters', () => {
    const { updater } = makeDevice();
    updater.begin(10);
    expect(updater.setMD5('abc')).toBe(false);
    expect(updater.setMD5(md5(image))).toBe(true);
  });

  it('MAGIC_BYTE when the staged image does not start with 0xE9; 0xE9 passes', () => {
    const bad = image.slice();
    bad[0] = 0xe8;
    const { updater } = makeDevice();
    expect(upload(updater, bad)).toBe(false);
    expect(updater.getError()).toBe(UpdateError.MAGIC_BYTE);
    expect(makeDevice({ core: '3.0.2' }).updater.getErrorString()).toBe('No Error');
    const legacy = makeDevice({ core: '3.0.2' }).updater;
    upload(legacy, bad);
    expect(legacy.printError()).toBe('ERROR[10]: Magic byte is wrong, not 0xE9\r\n');
  });

  it('NEW_FLASH_CONFIG when the image header claims a bigger chip; the chip’s own size passes', () => {
    const tooBig = buildEsp8266Image({ size: 0x6000, seed: 7, flashSize: '4MB' });
    const { updater } = makeDevice();
    expect(upload(updater, tooBig)).toBe(false);
    expect(updater.getErrorString()).toBe('new Flash config wrong, real size: 1048576');
    expect(upload(makeDevice().updater, buildEsp8266Image({ size: 0x6000, seed: 7, flashSize: '1MB' }))).toBe(
      true,
    );
  });

  it('NO_DATA for end() after begin() without data (≥ 3.0.2); 2.7.4 just returns false', () => {
    const { updater } = makeDevice({ core: '3.0.2' });
    updater.begin(100);
    expect(updater.end()).toBe(false);
    expect(updater.printError()).toBe('ERROR[13]: No data supplied\r\n');
    const old = makeDevice({ core: '2.7.4' }).updater;
    old.begin(100);
    expect(old.end()).toBe(false);
    expect(old.getError()).toBe(UpdateError.OK);
  });

  it('a premature end() fails and end(true) accepts what arrived', () => {
    const { updater } = makeDevice();
    updater.begin(image.length + 64);
    updater.write(image);
    expect(updater.end()).toBe(false);
    const lenient = makeDevice();
    lenient.updater.begin(image.length + 64);
    lenient.updater.write(image);
    expect(lenient.updater.end(true)).toBe(true);
    expect(decodeEbootCommand(lenient.rtc.readEbootCommandBytes())?.args[2]).toBe(image.length);
  });
});

describe('flash-mode patch of the first buffer', () => {
  it('writes the running mode at offset 2 in flash while the MD5 of the received bytes still passes', () => {
    const qio = buildEsp8266Image({ size: 0x6000, seed: 9, flashMode: 'qio', flashSize: '1MB' });
    const { updater, flash, layout } = makeDevice();
    expect(upload(updater, qio, md5(qio))).toBe(true);
    const staged = flash.read(layout.fsStart - 0x6000, qio.length);
    expect(qio[2]).toBe(0);
    expect(staged[2]).toBe(layout.flashMode);
    expect(staged.subarray(3)).toEqual(qio.subarray(3));
    expect(updater.md5String()).toBe(md5(qio));
  });

  it('leaves a gzip stream and an FS image alone', () => {
    const gz = gzipImage(buildEsp8266Image({ size: 0x6000, seed: 9, flashMode: 'qio', flashSize: '1MB' }));
    const { updater, flash, layout } = makeDevice();
    expect(upload(updater, gz)).toBe(true);
    expect(flash.read(layout.fsStart - Math.ceil(gz.length / 4096) * 4096, gz.length)).toEqual(gz);
    const fsImage = new Uint8Array(0x2000).fill(0x11);
    const fs = makeDevice();
    expect(upload(fs.updater, fsImage, undefined, 'fs')).toBe(true);
    expect(fs.flash.read(fs.layout.fsStart, 4)).toEqual(new Uint8Array([0x11, 0x11, 0x11, 0x11]));
  });
});

describe('signed images', () => {
  const signed = signImage(image, keys.privateKey);
  const legacySigned = signImage(image, keys.privateKey, { legacy: true });

  it('accepts an image signed with the installed key, skips MD5 and copies only the bare image', () => {
    const { updater, rtc } = makeDevice({ verifier: { publicKeyPem } });
    expect(upload(updater, signed, '0'.repeat(32))).toBe(true);
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())?.args[2]).toBe(image.length);
  });

  it('2.7.4 leaves the signature trailer in the size it hands eboot', () => {
    const { updater, rtc } = makeDevice({ core: '2.7.4', verifier: { publicKeyPem } });
    expect(upload(updater, signed)).toBe(true);
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())?.args[2]).toBe(signed.length);
  });

  it('SIGN for another key, a flipped byte, an unsigned image or a legacy signature on a new verifier', () => {
    const flipped = signed.slice();
    flipped[100]! ^= 0x01;
    const attempts: Array<[Uint8Array, string]> = [
      [signed, otherPublicKeyPem],
      [flipped, publicKeyPem],
      [image, publicKeyPem],
      [legacySigned, publicKeyPem],
    ];
    for (const [bytes, key] of attempts) {
      const { updater, rtc } = makeDevice({ verifier: { publicKeyPem: key } });
      expect(upload(updater, bytes)).toBe(false);
      expect(updater.getError()).toBe(UpdateError.SIGN);
      expect(updater.getErrorString()).toBe('Signature verification failed');
      expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
    }
  });

  it('a legacy verifier accepts the legacy signature and rejects a new one or another key', () => {
    expect(upload(makeDevice({ verifier: { publicKeyPem, legacy: true } }).updater, legacySigned)).toBe(true);
    const modern = makeDevice({ verifier: { publicKeyPem, legacy: true } }).updater;
    expect(upload(modern, signed)).toBe(false);
    expect(modern.getError()).toBe(UpdateError.SIGN);
    const wrongKey = makeDevice({ verifier: { publicKeyPem: otherPublicKeyPem, legacy: true } }).updater;
    expect(upload(wrongKey, legacySigned)).toBe(false);
  });

  it('(derived, UNCONFIRMED on hardware) a mode-patched signed image fails: the hash is read back from flash', () => {
    const qio = buildEsp8266Image({ size: 0x6000, seed: 9, flashMode: 'qio', flashSize: '1MB' });
    const { updater } = makeDevice({ verifier: { publicKeyPem } });
    expect(upload(updater, signImage(qio, keys.privateKey))).toBe(false);
    expect(updater.getError()).toBe(UpdateError.SIGN);
  });
});

describe('signing-build defects (for the kill matrix), each against the conforming Updater', () => {
  const signed = signImage(image, keys.privateKey);
  const badLength = signed.slice();
  new DataView(badLength.buffer).setUint32(badLength.length - 4, 260, true);

  it('skips-check installs an unsigned image the conforming Updater refuses', () => {
    expect(upload(makeDevice({ verifier: { publicKeyPem } }).updater, image)).toBe(false);
    expect(
      upload(makeDevice({ verifier: { publicKeyPem }, signatureDefect: 'skips-check' }).updater, image),
    ).toBe(true);
  });

  it('ignores-length-field installs a wrong length word the conforming Updater refuses', () => {
    expect(upload(makeDevice({ verifier: { publicKeyPem } }).updater, badLength)).toBe(false);
    const broken = makeDevice({ verifier: { publicKeyPem }, signatureDefect: 'ignores-length-field' });
    expect(upload(broken.updater, badLength)).toBe(true);
  });

  it('hashes-trailer refuses a correct signature; checks-md5 refuses a wrong MD5 the conforming Updater ignores', () => {
    const broken = makeDevice({ verifier: { publicKeyPem }, signatureDefect: 'hashes-trailer' });
    expect(upload(broken.updater, signed)).toBe(false);
    expect(broken.updater.getError()).toBe(UpdateError.SIGN);
    expect(upload(makeDevice({ verifier: { publicKeyPem } }).updater, signed, '0'.repeat(32))).toBe(true);
    const md5 = makeDevice({ verifier: { publicKeyPem }, signatureDefect: 'checks-md5' });
    expect(upload(md5.updater, signed, '0'.repeat(32))).toBe(false);
    expect(md5.updater.getError()).toBe(UpdateError.MD5);
  });
});

describe('filesystem updates', () => {
  const fsImage = new Uint8Array(0x3000).fill(0x5a);

  it('write over the live FS in place, with no eboot command, without ATOMIC_FS_UPDATE', () => {
    const { updater, flash, rtc, layout } = makeDevice();
    expect(updater.begin(fsImage.length, 'fs')).toBe(true);
    expect(updater.stagingAddress()).toBe(layout.fsStart);
    fsImage.forEach((_, offset) => {
      if (offset % 0x1000 === 0) updater.write(fsImage.subarray(offset, offset + 0x1000));
    });
    expect(updater.end()).toBe(true);
    expect(flash.read(layout.fsStart, fsImage.length)).toEqual(fsImage);
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
  });

  it('are staged below the FS and handed to eboot with ATOMIC_FS_UPDATE', () => {
    const { updater, flash, rtc, layout } = makeDevice({ atomicFsUpdate: true });
    expect(upload(updater, fsImage, undefined, 'fs')).toBe(true);
    const staging = layout.fsStart - fsImage.length;
    expect(flash.read(staging, fsImage.length)).toEqual(fsImage);
    expect(flash.read(layout.fsStart, 4)).toEqual(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())?.args.slice(0, 3)).toEqual([
      staging,
      layout.fsStart,
      fsImage.length,
    ]);
  });

  it('SPACE when the FS image is larger than the FS', () => {
    const { updater, layout } = makeDevice();
    expect(updater.begin(layout.fsEnd - layout.fsStart + 1, 'fs')).toBe(false);
    expect(updater.getError()).toBe(UpdateError.SPACE);
    expect(makeDevice().updater.begin(layout.fsEnd - layout.fsStart, 'fs')).toBe(true);
  });
});

describe('every error discards the update', () => {
  it.each(['2.7.4', '3.0.2', '3.1.2', 'head'] satisfies CoreVersion[])(
    '%s: after an error write() is refused until a new begin()',
    (core) => {
      const { updater } = makeDevice({ core });
      updater.begin(100);
      updater.write(new Uint8Array(101));
      expect(updater.isRunning()).toBe(false);
      expect(updater.write(new Uint8Array(10))).toBe(0);
      expect(updater.begin(image.length)).toBe(true);
      expect(updater.getError()).toBe(UpdateError.OK);
    },
  );
});
