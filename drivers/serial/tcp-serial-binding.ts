import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { ReceivedBytes } from './received-bytes.ts';

/** `tcp://host:port`: a UART offered over raw TCP (ser2net's raw mode, an emulator's console). */
export const TCP_SERIAL_PREFIX = 'tcp://';

/** pyserial's and esptool's spelling of the same raw TCP port (reference/esp-serial-flasher.md §8.1). */
export const SOCKET_SERIAL_PREFIX = 'socket://';

export function isTcpSerialPath(path: string): boolean {
  return path.startsWith(TCP_SERIAL_PREFIX) || path.startsWith(SOCKET_SERIAL_PREFIX);
}

interface OpenOptions {
  path: string;
  baudRate: number;
}

/**
 * A serialport binding whose "port" is a TCP connection, so the same console driver (expect,
 * boot-log parsing, reopen) serves a board behind a networked serial server and an emulator's
 * console. Baud rate and modem lines do not travel over raw TCP: setting them is accepted and
 * has no effect, as with ser2net's raw mode.
 */
export const TcpSerialBinding = {
  async list(): Promise<unknown[]> {
    return [];
  },
  async open(options: OpenOptions): Promise<TcpSerialPort> {
    const url = new URL(options.path);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setNoDelay(true);
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    return new TcpSerialPort(socket, options);
  },
};

class TcpSerialPort {
  isOpen = true;
  readonly openOptions: Record<string, unknown>;
  private readonly received = new ReceivedBytes();

  constructor(
    private readonly socket: Socket,
    options: OpenOptions,
  ) {
    this.openOptions = { ...options, dataBits: 8, stopBits: 1, parity: 'none', lock: false };
    socket.on('data', (data: Buffer) => {
      this.received.push(data);
    });
    const gone = (error?: Error) => {
      this.received.end(error ?? new Error('the console server closed the connection'));
    };
    socket.on('end', () => gone());
    socket.on('close', () => gone());
    socket.on('error', (error) => gone(error));
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    return this.received.read(buffer, offset, length, () => this.isOpen);
  }

  async write(buffer: Buffer): Promise<void> {
    if (this.received.ended) throw this.received.ended;
    await new Promise<void>((resolve, reject) =>
      this.socket.write(buffer, (error) => (error ? reject(error) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.isOpen = false;
    this.socket.destroy();
    this.received.wake();
  }

  async update(): Promise<void> {}
  async set(): Promise<void> {}
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
