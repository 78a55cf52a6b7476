import mqtt from 'mqtt';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  checkContainerRuntime,
  startEmulatorContainer,
  startMosquittoContainer,
} from './container-launcher.ts';

const runtime = await checkContainerRuntime();

describe('container driver', () => {
  it('starts the emulator image and reaches it through its mapped ports', async (context) => {
    // Without a container engine (as on this project's CI machines) the runtime's own error is the reason.
    if (!runtime.available) return context.skip(`no container runtime: ${runtime.reason}`);
    const emulator = await startEmulatorContainer({
      profile: 'viperhttp',
      options: { token: 'container-token' },
    });
    try {
      const status = await request(`${emulator.url}/ota/status`, {
        headers: { 'X-OTA-Token': 'container-token' },
      });
      expect(status.statusCode).toBe(200);
      await status.body.dump();
      const power = await request(`${emulator.control}/cm?cmnd=Power`);
      expect(await power.body.json()).toEqual({ POWER: 'ON' });
    } finally {
      await emulator.stop();
    }
  }, 600_000);

  it('starts a Mosquitto container that accepts an MQTT client', async (context) => {
    if (!runtime.available) return context.skip(`no container runtime: ${runtime.reason}`);
    const broker = await startMosquittoContainer();
    try {
      const client = await mqtt.connectAsync(broker.url);
      await client.endAsync();
    } finally {
      await broker.stop();
    }
  }, 600_000);
});
