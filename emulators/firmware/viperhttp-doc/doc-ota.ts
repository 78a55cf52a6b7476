import { createHash, type Hash, timingSafeEqual } from 'node:crypto';
import type { FirmwareContext } from '../../device/index.ts';
import {
  type HttpHandler,
  type HttpReply,
  type HttpRequest,
  LazyEraseWriter,
  MicroPythonOsError,
  MicroPythonPartition,
  type PartitionDict,
  PartitionWriteError,
  partitionDict,
} from '../viperhttp/index.ts';

/**
 * The OTA dialect ViperHTTP's narrative doc describes (seeds/viperhttp-ota.md): Bearer token,
 * `POST /ota/begin {"size"}`, `POST /ota/write`, `POST /ota/finalize {"sha256"}`, one session with
 * an inactivity timeout, errors 400/401/409/500. The seed gives no bodies or texts; where it is
 * silent, the choices are what a firmware engineer building from it would do, each noted.
 */
export interface DocSettings {
  token: string | null;
  sessionTimeoutMs: number;
  /** `never-times-out-session` defect. */
  neverTimesOut: boolean;
  /** `accepts-any-token` defect. */
  acceptsAnyToken: boolean;
  /** `accepts-bad-sha` defect. */
  acceptsBadSha: boolean;
  /** `status-without-token` defect: GET /ota/status needs no token. */
  statusWithoutToken?: boolean;
  /** `size-optional` defect: begin without size opens a session sized to the slot. */
  sizeOptional?: boolean;
  /** `finalize-without-sha` defect: no sha256 at finalize skips the verification. */
  finalizeWithoutSha?: boolean;
  /** `write-without-session` defect: a write with no session is answered 200 and dropped. */
  writeWithoutSession?: boolean;
  /** `allows-second-session` defect: begin replaces an active session. */
  allowsSecondSession?: boolean;
  /** `no-progress` defect: the status' session carries no byte counters. */
  noProgress?: boolean;
  /** `set-boot-skipped` defect: finalize verifies and answers 200 but never selects the slot. */
  setBootSkipped?: boolean;
}

export interface DocHooks {
  /** Reboot shortly after the finalize answer has been sent ("optionally triggers a reboot"). */
  scheduleReset(delayMs: number): void;
}

class DocError extends Error {
  readonly code = 'VIPERHTTP_DOC_ERROR';

  constructor(
    readonly status: 400 | 409 | 500,
    readonly detail: string,
  ) {
    super(detail);
  }
}

interface DocSession {
  readonly id: number;
  readonly size: number;
  readonly startedMs: number;
  readonly writer: LazyEraseWriter;
  readonly partition: MicroPythonPartition;
  readonly sha: Hash;
  written: number;
  /** Accepted writes: the doc's "sequence numbers". */
  seq: number;
  timer: NodeJS.Timeout | undefined;
}

interface DocResult {
  ok: true;
  session_id: number;
  size: number;
  sha256: string;
  reboot: boolean;
}

const json = (body: unknown, status = 200): HttpReply => ({ kind: 'json', status, body });

/** A JSON object body, or an empty object (the doc's begin/finalize send JSON). */
function jsonBody(request: HttpRequest): Record<string, unknown> {
  if (request.body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(request.body.toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Falls through: a body that is not a JSON object carries no parameters.
  }
  return {};
}

export class DocOta {
  private session: DocSession | undefined;
  private sessionSeq = 0;
  private lastResult: DocResult | null = null;
  private lastError: string | null = null;
  private readonly running: PartitionDict | null;
  private readonly next: PartitionDict | null;

  constructor(
    private readonly ctx: FirmwareContext,
    private readonly settings: DocSettings,
    private readonly hooks: DocHooks,
  ) {
    const ota = ctx.esp32!.ota;
    this.running = partitionDict(ota.getRunningPartition());
    this.next = partitionDict(ota.getNextUpdatePartition());
  }

  /** Clears the inactivity timer of this boot (the chip is resetting). */
  stop(): void {
    if (this.session?.timer) clearTimeout(this.session.timer);
    this.session = undefined;
  }

  handler(): HttpHandler {
    const token = this.settings.token === null ? undefined : Buffer.from(this.settings.token, 'utf8');
    const routes = new Map<string, (request: HttpRequest) => HttpReply>([
      ['GET /ota/status', () => json(this.status())],
      ['POST /ota/begin', (request) => json(this.begin(jsonBody(request).size))],
      ['POST /ota/write', (request) => json(this.write(request.body))],
      [
        'POST /ota/finalize',
        (request) => {
          const body = jsonBody(request);
          return json(this.finalize(body.sha256, body.reboot === true));
        },
      ],
    ]);
    return (request) => {
      const route = routes.get(`${request.method} ${request.path}`);
      if (!route) return { kind: 'text', status: 404 };
      const openStatus =
        this.settings.statusWithoutToken === true &&
        request.method === 'GET' &&
        request.path === '/ota/status';
      if (!openStatus && !this.authorised(request, token)) return json({ detail: 'invalid ota token' }, 401);
      try {
        return route(request);
      } catch (error) {
        if (error instanceof DocError) return json({ detail: error.detail }, error.status);
        return json({ detail: error instanceof Error ? error.message : String(error) }, 500);
      }
    };
  }

  /** `Authorization: Bearer <token>`; the scheme is matched case-insensitively as RFC 6750 allows. */
  private authorised(request: HttpRequest, token: Buffer | undefined): boolean {
    if (token === undefined) return true;
    const match = /^bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '');
    if (!match) return false;
    if (this.settings.acceptsAnyToken) return true;
    const provided = Buffer.from(match[1]!.trim(), 'utf8');
    return provided.length === token.length && timingSafeEqual(provided, token);
  }

  status(): Record<string, unknown> {
    const session = this.session;
    return {
      supported: true,
      active: session !== undefined,
      running_partition: this.running,
      next_update_partition: this.next,
      session: session
        ? {
            id: session.id,
            ...(this.settings.noProgress
              ? {}
              : {
                  size: session.size,
                  written: session.written,
                  remaining: session.size - session.written,
                  progress_pct: (session.written * 100) / session.size,
                }),
            seq: session.seq,
            elapsed_ms: Math.round(performance.now() - session.startedMs),
            timeout_ms: this.settings.neverTimesOut ? null : this.settings.sessionTimeoutMs,
          }
        : null,
      last_result: this.lastResult,
      last_error: this.lastError,
    };
  }

  private begin(sizeParameter: unknown): Record<string, unknown> {
    // The seed's table puts "session already active" at 409; it is checked before the parameters.
    if (this.session && !this.settings.allowsSecondSession)
      throw new DocError(409, 'ota session already active');
    const entry = this.ctx.esp32!.ota.getNextUpdatePartition();
    if (!entry) throw new DocError(500, 'no update partition');
    const partition = new MicroPythonPartition(entry, this.ctx.flash, this.ctx.esp32!);
    const capacity = partition.blockCount * partition.blockSize;
    const sizeValue = sizeParameter === undefined && this.settings.sizeOptional ? capacity : sizeParameter;
    if (typeof sizeValue !== 'number' || !Number.isInteger(sizeValue) || sizeValue <= 0) {
      throw new DocError(400, 'missing or invalid parameter: size');
    }
    if (this.session) this.end(this.session);
    if (sizeValue > capacity) {
      throw new DocError(400, 'size exceeds update partition capacity');
    }
    this.sessionSeq++;
    this.session = {
      id: this.sessionSeq,
      size: sizeValue,
      startedMs: performance.now(),
      partition,
      writer: new LazyEraseWriter(partition),
      sha: createHash('sha256'),
      written: 0,
      seq: 0,
      timer: undefined,
    };
    this.lastError = null;
    this.armTimeout(this.session);
    return {
      ok: true,
      session_id: this.sessionSeq,
      size: sizeValue,
      timeout_ms: this.settings.neverTimesOut ? null : this.settings.sessionTimeoutMs,
    };
  }

  /** "If no write arrives within the timeout, the session is cancelled": restarted by every write. */
  private armTimeout(session: DocSession): void {
    if (this.settings.neverTimesOut) return;
    if (session.timer) clearTimeout(session.timer);
    session.timer = setTimeout(() => {
      if (this.ctx.signal.aborted || this.session !== session) return;
      this.session = undefined;
      this.lastError = 'session timed out';
      this.ctx.console.log(
        'W',
        'ota',
        `session ${session.id} timed out after ${this.settings.sessionTimeoutMs} ms`,
      );
    }, this.settings.sessionTimeoutMs);
    session.timer.unref();
  }

  private write(data: Buffer): Record<string, unknown> {
    const session = this.session;
    // The seed's table: "invalid session state" is a 400.
    if (!session) {
      if (this.settings.writeWithoutSession) return { ok: true, written: 0 };
      throw new DocError(400, 'invalid session state: no active session');
    }
    if (data.length === 0) throw new DocError(400, 'missing parameter: firmware chunk');
    if (session.written + data.length > session.size) throw new DocError(400, 'chunk exceeds declared size');
    try {
      session.writer.write(session.written, data);
    } catch (error) {
      // "Partition write failure" is the seed's 500.
      if (error instanceof PartitionWriteError)
        throw new DocError(500, `partition write failed: ${error.message}`);
      throw error;
    }
    session.sha.update(data);
    session.written += data.length;
    session.seq++;
    this.armTimeout(session);
    return {
      ok: true,
      session_id: session.id,
      seq: session.seq,
      written: session.written,
      size: session.size,
      progress_pct: (session.written * 100) / session.size,
    };
  }

  private finalize(shaValue: unknown, reboot: boolean): DocResult {
    const session = this.session;
    if (!session) throw new DocError(400, 'invalid session state: no active session');
    const shaMissing = shaValue === undefined || shaValue === null || shaValue === '';
    const skipVerification = shaMissing && this.settings.finalizeWithoutSha === true;
    if (!skipVerification && (typeof shaValue !== 'string' || !/^[0-9a-fA-F]{64}$/.test(shaValue.trim()))) {
      throw new DocError(400, 'missing or invalid parameter: sha256');
    }
    if (session.written !== session.size) {
      throw new DocError(400, `invalid session state: ${session.written} of ${session.size} bytes written`);
    }
    const digest = session.sha.digest('hex');
    this.end(session);
    // "If they don't match, the update is rejected": the session ends and nothing is committed.
    // The seed's table has no row for it; a rejected request with a bad parameter reads as 400.
    const expected = typeof shaValue === 'string' ? shaValue.trim().toLowerCase() : digest;
    if (digest !== expected && !this.settings.acceptsBadSha) {
      this.lastError = 'sha256 mismatch';
      throw new DocError(400, 'sha256 mismatch');
    }
    try {
      if (!this.settings.setBootSkipped) session.partition.setBoot();
    } catch (error) {
      const repr = error instanceof MicroPythonOsError ? error.repr() : String(error);
      this.lastError = `failed to set boot partition: ${repr}`;
      throw new DocError(500, this.lastError);
    }
    this.lastResult = { ok: true, session_id: session.id, size: session.size, sha256: digest, reboot };
    this.lastError = null;
    if (reboot) this.hooks.scheduleReset(100);
    return this.lastResult;
  }

  private end(session: DocSession): void {
    if (session.timer) clearTimeout(session.timer);
    this.session = undefined;
  }
}
