import type { EmulatorOptions } from '../emulators/index.ts';
import type { ResolvedTarget } from './load-rig.ts';

type ResolvedEmulatorTarget = Extract<ResolvedTarget, { kind: 'emulator' | 'emulator-process' }>;

/**
 * What `startEmulator` needs to start the device a rig entry describes. The device gets the same
 * credentials and limits the drivers will use, so harness and device agree by construction:
 * `token`, `password`, `username` and the `limits` keys become firmware options of the same
 * names, after the entry's own `emulator.options`, which win.
 */
export function emulatorOptionsFor(target: ResolvedEmulatorTarget): EmulatorOptions {
  const { emulator } = target;
  const fromRig: Record<string, unknown> = {};
  for (const key of ['token', 'password', 'username'] as const) {
    if (target[key] !== undefined) fromRig[key] = target[key];
  }
  for (const [key, value] of Object.entries(target.limits ?? {}))
    if (value !== undefined) fromRig[key] = value;
  return {
    profile: emulator.firmware ?? target.profile,
    name: target.name,
    ...(target.platform === undefined ? {} : { platform: target.platform }),
    ...(emulator.defects === undefined ? {} : { defects: emulator.defects }),
    options: { ...fromRig, ...emulator.options },
    ...(emulator.timing === undefined ? {} : { timing: emulator.timing }),
    // The suites reach a device only through its endpoints, so its console is on TCP (a
    // networked serial server's way, which needs nothing installed) unless the rig says `pty`.
    console: emulator.console ?? 'tcp',
    ...(emulator.seed === undefined ? {} : { seed: emulator.seed }),
    ...(emulator.host === undefined ? {} : { host: emulator.host }),
    ...(emulator.ports === undefined ? {} : { ports: emulator.ports }),
    controlPlane: emulator.controlToken === undefined ? true : { token: emulator.controlToken },
  };
}
