import { firmware } from '../../drivers/update-server/index.ts';
import { requirement } from '../framework/index.ts';
import { PULL_TRIGGER, refusesUpdate, sourceFor } from './http-update-kit.ts';

requirement(
  'http-update/integrity/1',
  'MUST',
  'an image whose x-MD5 does not match its bytes is not booted (Update MD5 check), no reboot',
  { ...PULL_TRIGGER, source: sourceFor('step 7: x-MD5 → Update.setMD5(); a mismatch fails Update.end()') },
  async (context) => {
    await refusesUpdate(context, {
      what: 'image with a wrong x-MD5',
      fault: (image) => firmware(image.bytes, { md5: false, md5Header: 'wrong' }),
    });
  },
);

requirement(
  'http-update/integrity/2',
  'MUST',
  'a body cut short of its Content-Length is not booted, no reboot',
  { ...PULL_TRIGGER, source: sourceFor('step 7: writeStream() must return len, else the Update error') },
  async (context) => {
    await refusesUpdate(context, {
      what: 'body truncated to half its Content-Length',
      fault: (image) => firmware(image.bytes, { truncateAt: Math.floor(image.bytes.length / 2) }),
    });
  },
);

requirement(
  'http-update/integrity/3',
  'MUST',
  'a 200 without Content-Length fails with HTTP_UE_SERVER_NOT_REPORT_SIZE (-101), no reboot',
  { ...PULL_TRIGGER, source: sourceFor('Response handling 200 step 1: Content-Length > 0, else -101') },
  async (context) => {
    await refusesUpdate(context, {
      what: '200 without Content-Length',
      fault: (image) => firmware(image.bytes, { contentLength: 'omit' }),
      expectCode: -101,
    });
  },
);

requirement(
  'http-update/integrity/4',
  'MUST',
  'a body whose first byte is not the image magic fails with HTTP_UE_BIN_VERIFY_HEADER_FAILED (-106) before writing',
  {
    ...PULL_TRIGGER,
    source: sourceFor('Response handling 200 step 5 (peekBytes: 0xE9, or 0x1F on ESP8266)'),
  },
  async (context) => {
    await refusesUpdate(context, {
      what: 'body with a bad magic byte',
      fault: (image) => {
        const bytes = image.bytes.slice();
        bytes[0] = 0x00;
        return firmware(bytes);
      },
      expectCode: -106,
    });
  },
);
