import { setTimeout as sleep } from 'node:timers/promises';
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

/** arduino-ota: espota's invitation, challenge, connect-back and acked stream (arduino-ota.md §1); success is `OK`. */
export async function espotaDelivery(
  target: Target,
  image: Uint8Array,
  onProgress?: (progress: { sent: number; acknowledged: number; total: number }) => void,
): Promise<Delivered> {
  const uploader = espotaUploaderFor(target);
  let acknowledged = 0;
  try {
    const result = await uploader.upload(image, {
      onProgress: (progress) => {
        acknowledged = progress.acked;
        onProgress?.({ ...progress, acknowledged: progress.acked });
      },
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
