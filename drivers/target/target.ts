import type {
  Capability,
  FirmwareConfig,
  Limits,
  PowerConfig,
  ResetConfig,
  Resolved,
  TargetKind,
  TlsConfig,
} from '../../rigs/index.ts';
import { type Credential, Redactor } from '../../rigs/redactor.ts';
import { SECRET_KEYS } from '../../rigs/schema.ts';
import type { Platform, Profile } from '../../vocabulary/index.ts';
import {
  DtrRtsReset,
  EmulatorControlPower,
  ExecPower,
  ManualPower,
  manualPowerRefusal,
  type PowerDriver,
  type ResetDriver,
  ShellyGen1Power,
  ShellyGen2Power,
  TasmotaPower,
} from '../power/index.ts';
import { SerialConsole } from '../serial/index.ts';
import { Transcript } from './transcript.ts';

/**
 * Everything a suite may know about a target, as plain data (so vitest can hand it to the worker
 * that runs the suites): a board's endpoints, or the same endpoints of an emulator the harness
 * started — a suite cannot tell them apart. Secrets are resolved values: this object is kept in
 * memory and never written.
 */
export interface TargetDescription {
  name: string;
  profile: Profile;
  platform?: Platform;
  /** What the rig said it is; the suites treat every kind the same way. */
  kind: TargetKind;
  capabilities: Capability[];
  limits?: Limits;
  tls?: TlsConfig;
  token?: string;
  password?: string;
  username?: string;
  /** Base URL for HTTP push profiles. */
  url?: string;
  /** Device address and port for espota (UDP). */
  host?: string;
  port?: number;
  updateServer?: {
    host?: string;
    port?: number;
    publicUrl?: string;
    /** The certificate the harness' update server presents, when the device pulls over HTTPS. */
    tls?: { certPem: string; keyPem: string; caPem: string; minVersion?: TlsConfig['minVersion'] };
  };
  mqtt?: { brokerUrl?: string; username?: string; password?: string; dialect?: string; topic?: string };
  options?: Record<string, unknown>;
  console?: { port: string; baudRate: number; reopen: boolean };
  power?: Resolved<PowerConfig>;
  reset?: Resolved<ResetConfig>;
  /** The vendor's builds this board runs (absolute paths), and whether `run` flashes first. */
  firmware?: FirmwareConfig;
  prepare?: 'flash';
  /** Where target leases are kept (one suite file at a time per target). */
  lockDir: string;
}

/** A target with its drivers bound: what a requirement receives. */
export interface Target {
  readonly name: string;
  readonly profile: Profile;
  readonly platform?: Platform;
  readonly description: TargetDescription;
  readonly capabilities: ReadonlySet<Capability>;
  readonly redactor: Redactor;
  readonly transcript: Transcript;
  readonly console?: SerialConsole;
  readonly power?: PowerDriver;
  readonly reset?: ResetDriver | PowerDriver;
  /** The per-step timeout the rig allows (default 5 s). */
  readonly stepTimeoutMs: number;
  dispose(): Promise<void>;
}

export class TargetSetupError extends Error {
  readonly code = 'TARGET_SETUP';
}

const DEFAULT_STEP_TIMEOUT_MS = 5_000;

/**
 * Binds drivers to a target description: its console (serial port, or an emulator's PTY), its
 * power switch (an emulator's control plane or a real plug) and its reset line. A failure here
 * is the rig's, not the device's: it throws TargetSetupError naming the target and the part.
 */
export async function connectTarget(description: TargetDescription): Promise<Target> {
  const redactor = redactorForDescription(description);
  const redact = (text: string) => redactor.redact(text);
  const stepTimeoutMs = description.limits?.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const power = description.power
    ? powerDriverFor(description, description.power, stepTimeoutMs, redact)
    : undefined;
  const reset = description.reset
    ? resetDriverFor(description, description.reset, stepTimeoutMs, redact)
    : power;
  let console: SerialConsole | undefined;
  if (description.console) {
    try {
      console = await SerialConsole.open({
        path: description.console.port,
        baudRate: description.console.baudRate,
        reopen: description.console.reopen,
        // A missing port is a rig error after one step timeout, not after the driver's own 5 s.
        openTimeoutMs: stepTimeoutMs,
        targetName: description.name,
        redact,
      });
    } catch (error) {
      throw new TargetSetupError(
        `target ${description.name}: cannot open its console ${description.console.port}: ${redact(String((error as Error).message))}`,
        { cause: error },
      );
    }
  }
  const capabilities = new Set<Capability>([description.profile, ...description.capabilities]);
  return {
    name: description.name,
    profile: description.profile,
    platform: description.platform,
    description,
    capabilities,
    redactor,
    transcript: new Transcript(redact),
    console,
    power,
    reset,
    stepTimeoutMs,
    dispose: async () => {
      await console?.close();
      if (power instanceof ManualPower) power.close();
    },
  };
}

function powerDriverFor(
  description: TargetDescription,
  config: Resolved<PowerConfig>,
  timeoutMs: number,
  redact: (text: string) => string,
): PowerDriver {
  const targetName = description.name;
  const offMs = 'offTimeMs' in config ? config.offTimeMs : undefined;
  switch (config.type) {
    case 'emulator-control':
      return new EmulatorControlPower({ targetName, url: config.url, token: config.token, timeoutMs, offMs });
    case 'tasmota':
      return new TasmotaPower({
        targetName,
        url: config.url,
        username: config.user,
        password: config.password,
        relay: config.relay,
        timeoutMs,
        offMs,
      });
    case 'shelly-gen1':
      return new ShellyGen1Power({
        targetName,
        url: config.url,
        username: config.user,
        password: config.password,
        channel: config.relay,
        timeoutMs,
        offMs,
      });
    case 'shelly-gen2':
      return new ShellyGen2Power({
        targetName,
        url: config.url,
        password: config.password,
        channel: config.id,
        timeoutMs,
        offMs,
      });
    case 'exec':
      return new ExecPower({
        targetName,
        on: shellCommand(config.on),
        off: shellCommand(config.off),
        cycle: config.cycle === undefined ? undefined : shellCommand(config.cycle),
        timeoutMs,
        offMs,
        redact,
      });
    case 'uhubctl':
      return new ExecPower({
        targetName,
        on: shellCommand(['uhubctl', '-l', config.hub, '-p', String(config.port), '-a', 'on']),
        off: shellCommand(['uhubctl', '-l', config.hub, '-p', String(config.port), '-a', 'off']),
        timeoutMs,
        offMs,
        redact,
      });
    case 'manual': {
      const refusal = manualPowerRefusal();
      if (refusal !== undefined) throw new TargetSetupError(`target ${targetName}: power.type: ${refusal}`);
      return new ManualPower({ targetName, offMs });
    }
    case 'dtr-rts':
      throw new TargetSetupError(
        `target ${targetName}: power type '${config.type}' cannot switch the supply; use it as "reset" or pick a plug`,
      );
  }
}

function resetDriverFor(
  description: TargetDescription,
  config: Resolved<ResetConfig>,
  timeoutMs: number,
  redact: (text: string) => string,
): ResetDriver {
  const targetName = description.name;
  if (config.type === 'dtr-rts') return new DtrRtsReset({ targetName, path: config.port, timeoutMs });
  const command = shellCommand(config.command);
  const exec = new ExecPower({ targetName, on: command, off: command, timeoutMs, redact });
  return {
    targetName,
    capabilities: new Set(['reset'] as const),
    reset: () => exec.on(),
  };
}

/**
 * Every secret of the target, wherever the description holds it (the device's token and
 * passwords, the broker's, the power plug's, a TLS key's passphrase), with the user/password
 * pairs sent as Basic auth so a header is hidden whole.
 */
export function redactorForDescription(description: TargetDescription): Redactor {
  const secrets: string[] = [];
  const visit = (value: unknown) => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (SECRET_KEYS.has(key) && typeof child === 'string') secrets.push(child);
      else visit(child);
    }
  };
  visit(description);
  const credentials: Credential[] = [];
  const pair = (username: string | undefined, password: string | undefined) => {
    if (password !== undefined) credentials.push({ username: username ?? 'admin', password });
  };
  pair(description.username, description.password);
  pair(description.mqtt?.username, description.mqtt?.password);
  const power = description.power as { user?: string; password?: string } | undefined;
  pair(power?.user, power?.password);
  return new Redactor(secrets, { credentials });
}

/** argv lists are quoted for the shell ExecPower runs them in. */
function shellCommand(command: string | readonly string[]): string {
  if (typeof command === 'string') return command;
  return command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
}
