import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildEsp32Image } from '../../fixtures/esp32-image/index.ts';
import { readSketchDescriptor, writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import {
  bootEsp32,
  bootEsp8266,
  buildArduinoSketch,
  EBOOT_CLEARS_COMMAND_EARLY,
  type Esp32ResetReason,
} from '../boot/index.ts';
import type { DeviceConsole } from '../console/index.ts';
import { type Esp32ChipOptions, EspOtaOps, SecureVersionEfuse } from '../esp32-ota-ops/index.ts';
import {
  APP_START_OFFSET,
  type Esp8266Layout,
  Esp8266Updater,
  LAYOUT_4M_FS2M,
  RTC_USER_MEMORY_BYTES,
  RtcUserMemory,
} from '../esp8266-updater/index.ts';
import { type FlashTiming, type FlashTimingProfileName, NorFlash } from '../flash/index.ts';
import {
  factoryPartition,
  generatePartitionTable,
  otaAppPartitions,
  PARTITION_TABLE_OFFSET,
  parsePartitionCsv,
} from '../partition-table/index.ts';
import {
  emulatedMac,
  type ModemLines,
  personalityFor,
  pinsFor,
  RomLoader,
  romDownloadBanner,
  STRAP_LATCH_MS,
} from '../rom-loader/index.ts';
import { FlashTrace } from './flash-trace.ts';
import { ReceivedBytesCut } from './received-bytes-cut.ts';
import type {
  Endpoint,
  Esp32DeviceOptions,
  Esp32Services,
  Esp8266DeviceOptions,
  Esp8266Services,
  FirmwareContext,
  FirmwareModule,
  Platform,
  RunningFirmware,
  RunningImage,
} from './types.ts';
import { WriteRunRecorder } from './write-run-recorder.ts';

/** ESP-IDF's `partitions_two_ota.csv` (factory + two OTA slots), the layout most OTA examples use. */
export const FACTORY_TWO_OTA_CSV = `# Name,   Type, SubType, Offset,   Size, Flags
nvs,      data, nvs,     ,        0x4000,
otadata,  data, ota,     ,        0x2000,
phy_init, data, phy,     ,        0x1000,
factory,  app,  factory, ,        1M,
ota_0,    app,  ota_0,   ,        1M,
ota_1,    app,  ota_1,   ,        1M,
`;

/** Two OTA slots and no factory app (MicroPython's OTA boards): a rollback returns to the other slot. */
export const TWO_OTA_CSV = `# Name,   Type, SubType, Offset,   Size, Flags
nvs,      data, nvs,     ,        0x4000,
otadata,  data, ota,     ,        0x2000,
phy_init, data, phy,     ,        0x1000,
ota_0,    app,  ota_0,   ,        1536K,
ota_1,    app,  ota_1,   ,        1536K,
`;

export interface FactoryFirmware {
  version: string;
  projectName: string;
  /** Image size in bytes. */
  size: number;
  secureVersion: number;
  seed: number;
}

export interface EmulatedDeviceOptions {
  name: string;
  platform: Platform;
  firmware: FirmwareModule;
  console: DeviceConsole;
  defects?: readonly string[];
  options?: Readonly<Record<string, unknown>>;
  host?: string;
  /** Fixed ports by endpoint name, `*` for every endpoint (otherwise the OS picks one on the first boot). */
  ports?: Readonly<Record<string, number>>;
  timing?: FlashTimingProfileName | FlashTiming;
  seed?: number;
  factory?: Partial<FactoryFirmware>;
  esp32?: Esp32DeviceOptions;
  esp8266?: Esp8266DeviceOptions;
  /** Saves every run of contiguous flash writes of 4 KiB or more here (WriteRunRecorder). */
  receivedDir?: string;
}

/** `reset`: EN held low; `download`: the ROM serial loader runs (IO0 was low when EN rose). */
export type DeviceState = 'off' | 'booting' | 'running' | 'halted' | 'reset' | 'download';

export class UnknownDefectError extends Error {
  readonly code = 'UNKNOWN_DEFECT';
}

export class UnknownStateError extends Error {
  readonly code = 'UNKNOWN_STATE';
}

export class DevicePoweredError extends Error {
  readonly code = 'DEVICE_POWERED';
}

/**
 * One emulated chip: NOR flash with a partition table (ESP32) or the Arduino layout (ESP8266),
 * the real boot model, one profile's firmware, a console and a power switch. After every reset
 * it boots through the boot model, so what runs next — and the version it reports — comes from
 * the flash.
 */
export class EmulatedDevice {
  readonly name: string;
  readonly platform: Platform;
  readonly flash: NorFlash;
  readonly console: DeviceConsole;
  readonly nvs = new Map<string, string>();
  readonly endpoints = new Map<string, Endpoint>();
  /** Every flash operation and boot, numbered, for power-cut campaigns (GET /flash/trace). */
  readonly trace = new FlashTrace();
  private readonly module: FirmwareModule;
  private readonly defects: ReadonlySet<string>;
  private readonly firmwareOptions: Readonly<Record<string, unknown>>;
  private readonly host: string;
  private readonly fixedPorts: Readonly<Record<string, number>>;
  private readonly esp32Chip: Esp32ChipOptions & { efuse: SecureVersionEfuse };
  private readonly esp8266Layout: Esp8266Layout;
  private readonly esp8266Options: Esp8266DeviceOptions;
  private readonly rtc: RtcUserMemory;
  private stateValue: DeviceState = 'off';
  private runningImage: RunningImage | undefined;
  private firmware: RunningFirmware | undefined;
  private bootAbort: AbortController | undefined;
  private transition: Promise<void> = Promise.resolve();
  private bootCount = 0;
  private readonly saved: { flash: Uint8Array; nvs: Map<string, string>; rtc: Uint8Array }[] = [];
  private readonly bootListeners = new Set<(image: RunningImage | undefined) => void>();
  private lines: ModemLines = { dtr: false, rts: false };
  private strapLatch: NodeJS.Timeout | undefined;
  private loader: { loader: RomLoader; detach: () => void } | undefined;
  private recorder: WriteRunRecorder | undefined;
  private readonly receivedCut = new ReceivedBytesCut();

  constructor(options: EmulatedDeviceOptions) {
    this.name = options.name;
    this.platform = options.platform;
    this.module = options.firmware;
    this.console = options.console;
    this.host = options.host ?? '127.0.0.1';
    this.fixedPorts = options.ports ?? {};
    if (!this.module.platforms.includes(this.platform)) {
      throw new RangeError(`the ${this.module.profile} firmware does not run on ${this.platform}`);
    }
    const known = new Set(this.module.defects.map((d) => d.name));
    for (const defect of options.defects ?? []) {
      if (!known.has(defect)) {
        throw new UnknownDefectError(
          `unknown defect '${defect}' for profile ${this.module.profile}; known: ${[...known].join(', ') || 'none'}`,
        );
      }
    }
    this.defects = new Set(options.defects ?? []);
    this.firmwareOptions = { ...this.module.defaultOptions, ...options.options };
    const seed = options.seed ?? 1;
    const factory: FactoryFirmware = {
      version: '1.0.0',
      projectName: `${this.module.profile}-demo`,
      size: 64 * 1024,
      secureVersion: 0,
      seed,
      ...options.factory,
    };

    const chipOptions = options.esp32?.chip ?? {};
    this.esp32Chip = {
      ...chipOptions,
      efuse: new SecureVersionEfuse(bitsFor(chipOptions.efuseSecureVersion ?? 0)),
    };
    this.esp8266Options = options.esp8266 ?? {};
    this.esp8266Layout = { ...(this.esp8266Options.layout ?? LAYOUT_4M_FS2M) };
    this.rtc = new RtcUserMemory({ powerOff: this.esp8266Options.rtcPowerOff ?? 'retain' });

    if (this.platform === 'esp32') {
      this.flash = new NorFlash({
        size: options.esp32?.flashSize ?? 4 * 1024 * 1024,
        timing: options.timing,
        seed,
      });
      this.provisionEsp32(options.esp32?.partitionCsv ?? FACTORY_TWO_OTA_CSV, factory);
    } else {
      this.flash = new NorFlash({ size: this.esp8266Layout.flashSize, timing: options.timing, seed });
      this.provisionEsp8266(factory);
    }
    if (options.receivedDir !== undefined) {
      const recorder = new WriteRunRecorder(this.flash, options.receivedDir);
      this.recorder = recorder;
      this.flash.onOperation((op) => recorder.observe(op));
    }
    this.flash.onOperation((op) => this.trace.record(op));
    // A torn flash operation is the moment the chip lost power: end this boot like a real cut.
    this.flash.onOperation((op) => {
      if (!op.completed) this.enqueue(() => this.haltAfterPowerLoss());
    });
  }

  get state(): DeviceState {
    return this.stateValue;
  }

  get powered(): boolean {
    return this.stateValue !== 'off';
  }

  /** What the last boot loaded, or undefined when the chip is off or halted. */
  get running(): RunningImage | undefined {
    return this.runningImage;
  }

  get boots(): number {
    return this.bootCount;
  }

  /** How long after an update's outcome its firmware restarts itself (FirmwareModule.restartDelayMs), if it says. */
  get restartDelayMs(): number | undefined {
    return this.module.restartDelayMs?.(this.firmwareOptions, this.platform);
  }

  /** Calls back after every boot (with undefined when the boot failed). */
  onBoot(listener: (image: RunningImage | undefined) => void): () => void {
    this.bootListeners.add(listener);
    return () => this.bootListeners.delete(listener);
  }

  powerOn(): Promise<void> {
    return this.enqueue(async () => {
      if (this.stateValue !== 'off') return;
      this.flash.powerOn();
      this.receivedCut.disarm();
      this.rtc.powerCycle();
      if (!pinsFor(this.lines).enHigh) this.stateValue = 'reset';
      else if (pinsFor(this.lines).io0Low) this.bootDownload('power-on');
      else await this.boot('power-on');
    });
  }

  powerOff(): Promise<void> {
    return this.enqueue(async () => {
      if (this.stateValue === 'off') return;
      this.trace.mark('power-off', 'switch');
      clearTimeout(this.strapLatch);
      this.strapLatch = undefined;
      await this.endBoot();
      if (this.flash.powered) this.flash.powerOff();
      this.stateValue = 'off';
    });
  }

  /** A software reset (`esp_restart()`), as the firmware asks for after an update. */
  restart(): Promise<void> {
    return this.enqueue(async () => {
      if (this.stateValue === 'off') return;
      await this.endBoot();
      await this.boot('software');
    });
  }

  /** The reset pin (EN) pulled low and released: the chip reboots, flash and RTC memory keep power. */
  resetPin(): Promise<void> {
    return this.enqueue(async () => {
      if (this.stateValue === 'off') return;
      await this.endBoot();
      await this.boot('reset-pin');
    });
  }

  /** The DTR/RTS lines of the USB-serial bridge (power is untouched). */
  get modemLines(): ModemLines {
    return { ...this.lines };
  }

  /**
   * Sets DTR and RTS as a host's serial port does. Through the auto-reset circuit they hold EN
   * low (the chip stops) and, once EN rises again, IO0 sampled a few ms later chooses between the
   * app and the ROM serial loader (reference/esp-serial-flasher.md §1.2-1.3).
   */
  setModemLines(lines: ModemLines): Promise<void> {
    return this.enqueue(async () => {
      const before = pinsFor(this.lines);
      this.lines = { dtr: lines.dtr, rts: lines.rts };
      const after = pinsFor(this.lines);
      if (this.stateValue === 'off') return;
      if (before.enHigh && !after.enHigh) {
        clearTimeout(this.strapLatch);
        this.strapLatch = undefined;
        await this.endBoot();
        this.stateValue = 'reset';
      } else if (!before.enHigh && after.enHigh) {
        clearTimeout(this.strapLatch);
        this.strapLatch = setTimeout(() => {
          this.strapLatch = undefined;
          void this.enqueue(() => this.releaseReset());
        }, STRAP_LATCH_MS);
      }
    });
  }

  private async releaseReset(): Promise<void> {
    if (this.stateValue !== 'reset' || !pinsFor(this.lines).enHigh) return;
    if (pinsFor(this.lines).io0Low) this.bootDownload('reset-pin');
    else await this.boot('reset-pin');
  }

  /** The ROM's download boot: its banner, then the serial loader owns the UART. */
  private bootDownload(reason: ResetKind): void {
    this.bootCount++;
    for (const line of romDownloadBanner(this.platform, reason)) this.console.line(line);
    const loader = new RomLoader({
      chip: personalityFor(this.platform),
      flash: this.flash,
      mac: emulatedMac(this.name),
      transmit: (bytes) => this.console.transmit(bytes),
      runApp: () => {
        void this.enqueue(async () => {
          if (this.stateValue !== 'download') return;
          await this.endBoot();
          if (pinsFor(this.lines).io0Low) this.bootDownload('software');
          else await this.boot('software');
        });
      },
    });
    const detach = this.console.onInput((data) => loader.receive(data));
    this.loader = { loader, detach };
    this.stateValue = 'download';
  }

  /** Arms a power cut: the flash loses power after `bytes` more programmed bytes. */
  cutPowerAfterBytes(bytes: number, tornSeed?: number): void {
    this.flash.cutAfter({ bytes, ...(tornSeed === undefined ? {} : { tornSeed }) });
  }

  /** Arms a power cut: `operations` more erases/page programs complete, the next one is torn. */
  cutPowerAfterOperations(operations: number, tornSeed?: number): void {
    this.flash.cutAfter({ operations, ...(tornSeed === undefined ? {} : { tornSeed }) });
  }

  /**
   * Arms a power cut in the transfer: the power goes as the `bytes`-th image byte from now reaches
   * the firmware from the network (ReceivedBytesCut); the trace marks it `power-off` with detail
   * `received <bytes>, <taken> taken` (taken: the bytes the update code had been handed).
   */
  cutPowerAfterReceived(bytes: number): void {
    this.receivedCut.arm(bytes);
  }

  /** The firmware's report of image bytes arriving; false when the power went as they came. */
  private imageBytesArrived(length: number, signal: AbortSignal): boolean {
    if (signal.aborted) return false;
    const cut = this.receivedCut.arrive(length);
    if (cut === undefined) return true;
    // The chip dies now, inside this piece: nothing of it reaches flash, and this boot ends.
    this.trace.mark('power-off', `received ${cut.received}, ${cut.takenBefore} taken`);
    if (this.flash.powered) this.flash.powerOff();
    this.bootAbort?.abort();
    void this.enqueue(() => this.haltAfterPowerLoss());
    return false;
  }

  /**
   * Keeps what the chip holds (flash, NVS, RTC user memory) under a number, to put back with
   * restoreState(): the emulator's way to "reflash the known state" before each cut of a
   * campaign. eFuses are one-time and are not part of it.
   */
  saveState(): number {
    this.saved.push({
      flash: this.flash.snapshot(),
      nvs: new Map(this.nvs),
      rtc: this.rtc.read(0, RTC_USER_MEMORY_BYTES),
    });
    return this.saved.length - 1;
  }

  /** The numbered flash operations and boots from operation `since` on. */
  flashTrace(since: number) {
    return this.trace.since(since);
  }

  /** The control plane's campaign routes (exact cuts, trace, saved states) reach the device itself. */
  get campaign(): this {
    return this;
  }

  /** Puts back a saved state; the chip must be off (as a board is while it is reflashed). */
  restoreState(id: number): Promise<void> {
    return this.enqueue(async () => {
      const state = this.saved[id];
      if (state === undefined)
        throw new UnknownStateError(`no saved state ${id}; saved: ${this.saved.length}`);
      if (this.stateValue !== 'off')
        throw new DevicePoweredError('restore needs the device off; power it off first');
      this.flash.restore(state.flash);
      this.nvs.clear();
      for (const [key, value] of state.nvs) this.nvs.set(key, value);
      this.rtc.write(0, state.rtc);
    });
  }

  /** Stops the firmware and leaves the device off. */
  async shutdown(): Promise<void> {
    await this.powerOff();
    this.recorder?.flush();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.transition.then(step);
    this.transition = next.catch(() => {});
    return next;
  }

  private async haltAfterPowerLoss(): Promise<void> {
    if (this.stateValue === 'off') return;
    this.trace.mark('power-off', 'cut');
    await this.endBoot();
    this.stateValue = 'off';
  }

  private async endBoot(): Promise<void> {
    if (this.loader !== undefined) {
      this.loader.loader.stop();
      this.loader.detach();
      this.loader = undefined;
    }
    this.bootAbort?.abort();
    this.bootAbort = undefined;
    const firmware = this.firmware;
    this.firmware = undefined;
    this.runningImage = undefined;
    if (firmware) await firmware.stop();
  }

  private async boot(reason: ResetKind): Promise<void> {
    this.stateValue = 'booting';
    let outcome: BootOutcome;
    let resetKind = reason;
    for (let attempt = 1; ; attempt++) {
      this.bootCount++;
      this.trace.mark('boot', resetKind);
      outcome = this.platform === 'esp32' ? this.bootEsp32(resetKind) : this.bootEsp8266(resetKind);
      for (const line of outcome.log) this.console.line(line);
      if (!this.flash.powered) {
        // The boot's own flash write was cut: the chip stopped where its log ends.
        this.trace.mark('power-off', 'cut');
        this.stateValue = 'off';
        return;
      }
      // eboot ends a failed copy or load with a software reset (SWRST): the chip boots again by
      // itself, e.g. after an ATOMIC_FS_UPDATE copy it tries the FS address, resets, then runs the
      // sketch. A chip stuck in such a loop keeps resetting; the emulator gives up after a few.
      if (outcome.running || !outcome.softReset || attempt >= MAX_SELF_RESETS) break;
      resetKind = 'software';
    }
    if (!outcome.running) {
      this.stateValue = 'halted';
      this.notifyBoot(undefined);
      return;
    }
    this.runningImage = outcome.running;
    const abort = new AbortController();
    // Every task of a boot (servers, downloads, timers, console readers) listens for its end.
    setMaxListeners(256, abort.signal);
    this.bootAbort = abort;
    const context = this.contextFor(outcome.running, outcome.services, abort.signal);
    this.trace.mark('app', outcome.running.version);
    this.firmware = await this.module.start(context);
    this.stateValue = 'running';
    this.notifyBoot(outcome.running);
  }

  private notifyBoot(image: RunningImage | undefined): void {
    for (const listener of this.bootListeners) listener(image);
  }

  private bootEsp32(reason: ResetKind): BootOutcome {
    const result = bootEsp32({
      flash: this.flash,
      chip: this.esp32Chip,
      resetReason: ESP32_RESET_REASON[reason],
    });
    if (!result.booted) return { log: result.log };
    const bytes = this.flash.read(result.partition.offset, result.image.imageLength);
    const descriptor = result.image.appDescriptor;
    const running: RunningImage = {
      platform: 'esp32',
      version: descriptor?.version ?? '',
      projectName: descriptor?.projectName ?? '',
      secureVersion: descriptor?.secureVersion ?? 0,
      sha256: result.imageSha256,
      md5: createHash('md5').update(bytes).digest('hex'),
      size: bytes.length,
      partition: result.partition.label,
      offset: result.partition.offset,
      ...builtOf(descriptor?.date, descriptor?.time),
    };
    const bootStart = this.flash.clock.now();
    const ota = new EspOtaOps({
      flash: this.flash,
      table: result.table,
      running: result.partition,
      chip: this.esp32Chip,
      log: (line) => this.console.line(line),
      millisecondsSinceBoot: () => this.flash.clock.now() - bootStart + 300,
    });
    const services: Esp32Services = {
      ota,
      table: result.table,
      runningPartition: result.partition,
      efuse: this.esp32Chip.efuse,
      rollback: this.esp32Chip.rollback ?? false,
      antiRollback: this.esp32Chip.antiRollback ?? false,
      chipId: this.esp32Chip.chipId ?? 0,
    };
    return { log: result.log, running, services };
  }

  private bootEsp8266(reason: ResetKind): BootOutcome {
    const result = bootEsp8266({
      flash: this.flash,
      rtc: this.rtc,
      layout: this.esp8266Layout,
      resetCause: ESP8266_RESET_CAUSE[reason],
      core: this.esp8266Options.core,
      clearCommandBeforeCopy: this.defects.has(EBOOT_CLEARS_COMMAND_EARLY),
    });
    if (!result.booted || !result.image) return { log: result.log, softReset: result.softReset };
    // The sketch runs from 0: eboot, its padding, then the app image at APP_START_OFFSET.
    const sketchSize = APP_START_OFFSET + result.image.imageLength;
    this.esp8266Layout.sketchSize = sketchSize;
    const bytes = this.flash.read(0, sketchSize);
    const descriptor = readSketchDescriptor(bytes);
    const running: RunningImage = {
      platform: 'esp8266',
      version: descriptor?.version ?? '',
      projectName: descriptor?.projectName ?? '',
      secureVersion: 0,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      md5: createHash('md5').update(bytes).digest('hex'),
      size: sketchSize,
      partition: 'app',
      offset: 0,
      ...builtOf(descriptor?.date, descriptor?.time),
    };
    const layout = this.esp8266Layout;
    const rtc = this.rtc;
    const core = this.esp8266Options.core ?? '3.1.2';
    const flash = this.flash;
    const updaterOptions = this.esp8266Options.updater ?? {};
    const services: Esp8266Services = {
      layout,
      rtc,
      core,
      createUpdater: (broken = {}) =>
        new Esp8266Updater({ flash, layout, rtc, core, ...updaterOptions, ...broken }),
    };
    return { log: result.log, running, services };
  }

  private contextFor(
    running: RunningImage,
    services: Esp32Services | Esp8266Services | undefined,
    signal: AbortSignal,
  ): FirmwareContext {
    const bootStartedAt = Date.now();
    const console = this.console;
    let pacedUntil = this.flash.clock.now();
    const flash = this.flash;
    return {
      name: this.name,
      platform: this.platform,
      running,
      defects: this.defects,
      options: this.firmwareOptions,
      host: this.host,
      flash,
      nvs: this.nvs,
      signal,
      esp32: this.platform === 'esp32' ? (services as Esp32Services) : undefined,
      esp8266: this.platform === 'esp8266' ? (services as Esp8266Services) : undefined,
      console: {
        onInput: (listener) => {
          const unsubscribe = console.onInput((data) => {
            if (!signal.aborted) listener(data);
          });
          signal.addEventListener('abort', unsubscribe, { once: true });
        },
        onCommand: (listener) => {
          let pending = '';
          const unsubscribe = console.onInput((data) => {
            pending += data.toString('latin1');
            for (let end = pending.search(/[\r\n]/); end !== -1; end = pending.search(/[\r\n]/)) {
              const line = pending.slice(0, end).trim();
              pending = pending.slice(end + 1);
              if (line.length > 0 && !signal.aborted) listener(line);
            }
          });
          signal.addEventListener('abort', unsubscribe, { once: true });
        },
        // Late network events of a boot that has ended print nothing: that chip is gone.
        line: (text) => {
          if (!signal.aborted) console.line(text);
        },
        log: (level, tag, message) => {
          if (!signal.aborted)
            console.line(`${level} (${Date.now() - bootStartedAt + 300}) ${tag}: ${message}`);
        },
      },
      preferredPort: (name) =>
        this.endpoints.get(name)?.port ?? this.fixedPorts[name] ?? this.fixedPorts['*'] ?? 0,
      publish: (name, endpoint) => {
        this.endpoints.set(name, endpoint);
      },
      restart: () => {
        if (!signal.aborted) void this.restart();
      },
      imageBytesArrived: (length) => this.imageBytesArrived(length, signal),
      pace: async () => {
        const now = flash.clock.now();
        const owed = now - pacedUntil;
        pacedUntil = now;
        if (owed >= 1) await sleep(owed);
      },
    };
  }

  private provisionEsp32(csv: string, factory: FactoryFirmware): void {
    const entries = parsePartitionCsv(csv);
    this.trace.regions = entries.map((entry) => ({
      name: entry.label,
      offset: entry.offset,
      size: entry.size,
    }));
    this.flash.program(PARTITION_TABLE_OFFSET, generatePartitionTable(entries));
    const target = factoryPartition(entries) ?? otaAppPartitions(entries)[0];
    if (!target) throw new RangeError('the partition table has no app partition to provision');
    const image = buildEsp32Image({
      size: factory.size,
      version: factory.version,
      projectName: factory.projectName,
      secureVersion: factory.secureVersion,
      chip: this.esp32Chip.chipId ?? 0,
      seed: factory.seed,
    });
    this.flash.program(target.offset, image);
  }

  private provisionEsp8266(factory: FactoryFirmware): void {
    const sketch = buildArduinoSketch({ appSize: factory.size, seed: factory.seed });
    writeSketchDescriptor(sketch, { version: factory.version, projectName: factory.projectName });
    this.flash.program(0, sketch);
    this.esp8266Layout.sketchSize = sketch.length;
  }
}

/** Boots in a row a chip may reset itself through before the emulator calls it halted. */
const MAX_SELF_RESETS = 3;

interface BootOutcome {
  log: string[];
  /** The boot ended in a software reset the chip performs by itself (eboot's SWRST). */
  softReset?: boolean;
  running?: RunningImage;
  services?: Esp32Services | Esp8266Services;
}

/** Why the chip is booting. */
export type ResetKind = 'power-on' | 'software' | 'reset-pin';

/**
 * The ESP32 ROM's `rst:` reason (reference/esp-idf.md §7.1): EN is the chip's power-up pin, so
 * pulling it reads as a power-on reset; `esp_restart()` is SW_CPU_RESET.
 */
const ESP32_RESET_REASON: Record<ResetKind, Esp32ResetReason> = {
  'power-on': 'POWERON_RESET',
  software: 'SW_CPU_RESET',
  'reset-pin': 'POWERON_RESET',
};

/** The ESP8266 ROM's `rst cause` (reference/esp-idf.md §7.3): 1 power-on, 2 reset pin, 3 software. */
const ESP8266_RESET_CAUSE: Record<ResetKind, 1 | 2 | 3> = {
  'power-on': 1,
  'reset-pin': 2,
  software: 3,
};

/** A SECURE_VERSION eFuse burnt up to `version`: that many bits set. */
function bitsFor(version: number): number {
  return version <= 0 ? 0 : 2 ** version - 1;
}

/** `{ built: "date time" }` when the image recorded a build date or time. */
function builtOf(date: string | undefined, time: string | undefined): { built?: string } {
  const built = [date, time].filter((part) => part !== undefined && part !== '').join(' ');
  return built === '' ? {} : { built };
}
