import { firmware, headerValue, redirectChain } from '../../drivers/update-server/index.ts';
import { requirement } from '../framework/index.ts';
import { devicePath, watchConsole, withPullSession } from '../http-update/pull-kit.ts';
import {
  espImage,
  expectRunning,
  installEsp,
  refusesEsp,
  resetDevice,
  SOURCE_6_1,
} from './esp-https-ota-kit.ts';

const SOURCE_5 =
  'docs/protocols/esp-idf.md §5.2 step 3, §5.5 partial mode (esp_https_ota.c L359-484, L850-893)';
const IDLE = firmware(new Uint8Array(0));

requirement(
  'esp-https-ota/transfer/1',
  'MUST',
  'with partial download the image is fetched in Range requests that together cover it, and then boots',
  { source: `${SOURCE_5}; ${SOURCE_6_1} test_…_partial_request (L848)`, needs: ['console', 'range'] },
  async (context) => {
    await withPullSession(context.target, IDLE, async (session) => {
      const image = espImage(context.target);
      const from = session.requestCount;
      await installEsp(context, session, image);
      const gets = session.server
        .requests()
        .slice(from)
        .filter((request) => request.method === 'GET' && request.status === 206);
      const ranges = gets.map((request) => headerValue(request, 'range') ?? '');
      context.check(
        gets.length >= 2 && ranges.every((range) => /^bytes=\d+-\d*$/.test(range)),
        `at least two ranged GETs answered 206 for a ${image.bytes.length}-byte image`,
        `${gets.length} ranged GETs: ${ranges.join(', ') || 'none'}`,
      );
    });
  },
);

requirement(
  'esp-https-ota/transfer/2',
  'SHOULD',
  'against a server without Range support (200 with the whole image) the update still completes',
  {
    source: `${SOURCE_6_1} test_…_range_request_support_detection (L312); §5.3 (200 to a Range)`,
    needs: ['console', 'range'],
  },
  async (context) => {
    await withPullSession(context.target, IDLE, async (session) => {
      const image = espImage(context.target);
      await installEsp(context, session, image, { script: firmware(image.bytes, { range: 'ignore' }) });
    });
  },
);

requirement(
  'esp-https-ota/transfer/3',
  'MUST',
  'follows a two-hop 301 redirect chain to the image, and refuses a redirect from https to http',
  {
    source: `${SOURCE_6_1} test_…_redirect_url (L705); §5.3 redirect downgrade (esp_http_client.c L1180-1190)`,
    needs: ['console'],
  },
  async (context) => {
    const from = devicePath(context.target);
    await withPullSession(context.target, IDLE, async (session) => {
      const image = espImage(context.target);
      await installEsp(context, session, image, {
        script: firmware(image.bytes),
        routes: redirectChain(2, firmware(image.bytes), { from }),
      });
      const hops = session.server.requests().filter((request) => request.path.startsWith(`${from}/hop-`));
      context.check(
        hops.length >= 2,
        'the device asked both redirect targets',
        `${hops.map((r) => r.path).join(', ')}`,
      );
    });
    await refusesEsp(context, {
      what: 'redirect to plain http',
      fault: (image) => firmware(image.bytes),
      routes: () => ({
        [from]: { status: 301, redirect: { to: 'http://127.0.0.1:9/firmware.bin', status: 301 } },
      }),
      reason: /Redirection to an insecure URL is not allowed|ESP HTTPS OTA Begin failed/,
    });
  },
);

requirement(
  'esp-https-ota/transfer/4',
  'MUST',
  'a server that stalls longer than the receive timeout is given up on; the old image keeps running',
  {
    source:
      'docs/protocols/esp-idf.md §5.1 timeout_ms, §5.2 step 8 (Failed to establish HTTP connection); §6.1 example L293',
    needs: ['console'],
  },
  async (context) => {
    await refusesEsp(context, {
      what: 'server silent for 4 s before its answer',
      fault: (image) => firmware(image.bytes, { delayMs: 4_000 }),
      reason: /Failed to establish HTTP connection|ESP HTTPS OTA Begin failed|ESP_HTTPS_OTA upgrade failed/,
    });
  },
);

requirement(
  'esp-https-ota/transfer/5',
  'MUST',
  'a reset in mid-download leaves the old image running, and the next complete download installs the new one',
  {
    source: `${SOURCE_6_1} test_…_ota_resumption (L249): hard reset mid-download, then a complete update`,
    needs: ['console', 'reset'],
  },
  async (context) => {
    const { target, step } = context;
    await withPullSession(target, IDLE, async (session) => {
      const known = espImage(target);
      await installEsp(context, session, known);
      const next = espImage(target);
      session.answer(firmware(next.bytes, { stallAfter: 4096 }));
      // The example prints the running version once the new image's header is in: the download has begun.
      const downloading = watchConsole(
        target,
        /Running firmware version:/,
        'the device is downloading',
        10_000,
      );
      await step('start the download, stalled after 4 KiB', () =>
        session.trigger('check for the stalled image'),
      );
      await downloading;
      session.answer(firmware(known.bytes));
      const rebooted = watchConsole(target, /App version:/, 'boot after the reset', 15_000);
      await step('reset the chip in mid-download', () => resetDevice(target));
      await rebooted.catch(() => undefined);
      await expectRunning(context, session, known);
      await installEsp(context, session, next);
    });
  },
);
