import { createHash } from 'node:crypto';
import { EspotaError, type EspotaUploader, type UploadResult } from '../../drivers/espota/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type RequirementContext, requirement } from '../framework/index.ts';
import { noRebootWindowMs } from '../framework/strategy/observe.ts';
import {
  declaredScheme,
  expectNoRestart,
  expectOkAndConnectBack,
  freshVersion,
  imageFor,
  inviteWithListener,
  passwordOf,
  restartAndReadVersion,
  uploaderFor,
  watchNextBoot,
} from './arduino-ota-device.ts';

const SOURCE = 'docs/protocols/arduino-ota.md §1.5 (ESP8266 ArduinoOTA.cpp L279-320; ESP32 _runUpdate())';
const NEEDS = ['console', 'reset'] as const;

type Invited = Awaited<ReturnType<typeof inviteWithListener>>;

const md5Of = (image: Uint8Array) => createHash('md5').update(image).digest('hex');

/** The same MD5 with its last digit changed: well formed, and wrong. */
function wrongMd5(image: Uint8Array): string {
  const md5 = md5Of(image);
  return `${md5.slice(0, 31)}${md5.endsWith('0') ? '1' : '0'}`;
}

type UploadOptions = Parameters<ReturnType<typeof uploaderFor>['upload']>[1];

async function upload(target: Target, image: Uint8Array, options: UploadOptions) {
  const uploader = uploaderFor(target);
  try {
    return await uploader.upload(image, options);
  } finally {
    await uploader.close();
  }
}

/**
 * An upload the device is expected to refuse. Should it say `OK` instead, it restarts into the
 * image by itself: that boot is waited for (so the next requirement does not reset a device in
 * the middle of its own restart) and named in the failure.
 */
async function refusedUpload(
  target: Target,
  image: Uint8Array,
  options: UploadOptions,
): Promise<{ result: UploadResult; bootedAfterOk?: string }> {
  const watch = watchNextBoot(target);
  try {
    const result = await upload(target, image, options);
    if (result.result !== 'OK') return { result };
    const booted = await watch.booted('the device restarts after its OK').catch(() => '(no restart seen)');
    return { result, bootedAfterOk: booted };
  } finally {
    watch.stop();
  }
}

const summary = (result: UploadResult) =>
  `result ${JSON.stringify(result.result)}, ${result.bytes} bytes sent, ${result.acked} acknowledged`;

const notOk = (result: UploadResult) => result.result !== 'OK';

/** Uploads in the step `name` and checks that the device refused: `refused(result)`, else Expected `expected`. */
async function expectRefusal(
  { target, step, check }: RequirementContext,
  image: Uint8Array,
  name: string,
  options: UploadOptions,
  refused: (result: UploadResult) => boolean,
  expected: string,
): Promise<void> {
  const { result, bootedAfterOk } = await step(name, () => refusedUpload(target, image, options));
  check(
    refused(result),
    expected,
    `${summary(result)}${bootedAfterOk ? `; then it booted ${bootedAfterOk}` : ''}`,
  );
}

/**
 * From the known state, runs `body` with a fresh image labelled `label`, then checks that the
 * old image still boots after a restart.
 */
async function keepsOldImage(
  context: RequirementContext,
  label: string,
  afterWhat: string,
  body: (image: Uint8Array) => Promise<void>,
): Promise<void> {
  const { target, step, check } = context;
  const before = await restartAndReadVersion(target, step, 'known state');
  await body(imageFor(target, freshVersion(label, target)));
  const after = await restartAndReadVersion(target, step, afterWhat);
  check(after === before, `the old image (${before}) after a restart`, after);
}

/** Answers the challenge, if any, to an invitation the device took: `OK`, then the connect-back, then hang up. */
async function startsNewSession(
  { target, step, check }: RequirementContext,
  uploader: EspotaUploader,
  { reply, listener }: Invited,
  password: string,
): Promise<void> {
  try {
    let answer = reply;
    if (reply.kind === 'auth') {
      answer = await step('answer the challenge', () =>
        uploader.authenticate(reply.nonce, password, declaredScheme(target)),
      );
    }
    await expectOkAndConnectBack({ step, check }, listener, answer, 'OK: a new session starts');
  } finally {
    await listener.close();
  }
}

requirement(
  'arduino-ota/update/1',
  'MUST',
  'installs a good image: decimal byte counts that add up to its size, `OK`, then a reboot into the new image',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upd1', target);
    const image = imageFor(target, version);
    const watch = watchNextBoot(target);
    try {
      const result = await step(`upload ${image.length} bytes (version ${version})`, () =>
        upload(target, image, {}),
      );
      check(result.result === 'OK', '`OK`', summary(result));
      check(
        result.acked === image.length,
        `counts adding up to ${image.length}`,
        `${result.acked} in ${result.acks.length} counts`,
      );
      const running = await step('read the version it boots', () =>
        watch.booted('wait for the reboot into the new image'),
      );
      check(running === version, `version ${version} running (was ${before})`, running);
    } finally {
      watch.stop();
    }
  },
);

requirement(
  'arduino-ota/update/2',
  'MUST',
  'refuses an image whose MD5 differs from the invitation’s, reports the error on the connection and keeps the old image',
  { source: `${SOURCE}; §4.6 (ESP8266 error 7), §5.2 (ESP32 \`MD5 Check Failed\`)`, needs: [...NEEDS] },
  (context) =>
    keepsOldImage(context, 'upd2', 'after the refused upload', (image) =>
      expectRefusal(
        context,
        image,
        'upload with a wrong MD5 in the invitation',
        { md5: wrongMd5(image) },
        (result) => result.result !== 'OK' && /MD5/i.test(result.result),
        'an MD5 error text (ESP8266 `ERROR[7]: MD5 verification failed…`, ESP32 `MD5 Check Failed`)',
      ),
    ),
);

requirement(
  'arduino-ota/update/3',
  'MUST',
  'refuses an image corrupted in transit (one byte changed, the invitation’s MD5 of the original) and keeps the old image',
  { source: `${SOURCE}; §4.6, §5.2`, needs: [...NEEDS] },
  (context) =>
    keepsOldImage(context, 'upd3', 'after the refused upload', (image) => {
      // On an ESP8266 the byte sits in the 0xAA padding between eboot and the app: should the device
      // install it anyway, it still boots (and shows the new version) instead of bricking the rig.
      const corruptAt = context.target.platform === 'esp32' ? Math.floor(image.length / 2) + 123 : 0x900;
      return expectRefusal(
        context,
        image,
        `upload with byte ${corruptAt} inverted on the wire`,
        { corruptAt },
        notOk,
        'an error text, not `OK`',
      );
    }),
);

requirement(
  'arduino-ota/update/4',
  'MUST',
  'ends the session of an uploader that stalls mid-stream (ESP32: by its own receive timeout; ESP8266: once the uploader gives up) and then answers a fresh invitation',
  {
    source: `${SOURCE}: ESP32 _ota_timeout 1000 ms, last count re-sent up to 3 times, then abort; ESP8266 loop ends when the client closes`,
    needs: [...NEEDS],
  },
  async (context) => {
    const { target, step, check } = context;
    const password = passwordOf(target);
    await keepsOldImage(context, 'upd4', 'after the abandoned uploads', async (image) => {
      const stallAfter = 4 * 1460;
      const esp32 = target.platform === 'esp32';
      // The ESP32 re-sends its count every receive timeout (1 s by default); silence longer than
      // that means it stopped trying. The ESP8266 never times out: the uploader gives up first.
      const receiveTimeoutMs = target.description.limits?.sessionTimeoutMs ?? 1_000;
      const ackMs = esp32 ? receiveTimeoutMs + 1_500 : 500;
      const stalled = uploaderFor(target, { timeouts: { ackMs } });
      const outcome = await step(`upload and stall after ${stallAfter} bytes`, () =>
        stalled.upload(image, { stallAfter }).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        ),
      );
      await stalled.close();
      const error = 'error' in outcome ? outcome.error : undefined;
      check(
        error instanceof EspotaError,
        'the upload to end without a result',
        'result' in outcome ? summary(outcome.result) : String(error),
      );
      const code = (error as EspotaError).code;
      if (esp32) {
        const progress = (error as EspotaError).progress;
        check(
          code === 'ESPOTA_DEVICE_CLOSED',
          `the device to close the connection while the uploader is silent (re-sending its count every ${receiveTimeoutMs} ms)`,
          `${code} after ${progress?.elapsedMs} ms, counts ${JSON.stringify(progress?.acks.slice(-5))}`,
        );
      } else {
        check(code === 'ESPOTA_ACK_TIMEOUT', 'the device waiting for data until the uploader gave up', code);
      }
      const uploader = uploaderFor(target, {
        timeouts: { invitationMs: Math.min(target.stepTimeoutMs, 3_000) },
      });
      try {
        const fresh = await step('send a fresh invitation', () =>
          inviteWithListener(uploader, image, md5Of(image)).then(
            (value) => value,
            (failure: unknown) => failure as EspotaError,
          ),
        );
        check(!(fresh instanceof EspotaError), 'an answer to the fresh invitation', String(fresh));
        await startsNewSession(context, uploader, fresh as Invited, password);
      } finally {
        await uploader.close();
      }
    });
  },
);

requirement(
  'arduino-ota/update/5',
  'MUST',
  'keeps running after a failed upload (no restart: ESP.restart() follows only success) and answers a fresh invitation',
  { source: `${SOURCE}: Update.printError(client), OTA_END_ERROR, state back to IDLE`, needs: [...NEEDS] },
  async (context) => {
    const { target, step } = context;
    const password = passwordOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const image = imageFor(target, freshVersion('upd5', target));
    await expectRefusal(
      context,
      image,
      'upload with a wrong MD5 in the invitation',
      { md5: wrongMd5(image) },
      notOk,
      'an error text, not `OK`',
    );
    // A device that restarts after a failure does it after onEnd/onError and delay(100).
    const window = noRebootWindowMs(target);
    await step(`watch the console for ${window} ms: no boot banner`, () =>
      expectNoRestart(target, window, 'the device must not restart after a failed upload'),
    );
    const uploader = uploaderFor(target);
    try {
      const invited = await step('send a fresh invitation', () =>
        inviteWithListener(uploader, image, md5Of(image)),
      );
      await startsNewSession(context, uploader, invited, password);
    } finally {
      await uploader.close();
    }
  },
);
