import type { FirmwareModule, Profile } from '../device/index.ts';
import { arduinoOtaFirmware } from './arduino-ota/index.ts';
import { espHttpsOtaFirmware } from './esp-https-ota/index.ts';
import { httpUpdateFirmware } from './http-update/index.ts';
import { luartosFirmware } from './luartos/index.ts';
import { mqttTriggerFirmware } from './mqtt-trigger/index.ts';
import { viperhttpFirmware } from './viperhttp/index.ts';
import { viperhttpDocFirmware } from './viperhttp-doc/index.ts';
import { webUpdateFirmware } from './web-update/index.ts';

/**
 * One firmware module per profile. A profile is listed here once its firmware exists; asking for
 * another one is an error that names what is available.
 */
const FIRMWARE: Partial<Record<Profile, FirmwareModule>> = {
  'http-update': httpUpdateFirmware,
  'viperhttp-doc': viperhttpDocFirmware,
  'arduino-ota': arduinoOtaFirmware,
  'web-update': webUpdateFirmware,
  viperhttp: viperhttpFirmware,
  'esp-https-ota': espHttpsOtaFirmware,
  'mqtt-trigger': mqttTriggerFirmware,
  luartos: luartosFirmware,
};

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
