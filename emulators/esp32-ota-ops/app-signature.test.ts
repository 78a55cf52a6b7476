import { describe, expect, it } from 'vitest';
import { buildEsp32Image, signWithScheme, testSigningKey } from '../../fixtures/index.ts';
import { verifyAppSignature } from './app-signature.ts';

const image = buildEsp32Image({ size: 0x1800 });

function run(
  scheme: 'esp-idf-sbv2-rsa' | 'esp-idf-ecdsa',
  bytes: Uint8Array,
  defect?: 'skips-check' | 'ignores-digest',
) {
  const lines: string[] = [];
  const ok = verifyAppSignature(
    bytes,
    image.length,
    { scheme, publicKeyPem: testSigningKey(scheme).publicKeyPem, ...(defect && { defect }) },
    (level, tag, message) => lines.push(`${level} ${tag}: ${message}`),
  );
  return { ok, lines };
}

describe('ESP-IDF signed-app verification at esp_ota_end', () => {
  it.each(['esp-idf-sbv2-rsa', 'esp-idf-ecdsa'] as const)(
    "%s: a signed app passes with ESP-IDF's log lines",
    (scheme) => {
      const signed = signWithScheme(image, scheme, testSigningKey(scheme).privateKeyPem);
      const { ok, lines } = run(scheme, signed);
      expect(ok).toBe(true);
      expect(lines).toContain('I esp_image: Verifying image signature...');
      expect(lines).toContain('I secure_boot_v2: #0 app key digest == #0 trusted key digest');
      if (scheme === 'esp-idf-sbv2-rsa')
        expect(lines).toContain('I secure_boot_v2_rsa: Signature verified successfully!');
      else expect(lines.at(-1)).toBe('I secure_boot_v2: Verifying with ECDSA...');
    },
  );

  it.each(['esp-idf-sbv2-rsa', 'esp-idf-ecdsa'] as const)(
    '%s: an unsigned app or the other scheme is refused as ESP-IDF logs it',
    (scheme) => {
      const padded = new Uint8Array(0x3000).fill(0xff);
      padded.set(image);
      const unsigned = run(scheme, padded);
      expect(unsigned.ok).toBe(false);
      expect(unsigned.lines).toEqual(
        expect.arrayContaining([
          'E esp_image: Secure boot signature verification failed',
          'W esp_image: image valid, signature bad',
        ]),
      );
      const other = scheme === 'esp-idf-ecdsa' ? 'esp-idf-sbv2-rsa' : 'esp-idf-ecdsa';
      const wrongScheme = run(scheme, signWithScheme(image, other, testSigningKey(other).privateKeyPem));
      expect(wrongScheme.ok).toBe(false);
      expect(wrongScheme.lines.join('\n')).toMatch(
        /signing scheme selected but signature block generated for/,
      );
    },
  );

  it('the skips-check defect takes an unsigned app', () => {
    expect(run('esp-idf-sbv2-rsa', image, 'skips-check').ok).toBe(true);
  });
});
