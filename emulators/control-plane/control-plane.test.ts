import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ControlPlaneError,
  type PowerControllable,
  type StartedControlPlane,
  startControlPlane,
} from './index.ts';

/** A device that records what happened to it, with wall-clock times. */
class RecordingDevice implements PowerControllable {
  powered = false;
  armedCut: number | undefined;
  events: Array<{ event: string; atMs: number }> = [];
  failNextPowerOn: Error | undefined;

  async powerOn(): Promise<void> {
    if (this.failNextPowerOn !== undefined) {
      const failure = this.failNextPowerOn;
      this.failNextPowerOn = undefined;
      throw failure;
    }
    this.powered = true;
    this.events.push({ event: 'on', atMs: performance.now() });
  }

  async powerOff(): Promise<void> {
    this.powered = false;
    this.events.push({ event: 'off', atMs: performance.now() });
  }

  cutPowerAfterBytes(bytes: number): void {
    this.armedCut = bytes;
  }
}

const started: StartedControlPlane[] = [];
afterEach(async () => {
  for (const plane of started.splice(0)) await plane.stop();
});

async function start(device: PowerControllable, token?: string): Promise<StartedControlPlane> {
  const plane = await startControlPlane(device, token === undefined ? {} : { token });
  started.push(plane);
  return plane;
}

async function call(
  plane: StartedControlPlane,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const response = await request(`${plane.url}${path}`, { method, headers });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    body: JSON.parse(text) as Record<string, unknown>,
    headers: response.headers,
  };
}

describe('control plane: the project API', () => {
  it('binds loopback on a free port', async () => {
    const plane = await start(new RecordingDevice());
    expect(plane.url).toBe(`http://127.0.0.1:${plane.port}`);
    expect(plane.port).toBeGreaterThan(0);
  });

  it('reports, switches on and switches off', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    expect(await call(plane, 'GET', '/power')).toMatchObject({ status: 200, body: { power: 'off' } });
    expect(await call(plane, 'POST', '/power/on')).toMatchObject({ status: 200, body: { power: 'on' } });
    expect(device.powered).toBe(true);
    expect(await call(plane, 'GET', '/power')).toMatchObject({ body: { power: 'on' } });
    expect(await call(plane, 'POST', '/power/off')).toMatchObject({ status: 200, body: { power: 'off' } });
    expect(device.powered).toBe(false);
    expect(device.events.map((entry) => entry.event)).toEqual(['on', 'off']);
  });

  it('cycles: off first, then on after at least offMs of real time', async () => {
    const device = new RecordingDevice();
    device.powered = true;
    const plane = await start(device);
    const reply = await call(plane, 'POST', '/power/cycle?offMs=120');
    expect(reply).toMatchObject({ status: 200, body: { power: 'on', offMs: 120 } });
    const [off, on] = device.events;
    expect(device.events.map((entry) => entry.event)).toEqual(['off', 'on']);
    // Timers may fire up to a millisecond early against performance.now(); allow that, no more.
    expect(on!.atMs - off!.atMs).toBeGreaterThanOrEqual(119);
  });

  it('does not let another request interleave with a cycle', async () => {
    const device = new RecordingDevice();
    device.powered = true;
    const plane = await start(device);
    const cycle = call(plane, 'POST', '/power/cycle?offMs=80');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const switchOff = call(plane, 'POST', '/power/off');
    await Promise.all([cycle, switchOff]);
    expect(device.events.map((entry) => entry.event)).toEqual(['off', 'on', 'off']);
    expect(device.powered).toBe(false);
  });

  it('arms a cut after N bytes while powered, and refuses while off', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    const refused = await call(plane, 'POST', '/power/cut-after?bytes=4096');
    expect(refused.status).toBe(409);
    expect(device.armedCut).toBeUndefined();
    await call(plane, 'POST', '/power/on');
    expect(await call(plane, 'POST', '/power/cut-after?bytes=4096')).toMatchObject({
      status: 200,
      body: { power: 'on', cutAfterBytes: 4096 },
    });
    expect(device.armedCut).toBe(4096);
    expect(await call(plane, 'POST', '/power/cut-after?bytes=0')).toMatchObject({ status: 200 });
    expect(device.armedCut).toBe(0);
  });

  it.each([
    ['/power/cut-after', 'bytes'],
    ['/power/cut-after?bytes=', 'bytes'],
    ['/power/cut-after?bytes=-1', 'bytes'],
    ['/power/cut-after?bytes=1.5', 'bytes'],
    ['/power/cut-after?bytes=12ab', 'bytes'],
    ['/power/cycle?offMs=soon', 'offMs'],
    ['/power/cycle?offMs=600001', 'offMs'],
  ])('answers POST %s with 400 naming %s', async (path, parameter) => {
    const device = new RecordingDevice();
    device.powered = true;
    const plane = await start(device);
    const reply = await call(plane, 'POST', path);
    expect(reply.status).toBe(400);
    expect(reply.body['parameter']).toBe(parameter);
    expect(String(reply.body['error'])).toContain(parameter);
    expect(device.events).toEqual([]);
    expect(device.armedCut).toBeUndefined();
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const plane = await start(new RecordingDevice());
    const unknown = await call(plane, 'GET', '/power/explode');
    expect(unknown.status).toBe(404);
    expect(String(unknown.body['error'])).toContain('/power/explode');
    const wrongMethod = await call(plane, 'GET', '/power/on');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers['allow']).toBe('POST');
  });

  it('answers 400 to a request target the URL parser refuses, and still 200 to a good one', async () => {
    const plane = await start(new RecordingDevice());
    const { connect } = await import('node:net');
    const { hostname: host, port } = new URL(plane.url);
    const socket = connect({ host, port: Number(port) });
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.write(`GET // HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    await new Promise((resolve) => socket.on('close', resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('malformed request target');
    expect((await call(plane, 'GET', '/power')).status).toBe(200);
  });

  it('answers 500 naming the failure when the device cannot switch', async () => {
    const device = new RecordingDevice();
    device.failNextPowerOn = new Error('flash model refused');
    const plane = await start(device);
    const failed = await call(plane, 'POST', '/power/on');
    expect(failed.status).toBe(500);
    expect(String(failed.body['error'])).toContain('flash model refused');
    expect(await call(plane, 'POST', '/power/on')).toMatchObject({ status: 200, body: { power: 'on' } });
  });

  it('refuses unusable options', async () => {
    await expect(startControlPlane(new RecordingDevice(), { port: 70_000 })).rejects.toThrow(
      ControlPlaneError,
    );
    await expect(startControlPlane(new RecordingDevice(), { token: '' })).rejects.toThrow(ControlPlaneError);
  });
});

describe('control plane: Tasmota /cm', () => {
  it.each([
    ['Power%20On', 'ON', true],
    ['Power%20Off', 'OFF', false],
    ['power+on', 'ON', true],
    ['POWER1%20ON', 'ON', true],
    ['Power1+off', 'OFF', false],
    ['Power%201', 'ON', true],
    ['Power%200', 'OFF', false],
  ])('cmnd=%s answers {"POWER":"%s"}', async (command, answer, powered) => {
    const device = new RecordingDevice();
    device.powered = !powered;
    const plane = await start(device);
    const reply = await call(plane, 'GET', `/cm?cmnd=${command}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ POWER: answer });
    expect(device.powered).toBe(powered);
  });

  it('toggles, and reports with a bare Power', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    expect((await call(plane, 'GET', '/cm?cmnd=Power')).body).toEqual({ POWER: 'OFF' });
    expect((await call(plane, 'GET', '/cm?cmnd=Power%20Toggle')).body).toEqual({ POWER: 'ON' });
    expect((await call(plane, 'GET', '/cm?cmnd=Power1')).body).toEqual({ POWER: 'ON' });
    expect((await call(plane, 'GET', '/cm?cmnd=Power%202')).body).toEqual({ POWER: 'OFF' });
    expect(device.events.map((entry) => entry.event)).toEqual(['on', 'off']);
  });

  it.each(['', 'Status', 'Power2%20On', 'Power%20Maybe', 'Power%20On%20Now'])(
    'cmnd=%s is a 400 naming cmnd',
    async (command) => {
      const device = new RecordingDevice();
      const plane = await start(device);
      const reply = await call(plane, 'GET', `/cm?cmnd=${command}`);
      expect(reply.status).toBe(400);
      expect(reply.body['parameter']).toBe('cmnd');
      expect(device.events).toEqual([]);
    },
  );

  it('accepts the token as Tasmota user/password, and refuses a wrong one without echoing tokens', async () => {
    const device = new RecordingDevice();
    const plane = await start(device, 's3cret-token');
    const refused = await call(plane, 'GET', '/cm?user=admin&password=wrong-guess&cmnd=Power%20On');
    expect(refused.status).toBe(401);
    expect(JSON.stringify(refused.body)).not.toContain('wrong-guess');
    expect(JSON.stringify(refused.body)).not.toContain('s3cret');
    expect(device.powered).toBe(false);
    const accepted = await call(plane, 'GET', '/cm?user=admin&password=s3cret-token&cmnd=Power%20On');
    expect(accepted).toMatchObject({ status: 200, body: { POWER: 'ON' } });
  });
});

describe('control plane: Shelly', () => {
  it('Gen1 /relay/0 switches and reports with the Gen1 fields', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    const on = await call(plane, 'GET', '/relay/0?turn=on');
    expect(on.status).toBe(200);
    expect(on.body).toEqual({
      ison: true,
      has_timer: false,
      timer_started: 0,
      timer_duration: 0,
      timer_remaining: 0,
      source: 'http',
    });
    expect((await call(plane, 'GET', '/relay/0?turn=toggle')).body['ison']).toBe(false);
    expect((await call(plane, 'GET', '/relay/0')).body['ison']).toBe(false);
    expect((await call(plane, 'GET', '/relay/0?turn=off')).body['ison']).toBe(false);
    expect(device.events.map((entry) => entry.event)).toEqual(['on', 'off', 'off']);
  });

  it('Gen1 rejects a bad turn (400 naming turn) and an absent relay (404)', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    const bad = await call(plane, 'GET', '/relay/0?turn=sideways');
    expect(bad.status).toBe(400);
    expect(bad.body['parameter']).toBe('turn');
    expect((await call(plane, 'GET', '/relay/1?turn=on')).status).toBe(404);
    expect(device.events).toEqual([]);
  });

  it('Gen2 Switch.Set answers was_on, Switch.GetStatus reports output', async () => {
    const device = new RecordingDevice();
    const plane = await start(device);
    expect(await call(plane, 'GET', '/rpc/Switch.Set?id=0&on=true')).toMatchObject({
      status: 200,
      body: { was_on: false },
    });
    expect(device.powered).toBe(true);
    expect((await call(plane, 'GET', '/rpc/Switch.GetStatus?id=0')).body).toEqual({
      id: 0,
      source: 'HTTP',
      output: true,
    });
    expect((await call(plane, 'GET', '/rpc/Switch.Set?id=0&on=false')).body).toEqual({ was_on: true });
    expect((await call(plane, 'GET', '/rpc/Switch.Toggle?id=0')).body).toEqual({ was_on: false });
    expect(device.powered).toBe(true);
  });

  it.each([
    ['/rpc/Switch.Set?id=0&on=yes', 'on'],
    ['/rpc/Switch.Set?id=0', 'on'],
    ['/rpc/Switch.Set?id=1&on=true', 'id'],
    ['/rpc/Switch.Set?on=true', 'id'],
    ['/rpc/Switch.GetStatus?id=2', 'id'],
  ])('Gen2 %s is a 400 naming %s', async (path, parameter) => {
    const device = new RecordingDevice();
    const plane = await start(device);
    const reply = await call(plane, 'GET', path);
    expect(reply.status).toBe(400);
    expect(reply.body['parameter']).toBe(parameter);
    expect(device.events).toEqual([]);
  });

  it('with a token, takes Basic auth (the password) or Bearer, and refuses none or a wrong one', async () => {
    const device = new RecordingDevice();
    const plane = await start(device, 'plug-pass');
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
    });
    expect((await call(plane, 'GET', '/relay/0?turn=on')).status).toBe(401);
    expect((await call(plane, 'GET', '/relay/0?turn=on', basic('nope'))).status).toBe(401);
    expect((await call(plane, 'POST', '/power/on', { authorization: 'Bearer nope' })).status).toBe(401);
    // Tasmota's query password is not a credential on other routes.
    expect((await call(plane, 'POST', '/power/on?password=plug-pass')).status).toBe(401);
    expect(device.events).toEqual([]);
    expect((await call(plane, 'GET', '/relay/0?turn=on', basic('plug-pass'))).body['ison']).toBe(true);
    expect(
      (await call(plane, 'POST', '/power/off', { authorization: 'Bearer plug-pass' })).body['power'],
    ).toBe('off');
  });
});

/** A device that also offers the campaign routes, recording what they were asked. */
class CampaignDevice extends RecordingDevice {
  armedOperations: { operations: number; tornSeed?: number } | undefined;
  armedReceived: number | undefined;
  states: string[] = [];
  restored: number[] = [];
  readonly campaign = {
    state: 'running',
    cutPowerAfterOperations: (operations: number, tornSeed?: number) => {
      this.armedOperations = { operations, ...(tornSeed === undefined ? {} : { tornSeed }) };
    },
    cutPowerAfterReceived: (bytes: number) => {
      this.armedReceived = bytes;
    },
    flashTrace: (since: number) => ({
      operations: [{ index: since, kind: 'program' as const, offset: 0x1000, length: 256, completed: true }],
      markers: [],
      count: since + 1,
      regions: [],
    }),
    saveState: () => this.states.push('saved') - 1,
    restoreState: async (id: number) => {
      if (id >= this.states.length)
        throw Object.assign(new Error(`no saved state ${id}`), { code: 'UNKNOWN_STATE' });
      this.restored.push(id);
    },
  };
}

describe('control plane: the power-cut campaign routes', () => {
  it('arms a cut after N flash operations with a torn seed, and refuses bytes and operations together', async () => {
    const device = new CampaignDevice();
    device.powered = true;
    const plane = await start(device);
    expect(await call(plane, 'POST', '/power/cut-after?operations=17&tornSeed=4000000000')).toMatchObject({
      status: 200,
      body: { cutAfterOperations: 17 },
    });
    expect(device.armedOperations).toEqual({ operations: 17, tornSeed: 4_000_000_000 });
    expect(await call(plane, 'POST', '/power/cut-after?operations=1&bytes=2')).toMatchObject({
      status: 400,
      body: { parameter: 'operations' },
    });
  });

  it('arms a cut in the transfer at N received image bytes; 0, or received with operations, is refused', async () => {
    const device = new CampaignDevice();
    device.powered = true;
    const plane = await start(device);
    expect(await call(plane, 'POST', '/power/cut-after?received=4097')).toMatchObject({
      status: 200,
      body: { cutAfterReceived: 4097 },
    });
    expect(device.armedReceived).toBe(4097);
    expect(await call(plane, 'POST', '/power/cut-after?received=0')).toMatchObject({
      status: 400,
      body: { parameter: 'received' },
    });
    expect(await call(plane, 'POST', '/power/cut-after?received=5&operations=1')).toMatchObject({
      status: 400,
    });
    expect(device.armedReceived).toBe(4097);
    await call(plane, 'POST', '/power/off');
    expect((await call(plane, 'POST', '/power/cut-after?received=5')).status).toBe(409);
  });

  it('serves the flash trace from an operation on, and saves and restores states only while off', async () => {
    const device = new CampaignDevice();
    device.powered = true;
    const plane = await start(device);
    expect(await call(plane, 'GET', '/flash/trace?since=41')).toMatchObject({
      status: 200,
      body: { count: 42 },
    });
    expect(await call(plane, 'POST', '/state/save')).toMatchObject({ status: 200, body: { state: 0 } });
    expect(await call(plane, 'POST', '/state/restore?state=0')).toMatchObject({ status: 409 });
    await call(plane, 'POST', '/power/off');
    expect(await call(plane, 'POST', '/state/restore?state=0')).toMatchObject({
      status: 200,
      body: { state: 0 },
    });
    expect(await call(plane, 'POST', '/state/restore?state=5')).toMatchObject({
      status: 404,
      body: { parameter: 'state' },
    });
    expect(device.restored).toEqual([0]);
  });

  it("reports the chip's own state beside the power where the device says it (halted: nothing to run), and not where it does not", async () => {
    const device = new CampaignDevice();
    device.powered = true;
    device.campaign.state = 'halted';
    const plane = await start(device);
    expect(await call(plane, 'GET', '/power')).toMatchObject({
      status: 200,
      body: { power: 'on', chip: 'halted' },
    });
    const plain = await start(new RecordingDevice());
    expect((await call(plain, 'GET', '/power')).body).toEqual({ power: 'off' });
  });

  it('answers 501 where the device offers no campaign routes', async () => {
    const device = new RecordingDevice();
    device.powered = true;
    const plane = await start(device);
    expect((await call(plane, 'POST', '/power/cut-after?operations=1')).status).toBe(501);
    expect((await call(plane, 'GET', '/flash/trace')).status).toBe(501);
    expect((await call(plane, 'POST', '/state/save')).status).toBe(501);
  });
});

describe('/serial/lines (DTR/RTS of the serial bridge)', () => {
  class LinesDevice extends RecordingDevice {
    modemLines = { dtr: false, rts: false };
    async setModemLines(lines: { dtr: boolean; rts: boolean }): Promise<void> {
      this.modemLines = { ...lines };
      this.events.push({ event: `dtr=${lines.dtr} rts=${lines.rts}`, atMs: performance.now() });
    }
  }

  it('sets both lines and reports them; a request naming one line only is refused with 400', async () => {
    const device = new LinesDevice();
    const plane = await start(device);
    const set = await call(plane, 'POST', '/serial/lines?dtr=true&rts=false');
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ dtr: true, rts: false });
    expect(device.modemLines).toEqual({ dtr: true, rts: false });
    const half = await call(plane, 'POST', '/serial/lines?dtr=false');
    expect(half.status).toBe(400);
    expect(device.modemLines).toEqual({ dtr: true, rts: false });
  });

  it('answers 404 for a device without serial lines', async () => {
    const plane = await start(new RecordingDevice());
    expect((await call(plane, 'POST', '/serial/lines?dtr=true&rts=true')).status).toBe(404);
  });
});
