/** arduino-esp32 Update (reference/arduino-ota.md §5): every error code with its acceptance twin. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appImage, Esp32Rig, rigPartitions } from '../boot/esp32/esp32-test-rig.ts';
import { NorFlash } from '../flash/index.ts';
import { OtaState } from '../otadata/index.ts';
import { generatePartitionTable, PARTITION_TABLE_OFFSET } from '../partition-table/index.ts';
import {
  Esp32Update,
  Esp32UpdateError,
  type Esp32UpdateOptions,
  esp32UpdateErrorText,
  initArduinoRollback,
  U_FLASH,
  UPDATE_SIZE_UNKNOWN,
  updateCommands,
} from './index.ts';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

function setup(options: Partial<Esp32UpdateOptions> = {}, rig = new Esp32Rig({ chip: { rollback: true } })) {
  const boot = rig.bootApp();
  const ota = rig.ops(boot);
  const update = new Esp32Update({ flash: rig.flash, ota, table: boot.table, ...options });
  return { rig, ota, update, boot };
}

/** The rig's table plus a 64 KiB SPIFFS partition. */
function rigWithSpiffs(): Esp32Rig {
  const flash = new NorFlash({ size: 0x100000 });
  const entries = [
    ...rigPartitions(),
    {
      label: 'spiffs',
      type: 1,
      subtype: 0x82,
      offset: 0x40000,
      size: 0x10000,
      encrypted: false,
      readonly: false,
    },
  ];
  flash.program(PARTITION_TABLE_OFFSET, generatePartitionTable(entries));
  flash.program(0x10000, appImage('factory'));
  return new Esp32Rig({ initial: flash.snapshot() });
}

function writeAll(update: Esp32Update, image: Uint8Array, chunk = 1460): number {
  let total = 0;
  for (let offset = 0; offset < image.length; offset += chunk) {
    total += update.write(image.subarray(offset, offset + chunk));
  }
  return total;
}

describe('Esp32Update error texts', () => {
  it('uses the exact _err2str strings and printError ends in CRLF with no ERROR[n] prefix', () => {
    const expected = [
      'No Error',
      'Flash Write Failed',
      'Flash Erase Failed',
      'Flash Read Failed',
      'Not Enough Space',
      'Bad Size Given',
      'Stream Read Timeout',
      'MD5 Check Failed',
      'Wrong Magic Byte',
      'Could Not Activate The Firmware',
      'Partition Could Not be Found',
      'Bad Argument',
      'Aborted',
      'Decryption error',
      'Signature Verification Failed',
    ];
    for (const [code, text] of expected.entries()) expect(esp32UpdateErrorText(code)).toBe(text);
    expect(esp32UpdateErrorText(15)).toBe('UNKNOWN');
    const { update } = setup();
    expect(update.begin(0)).toBe(false);
    expect(update.printError()).toBe('Bad Size Given\r\n');
  });
});

describe('Esp32Update begin/write/end', () => {
  it('installs an image that boots after end(), holding the first 16 bytes back until then', () => {
    const { rig, update } = setup();
    const image = appImage('2.0.0');
    const ota0 = rig.mustPartition('ota_0');
    expect(update.begin(image.length)).toBe(true);
    expect(update.setMD5(md5(image))).toBe(true);
    expect(writeAll(update, image)).toBe(image.length);
    expect(update.isFinished()).toBe(true);
    expect([...rig.flash.read(ota0.offset, 16)].every((b) => b === 0xff)).toBe(true);
    expect(rig.flash.read(ota0.offset + 16, image.length - 16)).toEqual(image.subarray(16));
    // Not bootable yet: a reset here still runs the factory app.
    expect(rig.bootApp().partition.label).toBe('factory');
    expect(update.end()).toBe(true);
    expect(update.getError()).toBe(Esp32UpdateError.OK);
    expect(rig.flash.read(ota0.offset, image.length)).toEqual(image);
    const after = rig.bootApp();
    expect(after.partition.label).toBe('ota_0');
    expect(after.image.appDescriptor?.version).toBe('2.0.0');
  });

  it('refuses a second begin while running without setting an error', () => {
    const { update } = setup();
    expect(update.begin(0x4000)).toBe(true);
    expect(update.begin(0x4000)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.OK);
  });

  it('SIZE (5): size 0 or larger than the partition; the partition size itself is accepted', () => {
    const { update, rig } = setup();
    expect(update.begin(0)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.SIZE);
    const slot = rig.mustPartition('ota_0').size;
    expect(update.begin(slot + 1)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.SIZE);
    expect(update.begin(slot)).toBe(true);
    expect(update.getError()).toBe(Esp32UpdateError.OK);
  });

  it('NO_PARTITION (10): the only OTA slot is the running one; with two slots begin succeeds', () => {
    const single = new Esp32Rig({ layout: { factory: false, otaSlots: 1 } });
    const { update } = setup({}, single);
    expect(update.begin(0x4000)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.NO_PARTITION);
    const pair = new Esp32Rig({ layout: { factory: false, otaSlots: 2 } });
    expect(setup({}, pair).update.begin(0x4000)).toBe(true);
  });

  it('NO_PARTITION (10) for an FS update without an FS partition; with SPIFFS it writes in place', () => {
    const { update } = setup({ core: '3.3.0' });
    expect(update.begin(0x1000, updateCommands('3.3.0').U_SPIFFS)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.NO_PARTITION);
    const { update: withFs, rig } = setup({ core: '3.3.0' }, rigWithSpiffs());
    const fsImage = new Uint8Array(0x2000).fill(0x42);
    expect(withFs.begin(fsImage.length, 100)).toBe(true);
    expect(writeAll(withFs, fsImage)).toBe(fsImage.length);
    expect(withFs.end()).toBe(true);
    expect(rig.flash.read(0x40000, fsImage.length)).toEqual(fsImage);
  });

  it('newest numbers FS commands from PR #11856: 100 is U_FLASHFS, 101 U_SPIFFS', () => {
    const { update } = setup({ core: 'newest' }, rigWithSpiffs());
    expect(updateCommands('newest').U_SPIFFS).toBe(101);
    expect(update.begin(0x1000, 100)).toBe(true);
    update.abort();
    expect(update.begin(0x1000, 101)).toBe(true);
  });

  it('BAD_ARGUMENT (11): an unknown command; U_FLASH is accepted', () => {
    const { update } = setup();
    expect(update.begin(0x4000, 7)).toBe(false);
    expect(update.getError()).toBe(Esp32UpdateError.BAD_ARGUMENT);
    expect(update.begin(0x4000, U_FLASH)).toBe(true);
  });

  it('SPACE (4): a write past the announced size; a write that fits is taken', () => {
    const { update } = setup();
    expect(update.begin(0x2000)).toBe(true);
    expect(update.write(new Uint8Array(0x2000).fill(0xe9))).toBe(0x2000);
    expect(update.write(new Uint8Array(1))).toBe(0);
    expect(update.getError()).toBe(Esp32UpdateError.SPACE);
    expect(update.isRunning()).toBe(false);
  });

  it('MAGIC_BYTE (8) with decryption off, DECRYPT (13) with the default auto mode (the AES quirk); 0xE9 passes both', () => {
    const bad = appImage('2.0.0').slice();
    bad[0] = 0x00;
    for (const [cryptMode, code] of [
      ['none', Esp32UpdateError.MAGIC_BYTE],
      ['auto', Esp32UpdateError.DECRYPT],
    ] as const) {
      const { update } = setup({ cryptMode });
      expect(update.begin(bad.length)).toBe(true);
      writeAll(update, bad);
      expect(update.getError()).toBe(code);
      const good = setup({ cryptMode }).update;
      expect(good.begin(bad.length)).toBe(true);
      writeAll(good, appImage('2.0.0'));
      expect(good.end()).toBe(true);
    }
  });

  it('MD5 (7): a wrong target fails; the right one passes; newest lowercases the target, 3.3.0 does not', () => {
    const image = appImage('2.0.0');
    const wrong = setup().update;
    wrong.begin(image.length);
    expect(wrong.setMD5('0'.repeat(31))).toBe(false);
    wrong.setMD5('0'.repeat(32));
    writeAll(wrong, image);
    expect(wrong.end()).toBe(false);
    expect(wrong.printError()).toBe('MD5 Check Failed\r\n');

    const upper = md5(image).toUpperCase();
    const newest = setup({ core: 'newest' }).update;
    newest.begin(image.length);
    newest.setMD5(upper);
    writeAll(newest, image);
    expect(newest.end()).toBe(true);

    const old = setup({ core: '3.3.0' }).update;
    old.begin(image.length);
    old.setMD5(upper);
    writeAll(old, image);
    expect(old.end()).toBe(false);
    expect(old.getError()).toBe(Esp32UpdateError.MD5);
  });

  it('ABORT (12): end() before the last byte; end(true) with UPDATE_SIZE_UNKNOWN installs what came', () => {
    const image = appImage('2.0.0');
    const early = setup().update;
    early.begin(image.length);
    writeAll(early, image.subarray(0, 0x2000));
    expect(early.end()).toBe(false);
    expect(early.getError()).toBe(Esp32UpdateError.ABORT);

    const { update, rig } = setup();
    expect(update.begin(UPDATE_SIZE_UNKNOWN)).toBe(true);
    writeAll(update, image);
    expect(update.end(true)).toBe(true);
    expect(rig.bootApp().image.appDescriptor?.version).toBe('2.0.0');
  });

  it('ACTIVATE (9): a good magic byte but a corrupt body fails esp_ota_set_boot_partition; intact passes', () => {
    const corrupt = appImage('2.0.0').slice();
    corrupt[0x3000] = (corrupt[0x3000] ?? 0) ^ 0xff;
    const { update, rig } = setup();
    update.begin(corrupt.length);
    writeAll(update, corrupt);
    expect(update.end()).toBe(false);
    expect(update.errorString()).toBe('Could Not Activate The Firmware');
    expect(rig.bootApp().partition.label).toBe('factory');
  });

  it('WRITE (1), ERASE (2), READ (3) when the SPI call fails; the same update without the fault passes', () => {
    const image = appImage('2.0.0');
    const cases = [
      [{ write: () => false }, Esp32UpdateError.WRITE],
      [{ erase: () => false }, Esp32UpdateError.ERASE],
      [{ read: () => false }, Esp32UpdateError.READ],
    ] as const;
    for (const [faults, code] of cases) {
      const { update } = setup({ faults });
      update.begin(image.length);
      writeAll(update, image);
      update.end();
      expect(update.getError()).toBe(code);
    }
    const { update } = setup({ faults: { write: () => true, erase: () => true, read: () => true } });
    update.begin(image.length);
    writeAll(update, image);
    expect(update.end()).toBe(true);
  });

  it('erases 64 KiB blocks where aligned and skips writing empty sectors', () => {
    const flash = new NorFlash({ size: 0x100000 });
    const entries = rigPartitions().map((e) =>
      e.label.startsWith('ota') || e.label === 'factory'
        ? { ...e, size: 0x20000, offset: e.offset * 2 - 0x10000 }
        : e,
    );
    flash.program(PARTITION_TABLE_OFFSET, generatePartitionTable(entries));
    flash.program(0x10000, appImage('factory'));
    const { update, rig } = setup({}, new Esp32Rig({ initial: flash.snapshot() }));
    const image = new Uint8Array(0x11000).fill(0xff);
    image.set(appImage('2.0.0'));
    const before = rig.flash.stats;
    update.begin(image.length);
    writeAll(update, image, 4096);
    const after = rig.flash.stats;
    expect(after.blockErases - before.blockErases).toBe(1);
    expect(after.sectorErases - before.sectorErases).toBe(1);
    // 0x4000 of image bytes, less the 16 held back: 64 pages; the 0xFF tail costs no page programs.
    expect(after.pagePrograms - before.pagePrograms).toBe(64);
  });
});

describe('Esp32Update.writeStream', () => {
  function source(bytes: Uint8Array, stallReads = 0) {
    let position = 0;
    let stalls = stallReads;
    return {
      peek: () => (position < bytes.length ? (bytes[position] ?? -1) : -1),
      readBytes: (length: number) => {
        if (stalls > 0) {
          stalls--;
          return new Uint8Array(0);
        }
        const chunk = bytes.subarray(position, position + length);
        position += chunk.length;
        return chunk;
      },
    };
  }

  it('STREAM (6) after 300 empty reads with delay(100) between; 299 then data completes', async () => {
    const delays: number[] = [];
    const streamRetryDelay = async (ms: number) => {
      delays.push(ms);
    };
    const image = appImage('2.0.0');
    const stalled = setup({ streamRetryDelay }).update;
    stalled.begin(image.length);
    expect(await stalled.writeStream(source(new Uint8Array(0)))).toBe(0);
    expect(stalled.getError()).toBe(Esp32UpdateError.STREAM);
    expect(delays).toHaveLength(299);
    expect(new Set(delays)).toEqual(new Set([100]));

    const slow = setup({ streamRetryDelay }).update;
    slow.begin(image.length);
    expect(await slow.writeStream(source(image, 299))).toBe(image.length);
    expect(slow.end()).toBe(true);
  });

  it('checks the first byte with decryption off (MAGIC_BYTE before any write), skips the check in auto mode', async () => {
    const bad = appImage('2.0.0').slice();
    bad[0] = 0x1f;
    const off = setup({ cryptMode: 'none' });
    off.update.begin(bad.length);
    expect(await off.update.writeStream(source(bad))).toBe(0);
    expect(off.update.getError()).toBe(Esp32UpdateError.MAGIC_BYTE);
    const auto = setup({ cryptMode: 'auto' });
    auto.update.begin(bad.length);
    await auto.update.writeStream(source(bad));
    expect(auto.update.getError()).toBe(Esp32UpdateError.DECRYPT);
  });
});

describe('Esp32Update rollback', () => {
  it('canRollBack is false while the other slot is empty, true once it holds an app; rollBack boots it', () => {
    const { rig, update } = setup({}, new Esp32Rig());
    expect(update.canRollBack()).toBe(false); // factory running, ota_0 empty
    update.begin(0x4000);
    writeAll(update, appImage('2.0.0'));
    expect(update.end()).toBe(true);
    const second = setup({}, rig);
    expect(second.boot.partition.label).toBe('ota_0');
    second.update.begin(0x4000);
    writeAll(second.update, appImage('3.0.0'));
    expect(second.update.end()).toBe(true);
    const third = setup({}, rig);
    expect(third.boot.partition.label).toBe('ota_1');
    expect(third.update.canRollBack()).toBe(true);
    expect(third.update.rollBack()).toBe(true);
    expect(rig.bootApp().image.appDescriptor?.version).toBe('2.0.0');
  });

  it('initArduino confirms a pending image before setup() unless the sketch defers or verifyOta fails', () => {
    const install = (rig: Esp32Rig) => {
      const { update } = setup({}, rig);
      update.begin(0x4000);
      writeAll(update, appImage('2.0.0'));
      expect(update.end()).toBe(true);
    };
    const confirmed = new Esp32Rig({ chip: { rollback: true } });
    install(confirmed);
    let boot = confirmed.bootApp();
    let ota = confirmed.ops(boot);
    expect(initArduinoRollback({ ota, rollback: true })).toBe('marked-valid');
    expect(ota.getStateOf(boot.partition)).toBe(OtaState.VALID);
    expect(confirmed.bootApp().partition.label).toBe('ota_0');

    const deferred = new Esp32Rig({ chip: { rollback: true } });
    install(deferred);
    boot = deferred.bootApp();
    ota = deferred.ops(boot);
    expect(initArduinoRollback({ ota, rollback: true }, { verifyRollbackLater: () => true })).toBe(
      'deferred',
    );
    expect(ota.getStateOf(boot.partition)).toBe(OtaState.PENDING_VERIFY);
    expect(deferred.bootApp().partition.label).toBe('factory');

    const failed = new Esp32Rig({ chip: { rollback: true } });
    install(failed);
    boot = failed.bootApp();
    ota = failed.ops(boot);
    expect(initArduinoRollback({ ota, rollback: true }, { verifyOta: () => false })).toBe('rollback-reboot');
    expect(failed.bootApp().partition.label).toBe('factory');

    const factory = new Esp32Rig({ chip: { rollback: true } });
    boot = factory.bootApp();
    expect(initArduinoRollback({ ota: factory.ops(boot), rollback: true })).toBe('not-pending');
  });
});
