import { createServer, type Server, type Socket } from 'node:net';

/** Bytes a slow client may have queued before further output to it is dropped. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * The console on a raw TCP port, as ser2net or a networked serial server offers a board's UART
 * in a lab: every client receives what the chip prints from the moment it connects, and what a
 * client sends is the UART's RX. Several clients may listen at once; none can block the chip.
 */
export class TcpConsoleServer {
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  private droppedBytes = 0;

  constructor(private readonly onInput: (data: Buffer) => void) {
    this.server = createServer((socket) => {
      socket.setNoDelay(true);
      this.clients.add(socket);
      socket.on('data', (data: Buffer) => this.onInput(data));
      socket.on('error', () => socket.destroy());
      socket.on('close', () => this.clients.delete(socket));
    });
  }

  /** Clients connected now (the serial driver of a suite, a person with nc). */
  get clientCount(): number {
    return this.clients.size;
  }

  get dropped(): number {
    return this.droppedBytes;
  }

  async listen(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (typeof address !== 'object' || !address) throw new Error('the console server has no address');
    return `tcp://${host}:${address.port}`;
  }

  write(bytes: Buffer): void {
    for (const client of this.clients) {
      if (client.writableLength > MAX_QUEUED_BYTES) {
        this.droppedBytes += bytes.length;
        continue;
      }
      // What the chip prints in one go (a boot log is dozens of lines) leaves in one write at the
      // end of the tick, not one system call per line.
      if (!client.writableCorked) {
        client.cork();
        process.nextTick(() => client.uncork());
      }
      client.write(bytes);
    }
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
