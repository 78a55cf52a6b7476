import { ESPOTA_CHUNK_SIZE } from '../../drivers/espota/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { espotaUploaderFor } from '../../suites/framework/strategy/espota-uploader.ts';
import { type BenchClient, BenchUsageError, type Measurer, withCpu } from './measurer.ts';
import { RebootWatch } from './reboot-watch.ts';

/**
 * The block sizes espota writes in its lock-step data phase: ESP8266 espota reads 1460 bytes at a
 * time, the ESP32 copies 1024 (reference arduino-ota.md §1; drivers/espota ESPOTA_CHUNK_SIZE).
 * The device acknowledges each block with the count it took, so a block is the unit to vary.
 */
function defaultSizes(target: Target): number[] {
  return target.platform === 'esp32' ? [512, 1024] : [512, 1024, ESPOTA_CHUNK_SIZE];
}

/**
 * arduino-ota: invitation (and challenge), the device's connect-back, the acked stream, the final
 * `OK` — which the device sends only once the MD5 of what it wrote matched the invitation's
 * (arduino-ota.md §1.5), so `OK` verifies the run — then the reboot into the new version.
 * Phases: transfer (connect-back to the last ack), verify (last ack to `OK`, which on an ESP8266
 * includes its `delay(1000)` on each side, shortened by an emulator option), reboot (`OK` to the
 * boot naming the new version).
 */
export function espotaMeasurer(target: Target, versionOf: (image: Uint8Array) => string): Measurer {
  if (target.description.host === undefined || target.description.port === undefined)
    throw new BenchUsageError(
      `target ${target.name}: the rig gives no host/port for its ArduinoOTA UDP service`,
    );
  const harness: BenchClient = {
    name: 'harness',
    chunkFor: (size) => size,
    run: (image, chunkSize) =>
      withCpu(async () => {
        // No transcript: the bench keeps nothing per block on the data path.
        const uploader = espotaUploaderFor(target, { chunkSize, transcript: undefined });
        const watch = RebootWatch.start(target);
        try {
          let firstData: number | undefined;
          let lastAck: number | undefined;
          const started = performance.now();
          const result = await uploader.upload(image, {
            onProgress: (progress) => {
              const now = performance.now();
              firstData ??= now;
              if (progress.acked >= progress.total && lastAck === undefined) lastAck = now;
            },
          });
          const answered = performance.now();
          if (result.result !== 'OK')
            throw new Error(`target ${target.name}: the device answered ${result.result}`);
          const version = versionOf(image);
          const bootedAt = await watch.booted(version);
          const dataStart = firstData ?? started;
          const dataEnd = lastAck ?? answered;
          return {
            seconds: (answered - started) / 1000,
            bytes: image.length,
            phases: {
              transfer: (dataEnd - dataStart) / 1000,
              verify: (answered - dataEnd) / 1000,
              reboot: (bootedAt - answered) / 1000,
            },
            verifiedBy: `OK after the device's MD5 check, then boots ${version}`,
          };
        } finally {
          watch.stop();
          await uploader.close();
        }
      }),
  };
  return {
    target,
    sizeUnit: 'block',
    sizes: (requested) => {
      const sizes = (requested ?? defaultSizes(target)).filter(
        (size) => size > 0 && size <= ESPOTA_CHUNK_SIZE,
      );
      if (sizes.length === 0)
        throw new BenchUsageError(
          `target ${target.name}: espota blocks are at most ${ESPOTA_CHUNK_SIZE} bytes`,
        );
      return [...new Set(sizes)];
    },
    clients: [harness],
    close: async () => {},
  };
}
