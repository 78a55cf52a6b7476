import type { EmulatorFlashTrace } from '../../../drivers/power/index.ts';
import type { Phase } from './cut-point.ts';

export type TracedOperation = EmulatorFlashTrace['operations'][number];

/** One flash operation of the reference update, with its phase; `operation` counts from the update's start. */
export interface PhasedOperation {
  operation: number;
  phase: Phase;
  kind: TracedOperation['kind'];
  address: number;
  length: number;
}

/**
 * Phases of an uncut update, read from the emulator's numbered flash operations and boots:
 * everything the chip wrote after its own restart into the update belongs to that boot — eboot's
 * copy (ESP8266, until the app starts) or the first boot (the ESP32 bootloader's
 * NEW→PENDING_VERIFY rewrite, the app's mark-valid). Before the restart: on an ESP32 the writes to
 * otadata after the image's first write are the commit (esp_ota_set_boot_partition; esp-idf.md
 * §3.4–3.5), the rest (the image, and esp_ota_begin's invalidation of the inactive entry on v5.5+,
 * §3.5) the write. An ESP8266 commits in RTC memory (arduino-ota.md §4.7), with no flash write.
 */
export function phaseOperations(
  trace: EmulatorFlashTrace,
  from: number,
  options: { platform: 'esp32' | 'esp8266'; otadata?: { offset: number; size: number } },
): PhasedOperation[] {
  // Markers are in order, and several can share an index (an earlier update's restart, then the
  // power-on the reference started from, with no operation between): only those after the last
  // power-on belong to the reference update.
  const markers = trace.markers.slice(
    trace.markers.findLastIndex((marker) => marker.kind === 'boot' && marker.detail === 'power-on') + 1,
  );
  const restartIndex = markers.findIndex((marker) => marker.kind === 'boot' && marker.detail === 'software');
  const restart = markers[restartIndex];
  const appAfterRestart =
    restart === undefined ? undefined : markers.slice(restartIndex).find((marker) => marker.kind === 'app');
  const otadata = options.otadata;
  const inOtadata = (operation: TracedOperation) =>
    otadata !== undefined &&
    operation.offset >= otadata.offset &&
    operation.offset < otadata.offset + otadata.size;
  let imageStarted = false;
  const phased: PhasedOperation[] = [];
  for (const operation of trace.operations) {
    if (operation.index < from) continue;
    let phase: Phase;
    if (restart !== undefined && operation.index >= restart.at) {
      const beforeApp = appAfterRestart === undefined || operation.index < appAfterRestart.at;
      phase = options.platform === 'esp8266' && beforeApp ? 'eboot-copy' : 'first-boot';
    } else if (options.platform === 'esp32' && inOtadata(operation)) {
      phase = imageStarted ? 'commit' : 'write';
    } else {
      imageStarted = true;
      phase = 'write';
    }
    phased.push({
      operation: operation.index - from,
      phase,
      kind: operation.kind,
      address: operation.offset,
      length: operation.length,
    });
  }
  return phased;
}
