import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { ReceivedBytes } from './received-bytes.ts';

/*
 * RFC 2217 (Telnet COM-PORT-OPTION) as pyserial's client speaks it, so a board behind ser2net,
 * esptool's esp_rfc2217_server or any RFC 2217 server is a console like a local port, with its
 * baud rate and DTR/RTS lines carried over TCP. Numbers: reference/esp-serial-flasher.md §8.2,
 * from pyserial 3.5 `serial/rfc2217.py` (L96-176 codes, L402-495 the client's start, L638 and
 * L763-770 the 0xFF escaping).
 */

export const RFC2217_PREFIX = 'rfc2217://';

const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const SE = 240;
const BINARY = 0;
const SGA = 3;
const COM_PORT = 44;
/** Client → server sub-commands; the server answers each with the code + 100. */
const SET_BAUDRATE = 1;
const SET_DATASIZE = 2;
const SET_PARITY = 3;
const SET_STOPSIZE = 4;
const SET_CONTROL = 5;
const SERVER_OFFSET = 100;
/** SET_CONTROL values. */
const CONTROL_NO_FLOW = 1;
const DTR_ON = 8;
const DTR_OFF = 9;
const RTS_ON = 11;
const RTS_OFF = 12;
const PARITY_NONE = 1;
const STOPSIZE_ONE = 1;
/** pyserial waits this long for the server to accept COM-PORT and to echo each setting. */
const NEGOTIATION_TIMEOUT_MS = 3_000;
/** Options this client takes part in; any other the server offers is refused. */
const ACCEPTED = new Set([BINARY, SGA, COM_PORT]);

export function isRfc2217Path(path: string): boolean {
  return path.startsWith(RFC2217_PREFIX);
}

export class Rfc2217Error extends Error {
  readonly code = 'RFC2217';
}

interface OpenOptions {
  path: string;
  baudRate: number;
}

/** A serialport binding whose port is an RFC 2217 server. */
export const Rfc2217SerialBinding = {
  async list(): Promise<unknown[]> {
    return [];
  },
  async open(options: OpenOptions): Promise<Rfc2217Port> {
    const url = new URL(options.path);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setNoDelay(true);
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    const port = new Rfc2217Port(socket, options);
    try {
      await port.negotiate();
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return port;
  },
};

/** Doubles every 0xFF, as Telnet needs for data and sub-negotiation values alike. */
export function escapeIac(bytes: Uint8Array): Buffer {
  let count = 0;
  for (const byte of bytes) if (byte === IAC) count++;
  if (count === 0) return Buffer.from(bytes);
  const out = Buffer.alloc(bytes.length + count);
  let at = 0;
  for (const byte of bytes) {
    out[at++] = byte;
    if (byte === IAC) out[at++] = IAC;
  }
  return out;
}

type ParseState = 'data' | 'iac' | 'option' | 'sb' | 'sb-iac';

class Rfc2217Port {
  isOpen = true;
  readonly openOptions: Record<string, unknown>;
  private readonly received = new ReceivedBytes();
  private state: ParseState = 'data';
  private command = 0;
  private subnegotiation: number[] = [];
  private readonly agreed = new Set<string>();
  private readonly replies: { code: number; value: Buffer }[] = [];
  private replyWaiters: (() => void)[] = [];
  private lines = { dtr: true, rts: true };

  constructor(
    private readonly socket: Socket,
    options: OpenOptions,
  ) {
    this.openOptions = { ...options, dataBits: 8, stopBits: 1, parity: 'none', lock: false };
    socket.on('data', (data: Buffer) => this.parse(data));
    const gone = (error?: Error) => {
      this.received.end(error ?? new Error('the RFC 2217 server closed the connection'));
      for (const waiter of this.replyWaiters.splice(0)) waiter();
    };
    socket.on('end', () => gone());
    socket.on('close', () => gone());
    socket.on('error', (error) => gone(error));
  }

  /** pyserial's start: offer the options, wait for COM-PORT, then set the line and the lines. */
  async negotiate(): Promise<void> {
    this.send([IAC, WILL, BINARY, IAC, DO, BINARY, IAC, DO, SGA, IAC, WILL, COM_PORT]);
    const deadline = Date.now() + NEGOTIATION_TIMEOUT_MS;
    while (!this.agreed.has(`DO ${COM_PORT}`) && !this.agreed.has(`WILL ${COM_PORT}`)) {
      if (this.received.ended) throw this.received.ended;
      if (Date.now() > deadline) {
        throw new Rfc2217Error(
          `${this.openOptions.path}: the server did not accept COM-PORT-OPTION (44) within ${NEGOTIATION_TIMEOUT_MS} ms: not an RFC 2217 server`,
        );
      }
      await this.nextReply(deadline - Date.now());
    }
    await this.setBaudRate(Number(this.openOptions.baudRate));
    await this.subcommand(SET_DATASIZE, Buffer.from([8]), 'data size 8');
    await this.subcommand(SET_PARITY, Buffer.from([PARITY_NONE]), 'parity none');
    await this.subcommand(SET_STOPSIZE, Buffer.from([STOPSIZE_ONE]), 'one stop bit');
    await this.subcommand(SET_CONTROL, Buffer.from([CONTROL_NO_FLOW]), 'no flow control');
  }

  async setBaudRate(baudRate: number): Promise<void> {
    const value = Buffer.alloc(4);
    value.writeUInt32BE(baudRate);
    await this.subcommand(SET_BAUDRATE, value, `baud rate ${baudRate}`);
    this.openOptions.baudRate = baudRate;
  }

  private async subcommand(code: number, value: Buffer, what: string): Promise<void> {
    this.send([IAC, SB, COM_PORT, code]);
    this.socket.write(escapeIac(value));
    this.send([IAC, SE]);
    const deadline = Date.now() + NEGOTIATION_TIMEOUT_MS;
    for (;;) {
      const index = this.replies.findIndex((reply) => reply.code === code + SERVER_OFFSET);
      if (index >= 0) {
        const [reply] = this.replies.splice(index, 1);
        if (!reply!.value.equals(value)) {
          throw new Rfc2217Error(
            `${this.openOptions.path}: the server did not accept ${what} (answered ${reply!.value.toString('hex')})`,
          );
        }
        return;
      }
      if (this.received.ended) throw this.received.ended;
      if (Date.now() > deadline) {
        throw new Rfc2217Error(
          `${this.openOptions.path}: no answer to ${what} within ${NEGOTIATION_TIMEOUT_MS} ms`,
        );
      }
      await this.nextReply(deadline - Date.now());
    }
  }

  private nextReply(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.replyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private send(bytes: number[]): void {
    this.socket.write(Buffer.from(bytes));
  }

  private parse(data: Buffer): void {
    let plain: number[] = [];
    for (const byte of data) {
      switch (this.state) {
        case 'data':
          if (byte === IAC) this.state = 'iac';
          else plain.push(byte);
          break;
        case 'iac':
          if (byte === IAC) {
            plain.push(IAC);
            this.state = 'data';
          } else if (byte === SB) {
            this.subnegotiation = [];
            this.state = 'sb';
          } else if (byte === DO || byte === DONT || byte === WILL || byte === WONT) {
            this.command = byte;
            this.state = 'option';
          } else this.state = 'data';
          break;
        case 'option':
          this.option(this.command, byte);
          this.state = 'data';
          break;
        case 'sb':
          if (byte === IAC) this.state = 'sb-iac';
          else this.subnegotiation.push(byte);
          break;
        case 'sb-iac':
          if (byte === IAC) {
            this.subnegotiation.push(IAC);
            this.state = 'sb';
          } else {
            if (byte === SE) this.subnegotiationEnded();
            this.state = 'data';
          }
          break;
      }
    }
    if (plain.length > 0) {
      this.received.push(Buffer.from(plain));
      plain = [];
    }
  }

  /** Agrees to the options it offered or accepts, refuses the rest, and never answers twice. */
  private option(command: number, option: number): void {
    const name = `${command === DO ? 'DO' : command === DONT ? 'DONT' : command === WILL ? 'WILL' : 'WONT'} ${option}`;
    if (this.agreed.has(name)) return;
    this.agreed.add(name);
    if (command === DO && !ACCEPTED.has(option)) this.send([IAC, WONT, option]);
    else if (command === WILL && !ACCEPTED.has(option)) this.send([IAC, DONT, option]);
    for (const waiter of this.replyWaiters.splice(0)) waiter();
  }

  private subnegotiationEnded(): void {
    const [option, code, ...value] = this.subnegotiation;
    if (option === COM_PORT && code !== undefined) this.replies.push({ code, value: Buffer.from(value) });
    for (const waiter of this.replyWaiters.splice(0)) waiter();
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    return this.received.read(buffer, offset, length, () => this.isOpen);
  }

  async write(buffer: Buffer): Promise<void> {
    if (this.received.ended) throw this.received.ended;
    await new Promise<void>((resolve, reject) =>
      this.socket.write(escapeIac(buffer), (error) => (error ? reject(error) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.isOpen = false;
    this.socket.destroy();
    this.received.wake();
  }

  async update(options: { baudRate: number }): Promise<void> {
    await this.setBaudRate(options.baudRate);
  }

  /** DTR and RTS travel as SET_CONTROL, each echoed by the server (pyserial L860-890). */
  async set(options: { dtr?: boolean; rts?: boolean }): Promise<void> {
    if (options.dtr !== undefined) {
      await this.subcommand(
        SET_CONTROL,
        Buffer.from([options.dtr ? DTR_ON : DTR_OFF]),
        `DTR ${options.dtr ? 'on' : 'off'}`,
      );
      this.lines.dtr = options.dtr;
    }
    if (options.rts !== undefined) {
      await this.subcommand(
        SET_CONTROL,
        Buffer.from([options.rts ? RTS_ON : RTS_OFF]),
        `RTS ${options.rts ? 'on' : 'off'}`,
      );
      this.lines.rts = options.rts;
    }
  }

  async get(): Promise<{ cts: boolean; dsr: boolean; dcd: boolean }> {
    return { cts: false, dsr: false, dcd: false };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: Number(this.openOptions.baudRate) };
  }

  async flush(): Promise<void> {
    this.received.clear();
  }

  async drain(): Promise<void> {}
}
