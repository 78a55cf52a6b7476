import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NorFlash } from '../flash/index.ts';
import { WriteRunRecorder } from './write-run-recorder.ts';

describe('WriteRunRecorder', () => {
  it('saves each contiguous write of 4 KiB or more as written, even if the region is erased afterwards', () => {
    const flash = new NorFlash({ size: 64 * 1024 });
    const folder = mkdtempSync(join(tmpdir(), 'ota-runs-'));
    const recorder = new WriteRunRecorder(flash, folder);
    flash.onOperation((op) => recorder.observe(op));
    const image = Uint8Array.from({ length: 6000 }, (_, i) => i & 0x7f);
    flash.program(0x1000, image.subarray(0, 3000));
    flash.program(0x1000 + 3000, image.subarray(3000));
    flash.eraseSector(0x1000); // the next session erases the slot before writing again
    flash.program(0x1000, new Uint8Array(16)); // a short write elsewhere in time: not an image
    flash.program(0x8000, new Uint8Array(5000).fill(0x11));
    recorder.flush();
    const files = readdirSync(folder).sort();
    expect(files).toEqual(['0001-0x1000.bin', '0002-0x8000.bin']);
    expect(Buffer.from(readFileSync(join(folder, files[0]!))).equals(Buffer.from(image))).toBe(true);
    expect(readFileSync(join(folder, files[1]!)).length).toBe(5000);
  });
});
