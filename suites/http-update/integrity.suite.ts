import { firmware } from '../../drivers/update-server/index.ts';
import { currentTarget, REQUIREMENT_TIMEOUT_MS, requirement } from '../framework/index.ts';
import { streamGiveUpWaitMs } from './device-timeouts.ts';
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

/**
 * The device gives a short body up only after its updater's stream timeout (60 s on an ESP8266):
 * the harness waits that long for the result, and the requirement's own time limit grows by it.
 */
const describedTarget = currentTarget();
const STREAM_WAIT_MS = describedTarget ? streamGiveUpWaitMs(describedTarget) : undefined;

requirement(
  'http-update/integrity/2',
  'MUST',
  'a body cut short of its Content-Length is not booted, no reboot',
  {
    ...PULL_TRIGGER,
    source: sourceFor(
      'step 7: writeStream() must return len, else the Update error (6, after its 60 s stream timeout)',
    ),
    ...(STREAM_WAIT_MS === undefined ? {} : { timeoutMs: REQUIREMENT_TIMEOUT_MS + STREAM_WAIT_MS }),
  },
  async (context) => {
    await refusesUpdate(context, {
      what: 'body truncated to half its Content-Length',
      fault: (image) => firmware(image.bytes, { truncateAt: Math.floor(image.bytes.length / 2) }),
      resultWithinMs: streamGiveUpWaitMs(context.target.description),
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
