import { describe, expect, it } from 'vitest';
import type { Platform, Profile } from '../device/index.ts';
import { firmwareFor } from './index.ts';

/**
 * What each emulated firmware reports as its restart delay (FirmwareModule.restartDelayMs), the
 * figure the harness times its no-reboot windows by. Expected values come from the reference,
 * not from the firmware's constants.
 */
function reported(profile: Profile, options: Record<string, unknown> = {}, platform?: Platform) {
  const firmware = firmwareFor(profile);
  return firmware.restartDelayMs?.(
    { ...firmware.defaultOptions, ...options },
    platform ?? firmware.platforms[0]!,
  );
}

describe('the restart delay each firmware reports', () => {
  it('is the library’s own where it is fixed: HTTPUpdate restarts inside update(), WebUpdate after delay(100), net.ota() at once', () => {
    // reference/arduino-ota.md §3.1 step 8 and §2.1; viperhttp-luartos-mqtt.md §2.3–2.4.
    expect(reported('http-update')).toBe(0);
    expect(reported('http-update', {}, 'esp32')).toBe(0);
    expect(reported('web-update')).toBe(100);
    expect(reported('web-update', { restartDelayMs: 5 })).toBe(100);
    expect(reported('luartos')).toBe(0);
  });

  it('is the option where the firmware has one, with the example’s or sketch’s default', () => {
    // advanced_https_ota_example.c: `upgrade successful. Rebooting ...`, vTaskDelay(1000 / portTICK_PERIOD_MS), esp_restart().
    expect(reported('esp-https-ota')).toBe(1000);
    expect(reported('esp-https-ota', { restartDelayMs: 0 })).toBe(0);
    // ArduinoOTA: client.stop(), delay(10), then the sketch's delay(100) (reference/arduino-ota.md §1.5).
    expect(reported('arduino-ota')).toBe(110);
    expect(reported('arduino-ota', { restartDelayMs: 40 })).toBe(50);
    expect(reported('mqtt-trigger', { dialect: 'tasmota', restartDelayMs: 50 })).toBe(50);
  });

  it('is not reported by a firmware that restarts only when asked to (ViperHTTP’s reset route)', () => {
    expect(reported('viperhttp')).toBeUndefined();
    expect(reported('viperhttp-doc')).toBeUndefined();
  });
});
