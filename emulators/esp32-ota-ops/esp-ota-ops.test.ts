/** esp_ota_ops behaviour of reference/esp-idf.md §3.5, §3.6 and §4, each rejection with its acceptance twin. */
import { describe, expect, it } from 'vitest';
import { appImage, Esp32Rig } from '../boot/esp32/esp32-test-rig.ts';
import { OtaState } from '../otadata/index.ts';
import {
  ESP_ERR,
  EspError,
  type EspOtaOps,
  OTA_SIZE_UNKNOWN,
  OTA_WITH_SEQUENTIAL_WRITES,
  SecureVersionEfuse,
} from './index.ts';

function espErrorOf(call: () => unknown): EspError {
  try {
    call();
  } catch (error) {
    if (error instanceof EspError) return error;
    throw error;
  }
  throw new Error('expected an EspError, the call succeeded');
}

function factoryRig(chip = {}) {
  const rig = new Esp32Rig({ chip });
  const lines: string[] = [];
  const ops = rig.ops(rig.bootApp(), lines);
  return { rig, ops, lines };
}

function isErased(rig: Esp32Rig, offset: number, length: number): boolean {
  return rig.flash.read(offset, length).every((byte) => byte === 0xff);
}

function install(ops: EspOtaOps, image: Uint8Array) {
  const target = ops.getNextUpdatePartition();
  if (!target) throw new Error('no next partition');
  const handle = ops.begin(target, image.length);
  ops.write(handle, image);
  ops.end(handle);
  ops.setBootPartition(target);
  return target;
}

describe('EspOtaOps', () => {
  it('carries the esp_err_t values of §4.1', () => {
    expect(ESP_ERR.ESP_ERR_OTA_VALIDATE_FAILED).toBe(0x1503);
    expect(ESP_ERR.ESP_ERR_OTA_SMALL_SEC_VER).toBe(0x1504);
    expect(ESP_ERR.ESP_ERR_OTA_ROLLBACK_INVALID_STATE).toBe(0x1506);
    expect(new EspError('ESP_ERR_OTA_PARTITION_CONFLICT', 'x').err).toBe(0x1501);
  });

  it('begin erases ALIGN_UP(size, 4 KiB), the whole slot for OTA_SIZE_UNKNOWN, and nothing for sequential writes', () => {
    const { rig, ops } = factoryRig();
    const ota0 = rig.mustPartition('ota_0');
    const dirty = () => rig.flash.program(ota0.offset, new Uint8Array(ota0.size));
    dirty();
    ops.abort(ops.begin(ota0, 5000));
    expect(isErased(rig, ota0.offset, 0x2000)).toBe(true);
    expect(rig.flash.read(ota0.offset + 0x2000, 1)[0]).toBe(0);
    ops.abort(ops.begin(ota0, OTA_SIZE_UNKNOWN));
    expect(isErased(rig, ota0.offset, ota0.size)).toBe(true);
    dirty();
    const handle = ops.begin(ota0, OTA_WITH_SEQUENTIAL_WRITES);
    expect(rig.flash.read(ota0.offset, 1)[0]).toBe(0);
    // Sequential mode erases each sector as the writes reach it.
    ops.write(handle, appImage('seq').subarray(0, 100));
    expect(rig.flash.read(ota0.offset + 100, 1)[0]).toBe(0xff);
    expect(rig.flash.read(ota0.offset + 0x1000, 1)[0]).toBe(0);
  });

  it('handles count from 1 and an unknown handle is refused', () => {
    const { rig, ops } = factoryRig();
    expect(ops.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN)).toBe(1);
    expect(ops.begin(rig.mustPartition('ota_1'), OTA_SIZE_UNKNOWN)).toBe(2);
    expect(espErrorOf(() => ops.write(9, new Uint8Array([0xe9]))).code).toBe('ESP_ERR_INVALID_ARG');
    expect(espErrorOf(() => ops.abort(9)).code).toBe('ESP_ERR_NOT_FOUND');
  });

  it('refuses to stage into the running partition, the factory app, or a slot already open', () => {
    const { rig, ops } = factoryRig();
    expect(espErrorOf(() => ops.begin(rig.mustPartition('factory'), OTA_SIZE_UNKNOWN)).code).toBe(
      'ESP_ERR_INVALID_ARG',
    );
    const open = ops.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN);
    expect(espErrorOf(() => ops.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN)).code).toBe(
      'ESP_ERR_OTA_ALREADY_IN_PROGRESS',
    );
    ops.abort(open);
    install(ops, appImage('v1'));
    const running = rig.ops(rig.bootApp());
    expect(espErrorOf(() => running.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN)).code).toBe(
      'ESP_ERR_OTA_PARTITION_CONFLICT',
    );
    expect(running.begin(rig.mustPartition('ota_1'), OTA_SIZE_UNKNOWN)).toBe(1);
  });

  it('checks only the first byte on write: 0xE9 or ESP_ERR_OTA_VALIDATE_FAILED with the log line', () => {
    const { rig, ops, lines } = factoryRig();
    const handle = ops.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN);
    const error = espErrorOf(() => ops.write(handle, new Uint8Array([0x00, 1, 2, 3])));
    expect(error.code).toBe('ESP_ERR_OTA_VALIDATE_FAILED');
    expect(lines.at(-1)).toMatch(
      /^E \(\d+\) esp_ota_ops: OTA image has invalid magic byte \(expected 0xE9, saw 0x00\)$/,
    );
    ops.write(handle, new Uint8Array([0xe9, 0x00]));
    ops.write(handle, new Uint8Array([0x12])); // later bytes are not checked
  });

  it('end verifies the image: a truncated one fails with ESP_ERR_OTA_VALIDATE_FAILED and frees the handle', () => {
    const { rig, ops, lines } = factoryRig();
    const ota0 = rig.mustPartition('ota_0');
    const image = appImage('v1');
    let handle = ops.begin(ota0, image.length);
    ops.write(handle, image.subarray(0, 8000));
    expect(espErrorOf(() => ops.end(handle)).code).toBe('ESP_ERR_OTA_VALIDATE_FAILED');
    expect(lines).toContainEqual(expect.stringMatching(/esp_ota_ops: New image failed verification$/));
    expect(espErrorOf(() => ops.end(handle)).code).toBe('ESP_ERR_NOT_FOUND');
    expect(espErrorOf(() => ops.setBootPartition(ota0)).code).toBe('ESP_ERR_OTA_VALIDATE_FAILED');
    handle = ops.begin(ota0, image.length);
    ops.write(handle, image);
    ops.end(handle);
    ops.setBootPartition(ota0);
    expect(rig.bootApp().partition.label).toBe('ota_0');
  });

  it('end with nothing written is ESP_ERR_INVALID_ARG', () => {
    const { rig, ops } = factoryRig();
    expect(espErrorOf(() => ops.end(ops.begin(rig.mustPartition('ota_0'), OTA_SIZE_UNKNOWN))).code).toBe(
      'ESP_ERR_INVALID_ARG',
    );
  });

  it('set_boot writes the next seq into the other entry, NEW with rollback and UNDEFINED without', () => {
    for (const rollback of [false, true]) {
      const { rig, ops } = factoryRig({ rollback });
      install(ops, appImage('v1'));
      expect(rig.otadataEntries()[0]).toMatchObject({
        seq: 1,
        state: rollback ? OtaState.NEW : OtaState.UNDEFINED,
      });
      const running = rig.ops(rig.bootApp());
      if (rollback) running.markAppValidCancelRollback();
      install(running, appImage('v2'));
      expect(rig.otadataEntries().map((entry) => entry.seq)).toEqual([1, 2]);
      // Setting factory erases the whole otadata partition.
      running.setBootPartition(rig.mustPartition('factory'));
      expect(isErased(rig, rig.mustPartition('otadata').offset, 0x2000)).toBe(true);
    }
  });

  it('refuses a new update while the running app is PENDING_VERIFY, and allows it once marked valid', () => {
    const { rig, ops, lines } = factoryRig({ rollback: true });
    install(ops, appImage('v1'));
    const running = rig.ops(rig.bootApp(), lines);
    expect(espErrorOf(() => running.begin(rig.mustPartition('ota_1'), OTA_SIZE_UNKNOWN)).code).toBe(
      'ESP_ERR_OTA_ROLLBACK_INVALID_STATE',
    );
    expect(lines.at(-1)).toMatch(
      /esp_ota_ops: Running app has not confirmed state \(ESP_OTA_IMG_PENDING_VERIFY\)$/,
    );
    running.markAppValidCancelRollback();
    expect(running.begin(rig.mustPartition('ota_1'), OTA_SIZE_UNKNOWN)).toBe(1);
  });

  it('mark invalid without another bootable app is ESP_ERR_OTA_ROLLBACK_FAILED', () => {
    const rig = new Esp32Rig({ layout: { factory: false }, chip: { rollback: true } });
    const lines: string[] = [];
    const ops = rig.ops(rig.bootApp(), lines);
    expect(ops.checkRollbackIsPossible()).toBe(false);
    expect(espErrorOf(() => ops.markAppInvalidRollbackAndReboot()).code).toBe('ESP_ERR_OTA_ROLLBACK_FAILED');
    expect(lines.at(-1)).toMatch(/Rollback is not possible, do not have any suitable apps in slots$/);
    install(ops, appImage('v1'));
    const next = rig.ops(rig.bootApp(), lines);
    expect(next.checkRollbackIsPossible()).toBe(true);
    expect(next.markAppInvalidRollbackAndReboot()).toBe('reboot');
    expect(rig.bootApp().partition.label).toBe('ota_0');
  });

  it('mark valid from factory is ESP_FAIL ("Running firmware is factory")', () => {
    const { ops } = factoryRig({ rollback: true });
    expect(espErrorOf(() => ops.markAppValidCancelRollback()).code).toBe('ESP_FAIL');
  });

  it('getPartitionDescription reads the descriptor and refuses a blank slot', () => {
    const { rig, ops } = factoryRig();
    expect(ops.getPartitionDescription(rig.mustPartition('factory')).version).toBe('factory');
    expect(espErrorOf(() => ops.getPartitionDescription(rig.mustPartition('ota_1'))).code).toBe(
      'ESP_ERR_NOT_FOUND',
    );
    expect(espErrorOf(() => ops.getPartitionDescription(rig.mustPartition('nvs'))).code).toBe(
      'ESP_ERR_NOT_SUPPORTED',
    );
  });
});

describe('anti-rollback (§3.6)', () => {
  function antiRollbackRig(efuseBits = 0) {
    const efuse = new SecureVersionEfuse(efuseBits);
    const rig = new Esp32Rig({
      layout: { factory: false },
      chip: { rollback: true, antiRollback: true, efuse },
      images: { ota_0: appImage('v1', { secureVersion: 1 }) },
    });
    return { rig, efuse };
  }

  it('first boot on blank otadata logs the anti-rollback lines, records ota_seq and burns the eFuse', () => {
    const { rig, efuse } = antiRollbackRig();
    const boot = rig.bootApp();
    expect(boot.partition.label).toBe('ota_0');
    const text = boot.log.map((line) => line.replace(/^([EIW]) \(\d+\) /, '$1 '));
    expect(text).toContain('I boot: Enabled a check secure version of app for anti rollback');
    expect(text).toContain('I boot: Secure version (from eFuse) = 0');
    expect(text).toContain('I boot: otadata[0..1] in initial state');
    expect(text).toContain('I boot: Set actual ota_seq=1 in otadata[0]');
    expect(text).toContain('I app_init: Secure version:   1');
    expect(efuse.value).toBe(1);
  });

  it('set_boot refuses a lower secure_version with ESP_ERR_OTA_SMALL_SEC_VER and erases the partition; an equal one is accepted', () => {
    const { rig, efuse } = antiRollbackRig();
    const lines: string[] = [];
    const ops = rig.ops(rig.bootApp(), lines);
    expect(efuse.value).toBe(1);
    const ota1 = rig.mustPartition('ota_1');
    const older = appImage('v0', { secureVersion: 0 });
    const handle = ops.begin(ota1, older.length);
    ops.write(handle, older);
    ops.end(handle);
    const error = espErrorOf(() => ops.setBootPartition(ota1));
    expect(error.code).toBe('ESP_ERR_OTA_SMALL_SEC_VER');
    expect(error.err).toBe(0x1504);
    expect(lines.at(-1)).toMatch(
      /esp_ota_ops: This a new partition can not be booted due to a secure version is lower than stored in efuse\. Partition will be erased\.$/,
    );
    expect(isErased(rig, ota1.offset, ota1.size)).toBe(true);
    expect(rig.otadataEntries()[1].seq).toBe(0xffffffff);

    install(ops, appImage('v1b', { secureVersion: 1 }));
    expect(rig.bootApp().partition.label).toBe('ota_1');
  });

  it('mark valid burns the eFuse to the running app secure_version; until then it stays', () => {
    const { rig, efuse } = antiRollbackRig();
    const ops = rig.ops(rig.bootApp());
    install(ops, appImage('v3', { secureVersion: 3 }));
    const lines: string[] = [];
    const running = rig.ops(rig.bootApp(), lines);
    expect(efuse.value).toBe(1);
    running.markAppValidCancelRollback();
    expect(efuse.value).toBe(3);
    expect(efuse.raw).toBe(0b111);
    expect(lines.at(-1)).toMatch(/^I \(\d+\) efuse: Anti-rollback is set\. eFuse field is updated\(3\)\.$/);
    // The old slot (secure_version 1) is now below the eFuse: no rollback to it is possible.
    expect(running.checkRollbackIsPossible()).toBe(false);
  });

  it('the bootloader skips a slot whose secure_version is below the eFuse', () => {
    const { rig, efuse } = antiRollbackRig();
    const ops = rig.ops(rig.bootApp());
    install(ops, appImage('v3', { secureVersion: 3 }));
    rig.ops(rig.bootApp()).markAppValidCancelRollback();
    // Force otadata back to ota_0 (secure_version 1): the bootloader must not run it.
    rig.eraseOtadata();
    const boot = rig.bootApp();
    expect(efuse.value).toBe(3);
    expect(boot.partition.label).toBe('ota_1');
    expect(boot.log.some((line) => /boot: OTA app partition slot 0 is not bootable$/.test(line))).toBe(true);
  });

  it('SecureVersionEfuse counts burnt bits and never clears them', () => {
    const efuse = new SecureVersionEfuse(0b11);
    expect(efuse.value).toBe(2);
    efuse.burn(1);
    expect(efuse.raw).toBe(0b11);
    efuse.burn(3);
    expect(efuse.raw).toBe(0b111);
    expect(efuse.value).toBe(3);
    expect(() => efuse.burn(33)).toThrow(EspError);
  });
});
