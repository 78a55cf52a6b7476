/** The bootloader's selection rules (reference/esp-idf.md §3.4) one by one, with the lines it prints. */
import { describe, expect, it } from 'vitest';
import { OtaState, otaSeqCrc, writeOtadataEntry } from '../../otadata/index.ts';
import { appImage, Esp32Rig } from './esp32-test-rig.ts';

const hasLine = (log: string[], pattern: RegExp) => log.some((line) => pattern.test(line));

function rigWithThreeImages(chip: { rollback?: boolean } = {}): Esp32Rig {
  return new Esp32Rig({
    chip,
    images: { factory: appImage('factory'), ota_0: appImage('v0'), ota_1: appImage('v1') },
  });
}

function setEntry(
  rig: Esp32Rig,
  index: 0 | 1,
  seq: number,
  state: number = OtaState.UNDEFINED,
  crc = otaSeqCrc(seq),
): void {
  writeOtadataEntry(rig.flash, rig.mustPartition('otadata'), index, {
    seq,
    state,
    label: new Uint8Array(20).fill(0xff),
    crc,
  });
}

describe('bootEsp32 selection', () => {
  it('boots factory with "Defaulting to factory image" when both entries are blank', () => {
    const rig = rigWithThreeImages();
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('factory');
    expect(boot.slot).toBe(-1);
    expect(hasLine(boot.log, /^I \(\d+\) boot: Defaulting to factory image$/)).toBe(true);
  });

  it('boots ota_(seq-1) mod n from the entry with the larger valid seq', () => {
    const rig = rigWithThreeImages();
    setEntry(rig, 0, 3);
    setEntry(rig, 1, 2);
    expect(rig.bootApp().partition.label).toBe('ota_0');
    setEntry(rig, 1, 4);
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_1');
    expect(boot.slot).toBe(1);
    expect(boot.image.appDescriptor?.version).toBe('v1');
  });

  it('ignores an entry with a bad CRC, and falls back to factory when neither is valid', () => {
    const rig = rigWithThreeImages();
    setEntry(rig, 0, 1);
    setEntry(rig, 1, 2, OtaState.UNDEFINED, 0);
    expect(rig.bootApp().partition.label).toBe('ota_0');
    setEntry(rig, 0, 1, OtaState.UNDEFINED, 0);
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('factory');
    expect(hasLine(boot.log, /^E \(\d+\) boot: ota data partition invalid, falling back to factory$/)).toBe(
      true,
    );
  });

  it('treats INVALID and ABORTED entries as absent', () => {
    const rig = rigWithThreeImages();
    setEntry(rig, 0, 1, OtaState.VALID);
    setEntry(rig, 1, 2, OtaState.INVALID);
    expect(rig.bootApp().partition.label).toBe('ota_0');
    setEntry(rig, 1, 2, OtaState.ABORTED);
    expect(rig.bootApp().partition.label).toBe('ota_0');
    setEntry(rig, 1, 2, OtaState.VALID);
    expect(rig.bootApp().partition.label).toBe('ota_1');
  });

  it('without a factory app and blank otadata boots ota_0 and writes "Set actual ota_seq=1"', () => {
    const rig = new Esp32Rig({
      layout: { factory: false },
      images: { ota_0: appImage('v0'), ota_1: appImage('v1') },
    });
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_0');
    expect(hasLine(boot.log, /^I \(\d+\) boot: No factory image, trying OTA 0$/)).toBe(true);
    expect(hasLine(boot.log, /^I \(\d+\) boot: Set actual ota_seq=1 in otadata\[0\]$/)).toBe(true);
    const [entry0, entry1] = rig.otadataEntries();
    expect([entry0.seq, entry0.state, entry0.crc]).toEqual([1, OtaState.VALID, otaSeqCrc(1)]);
    expect(entry1.seq).toBe(0xffffffff);
    // With the entry now present, the next boot selects it without writing anything.
    const again = rig.bootApp();
    expect(hasLine(again.log, /Set actual ota_seq/)).toBe(false);
  });

  it('without factory and with ota_0 blank, walks forward to ota_1 and records ota_seq=2', () => {
    const rig = new Esp32Rig({ layout: { factory: false }, images: { ota_1: appImage('v1') } });
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_1');
    expect(hasLine(boot.log, /^E \(\d+\) boot: OTA app partition slot 0 is not bootable$/)).toBe(true);
    expect(
      hasLine(
        boot.log,
        /^E \(\d+\) esp_image: image at 0x10000 has invalid magic byte \(nothing flashed here\?\)$/,
      ),
    ).toBe(true);
    expect(hasLine(boot.log, /Set actual ota_seq=2 in otadata\[0\]$/)).toBe(true);
  });

  it('falls back backwards to factory when the selected slot is corrupt, without writing otadata', () => {
    const rig = rigWithThreeImages();
    setEntry(rig, 0, 2);
    const ota1 = rig.mustPartition('ota_1');
    rig.flash.program(ota1.offset + 0x1000, new Uint8Array([0x00]));
    const before = rig.flash.read(rig.mustPartition('otadata').offset, 0x2000);
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_0');
    expect(hasLine(boot.log, /^E \(\d+\) boot: OTA app partition slot 1 is not bootable$/)).toBe(true);
    expect(hasLine(boot.log, /esp_image: (Checksum failed|Image hash failed)/)).toBe(true);
    expect(rig.flash.read(rig.mustPartition('otadata').offset, 0x2000)).toEqual(before);
    // The corrupt slot is skipped on every boot, not repaired.
    expect(rig.bootApp().partition.label).toBe('ota_0');
  });

  it('walks backwards past factory and then forwards', () => {
    const rig = new Esp32Rig({ images: { ota_1: appImage('v1') } });
    setEntry(rig, 0, 1);
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_1');
    const failures = boot.log
      .filter((line) => / is not bootable$/.test(line))
      .map((line) => line.replace(/^E \(\d+\) /, ''));
    expect(failures).toEqual([
      'boot: OTA app partition slot 0 is not bootable',
      'boot: Factory app partition is not bootable',
    ]);
  });

  it('falls back to the test app as the only bootable partition', () => {
    const rig = new Esp32Rig({ layout: { test: true }, images: { test: appImage('test') } });
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('test');
    expect(boot.slot).toBe(-2);
    expect(hasLine(boot.log, /^W \(\d+\) boot: Falling back to test app as only bootable partition$/)).toBe(
      true,
    );
  });

  it('reports no bootable app when every partition is blank', () => {
    const rig = new Esp32Rig({ images: {} });
    const boot = rig.boot();
    expect(boot.booted).toBe(false);
    expect(hasLine(boot.log, /^E \(\d+\) boot: No bootable app partitions in the partition table$/)).toBe(
      true,
    );
  });

  it('refuses an image built for another chip with the boot_comm line', () => {
    const rig = new Esp32Rig({ images: { factory: appImage('c3', { chip: 5 }) } });
    const boot = rig.boot();
    expect(boot.booted).toBe(false);
    expect(hasLine(boot.log, /^E \(\d+\) boot_comm: mismatch chip ID, expected 0, found 5$/)).toBe(true);
  });

  it('reports a refused partition table and boots nothing', () => {
    const rig = rigWithThreeImages();
    rig.flash.program(0x8000 + 0x0c, new Uint8Array([0x00])); // clear the first label byte: MD5 mismatch
    const boot = rig.boot();
    expect(boot.booted).toBe(false);
    expect(hasLine(boot.log, /^E \(\d+\) boot: load partition table error!$/)).toBe(true);
  });

  describe('with rollback', () => {
    it('turns NEW into PENDING_VERIFY on the boot that runs it, and PENDING_VERIFY into ABORTED on the next', () => {
      const rig = rigWithThreeImages({ rollback: true });
      setEntry(rig, 0, 1, OtaState.VALID);
      setEntry(rig, 1, 2, OtaState.NEW);
      expect(rig.bootApp().partition.label).toBe('ota_1');
      expect(rig.otadataEntries()[1].state).toBe(OtaState.PENDING_VERIFY);
      const rolledBack = rig.bootApp('RTCWDT_RTC_RESET');
      expect(rolledBack.partition.label).toBe('ota_0');
      expect(rig.otadataEntries()[1].state).toBe(OtaState.ABORTED);
      // At INFO level the transitions are silent; only the offset tells.
      expect(hasLine(rolledBack.log, /ABORTED|PENDING/)).toBe(false);
      expect(hasLine(rolledBack.log, /^I \(\d+\) boot: Loaded app from partition at offset 0x20000$/)).toBe(
        true,
      );
    });

    it('without rollback leaves a NEW entry as it is', () => {
      const rig = rigWithThreeImages({ rollback: false });
      setEntry(rig, 0, 1, OtaState.NEW);
      expect(rig.bootApp().partition.label).toBe('ota_0');
      expect(rig.bootApp().partition.label).toBe('ota_0');
      expect(rig.otadataEntries()[0].state).toBe(OtaState.NEW);
    });
  });

  it('prints the ROM lines for the reset reason, then the partition table', () => {
    const rig = rigWithThreeImages();
    const boot = rig.bootApp('SW_CPU_RESET');
    expect(boot.log[0]).toBe('ets Jun  8 2016 00:22:57');
    expect(boot.log[2]).toBe('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(hasLine(boot.log, /^I \(\d+\) boot: ## Label {12}Usage {10}Type ST Offset {3}Length$/)).toBe(true);
    const rows = boot.log
      .filter((line) => / boot: +\d+ /.test(line))
      .map((line) => line.replace(/^I \(\d+\) boot: /, ''));
    expect(rows).toEqual([
      ' 0 nvs              WiFi data        01 02 00009000 00004000',
      ' 1 otadata          OTA data         01 00 0000d000 00002000',
      ' 2 phy_init         RF data          01 01 0000f000 00001000',
      ' 3 factory          factory app      00 00 00010000 00010000',
      ' 4 ota_0            OTA app          00 10 00020000 00010000',
      ' 5 ota_1            OTA app          00 11 00030000 00010000',
    ]);
    const segments = boot.log.filter((line) => line.includes('esp_image: segment'));
    expect(segments[0]).toMatch(
      /^I \(\d+\) esp_image: segment 0: paddr=00010020 vaddr=3f400020 size=[0-9a-f]{5}h \( *\d+\) map$/,
    );
    const tail = boot.log.slice(-7).map((line) => line.replace(/^I \(\d+\) /, ''));
    expect(tail[0]).toBe('boot: Disabling RNG early entropy source...');
    expect(tail.slice(1, 4)).toEqual([
      'app_init: Application information:',
      'app_init: Project name:     ota-rig',
      'app_init: App version:      factory',
    ]);
    const stamps = boot.log.flatMap((line) => line.match(/^[EIW] \((\d+)\)/)?.[1] ?? []).map(Number);
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(rig.bootApp('SW_CPU_RESET').log).toEqual(boot.log);
  });
});
