import { describe, expect, it } from 'vitest';
import { appImage, Esp32Rig } from '../boot/esp32/esp32-test-rig.ts';
import { resolveEsp32Chip, verifyPartitionImage } from './esp32-chip.ts';

describe('verifyPartitionImage', () => {
  it('parses the partition in place, yet what it returns stays as it was when the partition is written again', () => {
    const rig = new Esp32Rig();
    const factory = rig.mustPartition('factory');
    const image = appImage('factory');
    const verdict = verifyPartitionImage(rig.flash, factory, resolveEsp32Chip());
    if (!verdict.valid) throw new Error(`the rig's own image did not verify: ${verdict.finding.code}`);
    const stored = verdict.image.sha256!.stored.slice();
    expect(verdict.bytes).toEqual(image.subarray(0, verdict.image.imageLength));

    rig.flash.eraseRange(factory.offset, factory.size);
    expect(verdict.bytes).toEqual(image.subarray(0, verdict.image.imageLength));
    expect(verdict.image.sha256!.stored).toEqual(stored);
    expect(verifyPartitionImage(rig.flash, factory, resolveEsp32Chip()).valid).toBe(false);
  });
});
