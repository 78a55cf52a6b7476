import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FirmwareContext, FirmwareModule, RunningFirmware } from '../../device/index.ts';
import { EBOOT_CLEARS_COMMAND_EARLY, WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { ESP8266_SIGNATURE_DEFECTS } from '../signing-options.ts';
import { singleFieldFormPage, uploadFormPage } from './form-page.ts';
import { MultipartFormatError, MultipartStream, multipartBoundary } from './multipart-stream.ts';
import { type AuthScheme, UploadAuth } from './upload-auth.ts';
import { type UploadPlatform, uploadPlatformFor } from './upload-platform.ts';

/** The exact success body of both update servers (reference §2.1). */
export const UPDATE_SUCCESS_BODY =
  '<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...';
/** Prefix of the failure body, answered with 200 (reference §2.1, §7.7). */
export const UPDATE_ERROR_PREFIX = 'Update error: ';

export interface WebUpdateOptions {
  /** Route of the form and the upload (`setup(server, path, …)`); default `/update`. */
  path: string;
  /** Auth is on only when both are non-empty. */
  username: string;
  password: string;
  /** The challenge the sketch asks for: the library's default Basic, or Digest. */
  authScheme: AuthScheme;
  /** How long the WebServer waits on a silent client (see DATA_WAIT_MS); tests shorten it. */
  dataWaitMs: number;
}

/**
 * The WebServer's patience with a silent client: HTTP_MAX_DATA_WAIT for the first bytes of a
 * request ([8266] libraries/ESP8266WebServer/src/ESP8266WebServer.h L61, used in
 * ESP8266WebServer-impl.h L450), and the WiFiClient's Stream timeout for every readStringUntil()
 * of the request line, headers and multipart part heads ([8266] libraries/ESP8266WiFi/src/
 * WiFiClient.cpp L80 `_timeout = 5000`); both are 5000 ms.
 */
const DATA_WAIT_MS = 5000;

const DEFAULT_OPTIONS: WebUpdateOptions = {
  path: '/update',
  username: '',
  password: '',
  authScheme: 'basic',
  dataWaitMs: DATA_WAIT_MS,
};

/** Wait between sending the success page and ESP.restart() (`delay(100)` in the library, reference/arduino-ota.md §2.1). */
const RESTART_DELAY_MS = 100;

function readOptions(raw: Readonly<Record<string, unknown>>): WebUpdateOptions {
  const text = (key: keyof WebUpdateOptions, fallback: string): string =>
    typeof raw[key] === 'string' ? (raw[key] as string) : fallback;
  const scheme = raw.authScheme === 'digest' ? 'digest' : 'basic';
  return {
    path: text('path', DEFAULT_OPTIONS.path),
    username: text('username', ''),
    password: text('password', ''),
    authScheme: scheme,
    dataWaitMs:
      typeof raw.dataWaitMs === 'number' && raw.dataWaitMs > 0 ? raw.dataWaitMs : DEFAULT_OPTIONS.dataWaitMs,
  };
}

/**
 * One boot of a sketch running ESP8266HTTPUpdateServer / the ESP32 HTTPUpdateServer on the
 * WebServer: GET shows the form, POST streams the multipart file into the global Update in
 * WebServer-sized chunks, answers 200 with the success page and restarts, or 200 with
 * `Update error: …` and keeps running.
 */
class WebUpdateServer {
  private readonly context: FirmwareContext;
  private readonly options: WebUpdateOptions;
  private readonly platform: UploadPlatform;
  private readonly auth: UploadAuth;
  private readonly sockets = new Set<Socket>();
  /** Connections whose upload is inside a file part's data (`_uploadReadByte`). */
  private readonly readingFileData = new WeakSet<Socket>();
  /**
   * The Arduino WebServer serves one client at a time from its loop: a second connection waits
   * in the backlog until the first request is done, so two uploads never share the Updater.
   */
  private served: Promise<void> = Promise.resolve();
  private readonly server = createServer((request, response) => {
    // A connection waiting its turn sits in the backlog, where no WebServer clock runs on it.
    this.waitingTurn.add(request.socket);
    this.served = this.served.then(() => {
      this.waitingTurn.delete(request.socket);
      request.socket.setTimeout(this.options.dataWaitMs);
      return this.handle(request, response).catch(() => {
        request.socket?.destroy();
      });
    });
  });
  private readonly waitingTurn = new WeakSet<Socket>();
  /** `_updaterError`: kept across requests of this boot, cleared at each file start. */
  private updaterError = '';

  constructor(context: FirmwareContext) {
    this.context = context;
    this.options = readOptions(context.options);
    this.platform = uploadPlatformFor(context);
    this.auth = new UploadAuth({
      username: this.options.username,
      password: this.options.password,
      scheme: this.options.authScheme,
    });
    // The WebServer drops a request it cannot parse (a body cut short) without answering.
    this.server.on('clientError', (_error, socket) => socket.destroy());
    // A silent client is dropped after the WebServer's wait, so one stalled request cannot hold
    // the single-client loop; only the ESP8266 core waits out silent file data for good.
    this.server.setTimeout(this.options.dataWaitMs, (socket: Socket) => {
      if (this.waitingTurn.has(socket)) return;
      if (this.platform.waitsForFileDataForever && this.readingFileData.has(socket)) return;
      socket.destroy();
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<number> {
    this.server.listen(this.context.preferredPort('http'), this.context.host);
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string')
      throw new Error('the update server has no TCP address');
    return address.port;
  }

  stop(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private get defects(): ReadonlySet<string> {
    return this.context.defects;
  }

  private authenticated(request: IncomingMessage): boolean {
    if (this.defects.has('no-auth')) return true;
    return this.auth.authenticate(request.method ?? '', request.headers.authorization);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.sendDate = false;
    const uri = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    if (uri === this.options.path && method === 'GET') {
      if (!this.authenticated(request)) return this.requestAuthentication(response);
      const page = this.defects.has('form-missing-fields')
        ? singleFieldFormPage()
        : uploadFormPage(this.platform.filesystemAccept);
      return this.send(response, 200, 'text/html', page);
    }
    if (uri === this.options.path && method === 'OPTIONS' && this.platform.cors) {
      this.addCorsHeaders(response);
      return this.send(response, 200, 'text/html', 'y');
    }
    if (uri === this.options.path && method === 'POST') return this.handleUpload(request, response);
    request.resume();
    // ESP8266WebServer's _handleRequest (esp8266/Arduino ESP8266WebServer-impl.h L795‑797 @f946290)
    // answers an unhandled URI with the html MIME type.
    return this.send(response, 404, 'text/html', `Not found: ${uri}`);
  }

  private async handleUpload(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const authenticated = this.authenticated(request);
    const update = this.platform.update;
    const boundary = multipartBoundary(request.headers['content-type']);
    let fileOpen = false;
    let complete = boundary === undefined;
    try {
      const parser = boundary === undefined ? undefined : new MultipartStream(boundary);
      for await (const chunk of request as AsyncIterable<Buffer>) {
        if (parser === undefined) continue;
        for (const event of parser.push(chunk)) {
          if (event.type === 'part') {
            // Only parts with a filename are uploads; the others are plain form arguments.
            fileOpen = event.filename !== undefined;
            if (fileOpen) {
              this.readingFileData.add(request.socket);
              this.fileStart(event.name, authenticated);
            }
          } else if (event.type === 'data') {
            if (fileOpen && authenticated && this.updaterError === '') await this.fileWrite(event.bytes);
          } else if (event.type === 'part-end') {
            if (fileOpen && authenticated && this.updaterError === '') this.fileEnd();
            fileOpen = false;
            this.readingFileData.delete(request.socket);
          }
        }
        if (this.context.signal.aborted) return;
      }
      complete = parser === undefined || parser.finished;
    } catch (error) {
      if (!(error instanceof MultipartFormatError) && !isAbort(error)) throw error;
    }
    if (!complete) return this.uploadAborted(request, fileOpen && authenticated);

    // The POST handler sends its two CORS headers before it checks _authenticated, so a 401 carries
    // them too (ESP8266HTTPUpdateServer-impl.h L77‑81 @f946290).
    const corsFirst = this.platform.cors && !this.defects.has('cors-after-auth');
    if (corsFirst) this.addCorsHeaders(response);
    if (!authenticated) return this.requestAuthentication(response);
    if (this.platform.cors && !corsFirst) this.addCorsHeaders(response);
    if (update.hasError()) {
      this.send(response, 200, 'text/html', UPDATE_ERROR_PREFIX + this.updaterError);
      if (this.defects.has('reboots-after-failed-upload')) this.restartAfter(response);
      return;
    }
    response.socket?.setNoDelay(true);
    if (this.defects.has('wrong-success-body')) this.send(response, 200, 'text/plain', 'OK');
    else this.send(response, 200, 'text/html', UPDATE_SUCCESS_BODY);
    this.restartAfter(response);
  }

  /** UPLOAD_FILE_START: the part name picks firmware or filesystem; the filename is ignored. */
  private fileStart(name: string, authenticated: boolean): void {
    this.updaterError = '';
    if (!authenticated) return;
    if (name === 'filesystem') {
      // A failed FS begin only prints; the first write then records the error.
      this.platform.beginFilesystem();
    } else if (!this.platform.beginFirmware()) {
      this.setUpdaterError();
    }
  }

  /** UPLOAD_FILE_WRITE, in chunks of at most HTTP_UPLOAD_BUFLEN as the WebServer delivers them. */
  private async fileWrite(bytes: Uint8Array): Promise<void> {
    const step = this.platform.uploadBufferLength;
    for (let offset = 0; offset < bytes.length && this.updaterError === ''; offset += step) {
      const slice = bytes.subarray(offset, offset + step);
      // The WebServer reads the upload off its socket one HTTP_UPLOAD_BUFLEN buffer at a time.
      if (!this.context.imageBytesArrived(slice.length)) return;
      if (this.platform.update.write(slice) !== slice.length) this.setUpdaterError();
      await this.context.pace();
    }
  }

  /** UPLOAD_FILE_END: end(true) takes whatever arrived as the image size. */
  private fileEnd(): void {
    if (!this.platform.update.end(true)) this.setUpdaterError();
  }

  /** UPLOAD_FILE_ABORTED: the client went away mid-upload; nothing is answered. */
  private uploadAborted(request: IncomingMessage, duringFile: boolean): void {
    if (duringFile && this.defects.has('accepts-truncated-upload')) {
      this.platform.update.end(true);
      request.socket?.destroy();
      this.context.restart();
      return;
    }
    if (duringFile) this.platform.update.end();
    request.socket?.destroy();
  }

  private setUpdaterError(): void {
    this.updaterError = this.platform.update.printError();
  }

  private requestAuthentication(response: ServerResponse): void {
    response.setHeader('WWW-Authenticate', this.auth.challenge());
    this.send(response, 401, 'text/html', '');
  }

  private addCorsHeaders(response: ServerResponse): void {
    response.setHeader('Access-Control-Allow-Headers', '*');
    response.setHeader('Access-Control-Allow-Origin', '*');
  }

  private send(response: ServerResponse, status: number, contentType: string, body: string): void {
    const bytes = Buffer.from(body, 'utf8');
    response.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': String(bytes.length),
      Connection: 'close',
    });
    response.end(bytes);
  }

  /** setNoDelay, delay(100), client().stop(), ESP.restart(). */
  private restartAfter(response: ServerResponse): void {
    response.once('finish', () => {
      setTimeout(() => {
        if (this.context.signal.aborted) return;
        response.socket?.destroy();
        this.context.restart();
      }, RESTART_DELAY_MS);
    });
  }
}

function isAbort(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

export const webUpdateFirmware: FirmwareModule = {
  profile: 'web-update',
  platforms: ['esp8266', 'esp32'],
  defaultOptions: { ...DEFAULT_OPTIONS },
  restartDelayMs: () => RESTART_DELAY_MS,
  defects: [
    {
      name: 'no-auth',
      breaks: [
        'web-update/auth/1',
        'web-update/auth/2',
        'web-update/auth/3',
        'web-update/auth/4',
        'reference/arduino-ota.md §2.1 Auth: with username and password set, the form and the upload need Basic or Digest credentials, else 401 with WWW-Authenticate: Basic realm="Login Required"',
      ],
      description: 'serves the form and flashes uploads without asking for the configured credentials',
    },
    {
      name: 'accepts-truncated-upload',
      breaks: [
        'web-update/upload/3',
        'reference/arduino-ota.md §2.1 Behaviours: a client abort (UPLOAD_FILE_ABORTED) ends the update with Update.end(), which discards it',
      ],
      description:
        'when the client drops mid-upload, finalizes what arrived with end(true) and reboots into it',
    },
    {
      name: 'reboots-after-failed-upload',
      breaks: [
        'web-update/upload/2',
        'web-update/upload/4',
        'reference/arduino-ota.md §2.1 Responses: a failure answers 200 `Update error: …` and the device keeps running; only success restarts',
      ],
      description: 'restarts the chip after answering an update error',
    },
    WRITES_SKETCH_IN_PLACE,
    EBOOT_CLEARS_COMMAND_EARLY,
    {
      name: 'cors-after-auth',
      breaks: [
        'web-update/cors/1',
        'esp8266/Arduino ESP8266HTTPUpdateServer-impl.h L77‑81: the POST handler adds Access-Control-Allow-Headers/Origin before the authentication check',
      ],
      description: 'ESP8266 core ≥ 3.1: adds the CORS headers only after authentication, so its 401 has none',
    },
    // The web form sends no MD5, so an Updater that still checks one under a verifier shows nothing here.
    ...ESP8266_SIGNATURE_DEFECTS.filter((defect) => defect.updater !== 'checks-md5').map(
      ({ updater: _updater, ...defect }) => defect,
    ),
    {
      name: 'form-missing-fields',
      breaks: [
        'web-update/form/1',
        "reference/arduino-ota.md §2.1–2.2 Routes: GET path serves the library's form, a multipart POST with file fields name='firmware' and name='filesystem'",
      ],
      description:
        'serves a hand-written page (as the OTAWebUpdater example) with one file field `update` and no filesystem form',
    },
    {
      name: 'wrong-success-body',
      breaks: [
        'web-update/upload/1',
        'reference/arduino-ota.md §2.1 Responses: success is 200 text/html `<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...`',
      ],
      description:
        'flashes and restarts as it should, but answers success with 200 text/plain `OK` (the OTAWebUpdater example) instead of the library page',
    },
  ],
  async start(context: FirmwareContext): Promise<RunningFirmware> {
    const server = new WebUpdateServer(context);
    const port = await server.listen();
    context.publish('http', { protocol: 'http', host: context.host, port });
    const path = readOptions(context.options).path;
    context.console.line('Booting Sketch...');
    context.console.line(`Sketch ${context.running.projectName} version ${context.running.version}`);
    // A test sketch prints the build it is (`Serial.println("Built " __DATE__ " " __TIME__)`).
    if (context.running.built) context.console.line(`Built ${context.running.built}`);
    context.console.line(
      `HTTPUpdateServer ready! Open http://${context.host}:${port}${path} in your browser`,
    );
    return {
      stop: async () => {
        server.stop();
      },
    };
  },
};
