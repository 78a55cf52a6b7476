import { createHash, pbkdf2 } from 'node:crypto';

/**
 * The two ArduinoOTA challenge/response schemes (reference/arduino-ota.md §1.4): `md5`, the
 * legacy one (every ESP8266, ESP32 up to 3.3.0), and `sha256`, PBKDF2-HMAC-SHA256 (arduino-esp32
 * ≥ 3.3.1). `auto` picks by the nonce's length as espota does: 32 hex → md5, 64 hex → sha256.
 */
export type EspotaAuthScheme = 'md5' | 'sha256';

/** espota's `-m/--md5-target`: the PBKDF2 password is MD5(password) instead of SHA-256(password). */
export type Pbkdf2PasswordHash = 'sha256' | 'md5';

const PBKDF2_ITERATIONS = 10_000;
const PBKDF2_KEY_LENGTH = 32;

export const md5Hex = (text: string): string => createHash('md5').update(text).digest('hex');
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The scheme a nonce announces, or undefined for a length espota refuses. */
export function schemeOfNonce(nonce: string): EspotaAuthScheme | undefined {
  if (nonce.length === 32) return 'md5';
  if (nonce.length === 64) return 'sha256';
  return undefined;
}

/** What espota's cnonce is built from: `filename + str(size) + file_md5 + remote_ip`, no separators. */
export interface CnonceInput {
  fileName: string;
  size: number;
  md5: string;
  remoteAddress: string;
}

export function clientNonce(scheme: EspotaAuthScheme, input: CnonceInput): string {
  const text = `${input.fileName}${input.size}${input.md5}${input.remoteAddress}`;
  return scheme === 'md5' ? md5Hex(text) : sha256Hex(text);
}

/** The challenge response for `nonce` and `cnonce`, as espota computes it (§1.4 A and B). */
export async function challengeResponse(
  scheme: EspotaAuthScheme,
  password: string,
  nonce: string,
  cnonce: string,
  pbkdf2PasswordHash: Pbkdf2PasswordHash = 'sha256',
): Promise<string> {
  if (scheme === 'md5') return md5Hex(`${md5Hex(password)}:${nonce}:${cnonce}`);
  const passwordHash = pbkdf2PasswordHash === 'md5' ? md5Hex(password) : sha256Hex(password);
  const derived = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(
      passwordHash,
      `${nonce}:${cnonce}`,
      PBKDF2_ITERATIONS,
      PBKDF2_KEY_LENGTH,
      'sha256',
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
  return sha256Hex(`${derived.toString('hex')}:${nonce}:${cnonce}`);
}

/** The AUTH datagram: `200 <cnonce> <response>\n` (70 bytes for md5, 134 for sha256). */
export function authDatagram(cnonce: string, response: string): string {
  return `200 ${cnonce} ${response}\n`;
}
