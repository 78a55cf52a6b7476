import { createHash } from 'node:crypto';
import { EspotaError, type UploadResult } from '../../drivers/espota/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { requirement } from '../framework/index.ts';
import {
  declaredScheme,
  expectNoRestart,
  freshVersion,
  hangUp,
  imageFor,
  inviteWithListener,
  passwordOf,
  restartAndReadVersion,
  uploaderFor,
  watchNextBoot,
} from './arduino-ota-device.ts';

const SOURCE = 'reference/arduino-ota.md §1.5 (ESP8266 ArduinoOTA.cpp L279-320; ESP32 _runUpdate())';
const NEEDS = ['console', 'reset'] as const;
/** How long a device that restarts after a failure takes to do it: onEnd/onError, delay(100), restart. */
const RESTART_WINDOW_MS = 1_000;

const md5Of = (image: Uint8Array) => createHash('md5').update(image).digest('hex');

/** The same MD5 with its last digit changed: well formed, and wrong. */
function wrongMd5(image: Uint8Array): string {
  const md5 = md5Of(image);
  return `${md5.slice(0, 31)}${md5.endsWith('0') ? '1' : '0'}`;
}

async function upload(
  target: Target,
  image: Uint8Array,
  options: Parameters<ReturnType<typeof uploaderFor>['upload']>[1],
) {
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
  options: Parameters<ReturnType<typeof uploaderFor>['upload']>[1],
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

requirement(
  'arduino-ota/update/1',
  'MUST',
  'installs a good image: decimal byte counts that add up to its size, `OK`, then a reboot into the new image',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('upd1');
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
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const image = imageFor(target, freshVersion('upd2'));
    const { result, bootedAfterOk } = await step('upload with a wrong MD5 in the invitation', () =>
      refusedUpload(target, image, { md5: wrongMd5(image) }),
    );
    check(
      result.result !== 'OK' && /MD5/i.test(result.result),
      'an MD5 error text (ESP8266 `ERROR[7]: MD5 verification failed…`, ESP32 `MD5 Check Failed`)',
      `${summary(result)}${bootedAfterOk ? `; then it booted ${bootedAfterOk}` : ''}`,
    );
    const after = await restartAndReadVersion(target, step, 'after the refused upload');
    check(after === before, `the old image (${before}) after a restart`, after);
  },
);

requirement(
  'arduino-ota/update/3',
  'MUST',
  'refuses an image corrupted in transit (one byte changed, the invitation’s MD5 of the original) and keeps the old image',
  { source: `${SOURCE}; §4.6, §5.2`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const before = await restartAndReadVersion(target, step, 'known state');
    const image = imageFor(target, freshVersion('upd3'));
    // On an ESP8266 the byte sits in the 0xAA padding between eboot and the app: should the device
    // install it anyway, it still boots (and shows the new version) instead of bricking the rig.
    const corruptAt = target.platform === 'esp32' ? Math.floor(image.length / 2) + 123 : 0x900;
    const { result, bootedAfterOk } = await step(`upload with byte ${corruptAt} inverted on the wire`, () =>
      refusedUpload(target, image, { corruptAt }),
    );
    check(
      result.result !== 'OK',
      'an error text, not `OK`',
      `${summary(result)}${bootedAfterOk ? `; then it booted ${bootedAfterOk}` : ''}`,
    );
    const after = await restartAndReadVersion(target, step, 'after the refused upload');
    check(after === before, `the old image (${before}) after a restart`, after);
  },
);

requirement(
  'arduino-ota/update/4',
  'MUST',
  'ends the session of an uploader that stalls mid-stream (ESP32: by its own receive timeout; ESP8266: once the uploader gives up) and then answers a fresh invitation',
  {
    source: `${SOURCE}: ESP32 _ota_timeout 1000 ms, last count re-sent up to 3 times, then abort; ESP8266 loop ends when the client closes`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    const password = passwordOf(target);
    const before = await restartAndReadVersion(target, step, 'known state');
    const image = imageFor(target, freshVersion('upd4'));
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
      const { reply, listener } = fresh as Exclude<typeof fresh, EspotaError>;
      try {
        let answer = reply;
        if (reply.kind === 'auth') {
          answer = await step('answer the challenge', () =>
            uploader.authenticate(reply.nonce, password, declaredScheme(target)),
          );
        }
        check(answer.kind === 'ok', 'OK: a new session starts', JSON.stringify(answer.text));
        const socket = await step('wait for the connect-back', () => listener.accept());
        hangUp(socket);
      } finally {
        await listener.close();
      }
    } finally {
      await uploader.close();
    }
    const after = await restartAndReadVersion(target, step, 'after the abandoned uploads');
    check(after === before, `the old image (${before}) after a restart`, after);
  },
);

requirement(
  'arduino-ota/update/5',
  'MUST',
  'keeps running after a failed upload (no restart: ESP.restart() follows only success) and answers a fresh invitation',
  { source: `${SOURCE}: Update.printError(client), OTA_END_ERROR, state back to IDLE`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const password = passwordOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const image = imageFor(target, freshVersion('upd5'));
    const { result, bootedAfterOk } = await step('upload with a wrong MD5 in the invitation', () =>
      refusedUpload(target, image, { md5: wrongMd5(image) }),
    );
    check(
      result.result !== 'OK',
      'an error text, not `OK`',
      `${summary(result)}${bootedAfterOk ? `; then it booted ${bootedAfterOk}` : ''}`,
    );
    await step(`watch the console for ${RESTART_WINDOW_MS} ms: no boot banner`, () =>
      expectNoRestart(target, RESTART_WINDOW_MS, 'the device must not restart after a failed upload'),
    );
    const uploader = uploaderFor(target);
    const { reply, listener } = await step('send a fresh invitation', () =>
      inviteWithListener(uploader, image, md5Of(image)),
    );
    try {
      let answer = reply;
      if (reply.kind === 'auth') {
        answer = await step('answer the challenge', () =>
          uploader.authenticate(reply.nonce, password, declaredScheme(target)),
        );
      }
      check(answer.kind === 'ok', 'OK: a new session starts', JSON.stringify(answer.text));
      const socket = await step('wait for the connect-back', () => listener.accept());
      hangUp(socket);
    } finally {
      await listener.close();
      await uploader.close();
    }
  },
);
