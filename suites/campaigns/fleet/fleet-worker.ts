/**
 * One worker process of a fleet: it runs its share of the emulated devices (each a full
 * emulator: flash, bootloader, firmware on real sockets) and tells the fleet when they are up.
 * Started by fleet.ts with `node --import bin/loaders.mjs`; messages over the IPC channel.
 */
import { type StartedEmulator, startEmulator } from '../../../emulators/index.ts';
import type { FleetDeviceSpec, WorkerMessage } from './fleet-messages.ts';

const started: StartedEmulator[] = [];
const send = (message: WorkerMessage) => process.send?.(message);

// A device whose firmware throws is a crashed device, reported by name; the others go on.
process.on('uncaughtException', (error) => send({ type: 'fault', error: error.stack ?? String(error) }));
process.on('unhandledRejection', (error) =>
  send({ type: 'fault', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
);

process.on('message', async (message: { type: 'start'; devices: FleetDeviceSpec[] } | { type: 'stop' }) => {
  if (message.type === 'stop') {
    await Promise.all(started.splice(0).map((emulator) => emulator.stop().catch(() => undefined)));
    send({ type: 'stopped', peakRssBytes: peakRss });
    process.exit(0);
  }
  for (const device of message.devices) {
    try {
      const emulator = await startEmulator(device.emulator);
      started.push(emulator);
      const name = emulator.name;
      if (device.observe) {
        // The httpUpdate example's result lines, and every boot's version: what a bench sees on a UART.
        emulator.device.console.onLine((line) => {
          if (/^HTTP_UPDATE_(FAILED|NO_UPDATES)/.test(line.text))
            send({ type: 'line', name, text: line.text });
        });
        emulator.device.onBoot((image) => send({ type: 'boot', name, version: image?.version }));
        send({ type: 'boot', name, version: emulator.device.running?.version });
      }
      send({ type: 'started', name });
    } catch (error) {
      send({ type: 'not-started', name: device.emulator.name ?? '', error: (error as Error).message });
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
});

let peakRss = process.memoryUsage().rss;
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 500).unref();
send({ type: 'ready' });
