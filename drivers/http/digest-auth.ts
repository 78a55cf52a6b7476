import { createHash, randomBytes } from 'node:crypto';

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  scheme: 'basic' | 'digest' | string;
  params: Readonly<Record<string, string>>;
}

const PARAM = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
const SCHEME_START = /(?:^|,)\s*([A-Za-z][\w-]*)(?=\s+[A-Za-z][\w-]*\s*=|\s*(?:,|$))/g;

/** Splits one or more `WWW-Authenticate` values into challenges (RFC 7235 §4.1). */
export function parseChallenges(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const challenges: AuthChallenge[] = [];
  for (const value of values) {
    const starts: Array<{ scheme: string; index: number; end: number }> = [];
    for (const match of value.matchAll(SCHEME_START)) {
      const scheme = match[1]!;
      // A parameter name followed by '=' is not a scheme.
      const after = value.slice((match.index ?? 0) + match[0].length).trimStart();
      if (after.startsWith('=')) continue;
      starts.push({ scheme, index: match.index ?? 0, end: (match.index ?? 0) + match[0].length });
    }
    starts.forEach((start, position) => {
      const text = value.slice(start.end, starts[position + 1]?.index ?? value.length);
      const params: Record<string, string> = {};
      for (const param of text.matchAll(PARAM)) {
        params[param[1]!.toLowerCase()] =
          param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : (param[3] ?? '');
      }
      challenges.push({ scheme: start.scheme.toLowerCase(), params });
    });
  }
  return challenges;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export class UnsupportedDigestError extends Error {
  readonly code = 'HTTP_DIGEST_UNSUPPORTED';
}

export interface DigestInput {
  username: string;
  password: string;
  method: string;
  /** Request target as sent (path and query). */
  uri: string;
  challenge: AuthChallenge;
  /** Default: 16 random bytes as hex. */
  cnonce?: string;
  /** Requests already made with this nonce plus one; default 1. */
  nonceCount?: number;
}

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
const quote = (text: string): string => `"${text.replace(/(["\\])/g, '\\$1')}"`;

/**
 * An `Authorization: Digest` value per RFC 2617 / RFC 7616 with MD5, and qop=auth when the
 * challenge offers it, laid out for the ESP8266 and ESP32 WebServer `authenticate()`: it reads
 * each field with a first-substring search, so `nonce="` must come before `cnonce="` (which
 * contains it), and `nc=` is read up to the next comma, so it must not be the last field.
 */
export function digestAuthorization(input: DigestInput): string {
  const { challenge } = input;
  const algorithm = challenge.params.algorithm ?? 'MD5';
  if (algorithm.toUpperCase() !== 'MD5') {
    throw new UnsupportedDigestError(
      `Digest algorithm ${algorithm} is not supported (only MD5, as the ESP WebServer)`,
    );
  }
  const realm = challenge.params.realm ?? '';
  const nonce = challenge.params.nonce ?? '';
  const qops = (challenge.params.qop ?? '').split(',').map((qop) => qop.trim());
  const useQop = qops.includes('auth');
  if (!useQop && qops.some((qop) => qop !== '')) {
    throw new UnsupportedDigestError(`Digest qop "${challenge.params.qop}" offers no "auth"`);
  }
  const ha1 = md5(`${input.username}:${realm}:${input.password}`);
  const ha2 = md5(`${input.method}:${input.uri}`);
  const fields = [
    `username=${quote(input.username)}`,
    `realm=${quote(realm)}`,
    `nonce=${quote(nonce)}`,
    `uri=${quote(input.uri)}`,
    `algorithm=MD5`,
  ];
  if (useQop) {
    const nc = (input.nonceCount ?? 1).toString(16).padStart(8, '0');
    const cnonce = input.cnonce ?? randomBytes(16).toString('hex');
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    fields.push(`response=${quote(response)}`);
    if (challenge.params.opaque !== undefined) fields.push(`opaque=${quote(challenge.params.opaque)}`);
    fields.push('qop=auth', `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  } else {
    fields.push(`response=${quote(md5(`${ha1}:${nonce}:${ha2}`))}`);
    if (challenge.params.opaque !== undefined) fields.push(`opaque=${quote(challenge.params.opaque)}`);
  }
  return `Digest ${fields.join(', ')}`;
}
