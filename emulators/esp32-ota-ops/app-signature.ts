import { createPublicKey } from 'node:crypto';
import { align4096, SBV2_SECTOR, verifySbv2 } from '../../fixtures/signed-image/index.ts';
import type { EspLogLevel } from './esp-log.ts';

/**
 * A signed-apps build (CONFIG_SECURE_SIGNED_APPS with the Secure Boot V2 scheme): the app is
 * verified at `esp_ota_end` and again at `esp_ota_set_boot_partition` (reference
 * signed-images.md §3.6). The trusted key is the one whose digest the eFuse holds; `publicKeyPem`
 * stands for it.
 */
export interface SignedAppsOptions {
  scheme: 'esp-idf-sbv2-rsa' | 'esp-idf-ecdsa';
  publicKeyPem: string;
  /**
   * A broken build, for defect catalogs: `skips-check` never verifies (an app built without
   * CONFIG_SECURE_SIGNED_ON_UPDATE); `ignores-digest` checks the signature block and key but not
   * that the block's image digest is the image's.
   */
  defect?: 'skips-check' | 'ignores-digest';
}

type Log = (level: EspLogLevel, tag: string, message: string) => void;

/**
 * `verify_secure_boot_signature` for one written app: the log lines of ESP-IDF HEAD
 * (`esp_image_format.c` L1115‑1160, `secure_boot_signatures_app.c` L35‑286, reference §3.6 "Log
 * strings"), and true when the app may be used.
 */
export function verifyAppSignature(
  partitionBytes: Uint8Array,
  imageLength: number,
  signing: SignedAppsOptions,
  log: Log,
): boolean {
  if (signing.defect === 'skips-check') return true;
  log('I', 'esp_image', 'Verifying image signature...');
  log('I', 'secure_boot_v2', 'Take trusted digest key(s) from eFuse block(s)');
  const key = createPublicKey(signing.publicKeyPem);
  const bytes = partitionBytes.subarray(
    0,
    Math.min(partitionBytes.length, align4096(imageLength) + SBV2_SECTOR),
  );
  const verdict = verifySbv2(bytes, imageLength, key);
  const rsa = signing.scheme === 'esp-idf-sbv2-rsa';
  const accepted =
    verdict.valid ||
    (signing.defect === 'ignores-digest' && !verdict.valid && verdict.failure === 'image-digest-mismatch');
  if (accepted) {
    log('I', 'secure_boot_v2', '#0 app key digest == #0 trusted key digest');
    log('I', 'secure_boot_v2', rsa ? 'Verifying with RSA-PSS...' : 'Verifying with ECDSA...');
    // ECDSA logs no success line (§3.6).
    if (rsa) log('I', 'secure_boot_v2_rsa', 'Signature verified successfully!');
    return true;
  }
  if (verdict.failure === 'signature-bad' || verdict.failure === 'image-digest-mismatch') {
    log('I', 'secure_boot_v2', '#0 app key digest == #0 trusted key digest');
    log('I', 'secure_boot_v2', rsa ? 'Verifying with RSA-PSS...' : 'Verifying with ECDSA...');
    if (rsa) log('E', 'secure_boot_v2_rsa', 'Signature verification failed, err: -1');
  } else if (verdict.failure === 'scheme-mismatch') {
    log('E', 'secure_boot_v2', verdict.reason);
  }
  log('E', 'esp_image', 'Secure boot signature verification failed');
  // The simple hash only classifies the failure (§3.5): the structural checks already passed.
  log('I', 'esp_image', 'Calculating simple hash to check for corruption...');
  log('W', 'esp_image', 'image valid, signature bad');
  return false;
}
