import { ControlRequestError } from './errors.ts';
import type { PowerSwitch } from './power-switch.ts';

export interface RouteRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

export interface RouteReply {
  status: number;
  body: unknown;
}

type Handler = (request: RouteRequest, power: PowerSwitch) => Promise<RouteReply>;

interface Route {
  methods: readonly string[];
  handle: Handler;
}

/** Longest power-off a cycle may ask for; longer is a typo, not a test. */
const MAX_CYCLE_OFF_MS = 600_000;
/** Without offMs a cycle waits as long as a small board needs to drain and reset cleanly. */
const DEFAULT_CYCLE_OFF_MS = 1_000;

const ok = (body: unknown): RouteReply => ({ status: 200, body });
// `chip` (where the device says): e.g. `halted`, a boot that found nothing to run (campaigns stop
// waiting for an app there).
const nativeState = (power: PowerSwitch) => ({
  power: power.isOn ? 'on' : 'off',
  ...(power.chipState === undefined ? {} : { chip: power.chipState }),
});

const routes = new Map<string, Route>([
  // The project's own API: what the `emulator` power driver calls.
  ['/power', { methods: ['GET'], handle: async (_request, power) => ok(nativeState(power)) }],
  [
    '/power/on',
    {
      methods: ['POST'],
      handle: async (_request, power) => {
        await power.on();
        return ok(nativeState(power));
      },
    },
  ],
  [
    '/power/off',
    {
      methods: ['POST'],
      handle: async (_request, power) => {
        await power.off();
        return ok(nativeState(power));
      },
    },
  ],
  [
    '/power/cycle',
    {
      methods: ['POST'],
      handle: async ({ query }, power) => {
        const offMs = integerParameter(query, 'offMs', 0, MAX_CYCLE_OFF_MS) ?? DEFAULT_CYCLE_OFF_MS;
        await power.cycle(offMs);
        return ok({ ...nativeState(power), offMs });
      },
    },
  ],
  [
    '/power/cut-after',
    {
      methods: ['POST'],
      handle: async ({ query }, power) => {
        // bytes: N more programmed bytes, then the page program is cut; operations: N more
        // erases/page programs complete and the next one is torn. tornSeed fixes the torn bits.
        // received: the power goes as the N-th image byte from now reaches the firmware.
        const bytes = integerParameter(query, 'bytes', 0, Number.MAX_SAFE_INTEGER);
        const operations = integerParameter(query, 'operations', 0, Number.MAX_SAFE_INTEGER);
        const received = integerParameter(query, 'received', 1, Number.MAX_SAFE_INTEGER);
        const tornSeed = integerParameter(query, 'tornSeed', 0, 0xffff_ffff);
        const given = [bytes, operations, received].filter((value) => value !== undefined).length;
        if (given > 1)
          throw new ControlRequestError(400, 'give one of bytes, operations or received', 'operations');
        if (received !== undefined) {
          await power.cutAfterReceived(received);
          return ok({ ...nativeState(power), cutAfterReceived: received });
        }
        if (operations !== undefined) {
          await power.cutAfterOperations(operations, tornSeed);
          return ok({ ...nativeState(power), cutAfterOperations: operations });
        }
        if (bytes === undefined) throw missing('bytes');
        await power.cutAfterBytes(bytes, tornSeed);
        return ok({ ...nativeState(power), cutAfterBytes: bytes });
      },
    },
  ],
  // Power-cut campaigns: the numbered flash operations and boots, and known states to cut from.
  [
    '/flash/trace',
    {
      methods: ['GET'],
      handle: async ({ query }, power) =>
        ok(power.trace(integerParameter(query, 'since', 0, Number.MAX_SAFE_INTEGER) ?? 0)),
    },
  ],
  [
    '/state/save',
    { methods: ['POST'], handle: async (_request, power) => ok({ state: await power.saveState() }) },
  ],
  [
    '/state/restore',
    {
      methods: ['POST'],
      handle: async ({ query }, power) => {
        const state = integerParameter(query, 'state', 0, Number.MAX_SAFE_INTEGER);
        if (state === undefined) throw missing('state');
        await power.restoreState(state);
        return ok({ ...nativeState(power), state });
      },
    },
  ],
  // The USB-serial bridge's DTR/RTS on EN and IO0: how esptool's resets reach an emulated chip
  // whose UART is a raw TCP port, which carries no modem lines (reference/esp-serial-flasher.md
  // §8.1). Both lines every time: a missing one is not "unchanged" (T10).
  [
    '/serial/lines',
    {
      methods: ['GET', 'POST'],
      handle: async ({ method, query }, power) => {
        if (method === 'POST') {
          const dtr = booleanParameter(query, 'dtr');
          const rts = booleanParameter(query, 'rts');
          if (dtr === undefined) throw missing('dtr');
          if (rts === undefined) throw missing('rts');
          await power.setModemLines({ dtr, rts });
        }
        const lines = power.modemLines;
        if (lines === undefined)
          throw new ControlRequestError(404, 'this device has no serial bridge lines (DTR/RTS)');
        return ok(lines);
      },
    },
  ],
  // Tasmota: one relay, so the answer's key is POWER whether the command said Power or Power1.
  ['/cm', { methods: ['GET', 'POST'], handle: tasmotaCommand }],
  // Shelly Gen1 relay API.
  ['/relay/0', { methods: ['GET', 'POST'], handle: shellyGen1Relay }],
  // Shelly Gen2 RPC over HTTP GET.
  [
    '/rpc/Switch.GetStatus',
    {
      methods: ['GET', 'POST'],
      handle: async ({ query }, power) => {
        shellySwitchId(query);
        return ok({ id: 0, source: 'HTTP', output: power.isOn });
      },
    },
  ],
  [
    '/rpc/Switch.Set',
    {
      methods: ['GET', 'POST'],
      handle: async ({ query }, power) => {
        shellySwitchId(query);
        const on = booleanParameter(query, 'on');
        if (on === undefined) throw missing('on');
        return ok({ was_on: await power.set(on) });
      },
    },
  ],
  [
    '/rpc/Switch.Toggle',
    {
      methods: ['GET', 'POST'],
      handle: async ({ query }, power) => {
        shellySwitchId(query);
        return ok({ was_on: await power.toggle() });
      },
    },
  ],
]);

export async function dispatch(request: RouteRequest, power: PowerSwitch): Promise<RouteReply> {
  const route = routes.get(request.path);
  if (route === undefined) {
    throw new ControlRequestError(404, `no control route ${request.path}`);
  }
  if (!route.methods.includes(request.method)) {
    throw new ControlRequestError(
      405,
      `${request.path} takes ${route.methods.join(' or ')}, not ${request.method}`,
    );
  }
  return route.handle(request, power);
}

export function allowedMethods(path: string): readonly string[] | undefined {
  return routes.get(path)?.methods;
}

async function tasmotaCommand({ query }: RouteRequest, power: PowerSwitch): Promise<RouteReply> {
  const command = query.get('cmnd');
  if (command === null || command.trim() === '') throw missing('cmnd');
  // URLSearchParams already turned `+` and `%20` into spaces.
  const [name = '', argument = '', ...extra] = command.trim().split(/\s+/);
  if (!/^power1?$/i.test(name) || extra.length > 0) {
    throw new ControlRequestError(
      400,
      `cmnd '${command}' is not supported: this plug has one relay and answers Power or Power1 with On, Off, Toggle, 0, 1, 2 or nothing`,
      'cmnd',
    );
  }
  const action = argument.toLowerCase();
  if (action === '') {
    // A bare `Power` reports the state.
  } else if (action === 'on' || action === '1' || action === 'true') {
    await power.on();
  } else if (action === 'off' || action === '0' || action === 'false') {
    await power.off();
  } else if (action === 'toggle' || action === '2') {
    await power.toggle();
  } else {
    throw new ControlRequestError(
      400,
      `cmnd '${command}': '${argument}' is not On, Off, Toggle, 0, 1 or 2`,
      'cmnd',
    );
  }
  return ok({ POWER: power.isOn ? 'ON' : 'OFF' });
}

async function shellyGen1Relay({ query }: RouteRequest, power: PowerSwitch): Promise<RouteReply> {
  const turn = query.get('turn');
  if (turn !== null) {
    if (turn === 'on') await power.on();
    else if (turn === 'off') await power.off();
    else if (turn === 'toggle') await power.toggle();
    else throw new ControlRequestError(400, `turn must be on, off or toggle, got '${turn}'`, 'turn');
  }
  return ok({
    ison: power.isOn,
    has_timer: false,
    timer_started: 0,
    timer_duration: 0,
    timer_remaining: 0,
    source: 'http',
  });
}

function shellySwitchId(query: URLSearchParams): void {
  const id = query.get('id');
  if (id === null) throw missing('id');
  if (id !== '0')
    throw new ControlRequestError(400, `id must be 0 (this plug has one switch), got '${id}'`, 'id');
}

function integerParameter(
  query: URLSearchParams,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ControlRequestError(
      400,
      `${name} must be an integer from ${min} to ${max}, got '${raw}'`,
      name,
    );
  }
  return value;
}

function booleanParameter(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ControlRequestError(400, `${name} must be true or false, got '${raw}'`, name);
}

function missing(name: string): ControlRequestError {
  return new ControlRequestError(400, `missing query parameter ${name}`, name);
}
