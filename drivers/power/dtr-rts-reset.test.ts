import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { DtrRtsReset, type ModemLineState, PowerTimeoutError, type ResetBinding } from './index.ts';

// @serialport/binding-mock, reached through serialport's re-export: the package's own `exports`
// map carries no types for an ESM import.
const MockBinding = SerialPortMock.binding;

interface LineChange extends ModemLineState {
  atMs: number;
}

/** MockBinding with every set() call recorded, since a PTY has no modem lines to observe. */
function recordingBinding(changes: LineChange[]): ResetBinding {
  return {
    list: () => MockBinding.list(),
    open: async (options: never) => {
      const port = await MockBinding.open(options);
      const set = port.set.bind(port);
      port.set = async (flags: { dtr?: boolean; rts?: boolean }) => {
        changes.push({ dtr: flags.dtr ?? true, rts: flags.rts ?? true, atMs: performance.now() });
        await set(flags);
      };
      return port;
    },
  };
}

afterEach(() => {
  MockBinding.reset();
});

describe('DtrRtsReset (binding-mock: a PTY has no modem lines)', () => {
  it('pulses EN through RTS for 100 ms while DTR keeps IO0 high, as esptool hard-resets into the app', async () => {
    MockBinding.createPort('/dev/ttyMOCK0', { echo: false, record: false });
    const changes: LineChange[] = [];
    const reset = new DtrRtsReset({
      targetName: 'bench-esp32-1',
      path: '/dev/ttyMOCK0',
      binding: recordingBinding(changes),
    });
    expect([...reset.capabilities]).toEqual(['reset']);
    await reset.reset();
    expect(changes.map(({ dtr, rts }) => ({ dtr, rts }))).toEqual([
      { dtr: false, rts: true },
      { dtr: false, rts: false },
    ]);
    const heldMs = changes[1]!.atMs - changes[0]!.atMs;
    expect(heldMs).toBeGreaterThanOrEqual(99);
    expect(heldMs).toBeLessThan(600);
  });

  it('holds EN low 200 ms and waits 200 ms after for a chip on its USB-Serial/JTAG port', async () => {
    MockBinding.createPort('/dev/ttyMOCK1', { echo: false, record: false });
    const changes: LineChange[] = [];
    const reset = new DtrRtsReset({
      targetName: 'bench-esp32c3',
      path: '/dev/ttyMOCK1',
      binding: recordingBinding(changes),
      usbJtagSerial: true,
    });
    const startedAt = performance.now();
    await reset.reset();
    expect(changes.map(({ dtr, rts }) => ({ dtr, rts }))).toEqual([
      { dtr: false, rts: true },
      { dtr: false, rts: false },
    ]);
    expect(changes[1]!.atMs - changes[0]!.atMs).toBeGreaterThanOrEqual(199);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(399);
  });

  it('drives the lines of a port someone else holds open (the serial console)', async () => {
    const changes: ModemLineState[] = [];
    const reset = new DtrRtsReset({
      targetName: 'bench-esp32-1',
      lines: { setModemLines: async (lines) => void changes.push(lines) },
    });
    await reset.reset();
    expect(changes).toEqual([
      { dtr: false, rts: true },
      { dtr: false, rts: false },
    ]);
  });

  it('a port that does not exist fails naming target and step; a line change that hangs times out', async () => {
    const missing = new DtrRtsReset({
      targetName: 'bench-esp32-1',
      path: '/dev/ttyMOCK-missing',
      binding: recordingBinding([]),
    });
    await expect(missing.reset()).rejects.toThrow(
      /target 'bench-esp32-1': step 'open \/dev\/ttyMOCK-missing for reset' failed/,
    );

    const hanging = new DtrRtsReset({
      targetName: 'bench-esp32-1',
      timeoutMs: 100,
      path: '/dev/ttyMOCK2',
      binding: {
        list: () => MockBinding.list(),
        open: async (options: never) => {
          const port = await MockBinding.open(options);
          port.set = () => new Promise<void>(() => {});
          return port;
        },
      },
    });
    MockBinding.createPort('/dev/ttyMOCK2', { echo: false, record: false });
    const startedAt = Date.now();
    const error = (await hanging.reset().catch((caught: unknown) => caught)) as PowerTimeoutError;
    expect(error).toBeInstanceOf(PowerTimeoutError);
    expect(error.message).toContain("target 'bench-esp32-1'");
    expect(error.message).toContain('EN low');
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });
});
