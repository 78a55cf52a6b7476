import { requirement } from '../framework/index.ts';
import { notAnImage as rigNotAnImage } from '../framework/strategy/rig-images.ts';
import {
  freshVersion,
  getPage,
  headerOf,
  imageFor,
  isSuccess,
  refusedUpload,
  restartAndReadVersion,
  upload,
  usingSession,
  watchNextBoot,
} from './web-update-device.ts';

const SOURCE =
  'docs/protocols/arduino-ota.md §2.1 (ESP8266HTTPUpdateServer-impl.h L15-149), §2.2 (ESP32 HTTPUpdateServer.h)';
const NEEDS = ['console', 'reset'] as const;

/** A multipart form posting to its own page, and the file input named `name` in it. */
function fileField(page: string, name: string): { form: boolean; input: boolean } {
  const forms = [...page.matchAll(/<form\b[^>]*>/gi)].map((match) => match[0]);
  const form = forms.some(
    (tag) => /method\s*=\s*['"]?post/i.test(tag) && /enctype\s*=\s*['"]?multipart\/form-data/i.test(tag),
  );
  const inputs = [...page.matchAll(/<input\b[^>]*>/gi)].map((match) => match[0]);
  const input = inputs.some(
    (tag) =>
      /type\s*=\s*['"]?file/i.test(tag) && new RegExp(`name\\s*=\\s*['"]?${name}['"\\s>]`, 'i').test(tag),
  );
  return { form, input };
}

requirement(
  'web-update/form/1',
  'MUST',
  'GET /update serves 200 text/html with a multipart POST form and a file field `firmware` (and `filesystem` where the target updates its filesystem)',
  { source: `${SOURCE}: GET path → 200 text/html, name='firmware' / name='filesystem'`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    await restartAndReadVersion(target, step, 'known state');
    const page = await step('GET /update with the rig’s credentials', () =>
      usingSession(target, {}, (session) => getPage(session)),
    );
    check(page.status === 200, 'HTTP 200', `HTTP ${page.status}`);
    const contentType = headerOf(page.headers, 'content-type') ?? '';
    check(/^text\/html\b/i.test(contentType), 'Content-Type text/html', contentType || '(none)');
    const firmware = fileField(page.body, 'firmware');
    check(
      firmware.form && firmware.input,
      "a <form method='POST' enctype='multipart/form-data'> with <input type='file' name='firmware'>",
      page.body.slice(0, 400),
    );
    if (target.capabilities.has('filesystem-update')) {
      check(
        fileField(page.body, 'filesystem').input,
        "a second file field <input type='file' name='filesystem'> (the target claims filesystem-update)",
        page.body.slice(0, 400),
      );
    }
  },
);

requirement(
  'web-update/form/2',
  'SHOULD',
  'ESP8266 (core ≥ 3.1.0): every POST answer carries `Access-Control-Allow-Origin: *` and `Access-Control-Allow-Headers: *`, the refused one as the accepted one',
  {
    source: `${SOURCE}: the two CORS headers on every POST response (PR #6824, 3.1.0); the ESP32 server sends none (§2.2)`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    if (target.platform === 'esp32') {
      // §2.2: the ESP32 server has no CORS headers; the page must still serve, which is all there is to see.
      const page = await step('GET /update (ESP32: no CORS headers to check)', () =>
        usingSession(target, {}, (session) => getPage(session)),
      );
      check(page.status === 200, 'HTTP 200', `HTTP ${page.status}`);
      return;
    }
    await restartAndReadVersion(target, step, 'known state');
    const cors = (headers: Record<string, string | string[] | undefined>) =>
      `Access-Control-Allow-Origin: ${headerOf(headers, 'access-control-allow-origin') ?? '(none)'}, Access-Control-Allow-Headers: ${headerOf(headers, 'access-control-allow-headers') ?? '(none)'}`;
    const expected = 'Access-Control-Allow-Origin: *, Access-Control-Allow-Headers: *';
    const notAnImage = rigNotAnImage(target, 0x74, () =>
      new TextEncoder().encode('this is not a firmware image\n'.repeat(200)),
    );
    const { result: refused, bootedAfterSuccess } = await step('upload a file that is not an image', () =>
      usingSession(target, {}, (session) => refusedUpload(target, session, notAnImage)),
    );
    check(
      refused.outcome === 'answered' && !isSuccess(refused),
      'an `Update error: …` answer',
      bootedAfterSuccess ? `success, then it booted ${bootedAfterSuccess}` : refused.outcome,
    );
    if (refused.outcome === 'answered')
      check(cors(refused.headers) === expected, expected, cors(refused.headers));
    const version = freshVersion('form2', target);
    const watch = watchNextBoot(target);
    try {
      const accepted = await step(`upload a good image (version ${version})`, () =>
        usingSession(target, {}, (session) => upload(session, imageFor(target, version))),
      );
      check(isSuccess(accepted), 'the success page', accepted.outcome);
      if (accepted.outcome === 'answered')
        check(cors(accepted.headers) === expected, expected, cors(accepted.headers));
      await step('wait for the reboot', () => watch.booted('the reboot after the success page'));
    } finally {
      watch.stop();
    }
  },
);
