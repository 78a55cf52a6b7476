import { type ConsoleMode, DeviceConsole } from './console/index.ts';
import { type StartedControlPlane, startControlPlane } from './control-plane/index.ts';
import {
  EmulatedDevice,
  type Endpoint,
  type Esp32DeviceOptions,
  type Esp8266DeviceOptions,
  type FactoryFirmware,
  type Platform,
  type Profile,
} from './device/index.ts';
import { firmwareFor } from './firmware/index.ts';
import { esp32SigningDeviceOptions, esp8266SigningDeviceOptions } from './firmware/signing-options.ts';
import type { FlashTiming, FlashTimingProfileName } from './flash/index.ts';

/** How to start one emulated device (configured, not yet running). */
export interface EmulatorOptions {
  profile: Profile;
  /** Defaults to the first platform the profile's firmware runs on. */
  platform?: Platform;
  name?: string;
  defects?: readonly string[];
  /** Profile options: token, password, session timeout, update URL… */
  options?: Readonly<Record<string, unknown>>;
  timing?: FlashTimingProfileName | FlashTiming;
  console?: ConsoleMode;
  /** Where the PTY link is created when `console` is 'pty'. */
  ptyLink?: string;
  seed?: number;
  host?: string;
  /** Fixed ports by endpoint name; 0 or absent lets the OS choose. */
  ports?: Readonly<Record<string, number>>;
  factory?: Partial<FactoryFirmware>;
  esp32?: Esp32DeviceOptions;
  esp8266?: Esp8266DeviceOptions;
  /** Saves every image the chip receives (each run of contiguous flash writes) in this folder. */
  receivedDir?: string;
  /** The power control plane (HTTP); on by default. */
  controlPlane?: boolean | { port?: number; token?: string };
}

export interface EmulatorEndpoints {
  /** The firmware's network endpoints by name (`http`, `udp`, …). */
  services: Record<string, Endpoint>;
  /** Base URL of the power control plane. */
  control?: string;
  /** Where the console is reached: its pseudo-terminal's path, or `tcp://host:port`. */
  console?: string;
  /**
   * How long after an update's outcome the firmware restarts itself (FirmwareModule.restartDelayMs):
   * the harness watches for a wrongful restart that long and a margin. Absent where the firmware
   * only restarts on request.
   */
  restartDelayMs?: number;
}

/** A running emulator. `stop()` powers it off and releases every socket and process. */
export interface StartedEmulator {
  readonly name: string;
  readonly profile: Profile;
  readonly platform: Platform;
  readonly device: EmulatedDevice;
  readonly defects: readonly string[];
  endpoints(): EmulatorEndpoints;
  stop(): Promise<void>;
}

/** Builds the device for a profile, powers it on and waits until its firmware serves. */
export async function startEmulator(options: EmulatorOptions): Promise<StartedEmulator> {
  const firmware = firmwareFor(options.profile);
  const platform = options.platform ?? firmware.platforms[0]!;
  const name = options.name ?? `${options.profile}-emulator`;
  const console = new DeviceConsole({ mode: options.console ?? 'memory', ptyLink: options.ptyLink });
  await console.start();
  let device: EmulatedDevice;
  let controlPlane: StartedControlPlane | undefined;
  try {
    device = new EmulatedDevice({
      name,
      platform,
      firmware,
      console,
      defects: options.defects,
      options: options.options,
      host: options.host,
      ports: options.ports,
      timing: options.timing,
      seed: options.seed,
      factory: options.factory,
      esp32: esp32SigningDeviceOptions(
        platform === 'esp32' ? options.options : undefined,
        { ...firmware.deviceDefaults?.esp32, ...options.esp32 },
        new Set(options.defects ?? []),
      ),
      esp8266: {
        ...firmware.deviceDefaults?.esp8266,
        ...(platform === 'esp8266' ? esp8266SigningDeviceOptions(options.options) : {}),
        ...options.esp8266,
      },
      ...(options.receivedDir === undefined ? {} : { receivedDir: options.receivedDir }),
    });
    if (options.controlPlane !== false) {
      const settings = typeof options.controlPlane === 'object' ? options.controlPlane : {};
      controlPlane = await startControlPlane(device, { host: options.host, ...settings });
    }
    await device.powerOn();
  } catch (error) {
    await controlPlane?.stop();
    await console.stop();
    throw error;
  }
  const started = device;
  const restartDelayMs = started.restartDelayMs;
  return {
    name,
    profile: options.profile,
    platform,
    device: started,
    defects: [...(options.defects ?? [])],
    endpoints: () => ({
      services: Object.fromEntries(started.endpoints),
      control: controlPlane?.url,
      console: console.port,
      ...(restartDelayMs === undefined ? {} : { restartDelayMs }),
    }),
    stop: async () => {
      await controlPlane?.stop();
      await started.shutdown();
      await console.stop();
    },
  };
}
