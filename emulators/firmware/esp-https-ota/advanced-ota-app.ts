import type { AppDescriptor } from '../../../fixtures/esp32-image/index.ts';
import type { FirmwareContext } from '../../device/index.ts';
import { EspError } from '../../esp32-ota-ops/index.ts';
import {
  computeSeqForSlot,
  OtaState,
  otaSeqCrc,
  otaSlotForSeq,
  readOtadata,
  selectActiveEntry,
  writeOtadataEntry,
} from '../../otadata/index.ts';
import { otaAppPartitions, otadataPartition, type PartitionEntry } from '../../partition-table/index.ts';
import { EspHttpsOta, HTTPS_OTA_ERR, type HttpsOtaEvent, hex, type IdfVersion } from './https-ota.ts';

/** The example app's log tag. */
export const TAG = 'advanced_https_ota_example';

export type MarkValidMode = 'auto' | 'on-request' | 'never';

/** The advanced_https_ota example's Kconfig and esp_http_client settings, as profile options. */
export interface EspHttpsOtaOptions {
  updateUrl: string;
  /** Which release's version-sensitive strings the app prints (reference §10); v5.5 by default. */
  idfVersion: IdfVersion;
  caPem: string;
  skipCertCommonNameCheck: boolean;
  checkOnBoot: boolean;
  checkIntervalMs: number;
  /** `timeout_ms` of the HTTP client (CONFIG_EXAMPLE_OTA_RECV_TIMEOUT). */
  timeoutMs: number;
  /** `buffer_size` of the HTTP client. */
  bufferSize: number;
  /** CONFIG_EXAMPLE_ENABLE_PARTIAL_HTTP_DOWNLOAD. */
  partialHttpDownload: boolean;
  /** CONFIG_EXAMPLE_HTTP_REQUEST_SIZE (`max_http_request_size`). */
  partialHttpDownloadSize: number;
  maxRedirects: number;
  /** CONFIG_EXAMPLE_SKIP_VERSION_CHECK. */
  skipVersionCheck: boolean;
  markValid: MarkValidMode;
  /** The app's diagnostic after an update boots: whether it passes. */
  selfTest: 'pass' | 'fail';
  /** The example's `vTaskDelay(1000)` before esp_restart(). */
  restartDelayMs: number;
  /** Print D-level lines (CONFIG_LOG_DEFAULT_LEVEL_DEBUG). */
  debugLog: boolean;
}

export const DEFAULT_OPTIONS: EspHttpsOtaOptions = {
  updateUrl: '',
  idfVersion: 'v5.5',
  caPem: '',
  skipCertCommonNameCheck: false,
  checkOnBoot: true,
  checkIntervalMs: 0,
  timeoutMs: 5000,
  bufferSize: 512,
  partialHttpDownload: false,
  partialHttpDownloadSize: 64 * 1024,
  maxRedirects: 10,
  skipVersionCheck: false,
  markValid: 'auto',
  selfTest: 'pass',
  restartDelayMs: 1000,
  debugLog: false,
};

export function resolveOptions(raw: Readonly<Record<string, unknown>>): EspHttpsOtaOptions {
  const options = { ...DEFAULT_OPTIONS, ...raw } as EspHttpsOtaOptions;
  if (!['auto', 'on-request', 'never'].includes(options.markValid)) {
    throw new RangeError(`markValid must be 'auto', 'on-request' or 'never', got '${options.markValid}'`);
  }
  if (!['v5.4', 'v5.5', 'v6.0', 'head'].includes(options.idfVersion)) {
    throw new RangeError(`idfVersion must be 'v5.4', 'v5.5', 'v6.0' or 'head', got '${options.idfVersion}'`);
  }
  return options;
}

/**
 * One boot of the advanced_https_ota example (reference/esp-idf.md §6.1): the rollback checkpoint,
 * then the OTA task at boot, on a timer and on the console's `ota check`.
 */
export class AdvancedOtaApp {
  private busy = false;
  /** `sets-boot-before-verify`: this download already switched the boot slot at its first write. */
  private switchedEarly = false;
  /** An `ota check` typed while a task ran: the lab command is not lost, it runs once that task ends. */
  private checkRequested = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly context: FirmwareContext,
    private readonly options: EspHttpsOtaOptions,
  ) {}

  start(): void {
    const { context, options } = this;
    this.log('I', 'OTA example app_main start');
    if (!this.rollbackCheckpoint()) return;
    context.console.onCommand((line) => this.command(line));
    if (options.checkOnBoot) void this.runOtaTask();
    if (options.checkIntervalMs > 0) {
      this.timer = setInterval(() => void this.runOtaTask(), options.checkIntervalMs);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private command(line: string): void {
    if (line === 'ota check') {
      if (this.busy) this.checkRequested = true;
      else void this.runOtaTask();
    } else if (line === 'ota mark-valid') this.markValid();
  }

  /**
   * Runs where the example treats the network coming up as its checkpoint: a PENDING_VERIFY image
   * is diagnosed, then confirmed or rolled back. Returns false when the chip is about to restart.
   */
  private rollbackCheckpoint(): boolean {
    const { context, options } = this;
    const esp32 = context.esp32!;
    if (context.defects.has('never-rolls-back')) {
      this.markValid();
      return true;
    }
    if (!esp32.rollback || !this.pendingVerify()) return true;
    // The defect confirms as soon as the app is up, before the diagnostic — in either mode where the
    // app confirms at all ('on-request' apps then no longer wait for their request).
    if (options.markValid !== 'never' && context.defects.has('marks-valid-before-check')) this.markValid();
    // The diagnostic only runs while the image still awaits its verdict, as in the example.
    if (!this.pendingVerify()) return true;
    if (options.selfTest === 'fail') {
      this.log('E', 'Diagnostics failed! Start rollback to the previous version ...');
      try {
        esp32.ota.markAppInvalidRollbackAndReboot();
        context.restart();
        return false;
      } catch (error) {
        if (!(error instanceof EspError)) throw error;
        return true;
      }
    }
    this.log('I', 'Diagnostics completed successfully! Continuing execution ...');
    if (options.markValid === 'auto') this.markValid();
    return true;
  }

  private pendingVerify(): boolean {
    return this.stateOf(this.context.esp32!.ota.getRunningPartition()) === OtaState.PENDING_VERIFY;
  }

  private stateOf(partition: PartitionEntry): number | undefined {
    try {
      return this.context.esp32!.ota.getStateOf(partition);
    } catch (error) {
      if (error instanceof EspError) return undefined;
      throw error;
    }
  }

  private markValid(): void {
    const { context } = this;
    const ota = context.esp32!.ota;
    if (context.defects.has('confirms-wrong-partition')) {
      // The defect asks about the slot the next update would use, not the one running: that is the
      // old app (VALID) or nothing, so the new image is never confirmed.
      const next = ota.getNextUpdatePartition();
      if (!next || this.stateOf(next) !== OtaState.PENDING_VERIFY) return;
    } else if (!this.pendingVerify()) return;
    try {
      if (context.defects.has('otadata-in-place')) this.confirmInPlace();
      else ota.markAppValidCancelRollback();
      this.log('I', 'App is valid, rollback cancelled successfully');
    } catch (error) {
      if (!(error instanceof EspError)) throw error;
      this.log('E', 'Failed to cancel rollback');
    }
  }

  private async runOtaTask(): Promise<void> {
    if (this.busy || this.context.signal.aborted) return;
    this.busy = true;
    try {
      await this.advancedOtaExample();
    } catch (error) {
      // A power cut or reset in the middle of a flash write ends this boot; nothing more runs.
      if (!this.context.signal.aborted) throw error;
    } finally {
      this.busy = false;
    }
    if (this.checkRequested && !this.context.signal.aborted) {
      this.checkRequested = false;
      await this.runOtaTask();
    }
  }

  /** `advanced_ota_example_task`. */
  private async advancedOtaExample(): Promise<void> {
    const { context, options } = this;
    const esp32 = context.esp32!;
    this.log('I', 'Starting Advanced OTA example');
    this.switchedEarly = false;
    const ota = new EspHttpsOta({
      url: options.updateUrl,
      idfVersion: options.idfVersion,
      http: {
        caPem: options.caPem,
        skipCertCommonNameCheck: options.skipCertCommonNameCheck,
        timeoutMs: options.timeoutMs,
        signal: context.signal,
      },
      bufferSize: options.bufferSize,
      partialHttpDownload: options.partialHttpDownload && !context.defects.has('ignores-range'),
      maxHttpRequestSize: options.partialHttpDownloadSize,
      maxRedirects: options.maxRedirects,
      expectedChipId: esp32.chipId,
      skipChipIdCheck: context.defects.has('skips-chip-id-check'),
      ota: esp32.ota,
      // The defect configures `partition.staging` as ota_0 instead of leaving the choice to esp_https_ota.
      ...(context.defects.has('fixed-staging-partition')
        ? { stagingPartition: otaAppPartitions(esp32.table)[0] }
        : {}),
      setBootPartition: (partition) => {
        if (context.defects.has('otadata-in-place')) this.setBootPartitionBroken(partition, 'in-place');
        else if (context.defects.has('otadata-overwrites-active-entry'))
          this.setBootPartitionBroken(partition, 'over-active');
        else esp32.ota.setBootPartition(partition);
      },
      log: (level, message, tag = 'esp_https_ota') => this.print(level, tag, message),
      event: (event) => this.onEvent(event),
      pace: () => context.pace(),
      imageBytesArrived: (length) => context.imageBytesArrived(length),
    });

    const begun = await ota.begin();
    if (context.signal.aborted) return;
    if (begun !== HTTPS_OTA_ERR.ESP_OK) {
      this.log('E', 'ESP HTTPS OTA Begin failed');
      this.afterFailure();
      return;
    }
    const { err: descErr, descriptor } = await ota.getImgDesc();
    if (context.signal.aborted) return;
    if (descErr !== HTTPS_OTA_ERR.ESP_OK || !descriptor) {
      this.log('E', 'esp_https_ota_get_img_desc failed');
      this.otaEnd(ota);
      return;
    }
    if (!this.validateImageHeader(descriptor)) {
      this.log('E', 'image header verification failed');
      this.otaEnd(ota);
      return;
    }
    let err: number;
    do {
      err = await ota.perform();
      if (context.signal.aborted) return;
    } while (err === HTTPS_OTA_ERR.ESP_ERR_HTTPS_OTA_IN_PROGRESS);

    if (!ota.isCompleteDataReceived()) {
      this.log('E', 'Complete data was not received.');
      this.otaEnd(ota);
      return;
    }
    const finishErr = ota.finish();
    if (err === HTTPS_OTA_ERR.ESP_OK && finishErr === HTTPS_OTA_ERR.ESP_OK) {
      this.log('I', 'ESP_HTTPS_OTA upgrade successful. Rebooting ...');
      await this.restartAfterDelay();
      return;
    }
    if (finishErr === 0x1503) this.log('E', 'Image validation failed, image is corrupted');
    this.log('E', `ESP_HTTPS_OTA upgrade failed 0x${hex(finishErr)}`);
    this.afterFailure();
  }

  /** The example's `ota_end:` label. */
  private otaEnd(ota: EspHttpsOta): void {
    ota.abort();
    this.log('E', 'ESP_HTTPS_OTA upgrade failed');
    this.afterFailure();
  }

  /** The example deletes its task and keeps running the old image; the defect restarts anyway. */
  private afterFailure(): void {
    if (this.context.defects.has('restarts-after-failed-download')) void this.restartAfterDelay();
  }

  private async restartAfterDelay(): Promise<void> {
    if (this.options.restartDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.options.restartDelayMs));
    }
    if (!this.context.signal.aborted) this.context.restart();
  }

  /** `validate_image_header`. */
  private validateImageHeader(descriptor: AppDescriptor): boolean {
    const { context, options } = this;
    const esp32 = context.esp32!;
    const running = esp32.ota.getPartitionDescription(esp32.ota.getRunningPartition());
    this.log('I', `Running firmware version: ${running.version}`);
    if (!options.skipVersionCheck && descriptor.version === running.version) {
      this.log('W', 'Current running version is the same as a new. We will not continue the update.');
      return false;
    }
    if (esp32.antiRollback && !context.defects.has('ignores-secure-version')) {
      const hardware = esp32.efuse.value;
      if (descriptor.secureVersion < hardware) {
        this.log(
          'W',
          `New firmware security version is less than eFuse programmed, ${descriptor.secureVersion} < ${hardware}`,
        );
        return false;
      }
    }
    return true;
  }

  /** The example's `event_handler`: what it logs for each esp_https_ota event. */
  private onEvent(event: HttpsOtaEvent): void {
    if (
      event.id === 'WRITE_FLASH' &&
      !this.switchedEarly &&
      this.context.defects.has('sets-boot-before-verify')
    ) {
      this.switchedEarly = true;
      // The defect: once the first buffer (header and app descriptor) is written, the slot is made
      // the boot slot (esp_ota_set_boot_partition_skip_validate) before the rest is written or
      // anything verified.
      const ota = this.context.esp32!.ota;
      const staging = ota.getNextUpdatePartition();
      try {
        if (staging) ota.setBootPartitionSkipValidate(staging);
      } catch (error) {
        if (!(error instanceof EspError)) throw error;
        this.log('E', `esp_ota_set_boot_partition failed (${error.code})`);
      }
    }
    if (event.id === 'WRITE_FLASH') {
      this.print('D', TAG, `Writing to flash: ${event.written} written`);
      return;
    }
    const message = eventMessage(event);
    if (message !== undefined) this.log('I', message);
  }

  /**
   * esp_rewrite_ota_data built wrong. `in-place` (the `otadata-in-place` defect): the entry is
   * programmed without the sector erase before it, so a rewritten entry is the AND of its old and
   * new bytes. `over-active` (the `otadata-overwrites-active-entry` defect): the new selection is
   * erased-then-written into the sector of the entry that selects the running app, not the other
   * one (esp-idf.md §3.4: `next = (~active) & 1`), so a power cut between that erase and that
   * write leaves no entry naming the running app.
   */
  private setBootPartitionBroken(target: PartitionEntry, how: 'in-place' | 'over-active'): void {
    const { context } = this;
    const esp32 = context.esp32!;
    const otadata = otadataPartition(esp32.table);
    if (!otadata) throw new EspError('ESP_ERR_NOT_FOUND', 'the table has no otadata partition');
    const entries = readOtadata(context.flash, otadata);
    const slotCount = otaAppPartitions(esp32.table).length;
    const slot = target.subtype & 0x0f;
    const active = selectActiveEntry(entries);
    let index: 0 | 1 = 0;
    let seq = slot + 1;
    if (active !== -1) {
      const activeSeq = entries[active]!.seq;
      if (otaSlotForSeq(activeSeq, slotCount) === slot) {
        index = active;
        seq = activeSeq;
      } else {
        index = how === 'over-active' ? active : ((active ^ 1) as 0 | 1);
        seq = computeSeqForSlot(activeSeq, slot, slotCount);
      }
    }
    const state = esp32.rollback ? OtaState.NEW : OtaState.UNDEFINED;
    writeOtadataEntry(
      context.flash,
      otadata,
      index,
      { ...entries[index]!, seq, state, crc: otaSeqCrc(seq) },
      { order: how === 'in-place' ? 'in-place' : 'erase-then-write' },
    );
  }

  /**
   * The `otadata-in-place` defect's confirmation: the running app's entry reprogrammed with VALID
   * without the erase, so PENDING_VERIFY (1) AND VALID (2) leaves NEW (0) — which the bootloader
   * turns back into PENDING_VERIFY at the next boot: the image is never confirmed for good.
   */
  private confirmInPlace(): void {
    const { context } = this;
    const esp32 = context.esp32!;
    const otadata = otadataPartition(esp32.table);
    if (!otadata) throw new EspError('ESP_ERR_NOT_FOUND', 'the table has no otadata partition');
    const entries = readOtadata(context.flash, otadata);
    const active = selectActiveEntry(entries);
    if (active === -1)
      throw new EspError('ESP_FAIL', 'no otadata entry is active: the running firmware is factory');
    const entry = entries[active]!;
    writeOtadataEntry(
      context.flash,
      otadata,
      active,
      { ...entry, state: OtaState.VALID, crc: otaSeqCrc(entry.seq) },
      { order: 'in-place' },
    );
  }

  private log(level: 'E' | 'W' | 'I' | 'D', message: string): void {
    this.print(level, TAG, message);
  }

  private print(level: 'E' | 'W' | 'I' | 'D', tag: string, message: string): void {
    if (level === 'D' && !this.options.debugLog) return;
    if (this.context.signal.aborted) return;
    this.context.console.log(level, tag, message);
  }
}

function eventMessage(event: HttpsOtaEvent): string | undefined {
  switch (event.id) {
    case 'START':
      return 'OTA started';
    case 'CONNECTED':
      return 'Connected to server';
    case 'GET_IMG_DESC':
      return 'Reading Image Description';
    case 'VERIFY_CHIP_ID':
      return `Verifying chip id of new image: ${event.chipId}`;
    case 'UPDATE_BOOT_PARTITION':
      return `Boot partition updated. Next Partition: ${event.subtype}`;
    case 'FINISH':
      return 'OTA finish';
    case 'ABORT':
      return 'OTA abort';
    default:
      return undefined;
  }
}
