import type { WebUploadResult } from '../../drivers/http/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { gzipImage, SeededRandom } from '../../fixtures/index.ts';
import { requirement } from '../framework/index.ts';
import { noRebootWindowMs } from '../framework/strategy/observe.ts';
import { notAnImage as rigNotAnImage } from '../framework/strategy/rig-images.ts';
import {
  type Boot,
  bannerWithin,
  describeResult,
  ERROR_PREFIX,
  freshVersion,
  headerOf,
  imageFor,
  installImage,
  refusedUpload,
  restartAndReadVersion,
  type StepRunner,
  SUCCESS_BODY,
  usingSession,
} from './web-update-device.ts';

const SOURCE =
  'docs/protocols/arduino-ota.md §2.1 Responses/Behaviours (ESP8266HTTPUpdateServer-impl.h L15-149), §2.2';
const NEEDS = ['console', 'reset'] as const;
/**
 * Without `limits.partitionSize` in the rig: larger than the space left for a new sketch on any
 * ESP8266 of up to 4 MB flash (FS_start − running sketch) and than the usual ESP32 OTA slot.
 */
const DEFAULT_SKETCH_SPACE = 4 * 1024 * 1024;

function installed(outcome: { result: WebUploadResult; boot?: Boot; bootError?: string }): string {
  return `${describeResult(outcome.result)}; ${outcome.boot ? `booted ${outcome.boot.version}` : (outcome.bootError ?? 'no reboot')}`;
}

/**
 * The acceptance twin of every refusal: the same device, right after, installs a good image.
 * A device that refuses everything does not pass a rejection requirement.
 */
async function goodImageInstalls(
  target: Target,
  step: StepRunner,
  check: (ok: boolean, expected: string, actual: string) => void,
  label: string,
): Promise<void> {
  const version = freshVersion(label, target);
  const outcome = await installImage(target, step, imageFor(target, version), `a good image (${version})`);
  check(
    outcome.boot?.version === version,
    `the success page, then a reboot into ${version}`,
    installed(outcome),
  );
}

/**
 * A refused upload must leave the device running: no boot banner from the upload on for
 * the no-reboot window after its answer (a device that restarts after a failure does it after the
 * page and delay(100): noRebootWindowMs), then the old image after a reset (or power cycle).
 */
async function keepsOldImage(
  target: Target,
  step: StepRunner,
  check: (ok: boolean, expected: string, actual: string) => void,
  before: string,
  since: number,
  how: 'reset' | 'power-cycle' = 'reset',
): Promise<void> {
  const window = noRebootWindowMs(target);
  const banner = await step(`watch the console for ${window} ms: no restart`, () =>
    bannerWithin(target, since, window),
  );
  check(
    banner === undefined,
    'no restart after the refused upload (only success restarts)',
    `a boot: ${JSON.stringify(banner)}`,
  );
  const after = await restartAndReadVersion(target, step, 'after the refused upload', how);
  check(after === before, `the old image (${before}) after a ${how}`, after);
}

requirement(
  'web-update/upload/1',
  'MUST',
  'installs a good image: 200 text/html with exactly the success page, then a reboot into the new image (ESP8266: eboot `@cp:0`)',
  { source: `${SOURCE}; §4.7 eboot staging`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upl1', target);
    const outcome = await installImage(target, step, imageFor(target, version), `version ${version}`);
    const { result } = outcome;
    check(
      result.outcome === 'answered' && result.status === 200 && result.body === SUCCESS_BODY,
      `HTTP 200 ${JSON.stringify(SUCCESS_BODY)}`,
      describeResult(result),
    );
    if (result.outcome === 'answered') {
      const contentType = headerOf(result.headers, 'content-type') ?? '';
      check(/^text\/html\b/i.test(contentType), 'Content-Type text/html', contentType || '(none)');
    }
    check(
      outcome.boot?.version === version,
      `a reboot into ${version} (was ${before})`,
      outcome.boot?.version ?? outcome.bootError ?? 'no reboot',
    );
    if (target.platform !== 'esp32') {
      check(
        outcome.boot?.ebootCopy === 0,
        'eboot copying the staged image before the boot: `@cp:0`',
        outcome.boot?.ebootCopy === undefined ? 'no `@cp:` line' : `@cp:${outcome.boot.ebootCopy}`,
      );
    }
  },
);

requirement(
  'web-update/upload/2',
  'MUST',
  'refuses a file that is not an image (bad magic) with 200 `Update error: …` naming the magic byte, keeps running and keeps the old image; a good image then installs',
  {
    source: `${SOURCE}: ESP8266 end() → \`ERROR[10]: Magic byte is not 0xE9\` (§4.3); ESP32 \`Wrong Magic Byte\` or \`Decryption error\` (§5.2)`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    // On a board with the vendor's builds the refusal comes from a real image: its magic byte
    // replaced by '<', the first byte of the HTML page a browser might upload by mistake.
    const notAnImage = rigNotAnImage(target, 0x3c, () =>
      new TextEncoder().encode('<html><body>not a firmware image</body></html>\n'.repeat(128)),
    );
    const { result, bootedAfterSuccess, consoleMark } = await step(
      `upload a ${notAnImage.length}-byte HTML file`,
      () => usingSession(target, {}, (session) => refusedUpload(target, session, notAnImage)),
    );
    check(
      result.outcome === 'answered' &&
        result.status === 200 &&
        result.body.startsWith(ERROR_PREFIX) &&
        /Magic byte|Wrong Magic Byte|Decryption error/.test(result.body),
      'HTTP 200 `Update error: ERROR[10]: Magic byte is not 0xE9` (ESP8266) or `Update error: Wrong Magic Byte` / `Decryption error` (ESP32)',
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    await keepsOldImage(target, step, check, before, consoleMark);
    await goodImageInstalls(target, step, check, 'upl2');
  },
);

/** The sketch followed by 0xFF: a cut inside the padding leaves a complete app behind. */
function paddedImage(target: Target, version: string, padding: number): Uint8Array {
  const sketch = imageFor(target, version);
  const padded = new Uint8Array(sketch.length + padding).fill(0xff);
  padded.set(sketch);
  return padded;
}

requirement(
  'web-update/upload/3',
  'MUST',
  'discards an upload whose connection is cut mid-file: no restart, the old image boots after a power cycle; the whole image then installs',
  {
    source: `${SOURCE}: client abort → UPLOAD_FILE_ABORTED → Update.end() discards the update; §4.7 power-loss semantics`,
    needs: ['console', 'reset', 'power-cycle'],
  },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upl3', target);
    // The cut falls in padding after the app: a device that installed the cut upload would still
    // boot (and show the new version) instead of leaving the rig with a broken image.
    const padding = 16 * 1024;
    const image = paddedImage(target, version, padding);
    const cutAt = image.length - padding / 2;
    const { result, bootedAfterSuccess, consoleMark } = await step(
      `upload version ${version}, cut after ${cutAt} of ${image.length} bytes`,
      () =>
        usingSession(target, {}, (session) => refusedUpload(target, session, image, { truncateAt: cutAt })),
    );
    check(
      result.outcome === 'cut' || !result.body.startsWith('<META'),
      'no success page for a cut upload',
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    await keepsOldImage(target, step, check, before, consoleMark, 'power-cycle');
    const whole = await installImage(target, step, image, `the whole of version ${version}`);
    check(
      whole.boot?.version === version,
      `the success page, then a reboot into ${version}`,
      installed(whole),
    );
  },
);

requirement(
  'web-update/upload/4',
  'MUST',
  'refuses an image larger than the space for a new sketch with 200 `Update error: …Not Enough Space`, keeps running and keeps the old image; a good image then installs',
  {
    source: `${SOURCE}: Update.write past begin()'s (getFreeSketchSpace()-0x1000)&0xFFFFF000 → UPDATE_ERROR_SPACE (4) \`Not Enough Space\` (§4.1, §5.1)`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const space = target.description.limits?.partitionSize ?? DEFAULT_SKETCH_SPACE;
    const version = freshVersion('upl4', target);
    const image = paddedImage(target, version, 0);
    const oversize = new Uint8Array(space + 0x1000).fill(0xff);
    oversize.set(image);
    const { result, bootedAfterSuccess, consoleMark } = await step(
      `upload ${oversize.length} bytes (space ${space})`,
      () => usingSession(target, {}, (session) => refusedUpload(target, session, oversize)),
    );
    check(
      result.outcome === 'answered' &&
        result.status === 200 &&
        result.body.startsWith(ERROR_PREFIX) &&
        result.body.includes('Not Enough Space'),
      'HTTP 200 `Update error: ERROR[4]: Not Enough Space` (ESP8266) or `Update error: Not Enough Space` (ESP32)',
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    await keepsOldImage(target, step, check, before, consoleMark);
    await goodImageInstalls(target, step, check, 'upl4');
  },
);

requirement(
  'web-update/upload/5',
  'SHOULD',
  'installs a filesystem image sent in the `filesystem` field: the success page and a reboot, with the sketch unchanged',
  {
    source: `${SOURCE}: part name \`filesystem\` → Update.begin(FS_end-FS_start, U_FS); success page and restart for FS too`,
    needs: ['console', 'reset', 'filesystem-update'],
  },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const filesystem = new SeededRandom(0x5f5).bytes(16 * 1024);
    const outcome = await installImage(target, step, filesystem, 'a 16 KiB filesystem image', {
      field: 'filesystem',
    });
    check(
      outcome.result.outcome === 'answered' && outcome.result.body === SUCCESS_BODY,
      `HTTP 200 ${JSON.stringify(SUCCESS_BODY)}`,
      describeResult(outcome.result),
    );
    check(
      outcome.boot?.version === before,
      `a reboot into the same sketch (${before})`,
      outcome.boot?.version ?? outcome.bootError ?? 'no reboot',
    );
  },
);

requirement(
  'web-update/upload/6',
  'SHOULD',
  'ESP8266 (core ≥ 2.7.0): installs a gzip-compressed sketch (`1f 8b`), eboot inflating it (`@cp:0`) into the new version',
  {
    source: `${SOURCE}; §4.5 gzip (PR #6820), §4.3 _verifyEnd accepts 1F 8B`,
    needs: ['console', 'reset', 'gzip-images'],
  },
  async ({ target, step, check }) => {
    await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upl6', target);
    const compressed = gzipImage(imageFor(target, version));
    const outcome = await installImage(target, step, compressed, `gzip of version ${version}`);
    check(
      outcome.boot?.version === version && outcome.boot.ebootCopy === 0,
      `the success page, then \`@cp:0\` and a reboot into ${version}`,
      `${installed(outcome)}${outcome.boot?.ebootCopy === undefined ? '' : `, @cp:${outcome.boot.ebootCopy}`}`,
    );
  },
);

requirement(
  'web-update/upload/7',
  'SHOULD',
  'ignores the file name: a good image sent as `notes.txt` installs like one sent as `firmware.bin`',
  { source: `${SOURCE}: the filename is ignored, the part name alone picks the target`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upl7', target);
    const outcome = await installImage(
      target,
      step,
      imageFor(target, version),
      `version ${version} as notes.txt`,
      {
        filename: 'notes.txt',
      },
    );
    check(
      outcome.boot?.version === version,
      `the success page, then a reboot into ${version}`,
      installed(outcome),
    );
  },
);

/** The failure bodies of the current cores, line ending included (§4.1 printError, §5.1 println). */
const EXACT_MAGIC_ERRORS = {
  esp8266: [`${ERROR_PREFIX}ERROR[10]: Magic byte is not 0xE9\n`],
  esp32: [`${ERROR_PREFIX}Wrong Magic Byte\r\n`, `${ERROR_PREFIX}Decryption error\r\n`],
} as const;

requirement(
  'web-update/upload/8',
  'SHOULD',
  'words a refused image exactly as the current core prints it: ESP8266 (3.1.x) `Update error: ERROR[10]: Magic byte is not 0xE9\\n`, ESP32 `Update error: Wrong Magic Byte\\r\\n` (or `Decryption error\\r\\n`), as text/html',
  {
    source: `${SOURCE}; §4.1 printError() = printf("ERROR[%hhu]: %s\\n") in 3.1.x (≤3.0.2: CRLF, older texts); §5.1 println, §5.2 AES quirk`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    await restartAndReadVersion(target, step, 'known state');
    const notAnImage = rigNotAnImage(target, 0x00, () => {
      const bytes = new SeededRandom(0xbad).bytes(8 * 1024);
      bytes[0] = 0x00;
      return bytes;
    });
    const { result, bootedAfterSuccess } = await step('upload 8 KiB of random bytes starting with 0x00', () =>
      usingSession(target, {}, (session) => refusedUpload(target, session, notAnImage)),
    );
    const expected: readonly string[] = EXACT_MAGIC_ERRORS[target.platform === 'esp32' ? 'esp32' : 'esp8266'];
    check(
      result.outcome === 'answered' && result.status === 200 && expected.includes(result.body),
      `HTTP 200 ${expected.map((text) => JSON.stringify(text)).join(' or ')}`,
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    if (result.outcome === 'answered') {
      const contentType = headerOf(result.headers, 'content-type') ?? '';
      check(/^text\/html\b/i.test(contentType), 'Content-Type text/html', contentType || '(none)');
    }
  },
);
