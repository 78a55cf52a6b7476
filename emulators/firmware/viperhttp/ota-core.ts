import { createHash, type Hash } from 'node:crypto';
import type { FirmwareContext } from '../../device/index.ts';
import {
  LazyEraseWriter,
  MicroPythonOsError,
  MicroPythonPartition,
  type PartitionDict,
  PartitionWriteError,
  partitionDict,
} from './micropython-partition.ts';

/**
 * The OTA state machine of `viperhttp_ota.py` (reference/viperhttp-luartos-mqtt.md §1.5–1.7):
 * one global session in RAM, lazy 4 KiB erase, SHA-256 given at begin and checked at finalize.
 * A failure is an OtaError carrying the HTTP status and the exact `detail` text.
 */
export class OtaError extends Error {
  readonly code = 'VIPERHTTP_OTA_ERROR';

  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** `_parse_positive_int`: Python `int(value)` then a sign check. */
export function parsePositiveInt(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = pythonInt(value);
  if (parsed === undefined) throw new OtaError(400, `${field} must be int`);
  if (parsed < 0) throw new OtaError(400, `${field} must be >= 0`);
  return parsed;
}

/** What Python's `int()` accepts: ints, bools, floats (truncated) and decimal strings with whitespace. */
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (!/^[+-]?\d+(?:_\d+)*$/.test(text)) return undefined;
  return Number(text.replaceAll('_', ''));
}

/** `_parse_expected_sha256`: stripped, lower-cased, empty = none, 64 hex chars. */
export function parseExpectedSha256(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = pythonText(value).trim().toLowerCase();
  if (text === '') return undefined;
  if (text.length !== 64) throw new OtaError(400, 'expected_sha256 must be 64 hex chars');
  if (!/^[0-9a-f]{64}$/.test(text))
    throw new OtaError(400, 'expected_sha256 must be lowercase/uppercase hex');
  return text;
}

/** `_parse_bool`: JSON booleans as they are, the usual words either way, anything else the default. */
export function parseBool(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  const text = pythonText(value).trim().toLowerCase();
  if (text === '1' || text === 'true' || text === 'yes' || text === 'on') return true;
  if (text === '0' || text === 'false' || text === 'no' || text === 'off') return false;
  return fallback;
}

/** `_to_text`: what `str(value)` gives for the JSON values a client can send. */
export function pythonText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pythonFloat(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null || value === undefined) return '';
  return JSON.stringify(value);
}

function pythonFloat(value: number): string {
  return Number.isInteger(value) ? `${value}.0` : String(value);
}

export interface SessionView {
  id: number;
  active: boolean;
  partition: PartitionDict | null;
  capacity_bytes: number;
  block_size: number;
  block_count: number;
  written_bytes: number;
  expected_size: number | null;
  remaining_bytes: number | null;
  progress_pct: number | null;
  expected_sha256: string | null;
  elapsed_ms: number;
}

export interface StatusSnapshot {
  supported: true;
  active: boolean;
  running_partition: PartitionDict | null;
  boot_partition: PartitionDict | null;
  next_update_partition: PartitionDict | null;
  last_result: FinalizeResult | null;
  last_error: 'aborted' | null;
  session: SessionView | null;
}

export interface FinalizeResult {
  ok: true;
  session_id: number;
  written_bytes: number;
  expected_size: number | null;
  sha256: string;
  set_boot: boolean;
  reboot: boolean;
  partition: PartitionDict | null;
}

interface Session {
  readonly id: number;
  readonly startedMs: number;
  readonly partition: MicroPythonPartition;
  readonly partitionInfo: PartitionDict | null;
  readonly capacity: number;
  readonly writer: LazyEraseWriter;
  written: number;
  readonly expectedSize: number | undefined;
  readonly expectedSha256: string | undefined;
  readonly sha: Hash;
  /** `stale-progress`: the remaining/progress fields as begin computed them. */
  readonly progressAtBegin: { remaining: number | null; pct: number | null };
}

/** The deliberate non-conformances the core can be built with (names as in the module's defects). */
export interface OtaCoreDefects {
  acceptsBadSha: boolean;
  commitsBeforeVerifying: boolean;
  allowsSecondSession: boolean;
  ignoresOffset: boolean;
  otadataInPlace: boolean;
  ignoresExpectedSize: boolean;
  ignoresCapacity: boolean;
  forceIgnored: boolean;
  chunkWithoutSession: boolean;
  abortKeepsSession: boolean;
  staleProgress: boolean;
  ignoresStrictSize: boolean;
  finalizesEmpty: boolean;
  setsBootAtBegin: boolean;
  finalizeKeepsSession: boolean;
  markValidNoOp: boolean;
  skipsSetBoot: boolean;
}

export const NO_DEFECTS: Readonly<OtaCoreDefects> = {
  acceptsBadSha: false,
  commitsBeforeVerifying: false,
  allowsSecondSession: false,
  ignoresOffset: false,
  otadataInPlace: false,
  ignoresExpectedSize: false,
  ignoresCapacity: false,
  forceIgnored: false,
  chunkWithoutSession: false,
  abortKeepsSession: false,
  staleProgress: false,
  ignoresStrictSize: false,
  finalizesEmpty: false,
  setsBootAtBegin: false,
  finalizeKeepsSession: false,
  markValidNoOp: false,
  skipsSetBoot: false,
};

/** `ota_finalize` asked for a reset: the caller must drop the connection and reset the chip. */
export const RESET_REQUESTED = Symbol('reset-requested');

export class ViperOtaCore {
  private session: Session | undefined;
  private lastResult: FinalizeResult | null = null;
  private lastError: 'aborted' | null = null;
  private sessionSeq = 0;
  private readonly runningDict: PartitionDict | null;
  private readonly nextDict: PartitionDict | null;
  private bootDict: PartitionDict | null | undefined;

  constructor(
    private readonly ctx: FirmwareContext,
    private readonly defects: Readonly<OtaCoreDefects> = NO_DEFECTS,
  ) {
    const ota = this.esp32.ota;
    // Running and next slot cannot change within one boot: computed once, not per chunk.
    this.runningDict = partitionDict(ota.getRunningPartition());
    this.nextDict = partitionDict(ota.getNextUpdatePartition());
  }

  private get esp32() {
    const services = this.ctx.esp32;
    if (!services) throw new OtaError(501, 'OTA unsupported on this platform');
    return services;
  }

  get sessionActive(): boolean {
    return this.session !== undefined;
  }

  status(): StatusSnapshot {
    this.bootDict ??= partitionDict(this.esp32.ota.getBootPartition());
    const session = this.session;
    return {
      supported: true,
      active: session !== undefined,
      running_partition: this.runningDict,
      boot_partition: this.bootDict,
      next_update_partition: this.nextDict,
      last_result: this.lastResult,
      last_error: this.lastError,
      session: session ? this.sessionView(session) : null,
    };
  }

  private sessionView(session: Session): SessionView {
    const expected = session.expectedSize;
    const progress = this.defects.staleProgress
      ? session.progressAtBegin
      : {
          remaining: expected === undefined ? null : Math.max(0, expected - session.written),
          pct: expected === undefined || expected === 0 ? null : (session.written * 100) / expected,
        };
    return {
      id: session.id,
      active: true,
      partition: session.partitionInfo,
      capacity_bytes: session.capacity,
      block_size: session.partition.blockSize,
      block_count: session.partition.blockCount,
      written_bytes: session.written,
      expected_size: expected ?? null,
      remaining_bytes: progress.remaining,
      progress_pct: progress.pct,
      expected_sha256: session.expectedSha256 ?? null,
      elapsed_ms: Math.max(0, Math.round(performance.now() - session.startedMs)),
    };
  }

  begin(expectedSizeValue: unknown, expectedShaValue: unknown, force: boolean): StatusSnapshot {
    const services = this.esp32;
    if (this.session && (!force || this.defects.forceIgnored) && !this.defects.allowsSecondSession) {
      throw new OtaError(409, 'ota session already active');
    }
    if (this.session) this.abort();
    const next = services.ota.getNextUpdatePartition();
    if (!next) throw new OtaError(500, 'next update partition unavailable');
    const partition = new MicroPythonPartition(next, this.ctx.flash, services);
    if (partition.blockCount <= 0) throw new OtaError(500, 'invalid partition geometry');
    const capacity = partition.blockCount * partition.blockSize;
    const expectedSize = parsePositiveInt(expectedSizeValue, 'expected_size');
    if (expectedSize !== undefined && expectedSize > capacity && !this.defects.ignoresCapacity) {
      throw new OtaError(400, 'expected_size exceeds update partition capacity');
    }
    const expectedSha256 = parseExpectedSha256(expectedShaValue);
    this.sessionSeq++;
    this.session = {
      id: this.sessionSeq,
      startedMs: performance.now(),
      partition,
      partitionInfo: partitionDict(next),
      capacity,
      writer: new LazyEraseWriter(partition),
      written: 0,
      expectedSize,
      expectedSha256,
      sha: createHash('sha256'),
      progressAtBegin: {
        remaining: expectedSize ?? null,
        pct: expectedSize === undefined || expectedSize === 0 ? null : 0,
      },
    };
    this.lastError = null;
    if (this.defects.setsBootAtBegin) {
      try {
        partition.setBootSkippingValidation();
      } catch (error) {
        throw new OtaError(500, `failed to set boot partition: ${reprOf(error)}`);
      } finally {
        this.bootDict = undefined;
      }
    }
    return this.status();
  }

  /** `ota_write`; the route has refused an empty chunk before this is called. */
  async write(data: Uint8Array, offsetValue: unknown): Promise<StatusSnapshot> {
    const session = this.session;
    if (!session) {
      if (this.defects.chunkWithoutSession) return this.status();
      throw new OtaError(409, 'ota session is not active');
    }
    if (data.length === 0) return this.status();
    const written = session.written;
    if (offsetValue !== undefined && offsetValue !== null) {
      const offset = parsePositiveInt(offsetValue, 'offset');
      if (offset !== written && !this.defects.ignoresOffset) {
        throw new OtaError(409, 'offset mismatch; only sequential writes are supported');
      }
    }
    const end = written + data.length;
    if (
      session.expectedSize !== undefined &&
      end > session.expectedSize &&
      !this.defects.ignoresExpectedSize
    ) {
      throw new OtaError(400, 'chunk exceeds expected_size');
    }
    if (end > session.capacity) throw new OtaError(400, 'chunk exceeds update partition capacity');
    try {
      session.writer.write(written, data);
    } catch (error) {
      if (error instanceof PartitionWriteError) throw new OtaError(500, error.message);
      throw error;
    }
    session.sha.update(data);
    session.written = end;
    await this.ctx.pace();
    return this.status();
  }

  /** `ota_finalize`; returns RESET_REQUESTED where the chip calls `machine.reset()` mid-request. */
  finalize(setBoot: boolean, reboot: boolean, strictSize: boolean): FinalizeResult | typeof RESET_REQUESTED {
    const session = this.session;
    if (!session) throw new OtaError(409, 'ota session is not active');
    const written = session.written;
    if (
      strictSize &&
      session.expectedSize !== undefined &&
      written !== session.expectedSize &&
      !this.defects.ignoresStrictSize
    ) {
      throw new OtaError(409, 'written size does not match expected_size');
    }
    if (written <= 0 && !this.defects.finalizesEmpty) throw new OtaError(409, 'no firmware bytes written');
    // The digest stays repeatable, as the reference observed: a second finalize fails the same way.
    const digest = session.sha.copy().digest('hex');
    if (setBoot && this.defects.commitsBeforeVerifying) this.setBoot(session);
    if (
      session.expectedSha256 !== undefined &&
      digest !== session.expectedSha256 &&
      !this.defects.acceptsBadSha
    ) {
      throw new OtaError(409, 'sha256 mismatch');
    }
    if (setBoot && !this.defects.commitsBeforeVerifying) this.setBoot(session);
    this.lastResult = {
      ok: true,
      session_id: session.id,
      written_bytes: written,
      expected_size: session.expectedSize ?? null,
      sha256: digest,
      set_boot: setBoot,
      reboot,
      partition: session.partitionInfo,
    };
    this.lastError = null;
    // The defect's author counted on the reset to clear RAM, and forgot the path without one.
    if (reboot || !this.defects.finalizeKeepsSession) this.session = undefined;
    return reboot ? RESET_REQUESTED : this.lastResult;
  }

  private setBoot(session: Session): void {
    // `skips-set-boot`: answers as if set_boot ran, but the boot partition never changes.
    if (this.defects.skipsSetBoot) return;
    try {
      if (this.defects.otadataInPlace) session.partition.setBootWritingOtadataInPlace();
      else session.partition.setBoot();
    } catch (error) {
      throw new OtaError(500, `failed to set boot partition: ${reprOf(error)}`);
    } finally {
      this.bootDict = undefined;
    }
  }

  abort(): { ok: true; aborted: boolean; active: false; session_id?: number } {
    const session = this.session;
    if (!session) return { ok: true, aborted: false, active: false };
    if (!this.defects.abortKeepsSession) this.session = undefined;
    this.lastError = 'aborted';
    return { ok: true, aborted: true, session_id: session.id, active: false };
  }

  /** `ota_apply` behind `/upload`: begin with force, one write, a strict finalize; abort on failure. */
  async apply(
    data: Uint8Array,
    expectedSha: unknown,
    setBoot: boolean,
    reboot: boolean,
  ): Promise<FinalizeResult | typeof RESET_REQUESTED> {
    this.begin(data.length, expectedSha, true);
    try {
      await this.write(data, undefined);
      return this.finalize(setBoot, reboot, true);
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  markAppValid(): { ok: true } {
    if (this.defects.markValidNoOp) return { ok: true };
    try {
      this.esp32.ota.markAppValidCancelRollback();
    } catch (error) {
      throw new OtaError(500, `mark_app_valid failed: ${reprOf(error)}`);
    } finally {
      this.bootDict = undefined;
    }
    return { ok: true };
  }
}

function reprOf(error: unknown): string {
  if (error instanceof MicroPythonOsError) return error.repr();
  return MicroPythonOsError.fromEsp(error).repr();
}
