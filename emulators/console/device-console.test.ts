import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, open, readlink, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleUnavailableError, ConsoleUsageError, DeviceConsole } from './index.ts';
import { socatMissing } from './socat.test-support.ts';
import { connectTcp as connectTcpClient } from './tcp-client.test-support.ts';

const consoles: DeviceConsole[] = [];
const ports: SerialPort[] = [];

afterEach(async () => {
  for (const port of ports.splice(0)) {
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
  for (const console of consoles.splice(0)) await console.stop();
});

function track(console: DeviceConsole): DeviceConsole {
  consoles.push(console);
  return console;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function openSerial(path: string): Promise<{ port: SerialPort; received: () => string }> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  ports.push(port);
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  const chunks: Buffer[] = [];
  port.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { port, received: () => Buffer.concat(chunks).toString('latin1') };
}

describe('DeviceConsole in memory', () => {
  it('cuts writes into lines, dropping CR/LF endings but keeping a lone CR inside a line', () => {
    const console = track(new DeviceConsole());
    console.write(
      '\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nload 0x4010f000, len 3460, room 16',
    );
    console.write('\r\ntail 4\r');
    console.write('\nchksum 0xcc\nhalf\rway\n');
    expect(console.lines().map((line) => line.text)).toEqual([
      '',
      ' ets Jan  8 2013,rst cause:2, boot mode:(3,6)',
      '',
      'load 0x4010f000, len 3460, room 16',
      'tail 4',
      'chksum 0xcc',
      'half\rway',
    ]);
  });

  it('holds a partial line back until its ending arrives', () => {
    const console = track(new DeviceConsole());
    console.write('I (31) boot: ESP-IDF v5.1');
    expect(console.lines()).toEqual([]);
    console.write(' 2nd stage bootloader\n');
    expect(console.lines().map((line) => line.text)).toEqual([
      'I (31) boot: ESP-IDF v5.1 2nd stage bootloader',
    ]);
  });

  it('ends line() with the configured line ending', () => {
    const crlf = track(new DeviceConsole());
    const lf = track(new DeviceConsole({ lineEnding: '\n' }));
    const seen: string[] = [];
    crlf.onLine((line) => seen.push(line.text));
    crlf.line('rst:0x1 (POWERON_RESET)');
    lf.line('rst:0x1 (POWERON_RESET)');
    expect(seen).toEqual(['rst:0x1 (POWERON_RESET)']);
    expect(lf.lines().map((line) => line.text)).toEqual(['rst:0x1 (POWERON_RESET)']);
  });

  it('stamps lines with the wall clock and tells listeners in order, until they unsubscribe', () => {
    const console = track(new DeviceConsole());
    const seen: string[] = [];
    const before = Date.now();
    const unsubscribe = console.onLine((line) => seen.push(line.text));
    console.line('one');
    console.line('two');
    unsubscribe();
    console.line('three');
    expect(seen).toEqual(['one', 'two']);
    const stamps = console.lines().map((line) => line.atMs);
    expect(stamps.every((atMs) => atMs >= before && atMs <= Date.now())).toBe(true);
    expect(console.lines()).toHaveLength(3);
  });

  it('keeps only the newest historyLimit lines', () => {
    const console = track(new DeviceConsole({ historyLimit: 3 }));
    for (let n = 1; n <= 10; n++) console.line(`line ${n}`);
    expect(console.lines().map((line) => line.text)).toEqual(['line 8', 'line 9', 'line 10']);
    const roomy = track(new DeviceConsole({ historyLimit: 20 }));
    for (let n = 1; n <= 10; n++) roomy.line(`line ${n}`);
    expect(roomy.lines()).toHaveLength(10);
  });

  it('keeps raw bytes one character per byte in the history', () => {
    const console = track(new DeviceConsole());
    console.write(Uint8Array.from([0x00, 0xe0, 0x8c, 0x0d, 0x0a]));
    expect(console.lines().map((line) => line.text)).toEqual(['\u0000\u00e0\u008c']);
  });

  it('rejects writes after stop, and a historyLimit that is not a positive integer', async () => {
    const console = track(new DeviceConsole());
    await console.start();
    console.line('before stop');
    await console.stop();
    expect(() => console.line('after stop')).toThrow(ConsoleUsageError);
    expect(() => new DeviceConsole({ historyLimit: 0 })).toThrow(ConsoleUsageError);
    expect(console.ptyPath).toBeUndefined();
  });
});

describe('DeviceConsole on a pseudo-terminal (socat)', () => {
  beforeEach((context) => {
    // The missing-socat test below runs everywhere: it is about socat being absent.
    if (socatMissing !== undefined && !context.task.name.includes('socat when it is missing'))
      context.skip(socatMissing);
  });

  it('serves a PTY that the serialport package opens; lines arrive in order with their CR/LF', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const path = console.ptyPath!;
    expect(await readlink(path)).toMatch(/^\/dev\/pts\/\d+$/);

    const { received } = await openSerial(path);
    await waitFor(() => console.readerAttached, 'socat to see the reader');
    console.write('\r\n\u0000 ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n');
    for (let n = 0; n < 200; n++) console.line(`I (${n}) ota: chunk ${n}`);
    const expected = `\r\n\u0000 ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n${Array.from(
      { length: 200 },
      (_, n) => `I (${n}) ota: chunk ${n}\r\n`,
    ).join('')}`;
    await waitFor(() => received().length >= expected.length, 'all console bytes at the serial port');
    expect(received()).toBe(expected);
    expect(console.droppedBytes).toBe(0);
  });

  it('passes bytes the serial driver sends to onInput, as a UART RX would', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const inputs: Buffer[] = [];
    console.onInput((data) => inputs.push(data));
    const { port } = await openSerial(console.ptyPath!);
    await waitFor(() => console.readerAttached, 'socat to see the reader');
    port.write(Buffer.from('ota http://127.0.0.1:8070/app.bin\r\n'));
    await waitFor(() => Buffer.concat(inputs).length >= 35, 'input at the console');
    expect(Buffer.concat(inputs).toString('latin1')).toBe('ota http://127.0.0.1:8070/app.bin\r\n');
  });

  it('works with plain fs streams on the PTY path, at a caller-chosen link', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'console-test-'));
    try {
      const link = join(directory, 'ttyEMU0');
      const console = track(new DeviceConsole({ mode: 'pty', ptyLink: link }));
      await console.start();
      expect(console.ptyPath).toBe(link);
      const inputs: Buffer[] = [];
      console.onInput((data) => inputs.push(data));

      const reader = createReadStream(link);
      // A read still pending when socat goes away ends with EIO, as on an unplugged adapter.
      reader.on('error', () => {});
      const chunks: Buffer[] = [];
      reader.on('data', (chunk) => chunks.push(chunk as Buffer));
      await new Promise((resolve) => reader.once('open', resolve));
      await waitFor(() => console.readerAttached, 'socat to see the reader');
      console.line('Loaded app from partition at offset 0x110000');
      await waitFor(
        () => Buffer.concat(chunks).toString().includes('\r\n'),
        'the line through an fs read stream',
      );
      expect(Buffer.concat(chunks).toString()).toBe('Loaded app from partition at offset 0x110000\r\n');

      const writer = createWriteStream(link);
      writer.on('error', () => {});
      writer.write('reset\n');
      await waitFor(() => Buffer.concat(inputs).toString() === 'reset\n', 'input through an fs write stream');
      writer.destroy();
      reader.destroy();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('loses output written while the port is closed, as a real board does, and keeps what follows', async () => {
    const console = track(new DeviceConsole({ mode: 'pty', unattachedHoldMs: 20 }));
    await console.start();
    console.line('printed before anyone opened the port');
    await new Promise((resolve) => setTimeout(resolve, 60));
    const { received } = await openSerial(console.ptyPath!);
    await waitFor(() => console.readerAttached, 'socat to see the reader');
    console.line('printed while the port is open');
    await waitFor(() => received().includes('open\r\n'), 'the live line');
    expect(received()).toBe('printed while the port is open\r\n');
    expect(console.droppedBytes).toBe('printed before anyone opened the port\r\n'.length);
    // The in-memory history is not a UART: it has everything.
    expect(console.lines().map((line) => line.text)).toEqual([
      'printed before anyone opened the port',
      'printed while the port is open',
    ]);
  });

  it('hands output written just before the open to the reader, so "open, then power on" loses nothing', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const port = new SerialPort({ path: console.ptyPath!, baudRate: 115200, autoOpen: false });
    ports.push(port);
    const chunks: Buffer[] = [];
    port.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    // No wait for socat to notice the reader: the emulator boots the moment power comes on.
    console.line('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    await waitFor(() => Buffer.concat(chunks).toString().endsWith('\r\n'), 'the boot line');
    expect(Buffer.concat(chunks).toString()).toBe(
      'rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n',
    );
  });

  it('never blocks on a reader that stops reading: output past the unread limit is dropped and counted', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const stalled = await open(console.ptyPath!, 'r');
    try {
      await waitFor(() => console.readerAttached, 'socat to see the reader');
      const line = `${'x'.repeat(1_022)}\r\n`;
      const started = performance.now();
      for (let n = 0; n < 2_048; n++) console.write(line);
      // 2 MiB into a reader that reads nothing: kernel buffers and the queue take a few hundred KiB.
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(console.droppedBytes).toBeGreaterThan(1024 * 1024);
      expect(console.lines()).toHaveLength(2_048);
    } finally {
      await stalled.close();
    }
  });

  it('serves the next reader at the same path after one closes the port', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const first = await openSerial(console.ptyPath!);
    await waitFor(() => console.readerAttached, 'the first reader');
    console.line('first session');
    await waitFor(() => first.received().includes('\r\n'), 'the first line');
    await new Promise<void>((resolve) => first.port.close(() => resolve()));
    await waitFor(() => !console.readerAttached, 'socat to see the close');
    await console.ptyReady();

    const second = await openSerial(console.ptyPath!);
    await waitFor(() => console.readerAttached, 'the second reader');
    console.line('second session');
    await waitFor(() => second.received().includes('\r\n'), 'the second line');
    expect(second.received()).toBe('second session\r\n');
    expect(first.received()).toBe('first session\r\n');
  });

  it('stop() kills socat and removes the link and its temp folder', async () => {
    const console = track(new DeviceConsole({ mode: 'pty' }));
    await console.start();
    const pid = console.ptyProcessId!;
    const path = console.ptyPath!;
    expect(processAlive(pid)).toBe(true);
    expect(existsSync(path)).toBe(true);
    await openSerial(path);
    await waitFor(() => console.readerAttached, 'the reader');
    await console.stop();
    expect(processAlive(pid)).toBe(false);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(path, '..'))).toBe(false);
    expect(console.ptyProcessId).toBeUndefined();
  });

  it('says to install socat when it is missing, and leaves no link behind', async () => {
    const console = track(new DeviceConsole({ mode: 'pty', socatCommand: '/nonexistent/socat' }));
    const failure = await console.start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConsoleUnavailableError);
    expect((failure as ConsoleUnavailableError).code).toBe('CONSOLE_PTY_UNAVAILABLE');
    expect((failure as Error).message).toMatch(/apt-get install socat/);
    expect(console.ptyPath).toBeUndefined();
  });
});

async function connectTcp(address: string) {
  const client = await connectTcpClient(address);
  sockets.push(client.socket);
  return client;
}

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

describe('DeviceConsole on a TCP port (no socat needed)', () => {
  it('serves tcp://host:port; lines arrive in order with their CR/LF, and what a client sends is RX', async () => {
    const console = track(new DeviceConsole({ mode: 'tcp' }));
    await console.start();
    expect(console.port).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(console.ptyPath).toBeUndefined();
    const inputs: Buffer[] = [];
    console.onInput((data) => inputs.push(data));
    const client = await connectTcp(console.port!);
    await waitFor(() => console.readerAttached, 'the server to see the client');
    console.write('\r\n\u0000 ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n');
    for (let n = 0; n < 200; n++) console.line(`I (${n}) ota: chunk ${n}`);
    const expected = `\r\n\u0000 ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n${Array.from(
      { length: 200 },
      (_, n) => `I (${n}) ota: chunk ${n}\r\n`,
    ).join('')}`;
    await waitFor(() => client.received().length >= expected.length, 'all console bytes at the client');
    expect(client.received()).toBe(expected);
    client.socket.write('ota http://127.0.0.1:8070/app.bin\r\n');
    await waitFor(() => Buffer.concat(inputs).length >= 35, 'input at the console');
    expect(Buffer.concat(inputs).toString('latin1')).toBe('ota http://127.0.0.1:8070/app.bin\r\n');
  });

  it('loses output printed while nobody is connected, as a board does, and serves the next client from then on', async () => {
    const console = track(new DeviceConsole({ mode: 'tcp' }));
    await console.start();
    console.line('printed before anyone connected');
    const first = await connectTcp(console.port!);
    await waitFor(() => console.readerAttached, 'the first client');
    console.line('first session');
    await waitFor(() => first.received().includes('\r\n'), 'the first line');
    first.socket.destroy();
    await waitFor(() => !console.readerAttached, 'the server to see the close');
    console.line('printed between sessions');
    const second = await connectTcp(console.port!);
    await waitFor(() => console.readerAttached, 'the second client');
    console.line('second session');
    await waitFor(() => second.received().includes('\r\n'), 'the second line');
    expect(first.received()).toBe('first session\r\n');
    expect(second.received()).toBe('second session\r\n');
    expect(console.lines().map((line) => line.text)).toEqual([
      'printed before anyone connected',
      'first session',
      'printed between sessions',
      'second session',
    ]);
  });

  it('never blocks on a client that stops reading: output past its queue limit is dropped and counted', async () => {
    const console = track(new DeviceConsole({ mode: 'tcp', historyLimit: 20_000 }));
    await console.start();
    const stalled = await connectTcp(console.port!);
    stalled.socket.pause();
    await waitFor(() => console.readerAttached, 'the stalled client');
    const line = `${'x'.repeat(1_022)}\r\n`;
    const started = performance.now();
    // 16 MiB into a client that reads nothing: loopback socket buffers take a few MiB (measured
    // 2–4 MiB on this machine), the 256 KiB queue a little more, and the rest is dropped.
    for (let n = 0; n < 16_384; n++) console.write(line);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(console.droppedBytes).toBeGreaterThan(8 * 1024 * 1024);
    expect(console.droppedBytes).toBeLessThan(16 * 1024 * 1024);
    expect(console.lines()).toHaveLength(16_384);
  });

  it('stop() closes its clients and its port', async () => {
    const console = track(new DeviceConsole({ mode: 'tcp' }));
    await console.start();
    const address = console.port!;
    const client = await connectTcp(address);
    await waitFor(() => console.readerAttached, 'the client');
    const closed = once(client.socket, 'close');
    await console.stop();
    await closed;
    const url = new URL(address);
    const refused = createConnection({ host: url.hostname, port: Number(url.port) });
    sockets.push(refused);
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });
});
