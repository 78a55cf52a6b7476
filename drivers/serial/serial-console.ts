import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SerialPort } from 'serialport';
import { codedError } from '../../vocabulary/index.ts';
import { type BootEvent, BootLogTracker, type CrashEvent } from './boot-log.ts';
import {
  ConsoleClosedError,
  ConsoleLostError,
  ConsoleOpenError,
  ConsoleTimeoutError,
  ConsoleUnexpectedLineError,
  ConsoleWriteError,
} from './errors.ts';
import { networkBindingFor } from './network-binding.ts';

/**
 * The longest console line kept whole. An ESP-IDF or Arduino log line is a few hundred
 * characters; anything past this is one line the device never ended.
 */
export const MAX_CONSOLE_LINE_CHARS = 8192;
const LINE_CUT_MARK = ` [line cut: no newline within ${MAX_CONSOLE_LINE_CHARS} characters]`;

/**
 * A serialport binding: the platform's, or @serialport/binding-mock in tests. Only its shape
 * matters here; serialport checks the rest when it opens the port.
 */
export interface SerialBinding {
  open(options: never): Promise<unknown>;
  list(): Promise<unknown[]>;
}

export interface SerialConsoleOptions {
  /** The port: /dev/ttyUSB0, a by-id path, or an emulator's PTY link. */
  path: string;
  baudRate: number;
  /** Named in every error, so a failure in a many-target run says which board it was. */
  targetName: string;
  /**
   * Reopen the port when it vanishes and comes back (USB re-enumeration after a reset or a
   * power cycle; an emulator's PTY being recreated). Default true.
   */
  reopen?: boolean;
  /** A serialport binding; tests pass @serialport/binding-mock. Default: the platform binding. */
  binding?: SerialBinding;
  /** How long open() keeps retrying a missing or busy port. Default 5 s. */
  openTimeoutMs?: number;
  /** How long after losing the port it keeps trying to reopen before giving up. Default 30 s. */
  reopenTimeoutMs?: number;
  /**
   * How bytes become text. utf8 (default) for firmware logs; latin1 keeps every byte of
   * baud-rate garbage visible as one character instead of U+FFFD.
   */
  encoding?: 'utf8' | 'latin1';
  /** Applied to console lines quoted in error messages, so a secret a device prints stays out. */
  redact?: (text: string) => string;
  /**
   * How often the open port's path is checked for having vanished or been replaced by a new
   * device node. A hung-up PTY (and some USB-serial drivers) report nothing on the open
   * descriptor, so the path is the only sign. Default 100 ms.
   */
  watchIntervalMs?: number;
}

export interface ConsoleLine {
  /** Position in the whole log, from 0. */
  index: number;
  text: string;
  /** Date.now() when the line's ending arrived (or the driver wrote the marker). */
  atMs: number;
  /** `driver` lines are markers such as `[console reopened]`; expect() never matches them. */
  source: 'device' | 'driver';
  /** What the boot-log parser read from the line. */
  events: readonly BootEvent[];
}

export interface ExpectOptions {
  timeoutMs: number;
  /** What the caller was doing, for the error message ("wait for the new app to boot"). */
  step: string;
  /** Ignore lines already received and not yet consumed; match only what arrives from now. */
  fromNow?: boolean;
  /** Fail at once with ConsoleTimeoutError's sibling when the device crashes while waiting. */
  failOnCrash?: boolean;
}

export interface ExpectNotOptions {
  forMs: number;
  step: string;
}

export interface ConsoleMatch {
  line: ConsoleLine;
  /** The regex match (index 0 is the matched text). */
  match: RegExpExecArray;
  /** Named groups of the pattern, empty when it has none. */
  groups: Record<string, string>;
}

export interface WriteOptions {
  timeoutMs?: number;
  step?: string;
}

export interface ModemLines {
  dtr: boolean;
  rts: boolean;
}

/** The device crashed while expect() waited with failOnCrash. */
export class ConsoleDeviceCrashedError extends codedError(
  'CONSOLE_DEVICE_CRASHED',
  'ConsoleDeviceCrashedError',
) {
  constructor(
    message: string,
    readonly crash: CrashEvent,
    readonly line: string,
  ) {
    super(message);
  }
}

type State = 'open' | 'reopening' | 'lost' | 'closed';

interface Waiter {
  onLine(line: ConsoleLine): void;
  onEnd(error: Error): void;
}

const LAST_LINES_IN_ERRORS = 8;
const DEFAULT_WRITE_TIMEOUT_MS = 2_000;
const PORT_CLOSE_TIMEOUT_MS = 1_000;
const DEFAULT_WATCH_INTERVAL_MS = 100;

/** Which device node a path led to when it was opened: a re-created PTY or tty has a new ctime. */
interface NodeIdentity {
  rdev: number;
  ctimeMs: number;
}

/**
 * A board's (or an emulator's) serial console as a stream of timestamped lines. It keeps the
 * whole log, parses boot and crash lines as they arrive, and survives the port disappearing
 * and coming back, which a USB-serial adapter does on every re-enumeration.
 *
 * expect() consumes: each match moves a cursor past the matched line, so a second expect()
 * for the same text waits for the next occurrence (the way pexpect and pytest-embedded work).
 */
export class SerialConsole {
  readonly targetName: string;
  readonly path: string;
  /** Boots and crashes seen so far. */
  readonly boot = new BootLogTracker();
  private readonly options: SerialConsoleOptions;
  private readonly redact: (text: string) => string;
  private port: SerialPort | undefined;
  private state: State = 'open';
  private readonly history: ConsoleLine[] = [];
  private cursor = 0;
  private partial = '';
  private decoder: StringDecoder;
  private readonly waiters = new Set<Waiter>();
  private readonly lineListeners = new Set<(line: ConsoleLine) => void>();
  private reopenCount = 0;
  private lossReason: string | undefined;
  private watchTimer: NodeJS.Timeout | undefined;

  private constructor(options: SerialConsoleOptions) {
    this.options = options;
    this.targetName = options.targetName;
    this.path = options.path;
    this.redact = options.redact ?? ((text) => text);
    this.decoder = new StringDecoder(options.encoding ?? 'utf8');
  }

  /** Opens the port, retrying while it is missing or busy for up to openTimeoutMs. */
  static async open(options: SerialConsoleOptions): Promise<SerialConsole> {
    if (!Number.isInteger(options.baudRate) || options.baudRate <= 0) {
      throw new ConsoleOpenError(
        `target '${options.targetName}': baudRate must be a positive integer, got ${options.baudRate}`,
      );
    }
    const console = new SerialConsole(options);
    const timeoutMs = options.openTimeoutMs ?? 5_000;
    console.port = await console.openWithRetry(Date.now() + timeoutMs, timeoutMs);
    await console.watchPath(console.port);
    return console;
  }

  /** True while the port is open (false while it is being reopened, lost or closed). */
  get isOpen(): boolean {
    return this.state === 'open' && this.port !== undefined;
  }

  /** How many times the port vanished and was opened again. */
  get reopens(): number {
    return this.reopenCount;
  }

  lines(): readonly ConsoleLine[] {
    return this.history;
  }

  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** The whole log, one line per console line, each prefixed with its ISO-8601 time. */
  log(): string {
    let text = '';
    for (const line of this.history) text += `${new Date(line.atMs).toISOString()} ${line.text}\n`;
    if (this.partial !== '') text += `${new Date().toISOString()} ${this.partial}\n`;
    return text;
  }

  /** Writes log() to a file, through `redact` when given (a token the firmware printed). */
  async saveLog(file: string, redact?: (text: string) => string): Promise<void> {
    const text = this.log();
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, redact === undefined ? text : redact(text), 'utf8');
  }

  /**
   * Waits for a line matching `pattern` (a RegExp, or a string matched as a substring), among
   * lines not yet consumed and then new ones. Rejects with ConsoleTimeoutError naming the
   * target, the step, the pattern and the last lines seen.
   */
  expect(pattern: RegExp | string, options: ExpectOptions): Promise<ConsoleMatch> {
    const regex = toRegExp(pattern);
    const startedAt = Date.now();
    const from = options.fromNow ? this.history.length : this.cursor;
    for (let index = from; index < this.history.length; index++) {
      const line = this.history[index]!;
      const crash = options.failOnCrash ? crashOf(line) : undefined;
      if (crash !== undefined) return Promise.reject(this.crashedError(crash, line, options.step));
      const found = matchLine(regex, line);
      if (found !== undefined) {
        this.cursor = index + 1;
        return Promise.resolve(found);
      }
    }
    const ended = this.endedError(options.step);
    if (ended !== undefined) return Promise.reject(ended);

    return new Promise<ConsoleMatch>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        onLine: (line) => {
          const crash = options.failOnCrash ? crashOf(line) : undefined;
          if (crash !== undefined) {
            finish();
            reject(this.crashedError(crash, line, options.step));
            return;
          }
          const found = matchLine(regex, line);
          if (found === undefined) return;
          finish();
          this.cursor = Math.max(this.cursor, line.index + 1);
          resolve(found);
        },
        onEnd: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(this.timeoutError(regex, options.step, Date.now() - startedAt));
      }, options.timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolves after `forMs` if no unconsumed or new line matches `pattern`; rejects as soon as
   * one does. It does not move the expect() cursor: watching for a panic must not swallow the
   * line a following expect() is waiting for.
   */
  expectNot(pattern: RegExp | string, options: ExpectNotOptions): Promise<void> {
    const regex = toRegExp(pattern);
    for (let index = this.cursor; index < this.history.length; index++) {
      const line = this.history[index]!;
      if (matchLine(regex, line) !== undefined) {
        return Promise.reject(this.unexpectedError(regex, line, options.step));
      }
    }
    const ended = this.endedError(options.step);
    if (ended !== undefined) return Promise.reject(ended);

    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        onLine: (line) => {
          if (matchLine(regex, line) === undefined) return;
          finish();
          reject(this.unexpectedError(regex, line, options.step));
        },
        onEnd: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        finish();
        resolve();
      }, options.forMs);
      this.waiters.add(waiter);
    });
  }

  /** Sends text to the device's RX and waits until the OS took it. */
  async write(text: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const step = options.step ?? 'write to the console';
    const port = this.requirePort(step);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    await this.withTimeout(
      new Promise<void>((resolve, reject) => {
        port.write(text, (error) => (error ? reject(error) : port.drain(() => resolve())));
      }),
      timeoutMs,
      step,
    );
  }

  /**
   * Sets the DTR and RTS lines (an ESP board's auto-reset circuit), so a reset driver can share
   * the port the console holds rather than open it a second time.
   */
  async setModemLines(lines: ModemLines, options: WriteOptions = {}): Promise<void> {
    const step = options.step ?? 'set DTR/RTS';
    const port = this.requirePort(step);
    await this.withTimeout(
      new Promise<void>((resolve, reject) => {
        // Both given every time: serialport fills a missing one with `true`.
        port.set({ dtr: lines.dtr, rts: lines.rts }, (error) => (error ? reject(error) : resolve()));
      }),
      options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
      step,
    );
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopWatching();
    this.flushPartial();
    this.endWaiters(new ConsoleClosedError(`target '${this.targetName}': console ${this.path} was closed`));
    const port = this.port;
    this.port = undefined;
    if (port !== undefined) await closePort(port);
  }

  private async openWithRetry(deadline: number, budgetMs: number): Promise<SerialPort> {
    let delayMs = 10;
    let lastError = 'no attempt made';
    for (;;) {
      if (this.state === 'closed') throw new ConsoleClosedError(`target '${this.targetName}': closed`);
      try {
        return await this.openOnce();
      } catch (error) {
        lastError = describe(error);
      }
      if (Date.now() + delayMs > deadline) {
        throw new ConsoleOpenError(
          `target '${this.targetName}': cannot open serial port ${this.path} within ${budgetMs} ms: ${lastError}`,
        );
      }
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 200);
    }
  }

  private async openOnce(): Promise<SerialPort> {
    // serialport (and the platform's native binding) loads on the first open, not with the harness.
    const { SerialPort } = await import('serialport');
    const networkBinding = networkBindingFor(this.path);
    const settings = {
      path: this.path,
      baudRate: this.options.baudRate,
      autoOpen: false,
      ...(this.options.binding === undefined
        ? networkBinding === undefined
          ? {}
          : { binding: networkBinding }
        : { binding: this.options.binding }),
    };
    // The binding may be swapped for a mock; SerialPort's own type only knows the platform one.
    const port = new SerialPort(settings as ConstructorParameters<typeof SerialPort>[0]);
    return new Promise<SerialPort>((resolve, reject) => {
      port.open((error) => {
        if (error) {
          reject(error);
          return;
        }
        this.decoder = new StringDecoder(this.options.encoding ?? 'utf8');
        port.on('data', (data: Buffer) => this.onData(port, data));
        port.on('close', (closeError: Error | null) => this.onPortGone(port, closeError ?? undefined));
        port.on('error', (portError: Error) => this.onPortGone(port, portError));
        // A hung-up tty reads as end of file (a PTY whose other side went away does this).
        port.on('end', () => this.onPortGone(port, new Error('the port hung up (end of input)')));
        resolve(port);
      });
    });
  }

  private async watchPath(port: SerialPort): Promise<void> {
    const opened = await nodeIdentity(this.path);
    // A mock binding's path is no file; a path that is not a device cannot be watched either.
    if (opened === undefined || port !== this.port) return;
    this.stopWatching();
    const intervalMs = this.options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    const timer = setInterval(() => {
      nodeIdentity(this.path).then((now) => {
        if (timer !== this.watchTimer) return;
        if (now === undefined) this.onPortGone(port, new Error(`${this.path} disappeared`));
        else if (now.rdev !== opened.rdev || now.ctimeMs !== opened.ctimeMs) {
          this.onPortGone(port, new Error(`${this.path} was replaced by a new device`));
        }
      });
    }, intervalMs);
    timer.unref();
    this.watchTimer = timer;
  }

  private stopWatching(): void {
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
  }

  private onData(port: SerialPort, data: Buffer): void {
    if (port !== this.port) return;
    const text = this.partial + this.decoder.write(data);
    let start = 0;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      let line = stripTrailingCarriageReturns(text.slice(start, newline));
      while (line.length > MAX_CONSOLE_LINE_CHARS) {
        this.record(`${line.slice(0, MAX_CONSOLE_LINE_CHARS)}${LINE_CUT_MARK}`, 'device');
        line = line.slice(MAX_CONSOLE_LINE_CHARS);
      }
      this.record(line, 'device');
      start = newline + 1;
      newline = text.indexOf('\n', start);
    }
    let rest = text.slice(start);
    // A device that never ends its line (a stuck loop printing dots, baud-rate garbage) would grow
    // one string without bound: past the limit the line is recorded in pieces, each marked.
    while (rest.length > MAX_CONSOLE_LINE_CHARS) {
      this.record(`${rest.slice(0, MAX_CONSOLE_LINE_CHARS)}${LINE_CUT_MARK}`, 'device');
      rest = rest.slice(MAX_CONSOLE_LINE_CHARS);
    }
    this.partial = rest;
  }

  private onPortGone(port: SerialPort, error: Error | undefined): void {
    if (port !== this.port || this.state !== 'open') return;
    this.port = undefined;
    this.stopWatching();
    this.flushPartial();
    const reason = error === undefined ? 'the port closed' : describe(error);
    this.lossReason = reason;
    this.record(`[console lost: ${reason}]`, 'driver');
    // A read error leaves the descriptor open; release it so the next open is not refused as busy.
    void closePort(port);
    if (this.options.reopen === false) {
      this.state = 'lost';
      this.endWaiters(this.lostError(reason));
      return;
    }
    this.state = 'reopening';
    const budgetMs = this.options.reopenTimeoutMs ?? 30_000;
    this.openWithRetry(Date.now() + budgetMs, budgetMs).then(
      (reopened) => {
        if (this.state !== 'reopening') {
          void closePort(reopened);
          return;
        }
        this.port = reopened;
        this.state = 'open';
        this.reopenCount++;
        this.lossReason = undefined;
        this.record('[console reopened]', 'driver');
        void this.watchPath(reopened);
      },
      (openError: unknown) => {
        if (this.state !== 'reopening') return;
        this.state = 'lost';
        this.endWaiters(this.lostError(`${reason}; reopening failed: ${describe(openError)}`));
      },
    );
  }

  private record(text: string, source: ConsoleLine['source']): void {
    const events = source === 'device' ? this.boot.push(text) : [];
    const line: ConsoleLine = { index: this.history.length, text, atMs: Date.now(), source, events };
    this.history.push(line);
    for (const listener of this.lineListeners) listener(line);
    if (source !== 'device') return;
    for (const waiter of [...this.waiters]) waiter.onLine(line);
  }

  private flushPartial(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.record(stripTrailingCarriageReturns(rest), 'device');
  }

  private endWaiters(error: Error): void {
    for (const waiter of [...this.waiters]) waiter.onEnd(error);
  }

  private requirePort(step: string): SerialPort {
    const ended = this.endedError(step);
    if (ended !== undefined) throw ended;
    if (this.port === undefined) {
      throw new ConsoleLostError(
        `target '${this.targetName}': step '${step}': serial port ${this.path} is gone and being reopened (${this.lossReason ?? 'unknown reason'})`,
      );
    }
    return this.port;
  }

  private endedError(step: string): Error | undefined {
    if (this.state === 'closed') {
      return new ConsoleClosedError(
        `target '${this.targetName}': step '${step}': console ${this.path} is closed`,
      );
    }
    if (this.state === 'lost') return this.lostError(this.lossReason ?? 'unknown reason', step);
    return undefined;
  }

  private lostError(reason: string, step?: string): ConsoleLostError {
    const during = step === undefined ? '' : ` during step '${step}'`;
    return new ConsoleLostError(
      `target '${this.targetName}': serial port ${this.path} was lost${during}: ${reason}`,
    );
  }

  private timeoutError(regex: RegExp, step: string, waitedMs: number): ConsoleTimeoutError {
    const lastLines = this.history
      .filter((line) => line.source === 'device')
      .slice(-LAST_LINES_IN_ERRORS)
      .map((line) => this.redact(line.text));
    const portState =
      this.state === 'reopening' ? ` (the port is gone and being reopened: ${this.lossReason})` : '';
    const seen =
      lastLines.length === 0
        ? 'no line was received'
        : `last ${lastLines.length} line(s):\n${lastLines.map((line) => `  | ${line}`).join('\n')}`;
    return new ConsoleTimeoutError(
      `target '${this.targetName}': step '${step}' timed out after ${waitedMs} ms waiting for ${regex} on ${this.path}${portState}; ${seen}`,
      this.targetName,
      step,
      lastLines,
    );
  }

  private unexpectedError(regex: RegExp, line: ConsoleLine, step: string): ConsoleUnexpectedLineError {
    const text = this.redact(line.text);
    return new ConsoleUnexpectedLineError(
      `target '${this.targetName}': step '${step}': the console printed a line matching ${regex}, which must not appear: ${text}`,
      this.targetName,
      step,
      text,
    );
  }

  private crashedError(crash: CrashEvent, line: ConsoleLine, step: string): ConsoleDeviceCrashedError {
    const text = this.redact(line.text);
    return new ConsoleDeviceCrashedError(
      `target '${this.targetName}': step '${step}': the device crashed (${crash.crash}: ${this.redact(crash.detail)}): ${text}`,
      crash,
      text,
    );
  }

  private async withTimeout(operation: Promise<void>, timeoutMs: number, step: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConsoleWriteError(
              `target '${this.targetName}': step '${step}' on ${this.path} did not finish within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([
        operation.catch((error: unknown) => {
          throw new ConsoleWriteError(
            `target '${this.targetName}': step '${step}' on ${this.path} failed: ${describe(error)}`,
          );
        }),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function crashOf(line: ConsoleLine): CrashEvent | undefined {
  for (const event of line.events) if (event.kind === 'crash') return event;
  return undefined;
}

function toRegExp(pattern: RegExp | string): RegExp {
  if (typeof pattern === 'string') return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  // A global or sticky regex keeps lastIndex between exec() calls and would skip lines.
  return pattern.global || pattern.sticky
    ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
    : pattern;
}

function matchLine(regex: RegExp, line: ConsoleLine): ConsoleMatch | undefined {
  if (line.source !== 'device') return undefined;
  const match = regex.exec(line.text);
  if (match === null) return undefined;
  return { line, match, groups: { ...(match.groups ?? {}) } };
}

function stripTrailingCarriageReturns(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x0d) end--;
  return end === text.length ? text : text.slice(0, end);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

async function nodeIdentity(path: string): Promise<NodeIdentity | undefined> {
  try {
    const node = await stat(path);
    return node.isCharacterDevice() ? { rdev: node.rdev, ctimeMs: node.ctimeMs } : undefined;
  } catch {
    return undefined;
  }
}

async function closePort(port: SerialPort): Promise<void> {
  if (!port.isOpen) return;
  await Promise.race([
    new Promise<void>((resolve) => port.close(() => resolve())),
    sleep(PORT_CLOSE_TIMEOUT_MS, undefined, { ref: false }),
  ]);
}
