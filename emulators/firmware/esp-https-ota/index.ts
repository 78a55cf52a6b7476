import type { FirmwareModule } from '../../device/index.ts';
import { ESP_IDF_SIGNATURE_DEFECTS } from '../signing-options.ts';
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
  // The example's vTaskDelay before esp_restart(), an option here (1 s in the example).
  restartDelayMs: (options) => resolveOptions(options).restartDelayMs,
  defects: [
    {
      name: 'skips-chip-id-check',
      breaks: [
        'esp-https-ota/image/4',
        `${SECTION_5}.5: perform rejects an image whose chip_id differs from the chip (Mismatch chip id)`,
      ],
      description: 'writes an image built for another chip instead of stopping at the chip id check',
    },
    {
      name: 'ignores-secure-version',
      breaks: [
        'esp-https-ota/image/5',
        `${SECTION_6_1}: an image whose secure_version is below the eFuse is refused before download (New firmware security version is less than eFuse programmed)`,
      ],
      description:
        'downloads an image with a lower secure_version instead of refusing it from its descriptor',
    },
    {
      name: 'never-rolls-back',
      breaks: [
        'esp-https-ota/rollback/1',
        'reference/esp-idf.md §3.5: an update that is not confirmed is rolled back at the next reset',
      ],
      description:
        'marks every new image valid at boot without its self-test, whatever the mark-valid setting',
    },
    {
      name: 'marks-valid-before-check',
      breaks: [
        'esp-https-ota/rollback/1',
        'reference/esp-idf.md §3.5, §6.3: a new image is confirmed only after its diagnostic passes',
      ],
      description:
        'confirms a new image at boot, before the self-test runs and without waiting for the confirmation an on-request app waits for, so a failing or missing check can no longer roll back',
    },
    {
      name: 'restarts-after-failed-download',
      breaks: [
        'esp-https-ota/image/1',
        'esp-https-ota/image/2',
        'esp-https-ota/image/3',
        'esp-https-ota/image/4',
        'esp-https-ota/image/5',
        'esp-https-ota/transfer/3',
        'esp-https-ota/transfer/4',
        `${SECTION_6_1}: a failed update logs ESP_HTTPS_OTA upgrade failed and keeps running (no esp_restart)`,
      ],
      description: 'restarts the chip after a failed or refused download',
    },
    {
      name: 'ignores-range',
      breaks: [
        'esp-https-ota/transfer/1',
        `${SECTION_5}.2, §5.5: partial download sends HEAD then Range requests of max_http_request_size`,
      ],
      description: 'always downloads the whole image in one GET, even with partial download configured',
    },
    {
      name: 'otadata-in-place',
      breaks: [
        'esp-https-ota/transfer/5',
        'reference/esp-idf.md §3.2, §3.4: an otadata entry is rewritten by erasing its sector first',
        'reference/esp-idf.md §3.5: mark-valid turns the active entry VALID (erase + write)',
      ],
      description:
        'writes otadata itself and programs each entry over the old one without erasing the sector: ' +
        'a new boot selection is torn (on v5.4, or without rollback, where esp_ota_begin does not erase ' +
        'the inactive sector first) and a confirmation ANDs PENDING_VERIFY with VALID into NEW, so the ' +
        'image is pending again at the next boot and the next update is refused',
    },
    {
      name: 'otadata-overwrites-active-entry',
      breaks: [
        'rollback/power-cut/2',
        'reference/esp-idf.md §3.4: the new selection goes to the other entry (next = (~active) & 1), so an interrupted esp_ota_set_boot_partition only loses the inactive entry (§3.5 power-cut hazards)',
      ],
      description:
        'erases and rewrites the entry that selects the running app instead of the other one, so a power cut between that erase and write leaves no entry naming the running app (the chip falls back to factory)',
    },
    {
      name: 'sets-boot-before-verify',
      breaks: [
        'rollback/power-cut/2',
        'reference/esp-idf.md §4.5: esp_ota_set_boot_partition verifies the image first, and esp_https_ota calls it only at finish (§5.6)',
      ],
      description:
        'makes the slot it is about to write the boot slot before writing it (set_boot_partition_skip_validate at the first write), so a power cut during the write boots whatever the bootloader falls back to',
    },
    {
      name: 'fixed-staging-partition',
      breaks: [
        'esp-https-ota/update/1',
        `${SECTION_5}.2 step 6: the staging partition is the passive OTA slot (esp_ota_get_next_update_partition)`,
        'reference/esp-idf.md §4.2: esp_ota_begin on the running partition fails with ESP_ERR_OTA_PARTITION_CONFLICT',
      ],
      description:
        'configures partition.staging as ota_0 instead of the passive slot, so once ota_0 runs every update fails at esp_ota_begin',
    },
    {
      name: 'confirms-wrong-partition',
      breaks: [
        'esp-https-ota/rollback/2',
        'esp-https-ota/update/1',
        'reference/esp-idf.md §3.5: the running app confirms itself with esp_ota_mark_app_valid_cancel_rollback()',
        'reference/esp-idf.md §4.6: esp_ota_get_state_partition of the running partition says PENDING_VERIFY',
      ],
      description:
        'checks the state of the next update partition instead of the running one before confirming, so a new image is never marked valid and rolls back at the next reset',
    },
    ...ESP_IDF_SIGNATURE_DEFECTS.map(({ chip: _chip, ...defect }) => defect),
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
