import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import type { BoardTarget, Resolved } from '../../rigs/index.ts';
import { BoardIdentityError, resolveBoardPort } from './identify-port.ts';

// @serialport/binding-mock, through serialport's re-export (the package's own `exports` has no
// types): its list() is the port list a machine with these adapters shows
// (serial numbers "1", "2", … in creation order).
const MockBinding = SerialPortMock.binding;
afterEach(() => MockBinding.reset());

function board(overrides: Partial<Resolved<BoardTarget>>): Resolved<BoardTarget> {
  return {
    name: 'bench-esp32',
    kind: 'board',
    profile: 'viperhttp',
    capabilities: ['console', 'reset'],
    url: 'http://192.168.1.70',
    console: { port: 'auto', baudRate: 115200, reopen: true },
    reset: { type: 'dtr-rts', port: 'auto' },
    ...overrides,
  } as Resolved<BoardTarget>;
}

const list = () => MockBinding.list();

describe('board identity picks the serial port', () => {
  it('console.port "auto" becomes the port with the rig’s USB serial number (and reset follows)', async () => {
    MockBinding.createPort('/dev/ttyUSB0', { vendorId: '10C4', productId: 'EA60' });
    MockBinding.createPort('/dev/ttyUSB1', { vendorId: '1A86', productId: '7523' });
    const resolved = await resolveBoardPort(board({ identity: { usbSerialNumber: '2' } }), list);
    expect(resolved.console?.port).toBe('/dev/ttyUSB1');
    expect(resolved.reset).toEqual({ type: 'dtr-rts', port: '/dev/ttyUSB1' });
  });

  it('and the port with the rig’s VID:PID, in either hex case', async () => {
    MockBinding.createPort('/dev/ttyUSB0', { vendorId: '10C4', productId: 'EA60' });
    MockBinding.createPort('/dev/ttyACM0', { vendorId: '303A', productId: '1001' });
    const resolved = await resolveBoardPort(board({ identity: { usbVidPid: '303a:1001' } }), list);
    expect(resolved.console?.port).toBe('/dev/ttyACM0');
  });

  it('a board that is not plugged in is an error listing the ports present', async () => {
    MockBinding.createPort('/dev/ttyUSB0', {
      vendorId: '10C4',
      productId: 'EA60',
      manufacturer: 'Silicon Labs',
    });
    const error = (await resolveBoardPort(board({ identity: { usbSerialNumber: '0001A2B3' } }), list).catch(
      (caught: unknown) => caught,
    )) as BoardIdentityError;
    expect(error).toBeInstanceOf(BoardIdentityError);
    expect(error.code).toBe('TARGET_SETUP');
    expect(error.message).toBe(
      'target bench-esp32: no serial port has identity usbSerialNumber 0001A2B3; ports present: /dev/ttyUSB0 (serial 1, 10c4:ea60, Silicon Labs)',
    );
    MockBinding.reset();
    await expect(resolveBoardPort(board({ identity: { usbSerialNumber: 'X' } }), list)).rejects.toThrow(
      /no serial ports are present/,
    );
  });

  it('two boards of the same model are ambiguous by VID:PID alone: an error naming both', async () => {
    MockBinding.createPort('/dev/ttyUSB0', { vendorId: '10C4', productId: 'EA60' });
    MockBinding.createPort('/dev/ttyUSB1', { vendorId: '10C4', productId: 'EA60' });
    await expect(resolveBoardPort(board({ identity: { usbVidPid: '10c4:ea60' } }), list)).rejects.toThrow(
      /2 serial ports match identity usbVidPid 10c4:ea60 \(\/dev\/ttyUSB0 .*; \/dev\/ttyUSB1 .*\); name the board more precisely/,
    );
    const resolved = await resolveBoardPort(
      board({ identity: { usbVidPid: '10c4:ea60', usbSerialNumber: '2' } }),
      list,
    );
    expect(resolved.console?.port).toBe('/dev/ttyUSB1');
  });

  it('an explicit port is checked: the right board passes, another board there is an error', async () => {
    MockBinding.createPort('/dev/ttyUSB0', { vendorId: '10C4', productId: 'EA60' });
    const explicit = (serial: string) =>
      board({
        identity: { usbSerialNumber: serial },
        console: { port: '/dev/ttyUSB0', baudRate: 115200, reopen: true },
        reset: { type: 'dtr-rts', port: '/dev/ttyUSB0' },
      });
    expect((await resolveBoardPort(explicit('1'), list)).console?.port).toBe('/dev/ttyUSB0');
    await expect(resolveBoardPort(explicit('9'), list)).rejects.toThrow(
      'target bench-esp32: console.port /dev/ttyUSB0 is /dev/ttyUSB0 (serial 1, 10c4:ea60, The J5 Robotics Company), not the board identity names (usbSerialNumber 9)',
    );
  });

  it('a USB location the platform’s list does not give is refused, naming the field', async () => {
    MockBinding.createPort('/dev/ttyUSB0', {});
    await expect(resolveBoardPort(board({ identity: { usbLocation: '1-1.4' } }), list)).rejects.toThrow(
      /identity\.usbLocation: this platform's serial port list gives no USB location/,
    );
  });

  it('without a USB identity the rig’s port is used as written', async () => {
    const target = board({
      identity: { mac: '24:0a:c4:12:34:56' },
      console: { port: '/dev/ttyUSB3', baudRate: 115200, reopen: true },
    });
    expect(await resolveBoardPort(target, list)).toBe(target);
  });
});
