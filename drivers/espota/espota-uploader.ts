import { createHash } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { noteImageSent } from '../image-ledger/index.ts';
import { AckReader } from './ack-reader.ts';
import {
  authDatagram,
  challengeResponse,
  clientNonce,
  type EspotaAuthScheme,
  md5Hex,
  type Pbkdf2PasswordHash,
  schemeOfNonce,
  sha256Hex,
} from './auth.ts';
import { EspotaError, type EspotaErrorCode, type EspotaProgressSnapshot } from './errors.ts';

/** espota's command codes (reference/arduino-ota.md §1.2): FLASH 0, SPIFFS/FS 100, AUTH 200. */
export const ESPOTA_COMMANDS = { flash: 0, spiffs: 100, auth: 200 } as const;
export type EspotaCommand = 'flash' | 'spiffs';

/** Per-step timeouts; the defaults are espota's (§1.6). */
export interface EspotaTimeouts {
  /** Wait for the UDP answer to the invitation (`No Answer`). */
  invitationMs: number;
  /** Wait for the UDP answer to the challenge response (`No Answer to our Authentication`). */
  authMs: number;
  /** Wait for the device to connect back after its OK (`No response from device`). */
  connectBackMs: number;
  /** Wait for a count after each chunk (`Error Uploading`). */
  ackMs: number;
  /** Wait for the final OK or error text after the last byte (`No Result!`). */
  resultMs: number;
}

export const ESPOTA_DEFAULT_TIMEOUTS: Readonly<EspotaTimeouts> = {
  invitationMs: 10_000,
  authMs: 10_000,
  connectBackMs: 10_000,
  ackMs: 10_000,
  resultMs: 60_000,
};

/** ESP8266 espota's `f.read(1460)`; the ESP32 copies use 1024. */
export const ESPOTA_CHUNK_SIZE = 1460;

/** Where wire exchanges are recorded: a target's Transcript fits. Texts arrive already redacted. */
export interface EspotaTranscript {
  record(step: string, direction: 'send' | 'receive' | 'event', text: string): void;
}

export interface EspotaUploaderOptions {
  /** The device's address (espota `-i`); also the `remote_ip` in the cnonce. */
  host: string;
  /** The device's UDP port (8266 on ESP8266, 3232 on ESP32). */
  port: number;
  targetName: string;
  password?: string;
  /** Which challenge scheme to answer; `auto` (default) goes by the nonce's length like espota. */
  authScheme?: EspotaAuthScheme | 'auto';
  /** PBKDF2's password: SHA-256(password) (default) or MD5(password) (espota `--md5-target`). */
  pbkdf2PasswordHash?: Pbkdf2PasswordHash;
  /** Address the UDP socket and the TCP listener bind to; the device connects back to it. */
  localHost?: string;
  /** TCP port for the connect-back (espota `-P`); 0 lets the OS choose. */
  localPort?: number;
  timeouts?: Partial<EspotaTimeouts>;
  /** Bytes per TCP write in the lock-step data phase. */
  chunkSize?: number;
  /** The file name espota mixes into the cnonce. */
  fileName?: string;
  transcript?: EspotaTranscript;
  /** Applied to every message and transcript line (a rig's Redactor); the password is scrubbed anyway. */
  redact?: (text: string) => string;
}

/** What the device answered on UDP, classified. `text` is the datagram as received. */
export type DeviceReply =
  | { kind: 'ok'; text: string }
  | { kind: 'auth'; text: string; nonce: string }
  | { kind: 'auth-failed'; text: string }
  /** ESP8266 `ERR: ERROR[n]: …` when Update.begin() refuses (§1.3). */
  | { kind: 'error'; text: string }
  | { kind: 'other'; text: string };

export interface InvitationOptions {
  command?: EspotaCommand | number;
  /** The TCP port the device is to connect back to (a listener's port). */
  listenPort: number;
  size: number;
  /** Lowercase hex MD5 of the image, as the device will check it. */
  md5: string;
  /** Sends this text instead of the formatted invitation (for malformed-invitation tests). */
  raw?: string;
}

export interface AuthenticateOptions {
  /** Sends this response instead of the computed one (a wrong answer). */
  response?: string;
  cnonce?: string;
  pbkdf2PasswordHash?: Pbkdf2PasswordHash;
  /** The cnonce's inputs; default: the last invitation's size and MD5. */
  size?: number;
  md5?: string;
}

export interface StreamOptions {
  /** Called on every read from the device; keep it cheap, it sits on the data path. */
  onProgress?: (progress: EspotaProgress) => void;
  /** Stop sending after this many bytes and keep the connection open: tests the device's timeout. */
  stallAfter?: number;
  /** Inverts the byte at this offset on the wire (the invitation's MD5 stays the image's). */
  corruptAt?: number;
}

export interface UploadOptions extends StreamOptions {
  command?: EspotaCommand;
  /** Announces this MD5 instead of the image's (to send a wrong one). */
  md5?: string;
}

export interface EspotaProgress {
  sent: number;
  acked: number;
  total: number;
}

export interface UploadResult {
  /** `OK`, or the device's error text as it wrote it, trimmed. */
  result: string;
  /** The counts the device acknowledged, in order (re-sent ones again). */
  acks: number[];
  /** Sum of the counts, re-sent ones once. */
  acked: number;
  durationMs: number;
  /** Image bytes sent. */
  bytes: number;
}

/** The TCP listener the device connects back to; one per upload, closed afterwards. */
export interface ConnectBackListener {
  readonly port: number;
  /** Connections the device opened so far. */
  readonly connections: number;
  /** The next connection, or ESPOTA_NO_CONNECT_BACK after `timeoutMs` (default connectBackMs). */
  accept(timeoutMs?: number): Promise<Socket>;
  close(): Promise<void>;
}

/**
 * The harness side of ArduinoOTA (reference/arduino-ota.md §1): the UDP invitation, the MD5 or
 * PBKDF2-SHA256 challenge, the TCP listener the device connects back to, the lock-step data
 * phase with decimal byte-count acks, and the final `OK` or error text — as espota.py does it.
 * `upload()` runs the whole exchange; `listen()`, `invite()`, `authenticate()` and `stream()`
 * are the single steps for conformance tests.
 */
export class EspotaUploader {
  readonly timeouts: EspotaTimeouts;
  private readonly options: EspotaUploaderOptions;
  private readonly scrub: (text: string) => string;
  private readonly chunkSize: number;
  private udp: UdpSocket | undefined;
  private udpReady: Promise<UdpSocket> | undefined;
  private replyWaiter: ((data: Buffer) => void) | undefined;
  private lastInvitation: { size: number; md5: string } | undefined;

  constructor(options: EspotaUploaderOptions) {
    this.options = options;
    this.timeouts = { ...ESPOTA_DEFAULT_TIMEOUTS, ...options.timeouts };
    this.chunkSize = options.chunkSize ?? ESPOTA_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize <= 0) {
      throw new RangeError(`espota chunkSize must be a positive integer, got ${options.chunkSize}`);
    }
    this.scrub = passwordScrubber(options.password, options.redact);
  }

  private get where(): string {
    return `espota ${this.options.targetName} (${this.options.host}:${this.options.port})`;
  }

  /** Runs invitation, authentication, connect-back, data phase and result. */
  async upload(image: Uint8Array, options: UploadOptions = {}): Promise<UploadResult> {
    noteImageSent(image, 'espota upload');
    const startedAt = performance.now();
    const listener = await this.listen();
    try {
      const md5 = options.md5 ?? createHash('md5').update(image).digest('hex');
      let reply = await this.invite({
        command: options.command ?? 'flash',
        listenPort: listener.port,
        size: image.length,
        md5,
      });
      let step = 'invitation';
      if (reply.kind === 'auth') {
        step = 'authenticate';
        if (this.options.password === undefined) {
          throw this.error(
            'ESPOTA_AUTH_REQUIRED',
            'invitation',
            'the device asks for a password and none is set',
          );
        }
        reply = await this.authenticate(reply.nonce, this.options.password);
        if (reply.kind === 'auth-failed') {
          throw this.error('ESPOTA_AUTH_FAILED', 'authenticate', `the device answered: ${reply.text}`);
        }
      }
      if (reply.kind !== 'ok') {
        throw this.error('ESPOTA_BAD_ANSWER', step, `Bad Answer: ${reply.text}`);
      }
      const socket = await listener.accept();
      return await this.stream(socket, image, options, startedAt);
    } finally {
      await listener.close();
    }
  }

  /** Binds the connect-back listener (espota `-I`/`-P`). A failure here is the rig's. */
  async listen(): Promise<ConnectBackListener> {
    const server = createServer({ noDelay: true });
    const pending: Socket[] = [];
    let waiter: ((socket: Socket) => void) | undefined;
    let connections = 0;
    server.on('connection', (socket) => {
      connections++;
      socket.setNoDelay(true);
      const address = `${socket.remoteAddress}:${socket.remotePort}`;
      this.record('connect-back', 'event', `device connected from ${address}`);
      if (waiter) {
        const take = waiter;
        waiter = undefined;
        take(socket);
      } else pending.push(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.options.localPort ?? 0, this.options.localHost ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      throw this.error('ESPOTA_LISTEN_FAILED', 'listen', `Listen Failed: ${(error as Error).message}`);
    }
    server.unref();
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const open = new Set<Socket>();
    server.on('connection', (socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    return {
      port,
      get connections() {
        return connections;
      },
      accept: (timeoutMs = this.timeouts.connectBackMs) => {
        const ready = pending.shift();
        if (ready) return Promise.resolve(ready);
        return new Promise<Socket>((resolve, reject) => {
          const timer = setTimeout(() => {
            waiter = undefined;
            reject(
              this.error(
                'ESPOTA_NO_CONNECT_BACK',
                'connect-back',
                `No response from device: no connection to port ${port} within ${timeoutMs} ms`,
              ),
            );
          }, timeoutMs);
          waiter = (socket) => {
            clearTimeout(timer);
            resolve(socket);
          };
        });
      },
      close: () => closeServer(server, open),
    };
  }

  /** Sends the invitation `<command> <port> <size> <md5>\n` and returns the device's UDP answer. */
  async invite(options: InvitationOptions): Promise<DeviceReply> {
    const command =
      typeof options.command === 'number' ? options.command : ESPOTA_COMMANDS[options.command ?? 'flash'];
    const text = options.raw ?? `${command} ${options.listenPort} ${options.size} ${options.md5}\n`;
    this.lastInvitation = { size: options.size, md5: options.md5 };
    return await this.exchange('invitation', text, this.timeouts.invitationMs, 'No Answer');
  }

  /**
   * Answers the challenge `nonce` (espota: `200 <cnonce> <response>\n`) and returns the device's
   * answer: `OK`, `Authentication Failed`, or on ESP8266 an `ERR: …` from Update.begin().
   */
  async authenticate(
    nonce: string,
    password: string,
    scheme: EspotaAuthScheme | 'auto' = this.options.authScheme ?? 'auto',
    options: AuthenticateOptions = {},
  ): Promise<DeviceReply> {
    const announced = schemeOfNonce(nonce);
    const chosen = scheme === 'auto' ? announced : scheme;
    if (chosen === undefined || (announced !== undefined && announced !== chosen)) {
      throw this.error(
        'ESPOTA_AUTH_SCHEME',
        'authenticate',
        `Invalid nonce length: ${nonce.length} (expected ${scheme === 'sha256' ? 64 : scheme === 'md5' ? 32 : '32 or 64'})`,
      );
    }
    const invitation = this.lastInvitation;
    const cnonce =
      options.cnonce ??
      clientNonce(chosen, {
        fileName: this.options.fileName ?? 'firmware.bin',
        size: options.size ?? invitation?.size ?? 0,
        md5: options.md5 ?? invitation?.md5 ?? '',
        remoteAddress: this.options.host,
      });
    const response =
      options.response ??
      (await challengeResponse(
        chosen,
        password,
        nonce,
        cnonce,
        options.pbkdf2PasswordHash ?? this.options.pbkdf2PasswordHash,
      ));
    return await this.exchange(
      'authenticate',
      authDatagram(cnonce, response),
      this.timeouts.authMs,
      'No Answer to our Authentication',
    );
  }

  /**
   * The data phase on an accepted connection: one chunk, then wait for a count (any bytes, as
   * espota does), until the image is out; then the result. A device error text is returned as
   * the result; a silent close or a missing answer throws.
   */
  stream(
    socket: Socket,
    image: Uint8Array,
    options: StreamOptions = {},
    startedAt = performance.now(),
  ): Promise<UploadResult> {
    const total = image.length;
    const limit = options.stallAfter === undefined ? total : Math.min(options.stallAfter, total);
    const { corruptAt, onProgress } = options;
    const chunkSize = this.chunkSize;
    const reader = new AckReader();
    const dataStartedAt = performance.now();
    this.record('data', 'event', `streaming ${total} bytes in chunks of ${chunkSize}`);
    return new Promise<UploadResult>((resolve, reject) => {
      let sent = 0;
      let phase: 'data' | 'stalled' | 'result' = 'data';
      let done = false;
      let timer = setTimeout(() => onTimeout(), this.timeouts.ackMs);

      const snapshot = (): EspotaProgressSnapshot => ({
        bytesSent: sent,
        bytesAcked: reader.acked,
        acks: [...reader.acks],
        deviceText: this.scrub(reader.text),
        elapsedMs: Math.round(performance.now() - dataStartedAt),
      });
      const finish = (outcome: UploadResult | EspotaError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.end();
        socket.unref();
        if (outcome instanceof EspotaError) {
          socket.destroy();
          reject(outcome);
          return;
        }
        this.record('result', 'receive', outcome.result);
        this.record(
          'data',
          'event',
          `${outcome.bytes} bytes sent, ${outcome.acked} acknowledged in ${outcome.acks.length} counts, ${outcome.durationMs} ms`,
        );
        resolve(outcome);
      };
      const result = (text: string): UploadResult => ({
        result: text.startsWith('OK') ? 'OK' : text.trim(),
        acks: reader.acks,
        acked: reader.acked,
        durationMs: Math.round(performance.now() - startedAt),
        bytes: sent,
      });
      const fail = (code: EspotaErrorCode, step: string, message: string) =>
        finish(this.error(code, step, message, snapshot()));
      const sendNext = () => {
        if (sent >= limit) {
          if (limit < total) {
            phase = 'stalled';
            this.record('data', 'event', `stalled on purpose after ${sent} bytes`);
            timer.refresh();
          } else {
            phase = 'result';
            clearTimeout(timer);
            timer = setTimeout(() => onTimeout(), this.timeouts.resultMs);
          }
          return;
        }
        const end = Math.min(sent + chunkSize, limit);
        let piece = image.subarray(sent, end);
        if (corruptAt !== undefined && corruptAt >= sent && corruptAt < end) {
          piece = Uint8Array.from(piece);
          piece[corruptAt - sent]! ^= 0xff;
        }
        sent = end;
        socket.write(piece);
        timer.refresh();
      };
      const onData = (data: Buffer) => {
        reader.push(data, sent);
        onProgress?.({ sent, acked: reader.acked, total });
        const text = reader.text;
        if (text.length > 0) {
          // espota looks for 'O' / 'E'; a device's error text ends its line (LF, or CRLF on ESP32).
          if (text.startsWith('OK') || text.includes('\n')) finish(result(text));
          else timer.refresh();
          return;
        }
        if (phase === 'data') sendNext();
        else timer.refresh();
      };
      const onEnded = () => {
        if (done) return;
        reader.finish(sent);
        if (reader.text.length > 0) {
          finish(result(reader.text));
          return;
        }
        fail(
          'ESPOTA_DEVICE_CLOSED',
          phase === 'result' ? 'result' : 'data',
          `the device closed the connection after ${sent} of ${total} bytes (${reader.acked} acknowledged) without a result`,
        );
      };
      const onTimeout = () => {
        if (phase === 'result') {
          fail(
            'ESPOTA_RESULT',
            'result',
            `No Result! nothing within ${this.timeouts.resultMs} ms after the last byte`,
          );
        } else if (phase === 'stalled') {
          fail(
            'ESPOTA_ACK_TIMEOUT',
            'data',
            `the device stayed silent for ${this.timeouts.ackMs} ms while the uploader stalled at ${sent} of ${total} bytes`,
          );
        } else {
          fail(
            'ESPOTA_ACK_TIMEOUT',
            'data',
            `Error Uploading: no count within ${this.timeouts.ackMs} ms after byte ${sent} of ${total}`,
          );
        }
      };
      socket.on('data', onData);
      socket.once('end', onEnded);
      socket.once('close', onEnded);
      socket.on('error', () => {
        // A reset shows up as 'close' next, where it is judged.
      });
      sendNext();
    });
  }

  /** Closes the UDP socket. Idle uploaders keep nothing alive, so this is tidiness, not a must. */
  async close(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    this.udpReady = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  private async exchange(
    step: string,
    text: string,
    timeoutMs: number,
    silence: string,
  ): Promise<DeviceReply> {
    const udp = await this.udpSocket();
    // A datagram that arrived while nobody waited (a late reply to an earlier request) was dropped.
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<Buffer | undefined>((resolve) => {
      this.replyWaiter = (datagram) => {
        clearTimeout(timer);
        resolve(datagram);
      };
      timer = setTimeout(() => {
        this.replyWaiter = undefined;
        resolve(undefined);
      }, timeoutMs);
    });
    this.record(step, 'send', text.trimEnd());
    udp.send(text, this.options.port, this.options.host, (error) => {
      if (error) this.record(step, 'event', `send failed: ${error.message}`);
    });
    const data = await answer;
    if (data === undefined) {
      this.record(step, 'event', `no answer within ${timeoutMs} ms`);
      throw this.error('ESPOTA_NO_REPLY', step, `${silence}: no UDP answer within ${timeoutMs} ms`);
    }
    const reply = classifyReply(data.toString('latin1'));
    this.record(step, 'receive', reply.text);
    return reply;
  }

  private udpSocket(): Promise<UdpSocket> {
    if (this.udpReady) return this.udpReady;
    const localHost = this.options.localHost ?? '127.0.0.1';
    const udp = createSocket({ type: localHost.includes(':') ? 'udp6' : 'udp4' });
    udp.on('message', (data) => {
      const waiter = this.replyWaiter;
      this.replyWaiter = undefined;
      waiter?.(data);
    });
    udp.on('error', () => {
      // ICMP errors on an unconnected socket: the reply wait times out and says so.
    });
    this.udpReady = new Promise<UdpSocket>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, localHost, () => {
        udp.off('error', reject);
        // A dead target must not keep the process alive.
        udp.unref();
        this.udp = udp;
        resolve(udp);
      });
    }).catch((error: Error) => {
      this.udpReady = undefined;
      throw this.error(
        'ESPOTA_LISTEN_FAILED',
        'udp',
        `cannot bind a UDP socket on ${localHost}: ${error.message}`,
      );
    });
    return this.udpReady;
  }

  private record(step: string, direction: 'send' | 'receive' | 'event', text: string): void {
    this.options.transcript?.record(step, direction, this.scrub(text));
  }

  private error(
    code: EspotaErrorCode,
    step: string,
    message: string,
    progress?: EspotaProgressSnapshot,
  ): EspotaError {
    return new EspotaError(
      code,
      this.scrub(`${this.where}: ${step}: ${message}`),
      this.options.targetName,
      step,
      progress,
    );
  }
}

/** `OK`, `AUTH <nonce>`, `Authentication Failed`, `ERR: …` or something else (§1.3). */
export function classifyReply(text: string): DeviceReply {
  if (text === 'OK') return { kind: 'ok', text };
  if (text.startsWith('AUTH ')) return { kind: 'auth', text, nonce: text.slice(5).trim() };
  if (text.startsWith('Authentication Failed')) return { kind: 'auth-failed', text };
  if (text.startsWith('ERR')) return { kind: 'error', text };
  return { kind: 'other', text };
}

/** The password and the hashes a device stores in its place are secrets equal to it. */
function passwordScrubber(
  password: string | undefined,
  redact: ((text: string) => string) | undefined,
): (text: string) => string {
  const secrets =
    password === undefined || password === ''
      ? []
      : [password, md5Hex(password), sha256Hex(password)].sort((a, b) => b.length - a.length);
  return (text) => {
    let result = redact ? redact(text) : text;
    for (const secret of secrets) if (result.includes(secret)) result = result.split(secret).join('***');
    return result;
  };
}

/**
 * Stops accepting at once. A data connection that finished its upload may still be closing on
 * the device's side (the ESP8266 waits a second after `OK`); that is not waited for.
 */
function closeServer(server: Server, open: Set<Socket>): Promise<void> {
  for (const socket of open) if (socket.listenerCount('data') === 0) socket.destroy();
  server.close();
  return Promise.resolve();
}
