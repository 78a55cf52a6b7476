import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleUsageError } from './errors.ts';
import { LineAssembler } from './line-assembler.ts';
import { SocatPty } from './socat-pty.ts';
import { TcpConsoleServer } from './tcp-console-server.ts';

export interface ConsoleLine {
  text: string;
  /** Date.now() when the line's ending was written. */
  atMs: number;
}

/**
 * Where the chip's UART output goes besides the in-memory history: nowhere else (`memory`), a
 * pseudo-terminal a serial driver opens like a board's port (`pty`), a raw TCP port like a
 * lab's networked serial server (`tcp`, `tcp://host:port`), or this process's stdout (`stdout`,
 * for `ota-conformance emulate` run by hand).
 */
export type ConsoleMode = 'memory' | 'pty' | 'tcp' | 'stdout';

export interface DeviceConsoleOptions {
  mode?: ConsoleMode;
  /** Path of the PTY symlink in `pty` mode; default `<tmp>/ota-console-XXXXXX/tty`. */
  ptyLink?: string;
  lineEnding?: '\r\n' | '\n';
  /** Lines kept by lines(); older ones are forgotten. */
  historyLimit?: number;
  /**
   * `pty` mode: output written while no serial driver has the port open is kept this long for
   * the next one (default 200 ms), then lost, as on a real board. See SocatPty.
   */
  unattachedHoldMs?: number;
  /** The socat executable for `pty` mode (default `socat` on PATH). */
  socatCommand?: string;
}

type Listener<T> = (value: T) => void;

/**
 * What an emulated chip's UART prints: the boot log and the firmware's log lines. Every write
 * lands in a bounded line history and goes to line listeners; in `pty` mode the bytes also go
 * to a socat PTY that the serial driver opens like a real board's port, and what the driver
 * sends comes back through onInput (the UART's RX).
 *
 * Writes never block: the PTY side is fed asynchronously and output no reader takes is dropped
 * and counted (droppedBytes), the way a USB-serial bridge drops what the host does not read.
 */
export class DeviceConsole {
  private readonly mode: ConsoleMode;
  private readonly lineEnding: '\r\n' | '\n';
  private readonly historyLimit: number;
  private readonly options: DeviceConsoleOptions;
  private readonly assembler = new LineAssembler();
  private history: ConsoleLine[] = [];
  private readonly lineListeners = new Set<Listener<ConsoleLine>>();
  private readonly inputListeners = new Set<Listener<Buffer>>();
  private pty: SocatPty | undefined;
  private tcp: TcpConsoleServer | undefined;
  private tcpUrl: string | undefined;
  private linkPath: string | undefined;
  private ownedTempDir: string | undefined;
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';

  constructor(options: DeviceConsoleOptions = {}) {
    this.options = options;
    this.mode = options.mode ?? 'memory';
    this.lineEnding = options.lineEnding ?? '\r\n';
    this.historyLimit = options.historyLimit ?? 10_000;
    if (!Number.isInteger(this.historyLimit) || this.historyLimit < 1) {
      throw new ConsoleUsageError(`historyLimit must be a positive integer, got ${options.historyLimit}`);
    }
  }

  /** The path a serial driver opens in `pty` mode (a symlink to /dev/pts/N); else undefined. */
  get ptyPath(): string | undefined {
    return this.linkPath;
  }

  /** `tcp://host:port` in `tcp` mode; else undefined. */
  get tcpAddress(): string | undefined {
    return this.tcpUrl;
  }

  /** Where a serial driver reaches this console: the PTY path or the TCP address. */
  get port(): string | undefined {
    return this.linkPath ?? this.tcpUrl;
  }

  /** Bytes of output that no PTY reader received (port closed, or a reader that stopped reading). */
  get droppedBytes(): number {
    return this.pty?.droppedBytes ?? this.tcp?.dropped ?? 0;
  }

  /** True while a serial driver has the PTY open, or is connected to the TCP console. */
  get readerAttached(): boolean {
    return this.pty?.readerAttached ?? (this.tcp !== undefined && this.tcp.clientCount > 0);
  }

  /** The running socat's pid in `pty` mode, so a test can prove stop() left nothing behind. */
  get ptyProcessId(): number | undefined {
    return this.pty?.pid;
  }

  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new ConsoleUsageError(`start() called on a console that is ${this.state}`);
    this.state = 'starting';
    if (this.mode === 'tcp') {
      const tcp = new TcpConsoleServer((data) => {
        for (const listener of this.inputListeners) listener(data);
      });
      this.tcpUrl = await tcp.listen();
      this.tcp = tcp;
    }
    if (this.mode === 'pty') {
      if (this.options.ptyLink === undefined) {
        this.ownedTempDir = await mkdtemp(join(tmpdir(), 'ota-console-'));
      }
      const linkPath = this.options.ptyLink ?? join(this.ownedTempDir!, 'tty');
      const pty = new SocatPty({
        linkPath,
        onInput: (data) => {
          for (const listener of this.inputListeners) listener(data);
        },
        ...(this.options.socatCommand === undefined ? {} : { socatCommand: this.options.socatCommand }),
        ...(this.options.unattachedHoldMs === undefined
          ? {}
          : { unattachedHoldMs: this.options.unattachedHoldMs }),
      });
      try {
        await pty.start();
      } catch (error) {
        await pty.stop();
        await this.removeTempDir();
        this.state = 'stopped';
        throw error;
      }
      this.pty = pty;
      this.linkPath = linkPath;
    }
    this.state = 'started';
  }

  /**
   * Resolves once the PTY can be opened. Only needed right after a reader closed the port,
   * when socat is being replaced for the next reader.
   */
  async ptyReady(): Promise<void> {
    await this.pty?.ready();
  }

  /**
   * Raw output, exactly as given: the ESP8266 ROM banner's CR/LF noise, partial lines, prompts.
   * Bytes (a Uint8Array) go out unchanged and enter the line history as latin1, one character
   * per byte, so garbage from a baud-rate mismatch stays visible rather than turning into U+FFFD.
   */
  write(data: string | Uint8Array): void {
    if (this.state === 'stopped') throw new ConsoleUsageError('write() after stop()');
    if (data.length === 0) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const text = typeof data === 'string' ? data : bytes.toString('latin1');
    if (this.pty !== undefined) this.pty.write(bytes);
    else if (this.tcp !== undefined) this.tcp.write(bytes);
    else if (this.mode === 'stdout') process.stdout.write(bytes);
    const completed = this.assembler.push(text);
    if (completed.length === 0) return;
    const atMs = Date.now();
    for (const lineText of completed) this.record({ text: lineText, atMs });
  }

  /**
   * Bytes for the wire only: the ROM loader's SLIP frames go out to the PTY or TCP reader
   * unchanged and stay out of the line history, which holds what a person would read.
   */
  transmit(bytes: Uint8Array): void {
    if (this.state === 'stopped' || bytes.length === 0) return;
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.pty !== undefined) this.pty.write(buffer);
    else if (this.tcp !== undefined) this.tcp.write(buffer);
  }

  /** One line followed by the console's line ending. */
  line(text: string): void {
    this.write(text + this.lineEnding);
  }

  lines(): readonly ConsoleLine[] {
    return this.history.length > this.historyLimit ? this.history.slice(-this.historyLimit) : this.history;
  }

  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  onInput(listener: (data: Buffer) => void): () => void {
    this.inputListeners.add(listener);
    return () => this.inputListeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    const pty = this.pty;
    this.pty = undefined;
    if (pty !== undefined) await pty.stop();
    await this.tcp?.stop();
    this.tcp = undefined;
    await this.removeTempDir();
  }

  private record(line: ConsoleLine): void {
    this.history.push(line);
    // Trim in batches so a long log does not pay for an array shift on every line.
    if (this.history.length >= this.historyLimit * 2) this.history = this.history.slice(-this.historyLimit);
    for (const listener of this.lineListeners) listener(line);
  }

  private async removeTempDir(): Promise<void> {
    if (this.ownedTempDir === undefined) return;
    await rm(this.ownedTempDir, { recursive: true, force: true });
    this.ownedTempDir = undefined;
  }
}
