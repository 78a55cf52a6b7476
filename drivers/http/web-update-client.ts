import { noteImageSent } from '../image-ledger/index.ts';
import {
  type AuthChallenge,
  basicAuthorization,
  digestAuthorization,
  parseChallenges,
} from './digest-auth.ts';
import { HttpStepError } from './errors.ts';
import { HttpTarget, type TargetResponse } from './http-target.ts';
import { headLines, KeepAliveConnection, type KeepAliveResponse } from './keep-alive-connection.ts';
import { multipartFileBody } from './multipart-body.ts';
import { secretScrubber, type TranscriptHook } from './transcript.ts';

export interface WebUpdateClientOptions {
  baseUrl: string;
  targetName: string;
  username?: string;
  password?: string;
  /**
   * 'basic': send Basic credentials up front (both servers accept Basic whatever they challenge).
   * 'digest': fetch a fresh challenge with a GET first, then answer it. 'auto' (default): ask
   * the device which scheme it challenges with, then use that one.
   */
  auth?: 'basic' | 'digest' | 'auto';
  /** `setup(server, path, …)`; default `/update`. */
  path?: string;
  timeouts: { stepMs: number };
  transcript?: TranscriptHook;
  redact?: (text: string) => string;
}

export interface WebUploadOptions {
  /** The multipart part name: `firmware` (default) flashes the app, `filesystem` the FS (§2.1). */
  field?: 'firmware' | 'filesystem';
  filename?: string;
  onProgress?: (sent: number, total: number) => void;
  /** Stop after this many image bytes, without the closing boundary: a cut upload. */
  truncateAt?: number;
  /** 'true' (default): Content-Length; 'omit': Transfer-Encoding: chunked. */
  contentLength?: 'true' | 'omit';
  /** Default true: a 401 throws HTTP_STATUS. False returns it as an answer. */
  throwOnUnauthorized?: boolean;
}

export interface WebAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * `answered`: the device sent a response (`Update Success! Rebooting...` or `Update error: …`,
 * both with 200, §2.1). `cut`: a truncated upload ended with the connection closed.
 */
export type WebUploadResult =
  | ({
      outcome: 'answered';
      sentBytes: number;
      /**
       * performance.now() when the upload went to the network (its connect): a clock that, like
       * curl's `time_total`, leaves out building the request.
       */
      wireStartedAt: number;
      /** performance.now() when the connection the upload opened was established (curl's `time_connect` after that clock's start). */
      connectedAt?: number;
      /** performance.now() when the answer's last byte was in and its framing read (the wire exchange's end). */
      answeredAt: number;
    } & WebAnswer)
  | { outcome: 'cut'; sentBytes: number; detail: string };

type Scheme = 'none' | 'basic' | 'digest';

/** The push client for ESP8266HTTPUpdateServer / ESP32 HTTPUpdateServer (reference arduino-ota.md §2). */
export class WebUpdateClient {
  readonly targetName: string;
  readonly path: string;
  private readonly target: HttpTarget;
  private readonly stepMs: number;
  private readonly username: string | undefined;
  private readonly password: string | undefined;
  private readonly mode: 'basic' | 'digest' | 'auto';
  private readonly scrub: (text: string) => string;
  /** What 'auto' learnt from the device's first challenge. */
  private learnt: Scheme | undefined;
  /**
   * The upload itself goes over node:net: the body's pieces are handed to the socket as it takes
   * them, with no stream or request machinery between (undici with a Readable body took a third
   * longer than curl for the same image on loopback). The form and the auth probe go
   * through Node's HTTP client (`target`).
   */
  private readonly uploads: KeepAliveConnection;

  constructor(options: WebUpdateClientOptions) {
    this.targetName = options.targetName;
    this.stepMs = options.timeouts.stepMs;
    this.username = options.username;
    this.password = options.password;
    this.mode = options.auth ?? 'auto';
    this.scrub = secretScrubber([options.password], options.redact);
    this.target = new HttpTarget({
      baseUrl: options.baseUrl,
      targetName: options.targetName,
      scrub: this.scrub,
      transcript: options.transcript,
    });
    this.path = this.target.basePath + (options.path ?? '/update');
    this.uploads = new KeepAliveConnection(this.target);
  }

  private get hasCredentials(): boolean {
    return this.username !== undefined && this.password !== undefined;
  }

  get connectionsOpened(): number {
    return this.target.connectionsOpened + this.uploads.connectionsOpened;
  }

  /** GET the upload form (answering an auth challenge if there is one). */
  async page(): Promise<WebAnswer> {
    const step = 'page';
    let response = await this.get(step, {});
    if (response.status === 401 && this.hasCredentials) {
      const authorization = this.answerChallenge(step, 'GET', response);
      response = await this.get(step, { authorization });
    }
    if (response.status === 401) throw this.unauthorized(step, 'GET', response, this.hasCredentials);
    return { status: response.status, headers: response.headers, body: response.body.toString('utf8') };
  }

  /**
   * POST the image as multipart/form-data, streamed from the caller's bytes. The credentials go
   * with the POST itself: a WebServer checks them at UPLOAD_FILE_START and otherwise consumes the
   * whole body before answering 401 (§2.1), so a challenge round trip on the upload would send
   * the image twice.
   */
  async upload(image: Uint8Array, options: WebUploadOptions = {}): Promise<WebUploadResult> {
    noteImageSent(image, 'web-update upload');
    const field = options.field ?? 'firmware';
    const step = `upload (${field})`;
    const authorization = await this.uploadAuthorization(step);
    const body = multipartFileBody(image, {
      field,
      filename: options.filename ?? (field === 'firmware' ? 'firmware.bin' : 'filesystem.bin'),
      truncateAt: options.truncateAt,
      onProgress: options.onProgress,
    });
    const chunked = options.contentLength === 'omit';
    const headers: Record<string, string> = { 'content-type': body.contentType };
    if (!chunked) headers['content-length'] = String(body.declaredLength);
    else headers['transfer-encoding'] = 'chunked';
    if (authorization !== undefined) headers.authorization = authorization;
    let response: KeepAliveResponse;
    try {
      response = await this.uploads.send({
        step,
        method: 'POST',
        path: this.path,
        head: `POST ${this.path} HTTP/1.1\r\nHost: ${this.target.origin.host}\r\n${headLines(headers)}\r\n`,
        body: undefined,
        // A truncated chunked body still ends with the last chunk (the framing is complete, only
        // the multipart is not); a truncated one with Content-Length is cut by closing.
        stream: {
          pieces: body.pieces,
          length: body.streamedLength,
          chunked,
          cut: options.truncateAt !== undefined && !chunked,
        },
        headers,
        timeoutMs: this.stepMs,
        read: 'always',
        withHeaders: true,
      });
    } catch (error) {
      if (
        options.truncateAt !== undefined &&
        error instanceof HttpStepError &&
        error.code === 'HTTP_CONNECTION'
      ) {
        return { outcome: 'cut', sentBytes: body.streamedLength, detail: error.message };
      }
      throw error;
    }
    const answer: TargetResponse = {
      status: response.status,
      headers: response.headers ?? {},
      body: response.body,
    };
    if (answer.status === 401 && options.throwOnUnauthorized !== false) {
      throw this.unauthorized(step, 'POST', answer, authorization !== undefined);
    }
    return {
      outcome: 'answered',
      sentBytes: body.streamedLength,
      wireStartedAt: this.uploads.lastWireStart,
      answeredAt: this.uploads.lastAnswered,
      ...(this.uploads.lastConnected >= this.uploads.lastWireStart
        ? { connectedAt: this.uploads.lastConnected }
        : {}),
      status: answer.status,
      headers: answer.headers,
      body: answer.body.toString('utf8'),
    };
  }

  private get(step: string, extra: Record<string, string>): Promise<TargetResponse> {
    return this.target.send({
      step,
      method: 'GET',
      path: this.path,
      headers: extra,
      timeoutMs: this.stepMs,
      read: 'always',
    });
  }

  private async uploadAuthorization(step: string): Promise<string | undefined> {
    if (!this.hasCredentials) return undefined;
    const scheme = this.mode === 'auto' ? this.learnt : this.mode;
    if (scheme === 'basic') return basicAuthorization(this.username!, this.password!);
    if (scheme === 'none') return undefined;
    // Digest (or not yet known): the nonce is only good for this boot's last challenge, so ask for one now.
    const probeStep = `${step}: auth challenge`;
    const probe = await this.get(probeStep, {});
    if (probe.status !== 401) {
      this.learnt = 'none';
      return undefined;
    }
    return this.answerChallenge(probeStep, 'POST', probe);
  }

  private answerChallenge(step: string, method: string, response: TargetResponse): string {
    const challenges = parseChallenges(response.headers['www-authenticate']);
    const digest = challenges.find((challenge) => challenge.scheme === 'digest');
    const basic = challenges.find((challenge) => challenge.scheme === 'basic');
    if (digest && this.mode !== 'basic') {
      if (this.mode === 'auto') this.learnt = 'digest';
      return this.digest(method, digest);
    }
    if (this.mode === 'digest') {
      throw this.target.statusError(
        step,
        { method: 'GET', path: this.path },
        401,
        '',
        `; auth is 'digest' but the device challenges only with ${describeChallenges(challenges)}`,
      );
    }
    // Basic offered, or no usable challenge at all: the WebServer accepts Basic in either case.
    if (this.mode === 'auto' && (basic !== undefined || challenges.length === 0)) this.learnt = 'basic';
    return basicAuthorization(this.username!, this.password!);
  }

  private digest(method: string, challenge: AuthChallenge): string {
    return digestAuthorization({
      username: this.username!,
      password: this.password!,
      method,
      uri: this.path,
      challenge,
    });
  }

  private unauthorized(
    step: string,
    method: string,
    response: TargetResponse,
    sentCredentials: boolean,
  ): HttpStepError {
    const challenges = parseChallenges(response.headers['www-authenticate']);
    const hint = sentCredentials
      ? `; the device rejected the credentials of user '${this.username}' (challenge: ${describeChallenges(challenges)})`
      : `; the device requires credentials (challenge: ${describeChallenges(challenges)}) and none are configured`;
    return this.target.statusError(
      step,
      { method, path: this.path },
      401,
      response.body.toString('utf8'),
      hint,
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.uploads.close(), this.target.close()]);
  }

  async destroy(): Promise<void> {
    this.uploads.destroy();
    await this.target.destroy();
  }
}

function describeChallenges(challenges: readonly AuthChallenge[]): string {
  if (challenges.length === 0) return 'none';
  return challenges
    .map(
      (challenge) =>
        `${challenge.scheme === 'digest' ? 'Digest' : challenge.scheme === 'basic' ? 'Basic' : challenge.scheme} realm="${challenge.params.realm ?? ''}"`,
    )
    .join(', ');
}
