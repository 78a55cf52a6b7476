/**
 * Power cuts at seeded points of an ESP32 OTA and of the two otadata rewrites that touch the
 * active entry (reference/esp-idf.md §3.5 "Power-cut hazards"). After each cut the flash is
 * powered again and booted: the chip must run the old image or the whole new one, never a torn one.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../fixtures/random/index.ts';
import type { EspOtaOps } from '../../esp32-ota-ops/index.ts';
import { FlashPowerLostError, type PowerCutLimit } from '../../flash/index.ts';
import { OtaState } from '../../otadata/index.ts';
import { appImage, Esp32Rig } from './esp32-test-rig.ts';

const OLD = appImage('v1.0.0');
const NEW = appImage('v2.0.0');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const OLD_SHA = sha(OLD);
const NEW_SHA = sha(NEW);

/** A device running ota_0 = OLD, confirmed VALID, with rollback enabled; returned as a flash snapshot. */
function runningOldImage(): Uint8Array {
  const rig = new Esp32Rig({ chip: { rollback: true } });
  const ops = rig.ops(rig.bootApp());
  installUpdate(ops, OLD);
  const running = rig.ops(rig.bootApp());
  running.markAppValidCancelRollback();
  return rig.flash.snapshot();
}

/** begin + write in 1 KiB chunks + end + set_boot, as native_ota_example does. */
function installUpdate(ops: EspOtaOps, image: Uint8Array): void {
  const target = ops.getNextUpdatePartition();
  if (!target) throw new Error('no update partition');
  const handle = ops.begin(target, image.length);
  for (let at = 0; at < image.length; at += 1024) ops.write(handle, image.subarray(at, at + 1024));
  ops.end(handle);
  ops.setBootPartition(target);
}

/** Runs `action`, with power cut at `limit`; true when the cut happened. */
function withPowerCut(rig: Esp32Rig, limit: PowerCutLimit, action: () => void): boolean {
  rig.flash.cutAfter(limit);
  try {
    action();
  } catch (error) {
    if (error instanceof FlashPowerLostError) {
      rig.flash.powerOn();
      return true;
    }
    throw error;
  }
  rig.flash.powerOn();
  return false;
}

function measure(
  snapshot: Uint8Array,
  action: (rig: Esp32Rig) => void,
): { bytes: number; operations: number } {
  const rig = new Esp32Rig({ initial: snapshot, chip: { rollback: true } });
  let operations = 0;
  rig.flash.onOperation(() => operations++);
  const before = rig.flash.stats.bytesProgrammed;
  action(rig);
  return { bytes: rig.flash.stats.bytesProgrammed - before, operations };
}

describe('power cuts on an emulated ESP32', () => {
  const base = runningOldImage();

  it('during a full OTA (begin, write, end, set_boot) boots the old image or the complete new one, over 1,200 seeded cuts', () => {
    const update = (rig: Esp32Rig) => installUpdate(rig.ops(rig.bootApp()), NEW);
    const total = measure(base, update);
    expect(total.bytes).toBeGreaterThan(NEW.length);
    const random = new SeededRandom(0x07a);
    const limits: PowerCutLimit[] = [];
    for (let i = 0; i < 1000; i++) {
      limits.push(
        i % 2 === 0 ? { bytes: random.int(0, total.bytes) } : { operations: random.int(0, total.operations) },
      );
    }
    // Every byte of the otadata entry write, the last window before the switch.
    for (let bytes = total.bytes - 40; bytes <= total.bytes; bytes++) limits.push({ bytes });
    for (let operations = 0; operations <= total.operations; operations++) limits.push({ operations });

    const outcomes = { old: 0, new: 0 };
    for (const [index, limit] of limits.entries()) {
      const rig = new Esp32Rig({ initial: base, chip: { rollback: true }, seed: index + 1 });
      const ops = rig.ops(rig.bootApp());
      const cut = withPowerCut(rig, limit, () => installUpdate(ops, NEW));
      const boot = rig.bootApp();
      expect([OLD_SHA, NEW_SHA], `cut ${JSON.stringify(limit)}`).toContain(boot.imageSha256);
      if (!cut) expect(boot.imageSha256, `no cut at ${JSON.stringify(limit)}`).toBe(NEW_SHA);
      if (boot.imageSha256 === NEW_SHA) outcomes.new++;
      else outcomes.old++;
    }
    expect(limits.length).toBeGreaterThanOrEqual(1000);
    // Both outcomes occur, so the property is not vacuous.
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.new).toBeGreaterThan(0);
  });

  /** The flash after a complete OTA of NEW: entry 1 = {seq 2, NEW}, not yet booted. */
  const updated = (() => {
    const rig = new Esp32Rig({ initial: base, chip: { rollback: true } });
    installUpdate(rig.ops(rig.bootApp()), NEW);
    return rig.flash.snapshot();
  })();

  it("cut between the bootloader's otadata erase and its write of PENDING_VERIFY: the entry is lost and the older image boots", () => {
    for (let bytes = 0; bytes < 32; bytes++) {
      const rig = new Esp32Rig({ initial: updated, chip: { rollback: true } });
      // The rewrite is the boot's only flash write: erase sector, then 32 bytes. `bytes` of them land.
      const cut = withPowerCut(rig, { bytes }, () => rig.boot());
      expect(cut).toBe(true);
      const boot = rig.bootApp();
      expect(boot.partition.label, `cut after ${bytes} bytes of the entry`).toBe('ota_0');
      expect(boot.imageSha256).toBe(OLD_SHA);
    }
    // Acceptance twin: with all 32 bytes written the new image boots in PENDING_VERIFY.
    const rig = new Esp32Rig({ initial: updated, chip: { rollback: true } });
    expect(withPowerCut(rig, { bytes: 32 }, () => rig.boot())).toBe(false);
    expect(rig.otadataEntries()[1].state).toBe(OtaState.PENDING_VERIFY);
  });

  it('cut anywhere in the bootloader rewrite (seeded operation cuts) never boots a torn image', () => {
    const random = new SeededRandom(77);
    for (let i = 0; i < 50; i++) {
      const rig = new Esp32Rig({ initial: updated, chip: { rollback: true }, seed: random.nextUint32() });
      withPowerCut(rig, { operations: random.int(0, 1) }, () => rig.boot());
      expect([OLD_SHA, NEW_SHA]).toContain(rig.bootApp().imageSha256);
    }
  });

  it('cut between the erase and the write of esp_ota_mark_app_valid_cancel_rollback: unintended rollback to the older image', () => {
    // Each case is the new app's first boot (entry now PENDING_VERIFY), confirming itself.
    const firstBootOfNewApp = () => {
      const rig = new Esp32Rig({ initial: updated, chip: { rollback: true } });
      const boot = rig.bootApp();
      expect(boot.partition.label).toBe('ota_1');
      return { rig, ops: rig.ops(boot) };
    };
    for (let bytes = 0; bytes < 32; bytes++) {
      const { rig, ops } = firstBootOfNewApp();
      expect(withPowerCut(rig, { bytes }, () => ops.markAppValidCancelRollback())).toBe(true);
      const boot = rig.bootApp();
      expect(boot.partition.label, `cut after ${bytes} bytes of the VALID entry`).toBe('ota_0');
      expect(boot.imageSha256).toBe(OLD_SHA);
    }
    const { rig, ops } = firstBootOfNewApp();
    expect(withPowerCut(rig, { bytes: 32 }, () => ops.markAppValidCancelRollback())).toBe(false);
    expect(rig.bootApp().imageSha256).toBe(NEW_SHA);
    expect(rig.bootApp().imageSha256).toBe(NEW_SHA);
  });
});
