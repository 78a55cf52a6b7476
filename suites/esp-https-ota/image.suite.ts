import { firmware } from '../../drivers/update-server/index.ts';
import { APP_DESC_IMAGE_OFFSET, SeededRandom, zeroRange } from '../../fixtures/index.ts';
import { requirement } from '../framework/index.ts';
import { rigImages } from '../framework/strategy/rig-images.ts';
import { espImage, refusesEsp, SOURCE_6_1 } from './esp-https-ota-kit.ts';

requirement(
  'esp-https-ota/image/1',
  'MUST',
  'an image truncated to 64000 bytes (Content-Length matching) fails validation and is not booted',
  { source: `${SOURCE_6_1} test_…_truncated_bin (L462); §5.6 esp_ota_end`, needs: ['console'] },
  async (context) => {
    await refusesEsp(context, {
      what: 'image truncated to 64000 bytes',
      fault: (image) => firmware(image.bytes.subarray(0, 64000)),
      reason: /Image validation failed, image is corrupted|ESP_HTTPS_OTA upgrade failed/,
    });
  },
);

requirement(
  'esp-https-ota/image/2',
  'MUST',
  'an image truncated to 180 bytes (less than the header) is refused at get_img_desc',
  { source: `${SOURCE_6_1} test_…_truncated_header (L514); §5.4`, needs: ['console'] },
  async (context) => {
    await refusesEsp(context, {
      what: 'image truncated to 180 bytes',
      fault: (image) => firmware(image.bytes.subarray(0, 180)),
      reason: /esp_https_ota_(get|read)_img_desc failed|Complete headers were not received/,
    });
  },
);

requirement(
  'esp-https-ota/image/3',
  'MUST',
  '32000 random bytes starting with 0x00 are refused (Incorrect app descriptor magic)',
  { source: `${SOURCE_6_1} test_…_random (L565); §5.4`, needs: ['console'] },
  async (context) => {
    await refusesEsp(context, {
      what: '32000 random bytes',
      fault: (image) => {
        // On a board with the vendor's builds, the refusal comes from the real image: its first
        // 32000 bytes with the magic byte and the app descriptor's magic word zeroed.
        const bytes = rigImages(context.target)
          ? zeroRange(image.bytes.slice(0, 32000), APP_DESC_IMAGE_OFFSET, APP_DESC_IMAGE_OFFSET + 4)
          : new SeededRandom(565).bytes(32000);
        bytes[0] = 0x00;
        return firmware(bytes);
      },
      reason: /Incorrect app descriptor magic|invalid magic byte/,
    });
  },
);

requirement(
  'esp-https-ota/image/4',
  'MUST',
  'an image whose chip_id is not this chip (byte 13 = 0xFE) is refused before it is written',
  { source: `${SOURCE_6_1} test_…_invalid_chip_id (L616); §5.5 chip id check`, needs: ['console'] },
  async (context) => {
    await refusesEsp(context, {
      what: 'image for another chip id',
      fault: (image) => {
        const bytes = image.bytes.slice();
        bytes[13] = 0xfe;
        return firmware(bytes);
      },
      reason: /[Mm]ismatch chip id|mismatch chip ID/,
      // Refused at the chip id check, before the first esp_ota_write (§5.5).
      tooFar: /esp_ota_write failed|Image validation failed/,
    });
  },
);

requirement(
  'esp-https-ota/image/5',
  'MUST',
  'an image whose secure_version is below the eFuse is refused from its descriptor, before download',
  { source: `${SOURCE_6_1} test_…_anti_rollback (L773); §3.6`, needs: ['console', 'anti-rollback'] },
  async (context) => {
    await refusesEsp(context, {
      what: 'image with a lower secure_version',
      fault: () => firmware(espImage(context.target, { secureVersion: 1 }).bytes),
      reason: /New firmware security version is less than eFuse programmed/,
    });
  },
);
