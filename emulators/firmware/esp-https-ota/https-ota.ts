import {
  APP_DESC_IMAGE_OFFSET,
  APP_DESC_MAGIC,
  type AppDescriptor,
  decodeAppDescriptor,
  HEADER_OFFSETS,
} from '../../../fixtures/esp32-image/index.ts';
import {
  EspError,
  type EspOtaOps,
  OTA_WITH_SEQUENTIAL_WRITES,
  type OtaHandle,
} from '../../esp32-ota-ops/index.ts';
import type { PartitionEntry } from '../../partition-table/index.ts';
import {
  type HttpClientConfig,
  HttpConnectError,
  type HttpExchange,
  openExchange,
} from './http-connection.ts';

/** esp_err_t values esp_https_ota returns besides the esp_ota_ops ones (reference/esp-idf.md §4.1, §5). */
export const HTTPS_OTA_ERR = {
  ESP_OK: 0,
  ESP_FAIL: -1,
  ESP_ERR_INVALID_ARG: 0x102,
  ESP_ERR_INVALID_STATE: 0x103,
  ESP_ERR_INVALID_VERSION: 0x10a,
  ESP_ERR_HTTP_MAX_REDIRECT: 0x7001,
  ESP_ERR_HTTP_CONNECT: 0x7002,
  ESP_ERR_HTTP_FETCH_HEADER: 0x7004,
  ESP_ERR_HTTP_NOT_MODIFIED: 0x7009,
  ESP_ERR_HTTP_RANGE_NOT_SATISFIABLE: 0x700a,
  ESP_ERR_HTTPS_OTA_IN_PROGRESS: 0x9001,
} as const;

const { ESP_OK, ESP_FAIL } = HTTPS_OTA_ERR;

/** `IMAGE_HEADER_SIZE` since v5.0. */
export const HTTPS_OTA_HEADER_SIZE = 1024;
/** `DEFAULT_REQUEST_SIZE`. */
export const DEFAULT_REQUEST_SIZE = 64 * 1024;
const DEFAULT_MAX_AUTH_RETRIES = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** `esp_https_ota_event_t` (esp_https_ota.h L27‑38). */
export type HttpsOtaEvent =
  | { id: 'START' }
  | { id: 'CONNECTED' }
  | { id: 'GET_IMG_DESC' }
  | { id: 'VERIFY_CHIP_ID'; chipId: number }
  | { id: 'VERIFY_CHIP_REVISION' }
  | { id: 'WRITE_FLASH'; written: number }
  | { id: 'UPDATE_BOOT_PARTITION'; subtype: number }
  | { id: 'FINISH' }
  | { id: 'ABORT' };

/** The ESP-IDF release whose version-sensitive log strings to print (reference/esp-idf.md §10). */
export type IdfVersion = 'v5.4' | 'v5.5' | 'v6.0' | 'head';

export interface HttpsOtaConfig {
  url: string;
  idfVersion: IdfVersion;
  http: HttpClientConfig;
  /** `http_config.buffer_size`: the receive buffer is max(buffer_size, 1024). */
  bufferSize: number;
  /** `partial_http_download`. */
  partialHttpDownload: boolean;
  /** `max_http_request_size`. */
  maxHttpRequestSize: number;
  /** `max_redirection_count`. */
  maxRedirects: number;
  /** The chip the app was built for (`CONFIG_IDF_FIRMWARE_CHIP_ID`). */
  expectedChipId: number;
  /** Defect hook: skip the chip id comparison. */
  skipChipIdCheck: boolean;
  ota: EspOtaOps;
  /** `partition.staging` of the config: the partition to write; the passive OTA slot when absent. */
  stagingPartition?: PartitionEntry;
  /** `esp_ota_set_boot_partition`, replaceable so a defect can write otadata its own way. */
  setBootPartition(partition: PartitionEntry): void;
  /** Log under tag `esp_https_ota` (or the tag given). */
  log(level: 'E' | 'W' | 'I' | 'D', message: string, tag?: string): void;
  event(event: HttpsOtaEvent): void;
  /** Waits for the flash time the last write cost. */
  pace(): Promise<void>;
  /** FirmwareContext.imageBytesArrived: image bytes just read off the connection (false: power gone). */
  imageBytesArrived(length: number): boolean;
}

type State = 'INIT' | 'BEGIN' | 'IN_PROGRESS' | 'SUCCESS';

/**
 * The device side of `esp_https_ota` (reference/esp-idf.md §5): begin (HEAD/Range probe for a
 * partial download, redirects, status handling), get_img_desc (the first 1024 bytes), perform
 * (one read and one esp_ota_write per call, new Range requests in partial mode), finish and abort.
 * Each method returns the esp_err_t the C function returns.
 */
export class EspHttpsOta {
  private state: State = 'INIT';
  private exchange: HttpExchange | undefined;
  private url: URL | undefined;
  private staging: PartitionEntry | undefined;
  private handle: OtaHandle | undefined;
  private header = Buffer.alloc(0);
  private headerComplete = false;
  private imageLength = 0;
  private written = 0;
  private readonly receiveBufferSize: number;

  /** A reset drops the TCP connection with the rest of the chip's RAM. */
  private readonly dropOnReset = () => this.closeExchange();

  constructor(private readonly config: HttpsOtaConfig) {
    this.url = URL.canParse(config.url) ? new URL(config.url) : undefined;
    this.receiveBufferSize = Math.max(config.bufferSize, 1024);
  }

  /** Bytes written to flash so far (`esp_https_ota_get_image_len_read`). */
  get imageLenRead(): number {
    return this.written;
  }

  async begin(): Promise<number> {
    this.config.event({ id: 'START' });
    if (!this.config.http.caPem) {
      this.log('E', 'No option for server verification is enabled in esp_http_client config.');
      return HTTPS_OTA_ERR.ESP_ERR_INVALID_ARG;
    }
    if (this.url === undefined) {
      // esp_http_client_init() → esp_http_client_set_url(): http_parser_parse_url() refuses it,
      // "Error parse url %s", and init returns NULL; esp_https_ota_begin() then gives up with
      // "Failed to initialise HTTP connection" and ESP_FAIL (esp_http_client.c, esp_https_ota.c).
      this.log('E', `Error parse url ${this.config.url}`, 'HTTP_CLIENT');
      this.log('E', 'Failed to initialise HTTP connection');
      return ESP_FAIL;
    }
    let range: string | undefined;
    if (this.config.partialHttpDownload) {
      const probed = await this.probeImageLength();
      if (probed !== ESP_OK) return probed;
      const max = this.config.maxHttpRequestSize;
      // The C code's quirk: a first range that holds the whole image ends at image_length, one past the last index.
      range = `bytes=0-${this.imageLength > max ? max - 1 : this.imageLength}`;
    }
    const connected = await this.connect('GET', range);
    if (connected !== ESP_OK) {
      if (connected !== HTTPS_OTA_ERR.ESP_ERR_HTTP_NOT_MODIFIED)
        this.log('E', 'Failed to establish HTTP connection');
      return connected;
    }
    this.config.event({ id: 'CONNECTED' });
    this.log('I', 'Starting OTA...');
    const staging = this.config.stagingPartition ?? this.config.ota.getNextUpdatePartition();
    const v54 = this.config.idfVersion === 'v5.4';
    if (!staging) {
      this.log(
        'E',
        v54
          ? 'Passive OTA partition not found'
          : 'Given staging partition or another suitable Passive OTA partition could not be found',
      );
      this.closeExchange();
      return ESP_FAIL;
    }
    this.staging = staging;
    const offset = staging.offset.toString(16);
    this.log(
      'I',
      v54
        ? `Writing to partition subtype ${staging.subtype} at offset 0x${offset}`
        : `Writing to <${staging.label}> partition at offset 0x${offset}`,
    );
    this.state = 'BEGIN';
    return ESP_OK;
  }

  async getImgDesc(): Promise<{ err: number; descriptor?: AppDescriptor }> {
    if (this.state !== 'BEGIN') return { err: HTTPS_OTA_ERR.ESP_ERR_INVALID_STATE };
    this.config.event({ id: 'GET_IMG_DESC' });
    if (!(await this.readHeader())) return { err: ESP_FAIL };
    const descriptor = decodeAppDescriptor(this.header, APP_DESC_IMAGE_OFFSET);
    if (descriptor.magic !== APP_DESC_MAGIC) {
      this.log('E', 'Incorrect app descriptor magic');
      return { err: ESP_FAIL };
    }
    return { err: ESP_OK, descriptor };
  }

  async perform(): Promise<number> {
    if (this.state === 'BEGIN') return this.performFirst();
    if (this.state !== 'IN_PROGRESS') return HTTPS_OTA_ERR.ESP_ERR_INVALID_STATE;
    const exchange = this.exchange;
    if (!exchange) return ESP_FAIL;
    const read = await exchange.read(this.receiveBufferSize);
    switch (read.kind) {
      case 'data':
        if (!this.config.imageBytesArrived(read.bytes.length)) return ESP_FAIL;
        return (await this.writeToFlash(read.bytes)) ? HTTPS_OTA_ERR.ESP_ERR_HTTPS_OTA_IN_PROGRESS : ESP_FAIL;
      case 'timeout':
        this.log('D', 'Got EAGAIN');
        return HTTPS_OTA_ERR.ESP_ERR_HTTPS_OTA_IN_PROGRESS;
      case 'broken':
        // esp_http_client_read returns -1 when the peer closes before Content-Length with nothing read.
        this.log('E', 'data read -1, errno 128');
        return ESP_FAIL;
      case 'end':
        if (this.config.partialHttpDownload && exchange.complete && this.imageLength > this.written) {
          this.log('D', 'Connection closed');
          this.closeExchange();
          const start = this.written;
          const max = this.config.maxHttpRequestSize;
          const range =
            this.imageLength - start > max ? `bytes=${start}-${start + max - 1}` : `bytes=${start}-`;
          const connected = await this.connect('GET', range);
          return connected === ESP_OK ? HTTPS_OTA_ERR.ESP_ERR_HTTPS_OTA_IN_PROGRESS : connected;
        }
        if (this.isCompleteDataReceived()) {
          this.log('D', 'Connection closed');
          this.state = 'SUCCESS';
          return ESP_OK;
        }
        this.log('E', 'Connection closed before complete data was received!');
        return ESP_FAIL;
    }
  }

  isCompleteDataReceived(): boolean {
    if (this.config.partialHttpDownload) return this.imageLength === this.written;
    return this.exchange?.complete ?? false;
  }

  finish(): number {
    let err: number = ESP_OK;
    if ((this.state === 'IN_PROGRESS' || this.state === 'SUCCESS') && this.handle !== undefined) {
      const handle = this.handle;
      this.handle = undefined;
      err = espCall(() => this.config.ota.end(handle));
    }
    this.closeExchange();
    if (err === ESP_OK && this.state === 'SUCCESS' && this.staging) {
      const staging = this.staging;
      err = espCall(() => this.config.setBootPartition(staging));
      if (err !== ESP_OK) {
        this.log('E', `esp_ota_set_boot_partition failed! err=0x${hex(err)}`);
      } else {
        this.config.event({ id: 'UPDATE_BOOT_PARTITION', subtype: staging.subtype });
      }
    }
    this.config.event({ id: 'FINISH' });
    this.state = 'INIT';
    return err;
  }

  abort(): number {
    this.config.event({ id: 'ABORT' });
    this.closeExchange();
    let err: number = ESP_OK;
    if (this.handle !== undefined) {
      const handle = this.handle;
      this.handle = undefined;
      err = espCall(() => this.config.ota.abort(handle));
    }
    this.state = 'INIT';
    return err;
  }

  private async performFirst(): Promise<number> {
    const staging = this.staging!;
    try {
      this.handle = this.config.ota.begin(staging, OTA_WITH_SEQUENTIAL_WRITES);
    } catch (error) {
      if (!(error instanceof EspError)) throw error;
      this.log('E', `esp_ota_begin failed (${error.code})`);
      return error.err;
    }
    if (!(await this.readHeader())) return ESP_FAIL;
    const chipId = this.header.readUInt16LE(HEADER_OFFSETS.chipId);
    this.config.event({ id: 'VERIFY_CHIP_ID', chipId });
    if (chipId !== this.config.expectedChipId && !this.config.skipChipIdCheck) {
      if (this.config.idfVersion === 'head') {
        this.log(
          'E',
          `mismatch chip ID, expected ${this.config.expectedChipId}, found ${chipId}`,
          'boot_comm',
        );
      } else {
        this.log('E', `Mismatch chip id, expected ${this.config.expectedChipId}, found ${chipId}`);
      }
      return HTTPS_OTA_ERR.ESP_ERR_INVALID_VERSION;
    }
    this.config.event({ id: 'VERIFY_CHIP_REVISION' });
    this.written = 0;
    if (!(await this.writeToFlash(this.header))) return ESP_FAIL;
    this.state = 'IN_PROGRESS';
    return HTTPS_OTA_ERR.ESP_ERR_HTTPS_OTA_IN_PROGRESS;
  }

  private async writeToFlash(bytes: Uint8Array): Promise<boolean> {
    const err = espCall(() => this.config.ota.write(this.handle!, bytes));
    if (err !== ESP_OK) {
      this.log('E', `Error: esp_ota_write failed! err=0x${hex(err)}`);
      return false;
    }
    this.written += bytes.length;
    this.config.event({ id: 'WRITE_FLASH', written: this.written });
    await this.config.pace();
    return true;
  }

  /** `read_header`: fills the 1024-byte buffer once; get_img_desc and perform share it. */
  private async readHeader(): Promise<boolean> {
    if (this.headerComplete) return true;
    const exchange = this.exchange;
    const parts: Buffer[] = [this.header];
    let have = this.header.length;
    while (exchange && have < HTTPS_OTA_HEADER_SIZE) {
      const read = await exchange.read(HTTPS_OTA_HEADER_SIZE - have);
      if (read.kind === 'timeout') continue;
      if (read.kind !== 'data') break;
      if (!this.config.imageBytesArrived(read.bytes.length)) return false;
      parts.push(read.bytes);
      have += read.bytes.length;
    }
    this.header = Buffer.concat(parts);
    if (have < HTTPS_OTA_HEADER_SIZE) {
      this.log('E', 'Complete headers were not received');
      return false;
    }
    this.headerComplete = true;
    return true;
  }

  /** HEAD, then `Range: bytes=0-0` when HEAD is refused, to learn the image length (§5.2 step 3). */
  private async probeImageLength(): Promise<number> {
    const head = await this.connect('HEAD', undefined, { acceptAnyStatus: true });
    if (head !== ESP_OK) return head;
    const exchange = this.exchange!;
    let status = exchange.status;
    let length: number | undefined;
    if (status === 200) {
      length = exchange.contentLength;
    } else if (status === 304) {
      this.closeExchange();
      return HTTPS_OTA_ERR.ESP_ERR_HTTP_NOT_MODIFIED;
    } else {
      this.closeExchange();
      const probe = await this.connect('GET', 'bytes=0-0', { acceptAnyStatus: true });
      if (probe !== ESP_OK) return probe;
      const ranged = this.exchange!;
      status = ranged.status;
      if (status === 200) length = ranged.contentLength;
      else if (status === 206) length = totalFromContentRange(ranged.headers['content-range']);
      else {
        this.log('E', `Received incorrect http status ${status}`);
        this.closeExchange();
        return ESP_FAIL;
      }
    }
    this.closeExchange();
    if (length === undefined || Number.isNaN(length)) {
      this.log('E', 'Failed to get image length from http response');
      return ESP_FAIL;
    }
    this.imageLength = length;
    return ESP_OK;
  }

  /** `_http_connect` + `_http_handle_response_code`, following redirects and auth retries. */
  private async connect(
    method: 'GET' | 'HEAD',
    range: string | undefined,
    { acceptAnyStatus = false } = {},
  ): Promise<number> {
    let redirects = 0;
    let authRetries = 0;
    for (;;) {
      let exchange: HttpExchange;
      try {
        if (this.url === undefined) return HTTPS_OTA_ERR.ESP_ERR_INVALID_ARG;
        exchange = await openExchange(this.config.http, method, this.url, range ? { Range: range } : {});
      } catch (error) {
        const code = error instanceof HttpConnectError ? error.code : 'ESP_ERR_HTTP_CONNECT';
        if (code === 'ESP_ERR_HTTP_CONNECT') this.log('E', `Failed to open HTTP connection: ${code}`);
        return HTTPS_OTA_ERR[code];
      }
      this.exchange = exchange;
      // Listened for only while a connection is open: one OTA task after another runs in a boot,
      // and the boot's signal must not collect a listener per task.
      const { signal } = this.config.http;
      signal.addEventListener('abort', this.dropOnReset, { once: true });
      if (signal.aborted) this.closeExchange();
      const status = exchange.status;
      if (REDIRECT_STATUSES.has(status)) {
        const location = exchange.headers.location;
        await exchange.drain();
        this.closeExchange();
        if (location === undefined) {
          this.log('E', `Client error (${status})`);
          return ESP_FAIL;
        }
        redirects++;
        if (redirects > this.config.maxRedirects) {
          this.log(
            'E',
            `Error, reach max_redirection_count count=${this.config.maxRedirects}`,
            'HTTP_CLIENT',
          );
          return HTTPS_OTA_ERR.ESP_ERR_HTTP_MAX_REDIRECT;
        }
        // esp_http_client_set_redirection() → set_url(): a Location http_parser refuses ends the request.
        if (!URL.canParse(location, this.url.href)) {
          this.log('E', `Error parse url ${location}`, 'HTTP_CLIENT');
          return HTTPS_OTA_ERR.ESP_ERR_INVALID_ARG;
        }
        const next = new URL(location, this.url);
        if (next.protocol !== 'https:') {
          this.log('E', 'Redirection to an insecure URL is not allowed', 'HTTP_CLIENT');
          return ESP_FAIL;
        }
        this.url = next;
        continue;
      }
      if (acceptAnyStatus) return ESP_OK;
      if (status === 401) {
        await exchange.drain();
        this.closeExchange();
        authRetries++;
        if (authRetries > DEFAULT_MAX_AUTH_RETRIES) {
          this.log('E', `Reached max_authorization_retries (${status})`);
          return ESP_FAIL;
        }
        continue;
      }
      const outcome = this.statusOutcome(status);
      if (outcome !== ESP_OK) this.closeExchange();
      return outcome;
    }
  }

  private statusOutcome(status: number): number {
    if (status === 304) {
      this.log('I', 'OTA image not modified since last request (status code: 304)');
      return HTTPS_OTA_ERR.ESP_ERR_HTTP_NOT_MODIFIED;
    }
    if (status === 416) {
      this.log('I', 'Requested range is incorrect (status code: 416)');
      return HTTPS_OTA_ERR.ESP_ERR_HTTP_RANGE_NOT_SATISFIABLE;
    }
    if (status === 403 || status === 404) {
      this.log('E', `File not found(${status})`);
      return ESP_FAIL;
    }
    if (status >= 400 && status <= 499) {
      this.log('E', `Client error (${status})`);
      return ESP_FAIL;
    }
    if (status >= 500) {
      this.log('E', `Server error (${status})`);
      return ESP_FAIL;
    }
    return ESP_OK;
  }

  private closeExchange(): void {
    this.exchange?.close();
    this.exchange = undefined;
    this.config.http.signal.removeEventListener('abort', this.dropOnReset);
  }

  private log(level: 'E' | 'W' | 'I' | 'D', message: string, tag?: string): void {
    this.config.log(level, message, tag);
  }
}

function totalFromContentRange(value: string | undefined): number | undefined {
  const match = /\/(\d+)\s*$/.exec(value ?? '');
  return match ? Number.parseInt(match[1]!, 10) : undefined;
}

/** Runs an esp_ota_ops call and returns its esp_err_t. */
function espCall(call: () => void): number {
  try {
    call();
    return ESP_OK;
  } catch (error) {
    if (error instanceof EspError) return error.err;
    throw error;
  }
}

export function hex(err: number): string {
  return (err >>> 0).toString(16);
}
