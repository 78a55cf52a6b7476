import { createHash } from 'node:crypto';
import type { FirmwareContext, FirmwareModule, RunningFirmware } from '../../device/index.ts';
import { initArduinoRollback } from '../../esp32-arduino-update/index.ts';
import { EBOOT_CLEARS_COMMAND_EARLY, WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { ESP32_ARDUINO_SIGNATURE_DEFECTS, ESP8266_SIGNATURE_DEFECTS } from '../signing-options.ts';
import { ARDUINO_OTA_DEFAULT_OPTIONS, resolveSettings } from './arduino-ota-options.ts';
import { type ArduinoOtaCallbacks, ArduinoOtaService, OtaErrorKind } from './arduino-ota-service.ts';

const ERROR_TEXT: Record<OtaErrorKind, string> = {
  [OtaErrorKind.AUTH]: 'Auth Failed',
  [OtaErrorKind.BEGIN]: 'Begin Failed',
  [OtaErrorKind.CONNECT]: 'Connect Failed',
  [OtaErrorKind.RECEIVE]: 'Receive Failed',
  [OtaErrorKind.END]: 'End Failed',
};

/**
 * The BasicOTA example's callbacks. The real progress line ends in `\r` and overwrites itself on
 * a terminal, so only a change of the percentage is visible: that is all this prints.
 */
function basicOtaCallbacks(context: FirmwareContext): ArduinoOtaCallbacks {
  let lastPercent = -1;
  return {
    onStart(command) {
      lastPercent = -1;
      context.console.line(`Start updating ${command === 0 ? 'sketch' : 'filesystem'}`);
    },
    onProgress(progress, total) {
      const percent = Math.floor(progress / Math.max(1, Math.floor(total / 100)));
      if (percent === lastPercent) return;
      lastPercent = percent;
      context.console.line(`Progress: ${percent}%`);
    },
    onEnd() {
      context.console.line('End');
    },
    onError(error) {
      context.console.line(`Error[${error}]: ${ERROR_TEXT[error]}`);
    },
  };
}

/** `esp8266-%06x` (chip id) or `esp32-` + the 6-byte MAC; both derived from the device name here. */
function defaultHostname(context: FirmwareContext): string {
  const digest = createHash('md5').update(context.name).digest('hex');
  return context.platform === 'esp8266' ? `esp8266-${digest.slice(0, 6)}` : `esp32-${digest.slice(0, 12)}`;
}

async function start(context: FirmwareContext): Promise<RunningFirmware> {
  const settings = resolveSettings(context.options, context.platform, defaultHostname(context));
  if (context.esp32 !== undefined) {
    // initArduino() runs before setup(): it confirms (or rejects) a freshly booted OTA image.
    const outcome = initArduinoRollback(context.esp32, {
      verifyRollbackLater: () => settings.verifyRollbackLater,
    });
    if (outcome === 'rollback-reboot') {
      context.restart();
      return { stop: async () => {} };
    }
  }
  const { running } = context;
  context.console.line(`Booting ${running.projectName} ${running.version}`);
  // A test sketch prints the build it is (`Serial.println("Built " __DATE__ " " __TIME__)`).
  if (context.running.built) context.console.line(`Built ${context.running.built}`);
  const service = new ArduinoOtaService(context, settings, basicOtaCallbacks(context));
  const port = await service.begin();
  context.publish('ota', { protocol: 'udp', host: context.host, port });
  context.console.line('Ready');
  context.console.line(`IP address: ${context.host}`);
  context.console.line(`Hostname: ${settings.hostname}`);
  return {
    stop: async () => service.stop(),
  };
}

/**
 * The `arduino-ota` profile: a BasicOTA sketch (ArduinoOTA + Update) on ESP8266 (default, UDP 8266
 * on a chip) or ESP32 (UDP 3232), per reference/arduino-ota.md §1, §4, §5.
 */
export const arduinoOtaFirmware: FirmwareModule = {
  profile: 'arduino-ota',
  platforms: ['esp8266', 'esp32'],
  defaultOptions: ARDUINO_OTA_DEFAULT_OPTIONS,
  deviceDefaults: {
    // A third-party audit reports the prebuilt Arduino bootloader with rollback on (§5.3, UNCONFIRMED).
    esp32: { chip: { rollback: true } },
    esp8266: { core: '3.1.2' },
  },
  // From the end of the exchange (client.stop() after the final OK or the ERR; on an ESP8266 the
  // OK is framed by the result delays): delay(10), then the sketch's delay before ESP.restart()
  // (reference/arduino-ota.md §1.5, L313-320 and the ESP32 branch).
  restartDelayMs: (options) => 10 + (options.restartDelayMs as number),
  defects: [
    {
      name: 'ignores-password',
      breaks: [
        'arduino-ota/auth/1',
        'reference/arduino-ota.md §1.3–1.4: with a password set the device answers an invitation with `AUTH <nonce>` and connects back only after the right response',
      ],
      description: 'answers an invitation as if no password were set: no challenge, straight to the update',
    },
    {
      name: 'static-nonce',
      breaks: [
        'arduino-ota/auth/3',
        'reference/arduino-ota.md §1.4: the nonce is fresh for every invitation (MD5 of micros() on ESP8266), so an answer cannot be replayed',
      ],
      description:
        'sends the same nonce on every invitation, so an answer recorded once opens the device again',
    },
    {
      name: 'accepts-wrong-password',
      breaks: [
        'arduino-ota/auth/2',
        'arduino-ota/auth/3',
        'reference/arduino-ota.md §1.3–1.4: a wrong challenge response gets `Authentication Failed` and the device goes back to IDLE without connecting',
      ],
      description: 'takes any 32/64-character response as correct and goes on to the update',
    },
    {
      name: 'accepts-bad-md5',
      breaks: [
        'arduino-ota/update/2',
        'arduino-ota/update/3',
        'arduino-ota/update/5',
        'reference/arduino-ota.md §1.5: the device calls Update.setMD5(md5 from the invitation) and Update.end() refuses a mismatch (ESP8266 error 7, ESP32 `MD5 Check Failed`)',
      ],
      description:
        'never passes the invitation MD5 to Update, so an image whose MD5 differs is installed and booted',
    },
    {
      name: 'no-stream-timeout',
      breaks: [
        'arduino-ota/update/4',
        'reference/arduino-ota.md §1.5: ESP32 waits _ota_timeout (1000 ms) for data, re-sends the last count up to 3 times, then reports OTA_RECEIVE_ERROR, aborts and accepts new invitations; ESP8266 ends the session when the uploader closes',
      ],
      description:
        'never gives up on a stalled uploader (ESP8266: not even once it has closed), so no new invitation is ever answered',
    },
    {
      name: 'restarts-after-failed-upload',
      breaks: [
        'arduino-ota/update/4',
        'arduino-ota/update/5',
        'reference/arduino-ota.md §1.5: after Update.end() fails the device prints the error, returns to IDLE and keeps running; ESP.restart() follows only a successful update',
      ],
      description: 'reboots after a failed upload as if it had succeeded',
    },
    {
      name: 'no-reboot-after-success',
      breaks: [
        'arduino-ota/update/1',
        'reference/arduino-ota.md §1.5: after the final `OK` the device calls onEnd, delay(100) and ESP.restart() (rebootOnSuccess defaults to true), so the new image runs',
      ],
      description:
        'answers `OK` and calls onEnd but never restarts, so the installed image does not run until someone resets the board',
    },
    WRITES_SKETCH_IN_PLACE,
    EBOOT_CLEARS_COMMAND_EARLY,
    ...ESP8266_SIGNATURE_DEFECTS.map(({ updater: _updater, ...defect }) => defect),
    ...ESP32_ARDUINO_SIGNATURE_DEFECTS.map(({ update: _update, ...defect }) => defect),
  ],
  start,
};
