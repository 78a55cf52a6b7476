import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlashOperation, NorFlash } from '../flash/index.ts';

/** Shorter runs are metadata (otadata entries, NVS, RTC-less eboot commands), not images. */
const MIN_IMAGE_BYTES = 4096;

/**
 * Keeps every image the chip received as a file: each run of contiguous flash programming (an
 * OTA write into a slot, an ESP8266 staging write, eboot's copy, a serial flash) is saved once the
 * next write lands elsewhere or the emulator stops. A test can then check every image that
 * reached the device against the images it was allowed to get (issue 10's acceptance: only the
 * vendor's builds and images derived from them on a board).
 */
export class WriteRunRecorder {
  /** Bytes are read back right after each page program: a later erase cannot change them. */
  private run: { start: number; end: number; chunks: Uint8Array[] } | undefined;
  private count = 0;

  constructor(
    private readonly flash: NorFlash,
    private readonly folder: string,
  ) {
    mkdirSync(folder, { recursive: true });
  }

  observe(operation: FlashOperation): void {
    if (operation.kind !== 'program') return;
    const end = operation.offset + operation.length;
    // A torn page (the power cut) ends the run with what was written before it.
    if (!operation.completed || !this.flash.powered) {
      this.flush();
      return;
    }
    const written = this.flash.read(operation.offset, operation.length);
    if (this.run !== undefined && operation.offset === this.run.end) {
      this.run.end = end;
      this.run.chunks.push(written);
      return;
    }
    this.flush();
    this.run = { start: operation.offset, end, chunks: [written] };
  }

  flush(): void {
    const run = this.run;
    this.run = undefined;
    if (run === undefined || run.end - run.start < MIN_IMAGE_BYTES) return;
    this.count += 1;
    const name = `${String(this.count).padStart(4, '0')}-0x${run.start.toString(16)}.bin`;
    writeFileSync(join(this.folder, name), Buffer.concat(run.chunks));
  }
}
