import { describe, expect, it } from 'vitest';
import { crashOwners, EmulatorSupervisor } from './emulator-supervisor.ts';

const hosted = [
  { name: 'arduino-ota', firmware: 'arduino-ota' },
  { name: 'mqtt-trigger', firmware: 'mqtt-trigger' },
  { name: 'mqtt-tasmota', firmware: 'mqtt-trigger' },
];

/** The stack the port-99999 invitation produced before the fix (paths as in this repository). */
const BAD_PORT_STACK = `RangeError [ERR_SOCKET_BAD_PORT]: Port should be >= 0 and < 65536. Received type number (99999).
    at lookupAndConnect (node:net:1275:5)
    at Socket.connect (node:net:1247:5)
    at Module.connect (node:net:237:17)
    at Function.connect (/work/ota/emulators/firmware/arduino-ota/device-tcp-client.ts:42:20)
    at ArduinoOtaService.runEsp8266Update (/work/ota/emulators/firmware/arduino-ota/arduino-ota-service.ts:212:44)
    at /work/ota/emulators/device/emulated-device.ts:300:9`;

describe('crashOwners', () => {
  it('names the emulators running the firmware of the innermost firmware frame', () => {
    expect(crashOwners(BAD_PORT_STACK, hosted)).toEqual(['arduino-ota']);
    const shared =
      'Error: x\n    at f (/p/emulators/firmware/mqtt-trigger/device-mqtt.ts:1:1)\n    at g (/p/emulators/firmware/arduino-ota/a.ts:1:1)';
    expect(crashOwners(shared, hosted)).toEqual(['mqtt-trigger', 'mqtt-tasmota']);
  });

  it('names nobody for a stack without firmware frames', () => {
    expect(crashOwners('Error: x\n    at f (/p/emulators/flash/nor-flash.ts:1:1)', hosted)).toEqual([]);
  });
});

describe('EmulatorSupervisor', () => {
  it('reports a rejection from firmware code for its emulator and restarts it; a foreign one goes to onUnowned', async () => {
    const crashes: string[] = [];
    const unowned: string[] = [];
    const restarted: string[] = [];
    const supervisor = new EmulatorSupervisor(
      (name) => crashes.push(name),
      (stack) => unowned.push(stack),
    );
    // vitest's own rejection listener would fail this test: take it off while we look.
    const others = process.listeners('unhandledRejection');
    for (const listener of others) process.off('unhandledRejection', listener);
    try {
      for (const entry of hosted)
        supervisor.watch({ ...entry, restart: async () => void restarted.push(entry.name) });
      const firmwareError = new RangeError('Port should be >= 0 and < 65536');
      firmwareError.stack = BAD_PORT_STACK;
      void Promise.reject(firmwareError);
      void Promise.reject(new Error('not from any firmware'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(crashes).toEqual(['arduino-ota']);
      expect(restarted).toEqual(['arduino-ota']);
      expect(unowned).toHaveLength(1);
      expect(unowned[0]).toContain('not from any firmware');
    } finally {
      supervisor.dispose();
      for (const listener of others) process.on('unhandledRejection', listener);
    }
  });
});
