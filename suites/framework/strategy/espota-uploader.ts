import { EspotaUploader, type EspotaUploaderOptions } from '../../../drivers/espota/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import { RigFailure } from '../rig-failure.ts';

/**
 * The espota uploader for a target: its ArduinoOTA address and password from the rig, the rig's
 * step timeout for each step, and a result wait two seconds longer (the ESP8266 waits a second on
 * each side of its `OK`, reference/arduino-ota.md §1.5). `overrides` replace fields, and single
 * timeouts within `timeouts`.
 */
export function espotaUploaderFor(
  target: Target,
  overrides: Partial<EspotaUploaderOptions> = {},
): EspotaUploader {
  const { host, port, password } = target.description;
  if (host === undefined || port === undefined) {
    throw new RigFailure(`target ${target.name}: the rig gives no host/port for its ArduinoOTA UDP service`);
  }
  const stepMs = target.stepTimeoutMs;
  const { timeouts, ...rest } = overrides;
  return new EspotaUploader({
    host,
    port,
    targetName: target.name,
    ...(password === undefined ? {} : { password }),
    transcript: target.transcript,
    redact: (text) => target.redactor.redact(text),
    ...rest,
    timeouts: {
      invitationMs: stepMs,
      authMs: stepMs,
      connectBackMs: stepMs,
      ackMs: stepMs,
      resultMs: stepMs + 2_000,
      ...timeouts,
    },
  });
}
