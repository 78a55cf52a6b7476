import { describe, expect, it } from 'vitest';
import { testSigningKey } from '../../fixtures/index.ts';
import {
  esp32ArduinoSignature,
  esp32SigningDeviceOptions,
  esp8266SignatureDefect,
  esp8266SigningDeviceOptions,
  signingOption,
} from './signing-options.ts';

describe('the signing firmware option', () => {
  it('installs the scheme verifier with the public test key unless a key is given', () => {
    expect(signingOption({})).toBeUndefined();
    expect(signingOption({ signing: { scheme: 'esp8266-legacy' } })).toEqual({
      scheme: 'esp8266-legacy',
      publicKeyPem: testSigningKey('esp8266-legacy').publicKeyPem,
    });
    expect(
      esp8266SigningDeviceOptions({ signing: { scheme: 'esp8266-legacy', publicKeyPem: 'PEM' } }),
    ).toEqual({
      updater: { verifier: { publicKeyPem: 'PEM', legacy: true } },
    });
    expect(
      esp32SigningDeviceOptions(
        { signing: { scheme: 'esp-idf-ecdsa' } },
        { chip: { rollback: true } },
        new Set(),
      ).chip,
    ).toMatchObject({
      rollback: true,
      signedApps: { scheme: 'esp-idf-ecdsa' },
    });
    expect(
      esp32ArduinoSignature(
        { signing: { scheme: 'esp32-arduino-pss' } },
        new Set(['update-sign-skipped-after-begin']),
      ),
    ).toMatchObject({
      signature: { defect: 'skips-check' },
    });
    expect(esp8266SignatureDefect(new Set(['ignores-signature-length']))).toEqual({
      signatureDefect: 'ignores-length-field',
    });
  });

  it('refuses a malformed option, an unknown scheme and a scheme of the other chip, naming the field', () => {
    expect(() => signingOption({ signing: 'esp8266-pkcs1' })).toThrow(/must be \{ "scheme"/);
    expect(() => signingOption({ signing: { scheme: 'rsa' } })).toThrow(/signing\.scheme.*known schemes/);
    expect(() => esp8266SigningDeviceOptions({ signing: { scheme: 'esp-idf-ecdsa' } })).toThrow(
      /not an ESP8266 scheme/,
    );
    expect(() => esp32SigningDeviceOptions({ signing: { scheme: 'esp8266-pkcs1' } }, {}, new Set())).toThrow(
      /not an ESP32 scheme/,
    );
  });
});
