import type { FirmwareModule } from '../../device/index.ts';
import {
  AdvancedOtaApp,
  DEFAULT_OPTIONS,
  type EspHttpsOtaOptions,
  resolveOptions,
} from './advanced-ota-app.ts';

export type { EspHttpsOtaOptions, MarkValidMode } from './advanced-ota-app.ts';
export type { IdfVersion } from './https-ota.ts';

const SECTION_5 = 'reference/esp-idf.md §5';
const SECTION_6_1 = 'reference/esp-idf.md §6.1';

/**
 * ESP-IDF's advanced_https_ota example on an emulated ESP32: pulls an image over HTTPS with
 * esp_https_ota, checks the app descriptor first, supports partial (Range) downloads and
 * redirects, and confirms a new image after its self-test when rollback is on.
 */
export const espHttpsOtaFirmware: FirmwareModule = {
  profile: 'esp-https-ota',
  platforms: ['esp32'],
  deviceDefaults: { esp32: { chip: { rollback: true } } },
  defaultOptions: { ...DEFAULT_OPTIONS } satisfies EspHttpsOtaOptions,
  defects: [
    {
      name: 'skips-chip-id-check',
      breaks: [
        `${SECTION_5}.5: perform rejects an image whose chip_id differs from the chip (Mismatch chip id)`,
      ],
      description: 'writes an image built for another chip instead of stopping at the chip id check',
    },
    {
      name: 'ignores-secure-version',
      breaks: [
        `${SECTION_6_1}: an image whose secure_version is below the eFuse is refused before download (New firmware security version is less than eFuse programmed)`,
      ],
      description:
        'downloads an image with a lower secure_version instead of refusing it from its descriptor',
    },
    {
      name: 'never-rolls-back',
      breaks: ['reference/esp-idf.md §3.5: an update that is not confirmed is rolled back at the next reset'],
      description:
        'marks every new image valid at boot without its self-test, whatever the mark-valid setting',
    },
    {
      name: 'marks-valid-before-check',
      breaks: ['reference/esp-idf.md §3.5, §6.3: a new image is confirmed only after its diagnostic passes'],
      description:
        'confirms a new image before the self-test runs, so a failing self-test can no longer roll back',
    },
    {
      name: 'restarts-after-failed-download',
      breaks: [
        `${SECTION_6_1}: a failed update logs ESP_HTTPS_OTA upgrade failed and keeps running (no esp_restart)`,
      ],
      description: 'restarts the chip after a failed or refused download',
    },
    {
      name: 'ignores-range',
      breaks: [
        `${SECTION_5}.2, §5.5: partial download sends HEAD then Range requests of max_http_request_size`,
      ],
      description: 'always downloads the whole image in one GET, even with partial download configured',
    },
    {
      name: 'otadata-in-place',
      breaks: ['reference/esp-idf.md §3.4: an otadata entry is rewritten by erasing its sector first'],
      description: 'programs the new otadata entry over the old one without erasing the sector',
    },
  ],
  async start(context) {
    if (!context.esp32) throw new RangeError('the esp-https-ota firmware runs on ESP32 only');
    const app = new AdvancedOtaApp(context, resolveOptions(context.options));
    app.start();
    return {
      stop: async () => {
        app.stop();
      },
    };
  },
};
