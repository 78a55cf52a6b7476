import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { enableImageLedger, noteImageSent, takeImagesSent } from './image-ledger.ts';

/** An ESP32 app image head: magic 0xE9, and the app descriptor at 0x20 with its version at 0x30. */
function esp32Image(version: string): Uint8Array {
  const image = new Uint8Array(0x200);
  image[0] = 0xe9;
  new DataView(image.buffer).setUint32(0x20, 0xabcd5432, true);
  image.set(Buffer.from(version), 0x30);
  return image;
}

describe('image ledger', () => {
  it('records nothing until a run turns it on, then each image by SHA-256, size, route and declared version', () => {
    const image = esp32Image('3.0.2');
    noteImageSent(image, 'viperhttp push');
    expect(takeImagesSent()).toEqual([]);
    enableImageLedger();
    noteImageSent(image, 'viperhttp push');
    noteImageSent(image, 'viperhttp push');
    noteImageSent(new Uint8Array([1, 2, 3]), 'update server');
    expect(takeImagesSent()).toEqual([
      {
        sha256: createHash('sha256').update(image).digest('hex'),
        bytes: 0x200,
        via: 'viperhttp push',
        version: '3.0.2',
      },
      {
        sha256: createHash('sha256')
          .update(new Uint8Array([1, 2, 3]))
          .digest('hex'),
        bytes: 3,
        via: 'update server',
      },
    ]);
    expect(takeImagesSent()).toEqual([]);
  });

  it('reads no version from an image without the app descriptor magic', () => {
    enableImageLedger();
    const image = esp32Image('1.0.0');
    image[0x20] = 0;
    noteImageSent(image, 'espota upload');
    expect(takeImagesSent()[0]?.version).toBeUndefined();
  });
});
