import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { esp32RomLines } from '../../emulators/boot/index.ts';
import { DeviceConsole } from '../../emulators/console/index.ts';
import {
  type PowerControllable,
  type StartedControlPlane,
  startControlPlane,
} from '../../emulators/control-plane/index.ts';
import { SerialConsole } from '../serial/index.ts';
import {
  EmulatorControlPower,
  type PowerDriver,
  PowerRequestError,
  PowerStateError,
  PowerTimeoutError,
  ShellyGen1Power,
  ShellyGen2Power,
  TasmotaPower,
} from './index.ts';

/** A device whose power the control plane switches; it remembers what happened and when. */
class RecordingDevice implements PowerControllable {
  powered = true;
  readonly transitions: Array<{ on: boolean; atMs: number }> = [];
  armedCut: number | undefined;
  constructor(private readonly onPowerOn: () => void = () => {}) {}
  async powerOn(): Promise<void> {
    this.powered = true;
    this.transitions.push({ on: true, atMs: Date.now() });
    this.onPowerOn();
  }
  async powerOff(): Promise<void> {
    this.powered = false;
    this.transitions.push({ on: false, atMs: Date.now() });
  }
  cutPowerAfterBytes(bytes: number): void {
    this.armedCut = bytes;
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function controlPlane(device: PowerControllable, token?: string): Promise<StartedControlPlane> {
  const started = await startControlPlane(device, token === undefined ? {} : { token });
  cleanups.push(() => started.stop());
  return started;
}

const SECRET = 'plug-p@ss w0rd';

describe('EmulatorControlPower against the real control plane over loopback', () => {
  it('switches off and on, cycles with the asked off time, arms a byte-exact cut', async () => {
    const device = new RecordingDevice();
    const plane = await controlPlane(device, SECRET);
    const power = new EmulatorControlPower({ targetName: 'emu-esp32', url: plane.url, token: SECRET });
    expect([...power.capabilities].sort()).toEqual(['power-cut-at-byte', 'power-cycle']);

    await power.off();
    expect(device.powered).toBe(false);
    await power.on();
    expect(device.powered).toBe(true);

    device.transitions.length = 0;
    await power.cycle(80);
    const [off, on] = device.transitions;
    expect(off?.on).toBe(false);
    expect(on?.on).toBe(true);
    expect(on!.atMs - off!.atMs).toBeGreaterThanOrEqual(75);

    await power.cutAfterBytes(4_097);
    expect(device.armedCut).toBe(4_097);
  });

  it('a refused cut (device off) is an error naming target and step; armed when on', async () => {
    const device = new RecordingDevice();
    device.powered = false;
    const plane = await controlPlane(device);
    const power = new EmulatorControlPower({ targetName: 'emu-esp32', url: plane.url });
    const error = (await power.cutAfterBytes(10).catch((caught: unknown) => caught)) as PowerRequestError;
    expect(error).toBeInstanceOf(PowerRequestError);
    expect(error.status).toBe(409);
    expect(error.message).toContain("target 'emu-esp32'");
    expect(error.message).toContain("step 'arm a power cut after 10 bytes'");
    expect(device.armedCut).toBeUndefined();
    await power.on();
    await power.cutAfterBytes(10);
    expect(device.armedCut).toBe(10);
  });

  it('a wrong token is refused with 401 and neither token appears in the error', async () => {
    const plane = await controlPlane(new RecordingDevice(), SECRET);
    const power = new EmulatorControlPower({
      targetName: 'emu-esp32',
      url: plane.url,
      token: 'wrong-token-xyz',
    });
    const error = (await power.off().catch((caught: unknown) => caught)) as PowerRequestError;
    expect(error.status).toBe(401);
    expect(error.message).not.toContain('wrong-token-xyz');
    expect(error.message).not.toContain(SECRET);
  });

  it('a power cycle through the control plane shows up as a fresh boot on the serial console (TCP console, as the run reaches emulators)', async () => {
    const uart = new DeviceConsole({ mode: 'tcp' });
    await uart.start();
    cleanups.push(() => uart.stop());
    const device = new RecordingDevice(() => {
      for (const line of esp32RomLines('POWERON_RESET')) uart.line(line);
      uart.line('I (61) boot: Loaded app from partition at offset 0x10000');
    });
    const plane = await controlPlane(device);
    const console = await SerialConsole.open({
      path: uart.port!,
      baudRate: 115_200,
      targetName: 'emu-esp32',
    });
    cleanups.push(() => console.close());
    // Like ser2net, the console serves a client from the moment the server has it.
    for (let attempt = 0; attempt < 200 && !uart.readerAttached; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const power = new EmulatorControlPower({ targetName: 'emu-esp32', url: plane.url });
    await power.cycle(20);
    await console.expect('rst:0x1 (POWERON_RESET)', { timeoutMs: 2_000, step: 'power-on reset line' });
    await console.expect(/Loaded app from partition at offset/, { timeoutMs: 2_000, step: 'app loaded' });
    expect(console.boot.current).toMatchObject({ resetReason: 'POWERON_RESET', partitionOffset: 0x10000 });
  });
});

describe('smart plugs against the control plane’s Tasmota and Shelly routes', () => {
  const plugs: Array<[string, (url: string, password?: string) => PowerDriver]> = [
    [
      'Tasmota',
      (url, password) => new TasmotaPower({ targetName: 'plug-1', url, ...(password ? { password } : {}) }),
    ],
    [
      'Shelly Gen1',
      (url, password) =>
        new ShellyGen1Power({ targetName: 'plug-1', url, ...(password ? { password } : {}) }),
    ],
    [
      'Shelly Gen2',
      (url, password) =>
        new ShellyGen2Power({ targetName: 'plug-1', url, ...(password ? { password } : {}) }),
    ],
  ];

  for (const [name, make] of plugs) {
    it(`${name}: off, on and cycle switch the device, with auth`, async () => {
      const device = new RecordingDevice();
      const plane = await controlPlane(device, SECRET);
      const plug = make(plane.url, SECRET);
      expect([...plug.capabilities]).toEqual(['power-cycle']);
      await plug.off();
      expect(device.powered).toBe(false);
      await plug.on();
      expect(device.powered).toBe(true);
      device.transitions.length = 0;
      await plug.cycle(60);
      expect(device.transitions.map((transition) => transition.on)).toEqual([false, true]);
      expect(device.transitions[1]!.atMs - device.transitions[0]!.atMs).toBeGreaterThanOrEqual(55);
    });

    it(`${name}: a wrong password fails with 401, and the password never appears in the message`, async () => {
      const device = new RecordingDevice();
      const plane = await controlPlane(device, SECRET);
      const plug = make(plane.url, 'not-the-p@ss word');
      const error = (await plug.off().catch((caught: unknown) => caught)) as PowerRequestError;
      expect(error).toBeInstanceOf(PowerRequestError);
      expect(error.status).toBe(401);
      expect(error.message).toContain("target 'plug-1'");
      expect(error.message).toContain("step 'power off'");
      expect(error.message).not.toContain('not-the-p@ss');
      expect(error.message).not.toContain(encodeURIComponent('not-the-p@ss word'));
      expect(device.powered).toBe(true);
    });
  }
});

/** A plug that answers 200 but reports the wrong state (a stuck relay, a wrong relay number). */
async function stuckPlug(): Promise<string> {
  const server: HttpServer = createHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://plug');
    const body =
      url.pathname === '/cm'
        ? { POWER: 'OFF' }
        : url.pathname === '/relay/0'
          ? { ison: false }
          : url.pathname === '/rpc/Switch.Set'
            ? { was_on: false }
            : { id: 0, output: false };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

/** A loopback server that accepts connections and never says anything. */
async function silentServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

/** A loopback port nobody listens on. */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

describe('a dead or lying switch fails within the timeout, naming target and step', () => {
  const drivers: Array<[string, (url: string) => PowerDriver]> = [
    ['EmulatorControlPower', (url) => new EmulatorControlPower({ targetName: 'rig-a', url, timeoutMs: 300 })],
    [
      'TasmotaPower',
      (url) => new TasmotaPower({ targetName: 'rig-a', url, timeoutMs: 300, password: SECRET }),
    ],
    ['ShellyGen1Power', (url) => new ShellyGen1Power({ targetName: 'rig-a', url, timeoutMs: 300 })],
    ['ShellyGen2Power', (url) => new ShellyGen2Power({ targetName: 'rig-a', url, timeoutMs: 300 })],
  ];

  for (const [name, make] of drivers) {
    it(`${name}: a server that accepts and never answers → PowerTimeoutError at 300 ms`, async () => {
      const driver = make(await silentServer());
      const startedAt = Date.now();
      const error = (await driver.on().catch((caught: unknown) => caught)) as PowerTimeoutError;
      const elapsedMs = Date.now() - startedAt;
      expect(error).toBeInstanceOf(PowerTimeoutError);
      expect(error.code).toBe('POWER_TIMEOUT');
      expect(error.message).toContain("target 'rig-a'");
      expect(error.message).toContain("step 'power on'");
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(encodeURIComponent(SECRET));
      expect(elapsedMs).toBeGreaterThanOrEqual(280);
      expect(elapsedMs).toBeLessThan(2_500);
    });

    it(`${name}: a port nobody listens on → PowerRequestError at once`, async () => {
      const driver = make(await refusedUrl());
      const startedAt = Date.now();
      const error = (await driver.off().catch((caught: unknown) => caught)) as PowerRequestError;
      expect(error).toBeInstanceOf(PowerRequestError);
      expect(error.code).toBe('POWER_REQUEST_FAILED');
      expect(error.message).toContain("target 'rig-a'");
      expect(error.message).toContain("step 'power off'");
      expect(error.message).toContain('ECONNREFUSED');
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    });
  }

  for (const [name, make] of drivers.slice(1)) {
    it(`${name}: an answer that does not say the new state → PowerStateError`, async () => {
      const driver = make(await stuckPlug());
      const error = (await driver.on().catch((caught: unknown) => caught)) as PowerStateError;
      expect(error).toBeInstanceOf(PowerStateError);
      expect(error.code).toBe('POWER_STATE_MISMATCH');
      expect(error.message).toContain("target 'rig-a'");
      expect(error.message).toContain("step 'power on");
      // The same plug's off is consistent with what it reports, so it passes.
      await driver.off();
    });
  }
});

/**
 * A multi-relay plug (mock: no three-relay Tasmota or Shelly exists here) that keeps one state per
 * relay and records every request, so a test can see which relay each command named.
 */
async function multiRelayPlug(): Promise<{ url: string; requests: string[]; states: Map<string, boolean> }> {
  const requests: string[] = [];
  const states = new Map<string, boolean>();
  const server: HttpServer = createHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://plug');
    requests.push(`${url.pathname}?${url.searchParams}`);
    let body: unknown;
    // `Power<n>` alone and `/relay/<n>` without `turn` read the relay, as the devices do.
    const tasmota = /^Power(\d*)(?: (On|Off))?$/.exec(url.searchParams.get('cmnd') ?? '');
    const gen1 = /^\/relay\/(\d+)$/.exec(url.pathname);
    if (url.pathname === '/cm' && tasmota) {
      const relay = tasmota[1] || '1';
      if (tasmota[2]) states.set(`tasmota:${relay}`, tasmota[2] === 'On');
      body = { [`POWER${relay}`]: (states.get(`tasmota:${relay}`) ?? true) ? 'ON' : 'OFF' };
    } else if (gen1) {
      const turn = url.searchParams.get('turn');
      if (turn !== null) states.set(`gen1:${gen1[1]}`, turn === 'on');
      body = { ison: states.get(`gen1:${gen1[1]}`) ?? true };
    } else if (url.pathname === '/rpc/Switch.Set') {
      const id = url.searchParams.get('id')!;
      const was = states.get(`gen2:${id}`) ?? true;
      states.set(`gen2:${id}`, url.searchParams.get('on') === 'true');
      body = { was_on: was };
    } else if (url.pathname === '/rpc/Switch.GetStatus') {
      const id = url.searchParams.get('id')!;
      body = { id: Number(id), output: states.get(`gen2:${id}`) ?? true };
    }
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body ?? { error: 'no such route' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${address.port}`, requests, states };
}

describe('rig power fields reach the plug: relay/channel numbers and the off time', () => {
  it('Tasmota relay 3, Shelly Gen1 relay 2 and Gen2 switch 1 switch that relay only (mock multi-relay plug)', async () => {
    const plug = await multiRelayPlug();
    await new TasmotaPower({ targetName: 'bench', url: plug.url, relay: 3 }).off();
    await new ShellyGen1Power({ targetName: 'bench', url: plug.url, channel: 2 }).off();
    await new ShellyGen2Power({ targetName: 'bench', url: plug.url, channel: 1 }).off();
    expect(plug.requests).toEqual([
      '/cm?cmnd=Power3+Off',
      '/relay/2?turn=off',
      '/rpc/Switch.Set?id=1&on=false',
      '/rpc/Switch.GetStatus?id=1',
    ]);
    expect([...plug.states]).toEqual([
      ['tasmota:3', false],
      ['gen1:2', false],
      ['gen2:1', false],
    ]);
    // The default is the first relay, as the devices number them (Tasmota 1, Shelly 0).
    plug.requests.length = 0;
    await new TasmotaPower({ targetName: 'bench', url: plug.url }).on();
    await new ShellyGen1Power({ targetName: 'bench', url: plug.url }).on();
    await new ShellyGen2Power({ targetName: 'bench', url: plug.url }).on();
    expect(plug.requests).toEqual([
      '/cm?cmnd=Power+On',
      '/relay/0?turn=on',
      '/rpc/Switch.Set?id=0&on=true',
      '/rpc/Switch.GetStatus?id=0',
    ]);
  });

  it('state() reads the named relay without switching it (mock multi-relay plug)', async () => {
    const plug = await multiRelayPlug();
    await new TasmotaPower({ targetName: 'bench', url: plug.url, relay: 3 }).off();
    await new ShellyGen1Power({ targetName: 'bench', url: plug.url, channel: 2 }).off();
    await new ShellyGen2Power({ targetName: 'bench', url: plug.url, channel: 1 }).off();
    plug.requests.length = 0;
    expect(await new TasmotaPower({ targetName: 'bench', url: plug.url, relay: 3 }).state()).toBe('off');
    expect(await new TasmotaPower({ targetName: 'bench', url: plug.url, relay: 2 }).state()).toBe('on');
    expect(await new ShellyGen1Power({ targetName: 'bench', url: plug.url, channel: 2 }).state()).toBe('off');
    expect(await new ShellyGen2Power({ targetName: 'bench', url: plug.url, channel: 1 }).state()).toBe('off');
    expect(await new ShellyGen2Power({ targetName: 'bench', url: plug.url }).state()).toBe('on');
    expect(plug.requests).toEqual([
      '/cm?cmnd=Power3',
      '/cm?cmnd=Power2',
      '/relay/2?',
      '/rpc/Switch.GetStatus?id=1',
      '/rpc/Switch.GetStatus?id=0',
    ]);
    // Reading switched nothing.
    expect([...plug.states]).toEqual([
      ['tasmota:3', false],
      ['gen1:2', false],
      ['gen2:1', false],
    ]);
  });

  it('the single-relay control plane refuses relay 1, so a wrong relay number is an error, not silence', async () => {
    const device = new RecordingDevice();
    const plane = await controlPlane(device);
    const error = (await new ShellyGen1Power({ targetName: 'bench', url: plane.url, channel: 1 })
      .off()
      .catch((caught: unknown) => caught)) as PowerRequestError;
    expect(error).toBeInstanceOf(PowerRequestError);
    expect(error.status).toBe(404);
    expect(device.powered).toBe(true);
    await new ShellyGen1Power({ targetName: 'bench', url: plane.url, channel: 0 }).off();
    expect(device.powered).toBe(false);
  });

  it('a cycle without an explicit time stays off for the rig’s offTimeMs; an explicit time still wins', async () => {
    const device = new RecordingDevice();
    const plane = await controlPlane(device);
    const drivers: PowerDriver[] = [
      new TasmotaPower({ targetName: 'bench', url: plane.url, offMs: 250 }),
      new EmulatorControlPower({ targetName: 'bench', url: plane.url, offMs: 250 }),
    ];
    for (const driver of drivers) {
      device.transitions.length = 0;
      await driver.cycle();
      const [off, on] = device.transitions;
      expect(on!.atMs - off!.atMs).toBeGreaterThanOrEqual(245);
      device.transitions.length = 0;
      await driver.cycle(30);
      expect(device.transitions[1]!.atMs - device.transitions[0]!.atMs).toBeLessThan(245);
    }
  });
});
