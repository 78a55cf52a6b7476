import type { Target } from '../../drivers/target/index.ts';
import { updateSupport, updateTarget } from '../../suites/framework/strategy/update-target.ts';
import { type BenchClient, BenchUsageError, type Measurer, withCpu } from './measurer.ts';

/**
 * Pull profiles (http-update, esp-https-ota, luartos, and mqtt-trigger where the update strategy
 * reaches it): the harness serves the image on the update server the device was given, triggers a
 * check, and waits for the new image to answer. `seconds` runs from the trigger to the console line
 * that names the new version; `transfer` is the download as the update server saw it (the device
 * writes flash as the bytes arrive, so the write is inside it), `reboot` from the download's end to
 * that line. The device verified the image itself (x-MD5, the image's SHA-256) before it switched,
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
        const download = result.download;
        return {
          seconds: seconds > 0 ? seconds : (performance.now() - started) / 1000,
          bytes: image.length,
          phases:
            download === undefined
              ? {}
              : {
                  transfer: (download.endedAt - download.startedAt) / 1000,
                  reboot: Math.max(0, answeredAt - download.endedAt) / 1000,
                },
          verifiedBy: `the device's own check, then boots ${version}`,
        };
      }),
  };
  return { target, sizeUnit: 'stream', sizes: () => [0], clients: [harness], close: async () => {} };
}

/** When the console line naming the new version arrived (epoch ms). */
function versionLineAt(target: Target, fromLine: number, version: string): number | undefined {
  return target.console
    ?.lines()
    .find((line) => line.index >= fromLine && line.source === 'device' && line.text.includes(version))?.atMs;
}
