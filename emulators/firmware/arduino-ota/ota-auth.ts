import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';

/**
 * The two challenge/response schemes of reference §1.4: the legacy MD5 one (every ESP8266, ESP32
 * up to 3.3.0) and PBKDF2-HMAC-SHA256 (arduino-esp32 ≥ 3.3.1).
 */
export type AuthScheme = 'md5' | 'pbkdf2-sha256';

const PBKDF2_ITERATIONS = 10_000;
const PBKDF2_KEY_LENGTH = 32;

const md5Hex = (text: string) => createHash('md5').update(text).digest('hex');
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** The stored secret: `setPassword(p)` keeps MD5(p) (SHA-256(p) for PBKDF2); `setPasswordHash(h)` keeps h verbatim. */
export function storedPasswordHash(scheme: AuthScheme, password: string): string {
  return scheme === 'md5' ? md5Hex(password) : sha256Hex(password);
}

/** Length of the nonce, cnonce and response in hex characters: 32 (MD5) or 64 (PBKDF2). */
export function challengeHexLength(scheme: AuthScheme): number {
  return scheme === 'md5' ? 32 : 64;
}

/** The nonce: a hash of `String(micros())` (the PBKDF2 device's exact recipe is UNCONFIRMED). */
export function makeNonce(scheme: AuthScheme, micros: number): string {
  const text = String(Math.floor(micros) >>> 0);
  return scheme === 'md5' ? md5Hex(text) : sha256Hex(text);
}

/** What a correct host answers to `nonce` with `cnonce`, given the stored hash. */
export function expectedResponse(
  scheme: AuthScheme,
  passwordHash: string,
  nonce: string,
  cnonce: string,
): string {
  if (scheme === 'md5') return md5Hex(`${passwordHash}:${nonce}:${cnonce}`);
  const key = pbkdf2Sync(passwordHash, `${nonce}:${cnonce}`, PBKDF2_ITERATIONS, PBKDF2_KEY_LENGTH, 'sha256');
  return sha256Hex(`${key.toString('hex')}:${nonce}:${cnonce}`);
}

/** Case-sensitive, like both cores (ESP8266 in constant time). */
export function responseMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(received);
  return a.length === b.length && timingSafeEqual(a, b);
}
