import { createPublicKey, type KeyObject } from 'node:crypto';
import { appendSignature, rsaSignatureLength, verifySignedImage } from '../../fixtures/signed-image/index.ts';

/** Installed verifier of a signing build: RSA public key, new (DigestInfo) or legacy (bare digest) scheme. */
export interface VerifierOptions {
  publicKeyPem: string;
  /** Cores 2.5.0–2.5.2: PKCS#1 v1.5 over the raw SHA-256 digest, no DigestInfo (br_rsa_pkcs1_vrfy with a NULL OID). */
  legacy?: boolean;
}

export class UnsupportedVerifierKeyError extends Error {
  readonly code = 'ESP8266_VERIFIER_KEY';
  override readonly name = 'UnsupportedVerifierKeyError';
}

/**
 * The device side of signed OTA (BearSSLHelpers.cpp SigningVerifier with an RSA key): length() is
 * the modulus size in bytes; verify() checks a PKCS#1 v1.5 signature over bytes the Updater read
 * back from flash.
 */
export class RsaSigningVerifier {
  readonly length: number;
  private readonly key: KeyObject;
  private readonly legacy: boolean;

  constructor(options: VerifierOptions) {
    this.key = createPublicKey(options.publicKeyPem);
    if (this.key.asymmetricKeyType !== 'rsa') {
      // EC verification's signature-length behaviour is UNCONFIRMED (reference §4.4), so no model.
      throw new UnsupportedVerifierKeyError(
        `the ESP8266 verifier model takes an RSA public key, got ${this.key.asymmetricKeyType ?? 'an unknown key type'}`,
      );
    }
    this.length = rsaSignatureLength(this.key);
    this.legacy = options.legacy ?? false;
  }

  verify(payload: Uint8Array, signature: Uint8Array): boolean {
    if (payload.length === 0 || signature.length !== this.length) return false;
    return verifySignedImage(appendSignature(payload, signature), this.key, { legacy: this.legacy }).valid;
  }
}
