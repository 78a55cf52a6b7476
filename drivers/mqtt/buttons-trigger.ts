import type { ExpectMessageOptions, MqttHarness, MqttMessage } from './mqtt-harness.ts';

/** The root's state topic: retained connected/disconnected, the last will and periodic status. */
export const BUTTONS_STATE_TOPIC = '/switch/state/root';
/** Where the historical root took `{"type":"ota_trigger","url":…}` (reference §3.1.a). */
export const BUTTONS_ROOT_COMMAND_TOPIC = '/switch/cmd/root';

/** A message on the state topic, parsed; `undefined` fields were absent. */
export interface ButtonsState {
  status?: 'connected' | 'disconnected' | string;
  deviceId?: number;
  /** buttons-u: the build time in unix seconds; buttons-json: 32 hex digits of app_elf_sha256. */
  firmware?: number | string;
  reason?: string;
  uptime?: number;
  /** The whole object as received. */
  raw: Record<string, unknown>;
  /**
   * Replayed by the broker from its retained store when the harness subscribed (a state from
   * before then), not published while the harness listened; set by `states` and `expectState`.
   */
  retained?: boolean;
}

/** Parses a state-topic payload; undefined when it is not a JSON object. */
export function parseButtonsState(payload: Buffer | string): ButtonsState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const id = raw.device_id ?? raw.deviceId;
  return {
    raw,
    ...(typeof raw.status === 'string' ? { status: raw.status } : {}),
    ...(typeof id === 'number' ? { deviceId: id } : {}),
    ...(typeof raw.firmware === 'number' || typeof raw.firmware === 'string'
      ? { firmware: raw.firmware }
      : {}),
    ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
    ...(typeof raw.uptime === 'number' ? { uptime: raw.uptime } : {}),
  };
}

/**
 * buttonsMeshIDF triggers (reference/viperhttp-luartos-mqtt.md §3.1): the historical JSON
 * `ota_trigger` on `/switch/cmd/root` and HEAD's one-byte `U` on `/<type>/cmd[/<id>]`.
 */
export class ButtonsTrigger {
  /**
   * With `deviceId`, state messages of other devices (other roots on the broker, forwarded leaf
   * statuses) are not this device's and are left out of `expectState` and `states`.
   */
  constructor(
    private readonly harness: MqttHarness,
    private readonly options: { deviceId?: string | number } = {},
  ) {}

  private mine(state: ButtonsState): boolean {
    return this.options.deviceId === undefined || String(state.deviceId) === String(this.options.deviceId);
  }

  /** `{"type":"ota_trigger","url":<url>}` on `/switch/cmd/root` (§3.1.a). */
  async triggerJson(url: string, step = 'publish the JSON ota_trigger'): Promise<void> {
    await this.harness.publish(BUTTONS_ROOT_COMMAND_TOPIC, JSON.stringify({ type: 'ota_trigger', url }), {
      step,
    });
  }

  /**
   * The one-byte `U` (§3.1.b): to one device (`/<type>/cmd/<id>`) or, without an id, to every
   * device of that type (`/<type>/cmd`).
   */
  async triggerU(
    deviceType: 'switch' | 'relay',
    deviceId?: number | string,
    step = 'publish U',
  ): Promise<void> {
    const topic = deviceId === undefined ? `/${deviceType}/cmd` : `/${deviceType}/cmd/${deviceId}`;
    await this.harness.publish(topic, 'U', { step });
  }

  /** Any payload on any command topic, for malformed-trigger checks. */
  async raw(topic: string, payload: string | Uint8Array, step = `publish to ${topic}`): Promise<void> {
    await this.harness.publish(topic, payload, { step });
  }

  /** The retained state (connected, disconnected or the last will), parsed. */
  async retainedState(step = 'read the retained state'): Promise<ButtonsState | undefined> {
    const message = await this.harness.retained(BUTTONS_STATE_TOPIC, { step });
    return message ? parseButtonsState(message.payload) : undefined;
  }

  /**
   * Waits for a state-topic message whose parsed form satisfies `predicate`; with `live`, only one
   * the device published while the harness listened (not the broker's retained replay).
   */
  async expectState(
    predicate: (state: ButtonsState, message: MqttMessage) => boolean,
    options: ExpectMessageOptions = {},
  ): Promise<ButtonsState> {
    const message = await this.harness.expectMessage(
      BUTTONS_STATE_TOPIC,
      (candidate) => {
        const state = parseButtonsState(candidate.payload);
        return state !== undefined && this.mine(state) && predicate(state, candidate);
      },
      { step: 'wait for a state message', ...options },
    );
    return { ...parseButtonsState(message.payload)!, retained: message.retain };
  }

  /** Every parsed state message logged since `since`. */
  states(since = 0): ButtonsState[] {
    return this.harness
      .messages(BUTTONS_STATE_TOPIC, since)
      .map((message): ButtonsState | undefined => {
        const state = parseButtonsState(message.payload);
        return state === undefined ? undefined : { ...state, retained: message.retain };
      })
      .filter((state): state is ButtonsState => state !== undefined && this.mine(state));
  }
}
