import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { lstat, rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ConsoleUnavailableError } from './errors.ts';

export interface SocatPtyOptions {
  linkPath: string;
  onInput: (data: Buffer) => void;
  /** The socat executable; tests point it at a missing file to see the install hint. */
  socatCommand?: string;
  /**
   * How long output written while no reader has the port open is kept for the next reader.
   * A real board's output before the port opens is gone; a short window only covers the time
   * socat needs to notice an open, so "open the port, then power on" never loses the boot log.
   */
  unattachedHoldMs?: number;
  /** Bytes queued towards a reader that does not read before new output is dropped. */
  unreadLimitBytes?: number;
  startTimeoutMs?: number;
}

interface HeldChunk {
  data: Buffer;
  atMs: number;
}

type SocatChild = ChildProcessByStdio<Writable, Readable, Readable>;

/** socat checks this often whether a serial driver opened the PTY (its default is 1 s). */
const SLAVE_POLL_SECONDS = '0.01';
/** After the reader closes, socat waits this long for the other direction before it exits. */
const HALF_CLOSE_SECONDS = '0.05';

/**
 * A PTY a serial driver opens like a board's port, made by socat. One socat process serves one
 * reader session: socat waits for the PTY to be opened (`wait-slave`), relays until the reader
 * closes it, then exits; a new socat then recreates the PTY at the same link path. Because a
 * socat in `wait-slave` does not hold the PTY open itself, nothing is buffered for a reader that
 * is not there, which is how a real UART behaves: output while the port is closed is lost
 * (except for the short `unattachedHoldMs` window). The price is a gap of a few milliseconds
 * after a reader closes in which the link does not exist yet.
 */
export class SocatPty {
  private readonly options: Required<SocatPtyOptions>;
  private child: SocatChild | undefined;
  private attached = false;
  private stopping = false;
  private held: HeldChunk[] = [];
  private heldBytes = 0;
  private dropped = 0;
  private sessionCount = 0;
  private exited: Promise<void> = Promise.resolve();
  private currentSession: Promise<void> = Promise.resolve();

  constructor(options: SocatPtyOptions) {
    this.options = {
      socatCommand: 'socat',
      unattachedHoldMs: 200,
      unreadLimitBytes: 256 * 1024,
      startTimeoutMs: 5_000,
      ...options,
    };
  }

  /** Output bytes that no reader received: port closed, or a reader too slow to drain it. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** True while a serial driver has the PTY open and socat relays to it. */
  get readerAttached(): boolean {
    return this.attached;
  }

  /** How many socat processes were started (one per reader session, plus the waiting one). */
  get sessions(): number {
    return this.sessionCount;
  }

  /** The pid of the socat process running now, for checks that nothing is left behind. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    await this.spawnSession();
  }

  /**
   * Resolves once the PTY exists for the next reader. Right after a reader closes the port
   * socat is replaced; a driver that reopens at once waits here (a real USB-serial port comes
   * back after re-enumeration the same way).
   */
  async ready(): Promise<void> {
    let session: Promise<void>;
    do {
      session = this.currentSession;
      await session;
    } while (session !== this.currentSession);
  }

  write(data: Buffer): void {
    const child = this.child;
    if (this.attached && child?.stdin.writable) {
      if (child.stdin.writableLength + data.length > this.options.unreadLimitBytes) {
        this.dropped += data.length;
        return;
      }
      child.stdin.write(data);
      return;
    }
    this.hold(data);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.attached = false;
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const forceKill = setTimeout(() => child.kill('SIGKILL'), 1_000);
      await this.exited;
      clearTimeout(forceKill);
    }
    this.child = undefined;
    this.held = [];
    this.heldBytes = 0;
    // socat removes its link on a clean exit; after a SIGKILL it cannot.
    await rm(this.options.linkPath, { force: true });
  }

  private hold(data: Buffer): void {
    const now = Date.now();
    this.held.push({ data, atMs: now });
    this.heldBytes += data.length;
    this.expireHeld(now);
  }

  private expireHeld(now: number): void {
    const oldestKept = now - this.options.unattachedHoldMs;
    while (this.held.length > 0) {
      const first = this.held[0]!;
      if (first.atMs >= oldestKept && this.heldBytes <= this.options.unreadLimitBytes) break;
      this.held.shift();
      this.heldBytes -= first.data.length;
      this.dropped += first.data.length;
    }
  }

  private onAttached(child: SocatChild): void {
    if (child !== this.child || this.stopping) return;
    this.attached = true;
    this.expireHeld(Date.now());
    for (const chunk of this.held) child.stdin.write(chunk.data);
    this.held = [];
    this.heldBytes = 0;
  }

  private spawnSession(): Promise<void> {
    this.currentSession = this.spawnSocat();
    return this.currentSession;
  }

  private spawnSocat(): Promise<void> {
    const { linkPath, socatCommand, startTimeoutMs } = this.options;
    const address = `pty,raw,echo=0,wait-slave,pty-interval=${SLAVE_POLL_SECONDS},link=${linkPath}`;
    const child: SocatChild = spawn(socatCommand, ['-d', '-d', '-t', HALF_CLOSE_SECONDS, address, 'STDIO'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.attached = false;
    this.sessionCount++;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    // A reader that closes mid-write makes socat exit; the pending write then fails with EPIPE.
    child.stdin.on('error', () => {});
    child.stdout.on('data', (data: Buffer) => this.options.onInput(data));

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let stderrTail = '';
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(
          new ConsoleUnavailableError(`socat made no PTY within ${startTimeoutMs} ms: ${stderrTail.trim()}`),
        );
      }, startTimeoutMs);

      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        stderrTail = (stderrTail + text).slice(-2_000);
        // socat -d -d notices: "PTY is /dev/pts/N", then on an open "starting data transfer
        // loop", then on the reader's close "... is at EOF".
        if (text.includes('PTY is ')) {
          waitForLink(linkPath).then(
            () => settle(),
            (error: Error) => settle(new ConsoleUnavailableError(error.message)),
          );
        }
        if (text.includes('starting data transfer loop')) this.onAttached(child);
        if (text.includes('is at EOF') && child === this.child) {
          this.attached = false;
          // This socat is about to exit and unlink the path; a reader must wait for the next one.
          this.currentSession = this.exited.then(() => (this.stopping ? undefined : this.currentSession));
        }
      });

      child.once('error', (error: NodeJS.ErrnoException) => {
        const message =
          error.code === 'ENOENT'
            ? `cannot start '${socatCommand}': socat is not installed. Install it (Debian/Ubuntu: apt-get install socat) or use the 'memory' console mode.`
            : `cannot start '${socatCommand}': ${error.message}`;
        settle(new ConsoleUnavailableError(message));
      });

      child.once('close', (code, signal) => {
        if (child !== this.child) return;
        this.attached = false;
        if (!settled) {
          settle(
            new ConsoleUnavailableError(
              `socat exited (code ${code}, signal ${signal}) before making a PTY: ${stderrTail.trim()}`,
            ),
          );
          return;
        }
        if (this.stopping) return;
        // The reader closed the port: make the PTY again for the next one. A socat that cannot
        // start again leaves the console without a PTY; output is then dropped, never blocked.
        this.spawnSession().catch(() => {
          this.child = undefined;
        });
      });
    });
  }
}

async function waitForLink(linkPath: string): Promise<void> {
  // socat prints the PTY name before it has made the symlink on some versions.
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      await lstat(linkPath);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  throw new Error(`socat reported a PTY but made no link at ${linkPath}`);
}
