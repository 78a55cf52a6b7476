import { createHash } from 'node:crypto';
import { noteImageSent } from '../image-ledger/index.ts';
import { ChunkRequest } from './chunk-request.ts';
import { HttpStepError } from './errors.ts';
import { type HttpMethod, HttpTarget, type TargetResponse } from './http-target.ts';
import { headLines, KeepAliveConnection, type KeepAliveResponse } from './keep-alive-connection.ts';
import {
  encodeRawRequest,
  type RawBytesRequest,
  type RawHttpRequest,
  type RawResponse,
  rawExchange,
} from './raw-request.ts';
import { secretScrubber, type TranscriptHook } from './transcript.ts';

/**
 * `viperhttp`: the routes, parameters and auth of `viperhttp_ota.py` (reference
 * viperhttp-luartos-mqtt.md §1). `viperhttp-doc`: the dialect of seeds/viperhttp-ota.md (Bearer,
 * `{"size"}` at begin, `/ota/write`, `{"sha256"}` at finalize).
 */
export type ViperDialect = 'viperhttp' | 'viperhttp-doc';

export interface ViperHttpClientOptions {
  baseUrl: string;
  targetName: string;
  dialect: ViperDialect;
  token?: string;
  /** Where the `viperhttp` token goes: the header (default) or the query parameter. */
  tokenVia?: 'header' | 'query';
  /** `ota_token_header`; default `X-OTA-Token`. */
  tokenHeader?: string;
  /** `ota_token_query`; default `token`. */
  tokenQuery?: string;
  /** `ota_prefix`; default `/ota`. */
  prefix?: string;
  /** Default 3840, the project's own E2E client's size: headers + chunk fit 4096 bytes (§1.8). */
  chunkSize?: number;
  timeouts: { stepMs: number };
  transcript?: TranscriptHook;
  /** A rig-wide redactor; the client's own token is masked in any case. */
  redact?: (text: string) => string;
}

/** The status snapshot of §1.7 (both dialects share the partition fields). */
export interface ViperPartition {
  label: string;
  address?: number;
  size?: number;
  [key: string]: unknown;
}

export interface ViperStatus {
  supported?: boolean;
  active?: boolean;
  running_partition?: ViperPartition | null;
  boot_partition?: ViperPartition | null;
  next_update_partition?: ViperPartition | null;
  last_result?: Record<string, unknown> | null;
  last_error?: string | null;
  session?: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface BeginOptions {
  /** `expected_size`; the doc dialect sends it as `size`. */
  expectedSize?: number;
  /** Doc dialect: `size` (used when expectedSize is absent). */
  size?: number;
  /** `expected_sha256` (viperhttp only; a doc-dialect device has no such field). */
  expectedSha256?: string;
  force?: boolean;
}

export interface FinalizeOptions {
  setBoot?: boolean;
  reboot?: boolean;
  strictSize?: boolean;
  /** The doc dialect's verification digest; a `viperhttp` device ignores it (§0.1). */
  sha256?: string;
}

/**
 * `committed`: the device answered 2xx. `reboot-disconnect`: finalize asked for a reboot and the
 * connection dropped without an answer, which is how `viperhttp` reports success: it calls
 * machine.reset() inside the handler before responding (§1.5 finalize step 7).
 */
export type FinalizeOutcome =
  | { kind: 'committed'; result: Record<string, unknown> }
  | { kind: 'reboot-disconnect'; detail: string };

export interface ChunkOptions {
  /** Byte offset sent as `?offset=` (viperhttp); also names the step in errors. */
  offset?: number;
}

export interface ChunkResult {
  offset: number;
  length: number;
  /** The first attempt lost its connection and the chunk was confirmed or re-sent. */
  recovered: boolean;
}

export interface PushOptions {
  chunkSize?: number;
  /**
   * `at-begin`: the image's digest as `expected_sha256` at begin (viperhttp default).
   * `at-finalize`: the digest as `sha256` at finalize (doc dialect default).
   * `omit`: no digest. A hex string: that digest, where the dialect carries it (a wrong one on purpose).
   */
  sha256?: 'at-begin' | 'at-finalize' | 'omit' | string;
  reboot?: boolean;
  /** After a reboot, poll the status until the old next-update slot runs (default true). */
  waitForReboot?: boolean;
  rebootTimeoutMs?: number;
  onProgress?: (sent: number, total: number) => void;
}

export interface PushResult {
  bytes: number;
  chunks: number;
  /** Connections opened during the push (above 1 when the device's request budget ran out). */
  connections: number;
  sha256: string;
  before: ViperStatus;
  finalize: FinalizeOutcome;
  /** The status from the new boot, when a reboot was awaited. */
  after?: ViperStatus;
  durationMs: number;
}

export interface RawRequestOptions {
  step?: string;
  timeoutMs?: number;
  /** Add the configured credential to a RawHttpRequest (default false: raw means as written). */
  auth?: boolean;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string | Record<string, unknown>;
  query?: Record<string, string | number | boolean>;
  /** Add the configured credential (default true). */
  auth?: boolean;
  step?: string;
  timeoutMs?: number;
}

export interface RawHttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

function hexSha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { value: parsed };
  } catch {
    return { text: body.toString('utf8') };
  }
}

/** The push client for ViperHTTP's `/ota/*` routes in both dialects. */
export class ViperHttpClient {
  readonly targetName: string;
  readonly dialect: ViperDialect;
  readonly chunkSize: number;
  private readonly target: HttpTarget;
  private readonly stepMs: number;
  private readonly prefix: string;
  private readonly scrub: (text: string) => string;
  private readonly transcript: TranscriptHook | undefined;
  private readonly tokenHeaderName: string;
  /** Credential headers, built once: the chunk path reuses these objects. */
  private readonly authHeaders: Readonly<Record<string, string>>;
  private readonly chunkHeaders: Readonly<Record<string, string>>;
  private readonly jsonHeaders: Readonly<Record<string, string>>;
  /** `&token=…` / `?token=…` when the token travels in the query. */
  private readonly tokenQueryPair: string;
  /**
   * The device's own routes (status through finalize, chunks, upload) travel here; Node's HTTP client
   * (in `target`) carries only `request()`, whose arbitrary methods, headers and answer framings (HEAD,
   * chunked) the device's routes never use.
   */
  private readonly connection: KeepAliveConnection;
  /** `Host: …` and the same headers as above, as request-head lines. */
  private readonly hostLine: string;
  private readonly authLines: string;
  private readonly chunkLines: string;
  private readonly jsonLines: string;
  /** The one chunk request this client re-encodes for every chunk (one in flight at a time). */
  private readonly chunkRequest: ChunkRequest;

  constructor(options: ViperHttpClientOptions) {
    this.targetName = options.targetName;
    this.dialect = options.dialect;
    this.chunkSize = options.chunkSize ?? 3840;
    this.stepMs = options.timeouts.stepMs;
    this.transcript = options.transcript;
    this.scrub = secretScrubber([options.token], options.redact);
    this.tokenHeaderName = (options.tokenHeader ?? 'X-OTA-Token').toLowerCase();
    this.target = new HttpTarget({
      baseUrl: options.baseUrl,
      targetName: options.targetName,
      scrub: this.scrub,
      transcript: options.transcript,
      credentialHeaders: new Set([this.tokenHeaderName]),
    });
    const base = this.target.basePath;
    const prefix = (options.prefix ?? '/ota').trim().replace(/\/$/, '');
    this.prefix = base + (prefix.startsWith('/') ? prefix : `/${prefix}`);
    const token = options.token;
    let auth: Record<string, string> = {};
    let queryPair = '';
    if (token !== undefined) {
      if (options.dialect === 'viperhttp-doc') auth = { authorization: `Bearer ${token}` };
      else if (options.tokenVia === 'query')
        queryPair = `${encodeURIComponent(options.tokenQuery ?? 'token')}=${encodeURIComponent(token)}`;
      else auth = { [this.tokenHeaderName]: token };
    }
    this.authHeaders = Object.freeze(auth);
    this.tokenQueryPair = queryPair;
    this.chunkHeaders = Object.freeze({ 'content-type': 'application/octet-stream', ...auth });
    this.jsonHeaders = Object.freeze({ ...JSON_HEADERS, ...auth });
    this.connection = new KeepAliveConnection(this.target);
    this.hostLine = `Host: ${this.target.origin.host}\r\n`;
    this.authLines = headLines(this.authHeaders);
    this.chunkLines = headLines(this.chunkHeaders);
    this.jsonLines = headLines(this.jsonHeaders);
    const doc = options.dialect === 'viperhttp-doc';
    this.chunkRequest = new ChunkRequest({
      path: this.route(doc ? 'write' : 'chunk'),
      withOffset: !doc,
      tokenQueryPair: queryPair,
      hostLine: this.hostLine,
      headerLines: this.chunkLines,
      headers: this.chunkHeaders,
      timeoutMs: this.stepMs,
    });
  }

  /** TCP connections this client has opened. */
  get connectionsOpened(): number {
    return this.target.connectionsOpened + this.connection.connectionsOpened;
  }

  private head(method: string, path: string, lines: string, bodyLength: number | undefined): string {
    return bodyLength === undefined
      ? `${method} ${path} HTTP/1.1\r\n${this.hostLine}${lines}\r\n`
      : `${method} ${path} HTTP/1.1\r\n${this.hostLine}${lines}content-length: ${bodyLength}\r\n\r\n`;
  }

  private route(name: string): string {
    return `${this.prefix}/${name}`;
  }

  private withAuthQuery(path: string): string {
    if (this.tokenQueryPair === '') return path;
    return path + (path.includes('?') ? '&' : '?') + this.tokenQueryPair;
  }

  private async json(
    step: string,
    method: HttpMethod,
    route: string,
    body?: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const path = this.withAuthQuery(this.route(route));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const response = await this.connection.send({
      step,
      method,
      path,
      head: this.head(method, path, payload === undefined ? this.authLines : this.jsonLines, payload?.length),
      headers: payload === undefined ? this.authHeaders : this.jsonHeaders,
      body: payload,
      timeoutMs: this.stepMs,
      read: 'always',
    });
    this.target.expectOk(step, { method, path: this.scrub(path) }, response);
    return parseJsonObject(response.body);
  }

  /** `GET <prefix>/status`. */
  async status(step = 'status'): Promise<ViperStatus> {
    return (await this.json(step, 'GET', 'status')) as ViperStatus;
  }

  /** `POST <prefix>/begin` with exactly the fields given. */
  async begin(options: BeginOptions = {}): Promise<Record<string, unknown>> {
    const body: Record<string, unknown> = {};
    if (this.dialect === 'viperhttp-doc') {
      const size = options.expectedSize ?? options.size;
      if (size !== undefined) body.size = size;
      if (options.expectedSha256 !== undefined) body.sha256 = options.expectedSha256;
      if (options.force !== undefined) body.force = options.force;
    } else {
      if (options.expectedSize !== undefined) body.expected_size = options.expectedSize;
      if (options.size !== undefined) body.size = options.size;
      if (options.expectedSha256 !== undefined) body.expected_sha256 = options.expectedSha256;
      if (options.force !== undefined) body.force = options.force;
    }
    return this.json('begin', 'POST', 'begin', body);
  }

  /**
   * One chunk: `POST <prefix>/chunk?offset=N` (viperhttp) or `POST <prefix>/write` (doc), the body a
   * view of the caller's bytes. The response body is not parsed: only the status matters here.
   */
  async chunk(data: Uint8Array, options: ChunkOptions = {}): Promise<ChunkResult> {
    const offset = options.offset;
    const request = this.chunkRequest.prepare(data, offset, false);
    let response: KeepAliveResponse;
    try {
      response = await this.connection.send(request);
    } catch (error) {
      if (!(error instanceof HttpStepError) || error.code !== 'HTTP_CONNECTION' || offset === undefined)
        throw error;
      return this.recoverChunk(error, request.step, data, offset, this.dialect !== 'viperhttp-doc');
    }
    if (response.status < 200 || response.status >= 300) throw this.chunkRefused(request, response);
    return { offset: offset ?? -1, length: data.length, recovered: false };
  }

  private chunkRefused(request: ChunkRequest, response: KeepAliveResponse): HttpStepError {
    return this.target.statusError(
      request.step,
      { method: 'POST', path: this.scrub(request.path) },
      response.status,
      response.body.toString('utf8'),
    );
  }

  /**
   * The connection died under a chunk (typically the device closing after its per-connection
   * request budget without saying so). The device's byte counter tells what happened:
   * - it already counts the chunk → it landed, nothing to resend;
   * - it stands at this chunk's offset and the request carried `?offset=` → re-send it. That is
   *   safe because the device refuses a chunk whose offset is not its written count (409), so a
   *   first attempt still in flight can never make the image contain the bytes twice.
   * - a chunk without an offset (the doc dialect's /ota/write) is never re-sent: an unguarded
   *   duplicate would be appended silently and corrupt the image.
   * begin, finalize, abort and upload are not retried at all: a second begin may end the session
   * the first one opened, and a lost finalize may already have committed (or rebooted), so its
   * repeat would report a state error instead of what happened.
   */
  private async recoverChunk(
    original: HttpStepError,
    step: string,
    data: Uint8Array,
    offset: number,
    resendable: boolean,
  ): Promise<ChunkResult> {
    const written = await this.writtenBytes(`status (after a lost ${step})`);
    if (written === offset + data.length) return { offset, length: data.length, recovered: true };
    if (written === offset && resendable) {
      const request = this.chunkRequest.prepare(data, offset, true);
      const response = await this.connection.send(request);
      if (response.status < 200 || response.status >= 300) throw this.chunkRefused(request, response);
      return { offset, length: data.length, recovered: true };
    }
    throw new HttpStepError(
      'HTTP_CONNECTION',
      `${original.message}; the device then reported ${written ?? 'no'} bytes written, so the chunk ` +
        (resendable ? 'cannot be re-sent safely' : 'was not re-sent (no offset guards a duplicate)'),
      { targetName: this.targetName, step },
    );
  }

  private async writtenBytes(step: string): Promise<number | undefined> {
    const session = (await this.status(step)).session;
    const value = session?.[this.dialect === 'viperhttp-doc' ? 'written' : 'written_bytes'];
    return typeof value === 'number' ? value : undefined;
  }

  /** `POST <prefix>/finalize`. A dropped connection counts as success only when `reboot` was asked. */
  async finalize(options: FinalizeOptions = {}): Promise<FinalizeOutcome> {
    const body: Record<string, unknown> = {};
    if (this.dialect === 'viperhttp') {
      if (options.setBoot !== undefined) body.set_boot = options.setBoot;
      if (options.strictSize !== undefined) body.strict_size = options.strictSize;
    }
    if (options.reboot !== undefined) body.reboot = options.reboot;
    if (options.sha256 !== undefined) body.sha256 = options.sha256;
    try {
      return { kind: 'committed', result: await this.json('finalize', 'POST', 'finalize', body) };
    } catch (error) {
      if (options.reboot === true && error instanceof HttpStepError && error.code === 'HTTP_CONNECTION') {
        return { kind: 'reboot-disconnect', detail: error.message };
      }
      throw error;
    }
  }

  /** `POST <prefix>/abort`. */
  async abort(): Promise<Record<string, unknown>> {
    return this.json('abort', 'POST', 'abort', {});
  }

  /** `POST <prefix>/upload`: the whole image in one request (fits only tiny images, §1.5). */
  async upload(
    image: Uint8Array,
    options: { expectedSha256?: string; setBoot?: boolean; reboot?: boolean } = {},
  ): Promise<FinalizeOutcome> {
    noteImageSent(image, 'viperhttp upload');
    const query: string[] = [];
    if (options.expectedSha256 !== undefined) query.push(`expected_sha256=${options.expectedSha256}`);
    if (options.setBoot !== undefined) query.push(`set_boot=${options.setBoot}`);
    if (options.reboot !== undefined) query.push(`reboot=${options.reboot}`);
    const path = this.withAuthQuery(this.route('upload') + (query.length > 0 ? `?${query.join('&')}` : ''));
    try {
      const response = await this.connection.send({
        step: 'upload',
        method: 'POST',
        path,
        head: this.head('POST', path, this.chunkLines, image.length),
        headers: this.chunkHeaders,
        body: image,
        timeoutMs: this.stepMs,
        read: 'always',
      });
      this.target.expectOk('upload', { method: 'POST', path: this.scrub(path) }, response);
      return { kind: 'committed', result: parseJsonObject(response.body) };
    } catch (error) {
      if (options.reboot === true && error instanceof HttpStepError && error.code === 'HTTP_CONNECTION') {
        return { kind: 'reboot-disconnect', detail: error.message };
      }
      throw error;
    }
  }

  /** `POST <prefix>/mark-valid`. */
  async markValid(): Promise<Record<string, unknown>> {
    return this.json('mark-valid', 'POST', 'mark-valid', {});
  }

  /**
   * The canonical flow of §1.9 in this client's dialect: status (slots), abort (viperhttp), begin,
   * chunks with offsets, finalize, and with a reboot: poll the status until the old next-update slot
   * runs. Returns what a benchmark or a report needs.
   */
  async pushImage(image: Uint8Array, options: PushOptions = {}): Promise<PushResult> {
    noteImageSent(image, 'viperhttp push');
    const started = performance.now();
    const chunkSize = options.chunkSize ?? this.chunkSize;
    if (!Number.isInteger(chunkSize) || chunkSize <= 0)
      throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
    const connectionsBefore = this.connectionsOpened;
    const doc = this.dialect === 'viperhttp-doc';
    const digest = hexSha256(image);
    const mode = options.sha256 ?? (doc ? 'at-finalize' : 'at-begin');
    const explicit = mode !== 'at-begin' && mode !== 'at-finalize' && mode !== 'omit' ? mode : undefined;
    const atBegin =
      mode === 'at-begin' || (explicit !== undefined && !doc) ? (explicit ?? digest) : undefined;
    const atFinalize =
      mode === 'at-finalize' || (explicit !== undefined && doc) ? (explicit ?? digest) : undefined;

    const before = await this.status();
    if (!doc) await this.abort();
    await this.begin(
      doc
        ? { size: image.length, ...(atBegin === undefined ? {} : { expectedSha256: atBegin }) }
        : { expectedSize: image.length, expectedSha256: atBegin, force: true },
    );
    let chunks = 0;
    for (let offset = 0; offset < image.length; offset += chunkSize) {
      const end = Math.min(offset + chunkSize, image.length);
      await this.chunk(image.subarray(offset, end), { offset });
      chunks++;
      options.onProgress?.(end, image.length);
    }
    const reboot = options.reboot ?? false;
    const finalize = await this.finalize(
      doc
        ? { sha256: atFinalize, reboot }
        : {
            setBoot: true,
            strictSize: true,
            reboot,
            ...(atFinalize === undefined ? {} : { sha256: atFinalize }),
          },
    );
    let after: ViperStatus | undefined;
    const expected = before.next_update_partition?.label;
    if (reboot && options.waitForReboot !== false && expected !== undefined) {
      after = await this.waitForStatus((status) => status.running_partition?.label === expected, {
        timeoutMs: options.rebootTimeoutMs ?? Math.max(10_000, this.stepMs * 4),
        step: `wait for the reboot into ${expected}`,
        // Sessions live in RAM: one still open means the finalize that "dropped" never ran.
        fail: (status) =>
          finalize.kind === 'reboot-disconnect' && status.active === true
            ? 'the upload session is still active, so the finalize whose connection dropped never reached the device'
            : undefined,
      });
    }
    return {
      bytes: image.length,
      chunks,
      connections: this.connectionsOpened - connectionsBefore,
      sha256: digest,
      before,
      finalize,
      ...(after === undefined ? {} : { after }),
      durationMs: performance.now() - started,
    };
  }

  /**
   * Polls the status until `until` holds; a device that is rebooting refuses or drops connections
   * meanwhile, which is expected, not an error.
   */
  async waitForStatus(
    until: (status: ViperStatus) => boolean,
    options: {
      timeoutMs: number;
      intervalMs?: number;
      step?: string;
      /** A reason to stop waiting at once (a state from which `until` cannot be reached). */
      fail?: (status: ViperStatus) => string | undefined;
    },
  ): Promise<ViperStatus> {
    const step = options.step ?? 'wait for status';
    const deadline = performance.now() + options.timeoutMs;
    let last = 'no answer';
    while (performance.now() < deadline) {
      let status: ViperStatus | undefined;
      try {
        status = await this.status(step);
      } catch (error) {
        if (!(error instanceof HttpStepError) || error.code === 'HTTP_STATUS') throw error;
        last = error.code === 'HTTP_STEP_TIMEOUT' ? 'no answer in time' : 'not accepting connections';
      }
      if (status !== undefined) {
        if (until(status)) return status;
        const reason = options.fail?.(status);
        if (reason !== undefined) {
          throw new HttpStepError(
            'HTTP_CONNECTION',
            this.scrub(`target ${this.targetName}: step '${step}': ${reason}`),
            {
              targetName: this.targetName,
              step,
            },
          );
        }
        last = `running ${status.running_partition?.label ?? 'an unknown slot'}`;
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
    }
    throw this.target.timeoutError(
      step,
      `did not reach the expected state (last: ${last})`,
      options.timeoutMs,
    );
  }

  /** A request to any path, credential added unless `auth: false`; returns status, headers and raw body. */
  async request(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<RawHttpResult> {
    let fullPath = path.startsWith('/') ? this.target.basePath + path : `${this.prefix}/${path}`;
    if (options.query) {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(options.query)) search.append(key, String(value));
      fullPath += (fullPath.includes('?') ? '&' : '?') + search.toString();
    }
    const auth = options.auth !== false;
    if (auth) fullPath = this.withAuthQuery(fullPath);
    let body: Uint8Array | string | undefined;
    const headers: Record<string, string> = { ...(auth ? this.authHeaders : {}) };
    if (options.body instanceof Uint8Array || typeof options.body === 'string') body = options.body;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, options.headers);
    const response: TargetResponse = await this.target.send({
      step: options.step ?? `${method} ${path}`,
      method,
      path: fullPath,
      headers,
      body,
      timeoutMs: options.timeoutMs ?? this.stepMs,
      read: 'always',
    });
    return response;
  }

  /**
   * Malformed traffic over a fresh node:net connection: an over-limit request, a chunked body, a
   * wrong credential. Nothing is added unless `auth: true` (then the configured credential).
   */
  async rawRequest(
    request: RawBytesRequest | RawHttpRequest,
    options: RawRequestOptions = {},
  ): Promise<RawResponse> {
    let bytes: Uint8Array;
    let step = options.step;
    if ('bytes' in request) {
      bytes = typeof request.bytes === 'string' ? Buffer.from(request.bytes, 'latin1') : request.bytes;
      step ??= 'raw request';
    } else {
      const withAuth: RawHttpRequest = options.auth
        ? {
            ...request,
            path: this.withAuthQuery(request.path),
            headers: [...(request.headers ?? []), ...Object.entries(this.authHeaders)],
          }
        : request;
      bytes = encodeRawRequest(withAuth, this.target.origin.host);
      step ??= `raw ${request.method} ${request.path}`;
    }
    return rawExchange(bytes, {
      host: this.target.host,
      port: this.target.port,
      targetName: this.targetName,
      step,
      timeoutMs: options.timeoutMs ?? this.stepMs,
      scrub: this.scrub,
      transcript: this.transcript,
      credentialHeaders: new Set([this.tokenHeaderName]),
    });
  }

  /** Lets requests in flight finish, then closes the keep-alive connections. */
  async close(): Promise<void> {
    await Promise.all([this.connection.close(), this.target.close()]);
  }

  async destroy(): Promise<void> {
    this.connection.destroy();
    await this.target.destroy();
  }
}
