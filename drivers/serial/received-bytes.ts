/**
 * What a socket-backed serial binding (the TCP console, RFC 2217) has received and not yet given
 * to serialport, and the one read that waits for more: serialport calls read() again only after
 * the previous one returned, so one waiter is enough.
 */
export class ReceivedBytes {
  private readonly chunks: Buffer[] = [];
  private waiting: (() => void) | undefined;
  /** Why no more bytes will come (the connection ended), once it did. */
  ended: Error | undefined;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.wake();
  }

  /** The connection is gone: reads fail with `error` once the bytes already received are read. */
  end(error: Error): void {
    this.ended ??= error;
    this.wake();
  }

  /** Lets a waiting read look again (the port was closed). */
  wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  clear(): void {
    this.chunks.length = 0;
  }

  /** serialport's BindingPortInterface.read: the next bytes, waiting for them while the port is open. */
  async read(
    buffer: Buffer,
    offset: number,
    length: number,
    isOpen: () => boolean,
  ): Promise<{ buffer: Buffer; bytesRead: number }> {
    while (this.chunks.length === 0) {
      if (!isOpen()) throw Object.assign(new Error('Port is closed'), { canceled: true });
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
    const chunk = this.chunks[0]!;
    const bytesRead = Math.min(length, chunk.length);
    chunk.copy(buffer, offset, 0, bytesRead);
    if (bytesRead === chunk.length) this.chunks.shift();
    else this.chunks[0] = chunk.subarray(bytesRead);
    return { buffer, bytesRead };
  }
}
