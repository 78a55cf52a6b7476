import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/**
 * The device's `WiFiClient` for the data phase: it connects back to the uploader, queues what
 * arrives, and lets the OTA loop ask `available()`, `read()` and wait for data the way the C loop
 * polls with delay(1).
 */
export class DeviceTcpClient {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private peerEnded = false;
  private closed = false;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.chunks.push(data);
      this.queued += data.length;
      this.notify();
    });
    socket.on('end', () => {
      this.peerEnded = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** `client.connect(ip, port)`: undefined when the connection is refused or the boot ends first. */
  static async connect(
    host: string,
    port: number,
    signal: AbortSignal,
  ): Promise<DeviceTcpClient | undefined> {
    let socket: Socket;
    try {
      socket = connect({ host, port, noDelay: true });
    } catch {
      // Whatever a datagram named, a connect the stack refuses is OTA_CONNECT_ERROR, never a crash.
      return undefined;
    }
    const client = new DeviceTcpClient(socket);
    try {
      await once(socket, 'connect', { signal });
      return client;
    } catch {
      socket.destroy();
      return undefined;
    }
  }

  /** True while the peer has not closed its side (data may still be queued after it has). */
  connected(): boolean {
    return !this.peerEnded && !this.closed;
  }

  available(): number {
    return this.queued;
  }

  /** Takes up to `max` queued bytes. */
  read(max: number): Uint8Array {
    const length = Math.min(max, this.queued);
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const head = this.chunks[0];
      if (head === undefined) break;
      const take = Math.min(head.length, length - filled);
      head.copy(out, filled, 0, take);
      filled += take;
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
    }
    this.queued -= filled;
    return out;
  }

  /**
   * Resolves when data is queued, the peer closes, `milliseconds` pass, or the boot ends. On a
   * closed connection it waits out the time, as the C loop's delay(1) polls do.
   */
  async waitForData(milliseconds: number, signal: AbortSignal): Promise<void> {
    if (this.queued > 0 || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = Number.isFinite(milliseconds) ? setTimeout(done, milliseconds) : undefined;
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  /** `client.print(text)`: false when the connection is gone. */
  print(text: string): boolean {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(text);
    return true;
  }

  /** `client.stop()`: close our side after what was printed. */
  stop(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** The chip reset: the connection vanishes without a goodbye. */
  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    this.wake?.();
  }
}
