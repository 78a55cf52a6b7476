import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DtrRtsReset } from '../power/index.ts';
import { SerialConsole } from './index.ts';
import { Rfc2217Error, Rfc2217SerialBinding } from './rfc2217-binding.ts';

/*
 * The RFC 2217 client against pyserial's own server (the reference implementation the numbers
 * come from: serial/rfc2217.py PortManager), serving a loop:// port. Needs python3 with pyserial
 * (Debian: python3-serial); skipped with that reason where it is missing.
 */

const SERVER = fileURLToPath(new URL('./rfc2217-server.test-support.py', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find(
  (candidate) => spawnSync(candidate, ['-c', 'import serial.rfc2217'], { stdio: 'ignore' }).status === 0,
);
const pyserialMissing =
  python === undefined
    ? 'python3 with pyserial is not installed (apt-get install python3-serial)'
    : undefined;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts pyserial's RFC 2217 server; its later stdout lines are the loop port's settings. */
async function pyserialServer(): Promise<{ url: string; states: string[] }> {
  const child: ChildProcess = spawn(python!, [SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    child.kill();
  });
  const lines = createInterface({ input: child.stdout! });
  const states: string[] = [];
  const port = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.on('line', (line) => states.push(line));
  return { url: `rfc2217://127.0.0.1:${port}`, states };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('rfc2217:// consoles (against pyserial’s RFC 2217 server)', () => {
  it('sets the baud rate on the far port, and passes 0xFF bytes both ways (escaped as FF FF)', async (context) => {
    if (pyserialMissing) return context.skip(pyserialMissing);
    const server = await pyserialServer();
    const console = await SerialConsole.open({
      path: server.url,
      baudRate: 115_200,
      targetName: 'bench-remote',
      encoding: 'latin1',
    });
    cleanups.push(() => console.close());
    await waitFor(
      () => server.states.some((state) => state.startsWith('baud=115200')),
      'the far port at 115200',
    );
    // loop:// sends back what it is sent: the line comes back through the console.
    await console.write(Buffer.from('ota \u00ff\u00ff progress \u00ff\n', 'latin1'));
    const line = await console.expect(/progress/, { timeoutMs: 5_000, step: 'echo through the loop port' });
    expect(line.line.text).toBe('ota \u00ff\u00ff progress \u00ff');
  });

  it('pulses DTR/RTS with SET_CONTROL, so a dtr-rts reset works over the network', async (context) => {
    if (pyserialMissing) return context.skip(pyserialMissing);
    const server = await pyserialServer();
    const reset = new DtrRtsReset({ targetName: 'bench-remote', path: server.url });
    await reset.reset();
    // EN low (RTS on, DTR off), then EN high (both off): the far port saw each state.
    await waitFor(() => server.states.includes('baud=115200 dtr=False rts=False'), 'both lines off');
    expect(server.states).toContain('baud=115200 dtr=False rts=True');
  });

  it('a server that does not speak RFC 2217 is refused within its 3 s negotiation time, naming the port', async () => {
    const accepted: Socket[] = [];
    const silent: Server = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of accepted) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { port } = silent.address() as { port: number };
    const path = `rfc2217://127.0.0.1:${port}`;
    const startedAt = Date.now();
    const error = await Rfc2217SerialBinding.open({ path, baudRate: 115_200 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Rfc2217Error);
    expect((error as Error).message).toBe(
      `${path}: the server did not accept COM-PORT-OPTION (44) within 3000 ms: not an RFC 2217 server`,
    );
    expect(Date.now() - startedAt).toBeLessThan(4_000);
  });

  it('a raw TCP port (socket://) cannot pulse DTR/RTS: the reset says so instead of doing nothing', async () => {
    const reset = new DtrRtsReset({ targetName: 'bench-remote', path: 'socket://127.0.0.1:9' });
    await expect(reset.reset()).rejects.toThrow(/raw TCP serial port: it carries no DTR\/RTS/);
  });
});
