/** arduino-esp32 UPDATE_SIGN (reference/signed-images.md §2.4): each refusal with its acceptance twin. */
import { describe, expect, it } from 'vitest';
import { generateSigningKey, signWithScheme, testSigningKey } from '../../fixtures/index.ts';
import { appImage, Esp32Rig } from '../boot/esp32/esp32-test-rig.ts';
import { Esp32Update, Esp32UpdateError, type Esp32UpdateSignature, UPDATE_SIZE_UNKNOWN } from './index.ts';

function update(signature: Esp32UpdateSignature): Esp32Update {
  const rig = new Esp32Rig({ chip: { rollback: true } });
  const boot = rig.bootApp();
  return new Esp32Update({ flash: rig.flash, ota: rig.ops(boot), table: boot.table, signature });
}

function send(target: Esp32Update, bytes: Uint8Array, size = bytes.length): boolean {
  if (!target.begin(size)) return false;
  for (let offset = 0; offset < bytes.length; offset += 1460)
    target.write(bytes.subarray(offset, offset + 1460));
  return target.end(size === UPDATE_SIZE_UNKNOWN);
}

describe.each(['esp32-arduino-pss', 'esp32-arduino-ecdsa'] as const)(
  'Update with a %s verifier',
  (scheme) => {
    const key = testSigningKey(scheme);
    const image = appImage('signed-next');
    const signed = signWithScheme(image, scheme, key.privateKeyPem);

    it('installs a correctly signed image and refuses it signed with another key, with error 14', () => {
      expect(send(update({ publicKeyPem: key.publicKeyPem }), signed)).toBe(true);
      const other = signWithScheme(image, scheme, generateSigningKey(scheme).privateKeyPem);
      const refusing = update({ publicKeyPem: key.publicKeyPem });
      expect(send(refusing, other)).toBe(false);
      expect(refusing.getError()).toBe(Esp32UpdateError.SIGN);
      expect(refusing.errorString()).toBe('Signature Verification Failed');
    });

    it('refuses an unsigned image, and never verifies after begin(UPDATE_SIZE_UNKNOWN) (§2.4 step 7)', () => {
      const unsigned = update({ publicKeyPem: key.publicKeyPem });
      expect(send(unsigned, image)).toBe(false);
      expect(unsigned.getError()).toBe(Esp32UpdateError.SIGN);
      const unknownSize = update({ publicKeyPem: key.publicKeyPem });
      expect(send(unknownSize, signed, UPDATE_SIZE_UNKNOWN)).toBe(false);
      expect(unknownSize.getError()).toBe(Esp32UpdateError.SIGN);
    });

    it('the v3.3.7 defect (#12422) installs an unsigned image; the #12427 defect refuses a correct one', () => {
      expect(send(update({ publicKeyPem: key.publicKeyPem, defect: 'skips-check' }), image)).toBe(true);
      expect(send(update({ publicKeyPem: key.publicKeyPem, defect: 'whole-block' }), signed)).toBe(false);
    });
  },
);
