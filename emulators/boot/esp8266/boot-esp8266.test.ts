import { describe, expect, it } from 'vitest';
import { gzipImage } from '../../../fixtures/gzip-image/index.ts';
import { SeededRandom } from '../../../fixtures/random/index.ts';
import {
  type CoreVersion,
  decodeEbootCommand,
  type Esp8266Layout,
  Esp8266Updater,
  LAYOUT_1M_FS64K,
  type RtcPowerOffBehaviour,
  RtcUserMemory,
} from '../../esp8266-updater/index.ts';
import { type FlashOperation, NorFlash } from '../../flash/index.ts';
import { buildArduinoSketch } from './arduino-sketch.ts';
import { type BootEsp8266Result, bootEsp8266 } from './boot-esp8266.ts';

const oldSketch = buildArduinoSketch({ appSize: 0x2000, seed: 1, flashSize: '1MB' });
const newSketch = buildArduinoSketch({ appSize: 0x3800, seed: 2, flashSize: '1MB' });
const layout: Esp8266Layout = { ...LAYOUT_1M_FS64K, sketchSize: oldSketch.length };

function device(options: { core?: CoreVersion; rtcPowerOff?: RtcPowerOffBehaviour; seed?: number } = {}) {
  const flash = new NorFlash({ size: layout.flashSize, initial: oldSketch, seed: options.seed ?? 1 });
  const rtc = new RtcUserMemory({ powerOff: options.rtcPowerOff ?? 'retain' });
  const updater = new Esp8266Updater({ flash, rtc, layout, core: options.core ?? '3.1.2' });
  return { flash, rtc, updater };
}

function stage(updater: Esp8266Updater, bytes: Uint8Array, command: 'flash' | 'fs' = 'flash'): boolean {
  if (!updater.begin(bytes.length, command)) return false;
  for (let offset = 0; offset < bytes.length; offset += 1460)
    updater.write(bytes.subarray(offset, offset + 1460));
  return updater.end();
}

const runs = (flash: NorFlash, sketch: Uint8Array) =>
  Buffer.compare(flash.snapshot().subarray(0, sketch.length), sketch) === 0;

describe('bootEsp8266: console', () => {
  it('prints the ROM banner with the reset cause, the version word and ~ld with no command', () => {
    const { flash, rtc } = device();
    const boot = bootEsp8266({ flash, rtc, layout });
    const version = new DataView(oldSketch.buffer).getUint32(0x1010, true).toString(16).padStart(8, '0');
    expect(boot.log).toEqual(['ets Jan  8 2013,rst cause:2, boot mode:(3,6)', `v${version}`, '~ld']);
    expect(boot.booted).toBe(true);
    expect(boot.copied).toBe(false);
    expect(boot.image?.magic).toBe(0xe9);
    const watchdog = bootEsp8266({ flash, rtc, layout, resetCause: 4 });
    expect(watchdog.log.slice(0, 2)).toEqual(['ets Jan  8 2013,rst cause:4, boot mode:(3,6)', 'wdt reset']);
  });

  it('copies a staged update (skipping the identical eboot sector: B), clears the command, then loads it', () => {
    const { flash, rtc, updater } = device();
    expect(stage(updater, newSketch)).toBe(true);
    const boot = bootEsp8266({ flash, rtc, layout });
    expect(boot.log.slice(2)).toEqual(['@cp:B0', 'ld']);
    expect(boot.copied && boot.booted).toBe(true);
    expect(runs(flash, newSketch)).toBe(true);
    expect(decodeEbootCommand(rtc.readEbootCommandBytes())).toBeUndefined();
    expect(bootEsp8266({ flash, rtc, layout }).log.at(-1)).toBe('~ld');
  });

  it('2.7.4’s eboot rewrites sector 0 too (no B)', () => {
    const { flash, rtc, updater } = device({ core: '2.7.4' });
    expect(stage(updater, newSketch)).toBe(true);
    const boot = bootEsp8266({ flash, rtc, layout, core: '2.7.4' });
    expect(boot.log.slice(2)).toEqual(['@cp:0', 'ld']);
    expect(runs(flash, newSketch)).toBe(true);
  });

  it('an erased app area ends in e:3 and a soft reset; a bad magic with readable segments does not run', () => {
    const erased = new NorFlash({ size: layout.flashSize, initial: oldSketch.subarray(0, 0x1000) });
    const boot = bootEsp8266({ flash: erased, rtc: new RtcUserMemory(), layout });
    expect(boot.log.slice(-2)).toEqual(['~ld', 'e:3']);
    expect(boot.booted).toBe(false);
    expect(boot.softReset).toBe(true);
    const badMagic = oldSketch.slice();
    badMagic[0x1000] = 0x00;
    const crashed = bootEsp8266({
      flash: new NorFlash({ size: layout.flashSize, initial: badMagic }),
      rtc: new RtcUserMemory(),
      layout,
    });
    expect(crashed.booted).toBe(false);
    expect(crashed.failure).toBe('crashed');
  });

  it('inflates a gzip update using ISIZE from its last 4 bytes', () => {
    const { flash, rtc, updater } = device();
    expect(stage(updater, gzipImage(newSketch))).toBe(true);
    const boot = bootEsp8266({ flash, rtc, layout });
    expect(boot.log.slice(2)).toEqual(['@cp:B0', 'ld']);
    expect(boot.booted).toBe(true);
    expect(runs(flash, newSketch)).toBe(true);
  });

  it('a damaged gzip stream fails the copy with cp:6', () => {
    const { flash, rtc, updater } = device();
    const gz = gzipImage(newSketch);
    const damaged = gz.slice();
    for (let i = 200; i < 260; i++) damaged[i] = 0xff;
    expect(stage(updater, damaged)).toBe(true);
    const boot = bootEsp8266({ flash, rtc, layout });
    expect(boot.log[2]).toBe('@cp:6');
    expect(boot.copied).toBe(false);
    expect(boot.softReset).toBe(true);
  });

  it('ATOMIC_FS_UPDATE: eboot copies the FS image to FS_start (then tries to load an app from there, derived)', () => {
    const flash = new NorFlash({ size: layout.flashSize, initial: oldSketch });
    const rtc = new RtcUserMemory();
    const updater = new Esp8266Updater({ flash, rtc, layout, atomicFsUpdate: true });
    const fsImage = new SeededRandom(5).bytes(0x3000);
    expect(stage(updater, fsImage, 'fs')).toBe(true);
    const first = bootEsp8266({ flash, rtc, layout });
    // eboot then runs load_app_from_flash_raw(FS_start): the FS bytes are no app.
    expect(first.log.slice(2)).toEqual(['@cp:0', 'ld', 'e:3']);
    expect(first.copied).toBe(true);
    expect(first.booted).toBe(false);
    expect(flash.read(layout.fsStart, fsImage.length)).toEqual(fsImage);
    const second = bootEsp8266({ flash, rtc, layout });
    expect(second.log.at(-1)).toBe('~ld');
    expect(second.booted).toBe(true);
    expect(runs(flash, oldSketch)).toBe(true);
  });
});

type Outcome = 'old' | 'new' | 'unbootable';

/** Boots until the device runs something or the same failure repeats (a boot loop). */
function bootUntilStable(
  flash: NorFlash,
  rtc: RtcUserMemory,
  core: CoreVersion,
): { outcome: Outcome; boots: BootEsp8266Result[] } {
  const boots: BootEsp8266Result[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const boot = bootEsp8266({ flash, rtc, layout, core, resetCause: attempt === 0 ? 1 : 2 });
    boots.push(boot);
    if (boot.booted) {
      if (runs(flash, newSketch)) return { outcome: 'new', boots };
      if (runs(flash, oldSketch)) return { outcome: 'old', boots };
      throw new Error('booted an image that is neither the old nor the new sketch');
    }
  }
  return { outcome: 'unbootable', boots };
}

/** Power back after a cut: flash on, RTC through its power-off behaviour. */
function restorePower(flash: NorFlash, rtc: RtcUserMemory): void {
  flash.powerOn();
  rtc.powerCycle();
}

function stagingOperations(): FlashOperation[] {
  const { flash, updater } = device();
  const operations: FlashOperation[] = [];
  flash.onOperation((operation) => operations.push(operation));
  stage(updater, newSketch);
  return operations;
}

function copyOperations(core: CoreVersion): FlashOperation[] {
  const { flash, rtc, updater } = device({ core });
  stage(updater, newSketch);
  const operations: FlashOperation[] = [];
  flash.onOperation((operation) => operations.push(operation));
  bootEsp8266({ flash, rtc, layout, core });
  return operations;
}

describe('power cuts (property, seeded)', () => {
  it('≥ 1000 cut points during staging and during the eboot copy: the device runs the old or the whole new sketch', () => {
    const random = new SeededRandom(0x8266);
    const staging = stagingOperations();
    const copy = copyOperations('3.1.2');
    const programmed = (operations: FlashOperation[]) =>
      operations.reduce((sum, operation) => sum + (operation.kind === 'program' ? operation.length : 0), 0);
    const tally = { old: 0, new: 0, unbootable: 0 };
    let cutsThatFired = 0;
    for (let trial = 0; trial < 1100; trial++) {
      const { flash, rtc, updater } = device({ seed: trial });
      const phase = random.next() < 0.5 ? copy : staging;
      const limit =
        random.next() < 0.5
          ? { bytes: random.int(0, programmed(phase) - 1) }
          : { operations: random.int(0, phase.length - 1) };
      let fired = false;
      if (phase === copy) {
        expect(stage(updater, newSketch)).toBe(true);
        flash.cutAfter(limit);
        fired = bootEsp8266({ flash, rtc, layout }).powerLost;
      } else {
        flash.cutAfter(limit);
        try {
          stage(updater, newSketch);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('FLASH_POWER_LOST');
          fired = true;
        }
      }
      expect(fired).toBe(true);
      cutsThatFired++;
      restorePower(flash, rtc);
      const { outcome } = bootUntilStable(flash, rtc, '3.1.2');
      expect(outcome).not.toBe('unbootable');
      tally[outcome]++;
    }
    expect(cutsThatFired).toBeGreaterThanOrEqual(1000);
    expect(tally.old).toBeGreaterThan(300);
    expect(tally.new).toBeGreaterThan(300);
  });

  it('RTC lost at power-off (UNCONFIRMED setting): unbootable exactly from the first copy operation to the last program carrying image bytes', () => {
    const operations = copyOperations('3.1.2');
    const lastImageProgram = operations.findLastIndex(
      (operation) => operation.kind === 'program' && operation.offset < newSketch.length,
    );
    expect(operations[0]).toMatchObject({ kind: 'erase-sector', offset: 0x1000 });
    for (let cutAt = 0; cutAt <= operations.length + 1; cutAt++) {
      const { flash, rtc, updater } = device({ rtcPowerOff: 'lose', seed: cutAt });
      expect(stage(updater, newSketch)).toBe(true);
      flash.cutAfter({ operations: cutAt });
      bootEsp8266({ flash, rtc, layout });
      restorePower(flash, rtc);
      const { outcome } = bootUntilStable(flash, rtc, '3.1.2');
      expect({ cutAt, outcome }).toEqual({
        cutAt,
        outcome: cutAt <= lastImageProgram ? 'unbootable' : 'new',
      });
    }
  });

  it('a power-off between end() and the reboot keeps the update only if RTC memory survives', () => {
    for (const [behaviour, expected] of [
      ['retain', 'new'],
      ['lose', 'old'],
    ] as const) {
      const { flash, rtc, updater } = device({ rtcPowerOff: behaviour });
      expect(stage(updater, newSketch)).toBe(true);
      flash.powerOff();
      restorePower(flash, rtc);
      expect(bootUntilStable(flash, rtc, '3.1.2').outcome).toBe(expected);
    }
  });

  it('2.7.4 (derived): a cut while eboot rewrites its own sector 0 leaves no bootloader even with RTC retained', () => {
    const operations = copyOperations('2.7.4');
    const lastEbootProgram = operations.findLastIndex(
      (operation) => operation.kind === 'program' && operation.offset < 0x800,
    );
    for (let cutAt = 0; cutAt <= lastEbootProgram + 2; cutAt++) {
      const { flash, rtc, updater } = device({ core: '2.7.4', seed: cutAt });
      expect(stage(updater, newSketch)).toBe(true);
      flash.cutAfter({ operations: cutAt });
      bootEsp8266({ flash, rtc, layout, core: '2.7.4' });
      restorePower(flash, rtc);
      const { outcome, boots } = bootUntilStable(flash, rtc, '2.7.4');
      if (cutAt <= lastEbootProgram) {
        expect(outcome).toBe('unbootable');
        expect(boots[0]?.failure).toBe('rom-no-bootloader');
      } else {
        expect(outcome).toBe('new');
      }
    }
  });

  it('(derived, #7458) a restarted copy whose destination overlaps the staged source ends unbootable', () => {
    const big = buildArduinoSketch({ appSize: 0x8_0000 - 0x1000, seed: 3, flashSize: '1MB' });
    const tight: Esp8266Layout = { ...layout, sketchSize: 0x1000 };
    const flash = new NorFlash({ size: layout.flashSize, initial: oldSketch });
    const rtc = new RtcUserMemory();
    const updater = new Esp8266Updater({ flash, rtc, layout: tight });
    expect(stage(updater, big)).toBe(true);
    const source = decodeEbootCommand(rtc.readEbootCommandBytes())?.args[0] ?? 0;
    expect(source).toBeLessThan(big.length);
    const operations: FlashOperation[] = [];
    const probe = new NorFlash({ size: layout.flashSize, initial: flash.snapshot() });
    const probeRtc = new RtcUserMemory();
    probeRtc.writeEbootCommandBytes(rtc.readEbootCommandBytes());
    probe.onOperation((operation) => operations.push(operation));
    expect(bootEsp8266({ flash: probe, rtc: probeRtc, layout }).booted).toBe(true);
    const overwritesSource = operations.findIndex((operation) => operation.offset >= source);
    expect(overwritesSource).toBeGreaterThan(0);
    flash.cutAfter({ operations: overwritesSource + 20 });
    expect(bootEsp8266({ flash, rtc, layout }).powerLost).toBe(true);
    restorePower(flash, rtc);
    const restarted = bootEsp8266({ flash, rtc, layout });
    expect(restarted.copied).toBe(true);
    expect(restarted.booted).toBe(false);
  });
});
