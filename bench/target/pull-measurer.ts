import type { Target } from '../../drivers/target/index.ts';
import { confirmRunningImage } from '../../suites/framework/strategy/confirm.ts';
import { updateSupport, updateTarget } from '../../suites/framework/strategy/update-target.ts';
import { type BenchClient, BenchUsageError, type Measurer, type RunSample, withCpu } from './measurer.ts';

/**
 * Pull profiles (http-update, esp-https-ota, luartos, and mqtt-trigger where the update strategy
 * reaches it): the harness serves the image on the update server the device was given, triggers a
 * check, and waits for the new image to answer. `seconds` runs from the trigger to the console line
 * that names the new version; `transfer` is the download as the update server saw it, `write` the
 * download's start to the device's restart (it writes flash as the bytes arrive and restarts once
 * it verified them), `reboot` the restart to that line. The device verified the image itself (x-MD5, the image's SHA-256) before it switched,
 * and the version it then runs is checked.
 */
export function pullMeasurer(target: Target, versionOf: (image: Uint8Array) => string): Measurer {
  const support = updateSupport(target);
  if (!support.supported)
    throw new BenchUsageError(`target ${target.name}: cannot be benched yet: ${support.reason}`);
  const harness: BenchClient = {
    name: 'harness',
    chunkFor: (size) => size,
    run: (image) =>
      withCpu(async () => {
        const version = versionOf(image);
        const started = performance.now();
        const startedAtEpoch = Date.now();
        const result = await updateTarget(target, image);
        if (!result.accepted || result.booted === undefined)
          throw new Error(`target ${target.name}: the update did not complete: ${result.detail}`);
        if (result.booted.version !== undefined && result.booted.version !== version)
          throw new Error(
            `target ${target.name}: rebooted into ${result.booted.version}, not the ${version} it was served`,
          );
        const answeredAt = versionLineAt(target, result.booted.fromLine, version) ?? Date.now();
        const seconds = (answeredAt - startedAtEpoch) / 1000;
        // An image booted with rollback on waits for its confirmation; until then the next update
        // is refused (ESP_ERR_OTA_ROLLBACK_INVALID_STATE, esp-idf.md §3.5). Not part of the time.
        if (target.capabilities.has('rollback')) await confirmRunningImage(target);
        const download = result.download;
        const restartedAt = lineAt(target, result.booted.fromLine);
        const phases: RunSample['phases'] = {};
        if (download !== undefined) {
          phases.transfer = (download.endedAt - download.startedAt) / 1000;
          // The server hands the last byte to the socket long before a flash-paced device has read
          // and written it: the device's restart is when it had taken, written and checked all of it.
          if (restartedAt !== undefined) phases.write = Math.max(0, restartedAt - download.startedAt) / 1000;
        }
        if (restartedAt !== undefined) phases.reboot = Math.max(0, answeredAt - restartedAt) / 1000;
        return {
          seconds: seconds > 0 ? seconds : (performance.now() - started) / 1000,
          bytes: image.length,
          phases,
          verifiedBy: `the device's own check, then boots ${version}`,
        };
      }),
  };
  return { target, sizeUnit: 'stream', sizes: () => [0], clients: [harness], close: async () => {} };
}

/** When console line `index` arrived (epoch ms). */
function lineAt(target: Target, index: number): number | undefined {
  return target.console?.lines().find((line) => line.index === index)?.atMs;
}

/** When the console line naming the new version arrived (epoch ms). */
function versionLineAt(target: Target, fromLine: number, version: string): number | undefined {
  return target.console
    ?.lines()
    .find((line) => line.index >= fromLine && line.source === 'device' && line.text.includes(version))?.atMs;
}
