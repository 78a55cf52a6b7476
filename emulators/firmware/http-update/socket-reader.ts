import type { Socket } from 'node:net';

/**
 * Pull-style reading from a socket, the way the Arduino client reads a WiFiClient: wait up to a
 * timeout for bytes, peek without consuming, and keep waiting out the timeout after the peer
 * closed (Stream::timedRead does not notice the close, it just finds no data).
 */
export class SocketReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private waiter: (() => void) | undefined;
  private readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      // Backpressure: stop reading from the network while a sector's worth is waiting.
      if (this.buffered > 64 * 1024) socket.pause();
      this.wake();
    });
    const finish = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
  }

  /** True once the peer closed and every byte was consumed. */
  get drained(): boolean {
    return this.ended && this.buffered === 0;
  }

  /** True once the peer closed (bytes may still be buffered). */
  get closed(): boolean {
    return this.ended;
  }

  get available(): number {
    return this.buffered;
  }

  /** Resolves when at least `count` bytes are buffered, the peer closed, or `timeoutMs` passed. */
  async waitFor(count: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered < count && !this.ended && !signal?.aborted) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          // A boot's signal outlives many waits (a sketch that checks on an interval): leave nothing on it.
          signal?.removeEventListener('abort', done);
          resolve();
        }
        this.waiter = done;
        signal?.addEventListener('abort', done, { once: true });
      });
      this.waiter = undefined;
    }
  }

  /** The first `count` buffered bytes (fewer if fewer are there), not consumed. */
  peek(count: number): Buffer {
    if (this.chunks.length === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= count) return first.subarray(0, count);
    return Buffer.concat(this.chunks).subarray(0, count);
  }

  /** Up to `max` buffered bytes, consumed; empty when none are buffered. */
  take(max: number): Buffer {
    const first = this.chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    let out: Buffer;
    if (first.length <= max) {
      this.chunks.shift();
      out = first;
    } else {
      out = first.subarray(0, max);
      this.chunks[0] = first.subarray(max);
    }
    this.buffered -= out.length;
    if (this.buffered <= 16 * 1024 && this.socket.isPaused()) this.socket.resume();
    return out;
  }

  /**
   * Waits up to `timeoutMs` for data like Stream::readBytes and takes up to `max` bytes; an empty
   * result is a timeout — also after the peer closed, which the device only sees as silence.
   */
  async read(max: number, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
    if (this.buffered === 0) {
      if (this.ended) await sleepUnless(timeoutMs, signal);
      else await this.waitFor(1, timeoutMs, signal);
    }
    return this.take(max);
  }

  /** Reads one CRLF- or LF-terminated line (without the ending), or undefined on close/timeout. */
  async readLine(timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      if (this.chunks.length > 1) {
        this.chunks.length = 0;
        this.chunks.push(all);
      }
      const end = all.indexOf(0x0a);
      if (end >= 0) {
        const line = this.take(end + 1).toString('latin1');
        return line.replace(/\r?\n$/, '');
      }
      if (this.ended || signal?.aborted) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await this.waitFor(this.buffered + 1, left, signal);
    }
  }

  private wake(): void {
    this.waiter?.();
  }
}

/** Waits `milliseconds`, or less if `signal` aborts; leaves no listener on the signal either way. */
export function sleepUnless(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, milliseconds);
    signal?.addEventListener('abort', done, { once: true });
  });
}
