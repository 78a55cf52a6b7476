import { setTimeout as sleep } from 'node:timers/promises';
import { EspotaError } from '../../../drivers/espota/index.ts';
import { HttpStepError, WebUpdateClient } from '../../../drivers/http/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import { RigFailure } from '../rig-failure.ts';
import type { SeenBoot } from './boot-watch.ts';
import { espotaUploaderFor } from './espota-uploader.ts';
import { transcriptHook, withViperClient } from './viper-client.ts';

/** How one delivery ended, as the protocol said it. */
export interface Delivered {
  /** The protocol's success: the whole image taken and committed. */
  accepted: boolean;
  /** The device's last word on the wire (or what failed), in one line. */
  detail: string;
  /** A delivery that watched the reboot itself (pull) reports the boot here. */
  booted?: SeenBoot;
  /** Image bytes on the wire when the exchange ended: acknowledged (espota) or sent (pull). */
  wireBytes?: number;
  /** Pull profiles: when the image download began and ended (epoch ms), as the update server saw it. */
  download?: DownloadWindow;
}

export interface DownloadWindow {
  startedAt: number;
  endedAt: number;
  bytes: number;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * viperhttp / viperhttp-doc: the canonical flow (status, abort, begin, chunks with offsets,
 * finalize with set_boot; viperhttp-luartos-mqtt.md §1.9) in the target's dialect. With `reboot`
 * the finalize asks for the restart; viperhttp resets inside the handler, so a dropped
 * connection there is its success (§1.5 finalize step 7).
 */
export async function viperDelivery(target: Target, image: Uint8Array, reboot: boolean): Promise<Delivered> {
  return await withViperClient(target, async (client) => {
    try {
      const result = await client.pushImage(image, { reboot, waitForReboot: false }).catch(async (error) => {
        // The doc dialect has no abort: a session another client left open ends only by its
        // timeout (seeds/viperhttp-ota.md § OTA Session Management), so wait it out once.
        const timeoutMs = target.description.limits?.sessionTimeoutMs;
        if (!(error instanceof HttpStepError) || error.status !== 409 || timeoutMs === undefined) throw error;
        await sleep(timeoutMs + 250);
        return await client.pushImage(image, { reboot, waitForReboot: false });
      });
      if (result.finalize.kind === 'reboot-disconnect')
        return { accepted: true, detail: 'finalize: the device restarted before answering' };
      const answer = result.finalize.result;
      return { accepted: answer.ok !== false, detail: `finalize answered ${JSON.stringify(answer)}` };
    } catch (error) {
      return { accepted: false, detail: messageOf(error) };
    }
  });
}

/** web-update: one multipart POST of the `firmware` part (arduino-ota.md §2.1); success reads `Update Success!`. */
export async function webDelivery(target: Target, image: Uint8Array): Promise<Delivered> {
  const url = target.description.url;
  if (url === undefined)
    throw new RigFailure(`target ${target.name}: the rig gives no "url" for its /update page`);
  const client = new WebUpdateClient({
    baseUrl: url,
    targetName: target.name,
    ...(target.description.username === undefined ? {} : { username: target.description.username }),
    ...(target.description.password === undefined ? {} : { password: target.description.password }),
    timeouts: { stepMs: target.stepTimeoutMs },
    transcript: transcriptHook(target),
    redact: (text) => target.redactor.redact(text),
  });
  try {
    const result = await client.upload(image);
    if (result.outcome === 'cut') return { accepted: false, detail: result.detail };
    const body = result.body.replace(/<[^>]*>/g, '').trim();
    return {
      accepted: result.status === 200 && /Update Success/i.test(body),
      detail: `${result.status} ${body}`,
    };
  } catch (error) {
    return { accepted: false, detail: messageOf(error) };
  } finally {
    await client.destroy();
  }
}

/** The BasicOTA example's line right after ArduinoOTA.begin() (emulators/firmware/arduino-ota mirrors it). */
const READY_AFTER_BEGIN = /^Ready$/;

/** arduino-ota: espota's invitation, challenge, connect-back and acked stream (arduino-ota.md §1); success is `OK`. */
export async function espotaDelivery(
  target: Target,
  image: Uint8Array,
  onProgress?: (progress: { sent: number; acknowledged: number; total: number }) => void,
): Promise<Delivered> {
  const uploader = espotaUploaderFor(target);
  let acknowledged = 0;
  const upload = () =>
    uploader.upload(image, {
      onProgress: (progress) => {
        acknowledged = progress.acked;
        onProgress?.({ ...progress, acknowledged: progress.acked });
      },
    });
  try {
    const mark = target.console?.lines().length ?? 0;
    const result = await upload().catch(async (error: unknown) => {
      // The invitation went out while the sketch was still starting (the reboot of the previous
      // update named its version, but ArduinoOTA.begin() had not run yet): a datagram nobody
      // listened for. When the console shows the sketch coming up during the wait (BasicOTA prints
      // `Ready` after begin()), the invitation is sent again, once; the ESP32 espota re-sends its
      // invitation up to 10 times for the same reason (arduino-ota.md §1.6).
      const cameUp = target.console
        ?.lines()
        .slice(mark)
        .some((line) => READY_AFTER_BEGIN.test(line.text));
      if (
        !(error instanceof EspotaError) ||
        error.code !== 'ESPOTA_NO_REPLY' ||
        error.step !== 'invitation' ||
        !cameUp
      )
        throw error;
      target.transcript.record('invitation', 'event', 'the sketch came up during the wait: inviting again');
      return await upload();
    });
    return {
      accepted: result.result === 'OK',
      detail: `the device answered ${result.result}`,
      wireBytes: acknowledged,
    };
  } catch (error) {
    return { accepted: false, detail: messageOf(error), wireBytes: acknowledged };
  } finally {
    await uploader.close();
  }
}
