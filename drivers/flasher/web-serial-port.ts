import { connect, type Socket } from 'node:net';
import type { SerialPort as NodeSerialPort } from 'serialport';
import { isTcpSerialPath } from '../serial/tcp-serial-binding.ts';
import { FlasherPortError } from './errors.ts';

/** DTR/RTS as the host sets them; true = asserted. */
export interface ModemLineState {
  dtr: boolean;
  rts: boolean;
}

/** Where DTR/RTS go when the port itself cannot carry them (raw TCP: reference §8.1, T11). */
export interface ModemLineSink {
  set(lines: ModemLineState): Promise<void>;
}

/**
 * The part of the Web Serial `SerialPort` that esptool-js's Transport uses (reference
 * esp-serial-flasher.md §7.2: open, close, readable, writable, setSignals, getInfo and the
 * optional setBaudRate), over a node-serialport device or a TCP connection (`socket://host:port`
 * as pyserial spells it, or this project's `tcp://host:port`). esptool-js has no Node transport
 * of its own (issue #117, §7.5), and passing a node-serialport object directly fails (#113).
 */
export class WebSerialPort {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  private socket: Socket | undefined;
  private serial: NodeSerialPort | undefined;
  private lines: ModemLineState = { dtr: false, rts: false };

  constructor(
    readonly path: string,
    private readonly options: {
      lineSink?: ModemLineSink;
      usb?: { vendorId?: number; productId?: number };
    } = {},
  ) {}

  get isNetwork(): boolean {
    return isNetworkPort(this.path);
  }

  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    const usb = this.options.usb;
    return {
      ...(usb?.vendorId === undefined ? {} : { usbVendorId: usb.vendorId }),
      ...(usb?.productId === undefined ? {} : { usbProductId: usb.productId }),
    };
  }

  async open(settings: { baudRate: number }): Promise<void> {
    if (this.isNetwork) await this.openSocket();
    else await this.openSerial(settings.baudRate);
  }

  /**
   * Both lines every time: node-serialport's set() asserts the lines it is not given (T10), and
   * esptool-js passes only the ones it changes.
   */
  async setSignals(signals: { dataTerminalReady?: boolean; requestToSend?: boolean }): Promise<void> {
    if (signals.dataTerminalReady !== undefined) this.lines.dtr = signals.dataTerminalReady;
    if (signals.requestToSend !== undefined) this.lines.rts = signals.requestToSend;
    const lines = { ...this.lines };
    if (this.options.lineSink !== undefined) {
      await this.options.lineSink.set(lines);
      return;
    }
    const serial = this.serial;
    if (serial === undefined) return;
    await new Promise<void>((resolve, reject) =>
      serial.set({ dtr: lines.dtr, rts: lines.rts }, (error) => (error ? reject(error) : resolve())),
    );
  }

  async setBaudRate(baudRate: number): Promise<void> {
    const serial = this.serial;
    if (serial === undefined) return; // raw TCP carries no baud rate (reference §8.1)
    await new Promise<void>((resolve, reject) =>
      serial.update({ baudRate }, (error) => (error ? reject(error) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.readable = null;
    this.writable = null;
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    const serial = this.serial;
    this.serial = undefined;
    if (serial?.isOpen) await new Promise<void>((resolve) => serial.close(() => resolve()));
  }

  private async openSocket(): Promise<void> {
    const url = new URL(this.path);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (error) =>
        reject(
          new FlasherPortError(`cannot open ${this.path}: ${(error as Error).message}`, { cause: error }),
        ),
      );
    });
    this.socket = socket;
    this.readable = new ReadableStream<Uint8Array>({
      start(controller) {
        socket.on('data', (data: Buffer) => controller.enqueue(new Uint8Array(data)));
        const end = () => {
          try {
            controller.close();
          } catch {
            // already closed or cancelled
          }
        };
        socket.on('end', end);
        socket.on('close', end);
        socket.on('error', () => end());
      },
      cancel() {
        socket.pause();
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write(chunk) {
        return new Promise<void>((resolve, reject) =>
          socket.write(chunk, (error) => (error ? reject(error) : resolve())),
        );
      },
    });
  }

  private async openSerial(baudRate: number): Promise<void> {
    const { SerialPort } = await import('serialport');
    const serial = new SerialPort({ path: this.path, baudRate, autoOpen: false, hupcl: false });
    await new Promise<void>((resolve, reject) =>
      serial.open((error) => {
        if (!error) return resolve();
        reject(error);
      }),
    ).catch(async (error: Error) => {
      const present = await listPortPaths();
      throw new FlasherPortError(
        `cannot open ${this.path}: ${error.message}; ports present: ${present.length === 0 ? 'none' : present.join(', ')}`,
        { cause: error },
      );
    });
    this.serial = serial;
    this.readable = new ReadableStream<Uint8Array>({
      start(controller) {
        serial.on('data', (data: Buffer) => controller.enqueue(new Uint8Array(data)));
        serial.on('close', () => {
          try {
            controller.close();
          } catch {
            // already closed
          }
        });
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write(chunk) {
        return new Promise<void>((resolve, reject) =>
          serial.write(Buffer.from(chunk), (error) => (error ? reject(error) : resolve())),
        );
      },
    });
  }
}

export function isNetworkPort(path: string): boolean {
  return isTcpSerialPath(path);
}

async function listPortPaths(): Promise<string[]> {
  try {
    const { SerialPort } = await import('serialport');
    return (await SerialPort.list()).map((port) => port.path);
  } catch {
    return [];
  }
}
