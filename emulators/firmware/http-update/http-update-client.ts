import type { FirmwareContext } from '../../device/index.ts';
import { HttpClientError, HttpUpdateError, HttpUpdateResult, lastErrorString } from './http-update-errors.ts';
import { type Http10Response, HttpTransportError, http10Get, type TlsTrust } from './http10-client.ts';
import type { PullPlatform, StreamSettings, UpdateTarget } from './pull-platform.ts';
import { type DeviceIdentity, updateRequestHeaders } from './update-request.ts';

/** setFollowRedirects(): HTTPC_DISABLE_FOLLOW_REDIRECTS (default), STRICT or FORCE. */
export type FollowRedirects = 'disable' | 'strict' | 'force';

export interface HttpUpdateSettings {
  url: string;
  target: UpdateTarget;
  followRedirects: FollowRedirects;
  /** setClientTimeout(): connect and response header (8000 ms by default). */
  clientTimeoutMs: number;
  tls: TlsTrust;
  /** `user:pass` for setAuthorization(), or empty. */
  credentials: string;
  identity: DeviceIdentity;
  stream: Omit<StreamSettings, 'signal' | 'pace'>;
}

export interface HttpUpdateOutcome {
  result: HttpUpdateResult;
  lastError: number;
  lastErrorString: string;
}

const REDIRECT_LIMIT = 10;

/**
 * ESP8266httpUpdate::handleUpdate / HTTPUpdate::handleUpdate for one boot: sends the GET with
 * the chip's headers, follows redirects as configured, maps the status to a result and an
 * error code, checks size, space and the image head, and streams the body into the global
 * Update. It never restarts the chip itself; the caller does, as the library does.
 */
export class HttpUpdateClient {
  private readonly context: FirmwareContext;
  private readonly platform: PullPlatform;
  /** `_lastError`: not cleared at the start of a call (reference §3.1, derived). */
  private lastError = 0;

  constructor(context: FirmwareContext, platform: PullPlatform) {
    this.context = context;
    this.platform = platform;
  }

  async update(settings: HttpUpdateSettings): Promise<HttpUpdateOutcome> {
    const result = await this.handleUpdate(settings);
    return {
      result,
      lastError: this.lastError,
      lastErrorString: lastErrorString(this.context.platform, this.lastError, () =>
        this.platform.printError(),
      ),
    };
  }

  private has(defect: string): boolean {
    return this.context.defects.has(defect);
  }

  private fail(code: number): HttpUpdateResult {
    this.lastError = code;
    return HttpUpdateResult.FAILED;
  }

  private async handleUpdate(settings: HttpUpdateSettings): Promise<HttpUpdateResult> {
    let response: Http10Response;
    try {
      response = await this.request(settings);
    } catch (error) {
      if (error instanceof HttpTransportError) return this.fail(error.httpcError);
      throw error;
    }
    try {
      const status = response.status === 304 && this.has('flashes-on-304') ? 200 : response.status;
      switch (status) {
        case 200:
          return await this.handleOk(response, settings);
        case 304:
          return HttpUpdateResult.NO_UPDATES;
        case 404:
          return this.fail(HttpUpdateError.SERVER_FILE_NOT_FOUND);
        case 403:
          return this.fail(HttpUpdateError.SERVER_FORBIDDEN);
        case 401:
          return this.fail(this.platform.unauthorizedCode);
        default:
          return this.fail(HttpUpdateError.SERVER_WRONG_HTTP_CODE);
      }
    } finally {
      response.socket.destroy();
    }
  }

  /** The GET, and the redirect loop of HTTPClient::sendRequest(). */
  private async request(settings: HttpUpdateSettings): Promise<Http10Response> {
    let url = new URL(settings.url);
    for (let redirects = 0; ; redirects++) {
      const headers = updateRequestHeaders(
        this.context,
        url,
        {
          identity: settings.identity,
          freeSketchSpace: this.platform.freeSketchSpace,
          mode: settings.target,
          currentVersion: this.context.running.version,
          authorization:
            settings.credentials === '' ? '' : Buffer.from(settings.credentials).toString('base64'),
        },
        this.has('wrong-header-values'),
      );
      const response = await http10Get(url, headers, {
        timeoutMs: settings.clientTimeoutMs,
        tls: settings.tls,
        signal: this.context.signal,
      });
      const location = response.headers.get('location');
      const follows =
        settings.followRedirects !== 'disable' &&
        redirects < REDIRECT_LIMIT &&
        location !== undefined &&
        location !== '' &&
        [301, 302, 303, 307].includes(response.status);
      if (!follows) return response;
      if (!URL.canParse(location, url.href)) {
        // setURL() takes a path or a URL of the same scheme and hands it to beginInternal(), which
        // refuses no host: a Location this parser cannot read names no host the chip can reach,
        // and the next connect() fails (-1). Any other Location fails setURL(): the 3xx stands
        // (reference/arduino-ota.md §3.1 Redirects; ESP8266HTTPClient.cpp setURL, sendRequest).
        if (!location.startsWith('/') && !location.startsWith(url.protocol)) return response;
        response.socket.destroy();
        throw new HttpTransportError(HttpClientError.CONNECTION_FAILED, `cannot connect to ${location}`);
      }
      // setURL() keeps the scheme: a switch between http and https ends the loop on the 3xx.
      const next = new URL(location, url);
      if (next.protocol !== url.protocol) return response;
      response.socket.destroy();
      url = next;
    }
  }

  private async handleOk(response: Http10Response, settings: HttpUpdateSettings): Promise<HttpUpdateResult> {
    const platform = this.platform;
    const lengthHeader = response.headers.get('content-length');
    const chunked = response.headers.get('transfer-encoding') !== undefined;
    const length = lengthHeader === undefined || chunked ? -1 : Number.parseInt(lengthHeader, 10);
    if (!(length > 0)) return this.fail(HttpUpdateError.SERVER_NOT_REPORT_SIZE);

    if (settings.target === 'spiffs') {
      if (platform.filesystemSize === undefined) return this.fail(HttpUpdateError.CODE_108);
      if (length > platform.filesystemSize) return this.fail(HttpUpdateError.TOO_LESS_SPACE);
    } else {
      if (this.context.platform === 'esp32' && platform.freeSketchSpace === 0) {
        return this.fail(HttpUpdateError.CODE_108);
      }
      if (length > platform.freeSketchSpace) return this.fail(HttpUpdateError.TOO_LESS_SPACE);
      if (!this.has('skips-magic-check')) {
        await response.reader.waitFor(platform.headBytes, settings.clientTimeoutMs, this.context.signal);
        const check = platform.checkImageHead(response.reader.peek(platform.headBytes));
        if (check !== 0) return this.fail(check);
      }
    }
    return (await this.runUpdate(response, length, settings)) ? HttpUpdateResult.OK : HttpUpdateResult.FAILED;
  }

  private async runUpdate(
    response: Http10Response,
    length: number,
    settings: HttpUpdateSettings,
  ): Promise<boolean> {
    const platform = this.platform;
    if (!platform.begin(length, settings.target)) {
      this.lastError = platform.getError();
      return false;
    }
    const md5 = response.headers.get('x-md5') ?? '';
    if (md5 !== '' && !this.has('ignores-x-md5') && !platform.setMD5(md5)) {
      this.lastError = HttpUpdateError.SERVER_FAULTY_MD5;
      return false;
    }
    const written = await platform.writeStream(response.reader, length, {
      ...settings.stream,
      signal: this.context.signal,
      pace: () => this.context.pace(),
    });
    if (this.context.signal.aborted) return false;
    if (written !== length) {
      this.lastError = platform.getError();
      return false;
    }
    if (!platform.end()) {
      this.lastError = platform.getError();
      return false;
    }
    return true;
  }
}
