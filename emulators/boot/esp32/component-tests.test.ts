/**
 * The multi-stage ESP-IDF component tests of `test_switch_ota.c` (reference/esp-idf.md §6.6),
 * replayed on one emulated flash: each stage is a boot of the bootloader model, then the app's
 * esp_ota_ops calls, then the reset the C test asks for.
 */
import { describe, expect, it } from 'vitest';
import { EspError, type EspOtaOps, OTA_SIZE_UNKNOWN } from '../../esp32-ota-ops/index.ts';
import { OtaState, writeOtadataEntry } from '../../otadata/index.ts';
import { Esp32Rig } from './esp32-test-rig.ts';
import type { Esp32ResetReason } from './rom-log.ts';

/** `get_running_firmware()`: boots, and checks the running partition is the configured one. */
function stage(rig: Esp32Rig, expected: string, reset: Esp32ResetReason = 'DEEPSLEEP_RESET'): EspOtaOps {
  const boot = rig.bootApp(reset);
  expect(boot.partition.label).toBe(expected);
  const ops = rig.ops(boot);
  expect(ops.getRunningPartition().label).toBe(expected);
  if (expected !== 'test') expect(ops.getBootPartition()?.label).toBe(expected);
  return ops;
}

/** `start_test()`: erase otadata, then reboot. */
function startTest(rollback: boolean): Esp32Rig {
  const rig = new Esp32Rig({ chip: { rollback } });
  rig.eraseOtadata();
  return rig;
}

function markAppValid(ops: EspOtaOps, rollback: boolean): void {
  if (rollback) ops.markAppValidCancelRollback();
}

/** `corrupt_ota_data`: zero the CRC of one entry, erase otadata, write the entries back. */
function corruptOtadataCrc(rig: Esp32Rig, entry: 0 | 1): void {
  const otadata = rig.mustPartition('otadata');
  const entries = rig.otadataEntries();
  entries[entry] = { ...entries[entry], crc: 0 };
  rig.flash.eraseRange(otadata.offset, otadata.size);
  writeOtadataEntry(rig.flash, otadata, 0, entries[0], { order: 'in-place' });
  // For the ota_sec1 case the C helper passes &ota_data[1] and indexes [1] again, so sector 1 gets
  // stack bytes past the array; reference §6.6 records that case as "entry1 erased".
  if (entry === 1) writeOtadataEntry(rig.flash, otadata, 1, entries[1], { order: 'in-place' });
}

function expectEspError(call: () => unknown, code: string): void {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(EspError);
    expect((error as EspError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

describe.each([false, true])('test_switch_ota.c with rollback=%s', (rollback) => {
  it('Switching between factory, OTA0, OTA1, OTA0', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_1');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
    expect(rig.otadataEntries().map((entry) => entry.seq)).toEqual([3, 2]);
  });

  it('Switching between factory, OTA0, corrupt ota_sec1, factory', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    corruptOtadataCrc(rig, 0);
    const boot = rig.bootApp('DEEPSLEEP_RESET');
    expect(boot.partition.label).toBe('factory');
    expect(
      boot.log.some((line) =>
        /^E \(\d+\) boot: ota data partition invalid, falling back to factory$/.test(line),
      ),
    ).toBe(true);
  });

  it('Switching between factory, OTA0, OTA1, corrupt ota_sec2, OTA0', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_1');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    corruptOtadataCrc(rig, 1);
    ops = stage(rig, 'ota_0');
  });

  it('Test rollback. factory, OTA0, OTA0, rollback -> factory', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    expectEspError(() => ops.getStateOf(ops.getRunningPartition()), 'ESP_ERR_NOT_SUPPORTED');
    const updated = rig.copyRunningAppToNextPartition(ops);
    expect(ops.getStateOf(updated)).toBe(rollback ? OtaState.NEW : OtaState.UNDEFINED);

    ops = stage(rig, 'ota_0');
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(
      rollback ? OtaState.PENDING_VERIFY : OtaState.UNDEFINED,
    );
    ops.markAppValidCancelRollback();
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);

    ops = stage(rig, 'ota_0');
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
    const lines: string[] = [];
    const boot = rig.bootApp('DEEPSLEEP_RESET');
    ops = rig.ops(boot, lines);
    expect(ops.markAppInvalidRollbackAndReboot()).toBe('reboot');
    expect(
      lines.some((line) => line.endsWith('esp_ota_ops: Rollback to previously worked partition. Restart.')),
    ).toBe(true);

    ops = stage(rig, 'factory', 'SW_CPU_RESET');
    const invalid = ops.getLastInvalidPartition();
    expect(invalid?.label).toBe('ota_0');
    expect(ops.getNextUpdatePartition()?.label).toBe('ota_0');
    expectEspError(() => ops.getStateOf(ops.getRunningPartition()), 'ESP_ERR_NOT_SUPPORTED');
    expect(invalid && ops.getStateOf(invalid)).toBe(OtaState.INVALID);
  });

  it('Test rollback. factory, OTA0, OTA1, rollback -> OTA0', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    let updated = rig.copyRunningAppToNextPartition(ops);
    expect(ops.getStateOf(updated)).toBe(rollback ? OtaState.NEW : OtaState.UNDEFINED);

    ops = stage(rig, 'ota_0');
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(
      rollback ? OtaState.PENDING_VERIFY : OtaState.UNDEFINED,
    );
    ops.markAppValidCancelRollback();
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
    updated = rig.copyRunningAppToNextPartition(ops);
    expect(ops.getStateOf(updated)).toBe(rollback ? OtaState.NEW : OtaState.UNDEFINED);

    ops = stage(rig, 'ota_1');
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    if (rollback) {
      // The new app never confirms itself; the next reset rolls it back.
      expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.PENDING_VERIFY);
    } else {
      expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.UNDEFINED);
      expect(ops.markAppInvalidRollbackAndReboot()).toBe('reboot');
    }

    ops = stage(rig, 'ota_0', rollback ? 'DEEPSLEEP_RESET' : 'SW_CPU_RESET');
    const invalid = ops.getLastInvalidPartition();
    expect(invalid?.label).toBe('ota_1');
    expect(ops.getNextUpdatePartition()?.label).toBe('ota_1');
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
    expect(invalid && ops.getStateOf(invalid)).toBe(rollback ? OtaState.ABORTED : OtaState.INVALID);
  });

  it('Test erase_last_boot_app_partition. factory, OTA1, OTA0, factory', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_1');
    ops.eraseLastBootAppPartition();
    const ota0 = rig.mustPartition('ota_0');
    expect(rig.flash.read(ota0.offset, ota0.size).every((byte) => byte === 0xff)).toBe(true);
    expect(ops.markAppInvalidRollbackAndReboot()).toBe('reboot');

    ops = stage(rig, 'factory', 'SW_CPU_RESET');
    expectEspError(() => ops.eraseLastBootAppPartition(), 'ESP_FAIL');
  });

  it('Switching between factory, OTA0 using esp_ota_write_with_offset', () => {
    const rig = startTest(rollback);
    let ops = stage(rig, 'factory');
    const next = ops.getNextUpdatePartition();
    if (!next) throw new Error('no next partition');
    const running = ops.getRunningPartition();
    const handle = ops.begin(next, OTA_SIZE_UNKNOWN);
    for (let offset = 0; offset < running.size; offset += 4096) {
      ops.writeWithOffset(handle, rig.flash.read(running.offset + offset, 4096), offset);
    }
    ops.end(handle);
    ops.setBootPartition(next);
    ops = stage(rig, 'ota_0');
    markAppValid(ops, rollback);
  });
});

describe('test_switch_ota.c, rollback-only cases (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE)', () => {
  it('Test rollback. Updated partition invalidated after esp_ota_begin', () => {
    const rig = startTest(true);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    ops.markAppValidCancelRollback();
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    rig.copyRunningAppToNextPartition(ops);

    ops = stage(rig, 'ota_1');
    ops.markAppValidCancelRollback();
    const update = ops.getNextUpdatePartition();
    if (!update) throw new Error('no next partition');
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    expect(ops.getStateOf(update)).toBe(OtaState.VALID);
    const handle = ops.begin(update, OTA_SIZE_UNKNOWN);
    // v5.5+: otadata no longer names the slot being rewritten.
    expect(ops.getStateOf(update)).toBeUndefined();
    const running = ops.getRunningPartition();
    ops.write(handle, rig.flash.read(running.offset, running.size));
    ops.end(handle);

    ops = stage(rig, 'ota_1', 'SW_CPU_RESET');
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
    expect(ops.getLastInvalidPartition()).toBeUndefined();
    const next = ops.getNextUpdatePartition();
    expect(next?.label).toBe('ota_0');
    expect(next && ops.getStateOf(next)).toBeUndefined();
  });

  it('before v5.5, esp_ota_begin leaves the inactive otadata slot alone', () => {
    const rig = new Esp32Rig({ chip: { rollback: true, idfVersion: 'v5.4' } });
    let ops = stage(rig, 'factory', 'POWERON_RESET');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    ops.markAppValidCancelRollback();
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_1');
    ops.markAppValidCancelRollback();
    const update = ops.getNextUpdatePartition();
    if (!update) throw new Error('no next partition');
    ops.begin(update, OTA_SIZE_UNKNOWN);
    expect(ops.getStateOf(update)).toBe(OtaState.VALID);
  });

  it('Test esp_rewrite_otadata. Updated sequence number for non-running partition always', () => {
    const rig = startTest(true);
    let ops = stage(rig, 'factory');
    rig.copyRunningAppToNextPartition(ops);
    ops = stage(rig, 'ota_0');
    ops.markAppValidCancelRollback();
    rig.copyRunningAppToNextPartition(ops);
    // No reboot: a second update still targets ota_1 and must leave the running app's entry alone.
    rig.copyRunningAppToNextPartition(ops);
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
    expect(rig.otadataEntries().map((entry) => [entry.seq, entry.state])).toEqual([
      [1, OtaState.VALID],
      [2, OtaState.NEW],
    ]);
    ops = stage(rig, 'ota_1');
    ops.markAppValidCancelRollback();
    expect(ops.getStateOf(ops.getRunningPartition())).toBe(OtaState.VALID);
  });
});
