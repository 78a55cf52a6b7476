import type { FirmwareModule, Profile } from '../device/index.ts';

/**
 * One firmware module per profile. A profile is listed here once its firmware exists; asking for
 * another one is an error that names what is available.
 */
const FIRMWARE: Partial<Record<Profile, FirmwareModule>> = {};

export class UnknownProfileError extends Error {
  readonly code = 'UNKNOWN_PROFILE';
}

export function firmwareFor(profile: string): FirmwareModule {
  const module = FIRMWARE[profile as Profile];
  if (!module) {
    throw new UnknownProfileError(
      `no emulated firmware for profile '${profile}'; available: ${availableProfiles().join(', ') || 'none'}`,
    );
  }
  return module;
}

export function availableProfiles(): Profile[] {
  return Object.keys(FIRMWARE) as Profile[];
}
