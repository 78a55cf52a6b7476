import { createHash } from 'node:crypto';

/** What every redacted secret is replaced with. */
export const REDACTION_MASK = '***';

/**
 * Secrets shorter than this are not replaced wherever their characters happen to occur ("ab"
 * would shred every log line and, by what it hid, hint at the secret); they are replaced only
 * where they stand as a credential's value: after `token=`, `"password": "`, `Bearer `,
 * as a URL's userinfo password, as the password of a Basic-auth header, or as a whole string
 * value in `redactObject`.
 */
export const MIN_FREE_TEXT_SECRET_LENGTH = 4;

/** Base64 fragments shorter than this could match unrelated base64 (an image in a transcript). */
const MIN_BASE64_CORE_LENGTH = 6;

export interface Credential {
  username: string;
  password: string;
}

export interface RedactorOptions {
  /** Username/password pairs, so their Basic-auth header (`base64(user:pass)`) is caught whole. */
  credentials?: Iterable<Credential>;
}

/** A compiled set of patterns over one string representation (UTF-16 text, or bytes as latin1). */
interface Matcher {
  literal: RegExp | undefined;
  base64Cores: RegExp | undefined;
  contextual: RegExp | undefined;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const toLatin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
/** Base64 letters in the standard and URL-safe alphabets; `=` only pads the end of a run. */
const isBase64Char = (code: number): boolean =>
  (code >= 0x41 && code <= 0x5a) ||
  (code >= 0x61 && code <= 0x7a) ||
  (code >= 0x30 && code <= 0x39) ||
  code === 0x2b ||
  code === 0x2f ||
  code === 0x2d ||
  code === 0x5f;

/** Keys after which a value is a credential, in headers, query strings, JSON and logs. */
const CREDENTIAL_KEY = '(?:x-ota-token|token|password|passwd|pwd|pass|secret|auth|otapass|key)';

/**
 * Replaces secrets in everything the harness writes: console logs, wire transcripts, reports,
 * attachments. A secret is caught as it is, URL-encoded (path, query, form), JSON-escaped, inside
 * any base64 text (Basic auth carries `base64(user:pass)`), and as the MD5/SHA-256 hex digest
 * ArduinoOTA uses as a password equivalent.
 */
export class Redactor {
  private readonly longSecrets: readonly string[];
  private readonly shortSecrets: readonly string[];
  private readonly allSecrets: readonly string[];
  private readonly credentials: readonly Credential[];
  private readonly textMatcher: Matcher;
  private byteMatcher: Matcher | undefined;

  constructor(secrets: Iterable<string>, options: RedactorOptions = {}) {
    const unique = new Set([...secrets].filter((secret) => secret.length > 0));
    this.longSecrets = [...unique].filter((secret) => secret.length >= MIN_FREE_TEXT_SECRET_LENGTH);
    this.shortSecrets = [...unique].filter((secret) => secret.length < MIN_FREE_TEXT_SECRET_LENGTH);
    this.allSecrets = [...unique];
    this.credentials = [...(options.credentials ?? [])].filter((pair) => pair.password.length > 0);
    this.textMatcher = this.compile((text) => text);
  }

  /** True when there is nothing to hide, so writers can skip the work. */
  get isEmpty(): boolean {
    return this.longSecrets.length === 0 && this.shortSecrets.length === 0 && this.credentials.length === 0;
  }

  /** A redactor that hides this one's secrets and more (one per run, gathered from every target). */
  with(secrets: Iterable<string>, options: RedactorOptions = {}): Redactor {
    return new Redactor([...this.longSecrets, ...this.shortSecrets, ...secrets], {
      credentials: [...this.credentials, ...(options.credentials ?? [])],
    });
  }

  redact(text: string): string {
    if (this.isEmpty || text.length === 0) return text;
    return apply(this.textMatcher, text, this.allSecrets);
  }

  /** Works on the bytes, so binary transcripts keep every byte that is not part of a secret. */
  redactBytes(buffer: Uint8Array): Buffer {
    const bytes = Buffer.isBuffer(buffer)
      ? buffer
      : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (this.isEmpty || bytes.length === 0) return bytes;
    this.byteMatcher ??= this.compile(toLatin1);
    const text = bytes.toString('latin1');
    const redacted = apply(this.byteMatcher, text, this.allSecrets);
    return redacted === text ? bytes : Buffer.from(redacted, 'latin1');
  }

  /**
   * A deep copy with every string (keys too) and byte array redacted. Class instances become
   * plain objects of their own enumerable properties; errors keep name, message, stack and code.
   */
  redactObject<T>(value: T): T {
    if (this.isEmpty) return value;
    return this.redactValue(value, new WeakMap()) as T;
  }

  private redactValue(value: unknown, seen: WeakMap<object, unknown>): unknown {
    if (typeof value === 'string') {
      return this.shortSecrets.includes(value) ? REDACTION_MASK : this.redact(value);
    }
    if (value === null || typeof value !== 'object') return value;
    const known = seen.get(value);
    if (known !== undefined) return known;
    if (Buffer.isBuffer(value)) return this.redactBytes(value);
    if (value instanceof Uint8Array) return new Uint8Array(this.redactBytes(value));
    if (value instanceof Date || value instanceof RegExp) return value;
    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      seen.set(value, copy);
      for (const element of value) copy.push(this.redactValue(element, seen));
      return copy;
    }
    if (value instanceof Map) {
      const copy = new Map();
      seen.set(value, copy);
      for (const [key, element] of value)
        copy.set(this.redactValue(key, seen), this.redactValue(element, seen));
      return copy;
    }
    if (value instanceof Set) {
      const copy = new Set();
      seen.set(value, copy);
      for (const element of value) copy.add(this.redactValue(element, seen));
      return copy;
    }
    const copy: Record<string, unknown> =
      value instanceof Error ? Object.create(Object.getPrototypeOf(value)) : {};
    seen.set(value, copy);
    if (value instanceof Error) {
      for (const key of ['name', 'message', 'stack'] as const) {
        if (typeof value[key] === 'string') {
          Object.defineProperty(copy, key, {
            value: this.redact(value[key]),
            writable: true,
            configurable: true,
          });
        }
      }
      if (value.cause !== undefined) copy.cause = this.redactValue(value.cause, seen);
    }
    for (const [key, element] of Object.entries(value)) {
      Object.defineProperty(copy, this.redact(key), {
        value: this.redactValue(element, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }

  private compile(represent: (text: string) => string): Matcher {
    const literals = new Set<string>();
    const cores = new Set<string>();
    for (const secret of this.longSecrets) {
      for (const form of encodedForms(secret)) literals.add(represent(form));
      for (const core of base64Cores(secret)) cores.add(core);
    }
    for (const { username, password } of this.credentials) {
      const pair = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
      literals.add(pair);
      literals.add(pair.replace(/=+$/, ''));
    }
    const contextualValues = new Set<string>();
    for (const secret of this.shortSecrets) {
      contextualValues.add(represent(secret));
      contextualValues.add(represent(encodeURIComponent(secret)));
    }
    return {
      literal: alternation([...literals], 'g'),
      base64Cores: alternation([...cores], 'g'),
      contextual:
        contextualValues.size === 0
          ? undefined
          : new RegExp(
              String.raw`(${CREDENTIAL_KEY}["']?\s*[:=]\s*["']?|\bBearer\s+|//[^\s/:@]*:)(` +
                [...contextualValues].map(escapeRegExp).join('|') +
                String.raw`)(?=$|["'&\s,;}\]@])`,
              'gim',
            ),
    };
  }
}

function alternation(patterns: string[], flags: string): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  // Longest first, so a secret's encoded form wins over a shorter secret inside it.
  const sorted = [...patterns].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(escapeRegExp).join('|'), flags);
}

function apply(matcher: Matcher, input: string, secrets: readonly string[]): string {
  let text = input;
  if (matcher.base64Cores) text = maskBase64Runs(text, matcher.base64Cores);
  text = maskBasicAuth(text, secrets);
  if (matcher.literal) text = text.replace(matcher.literal, REDACTION_MASK);
  if (matcher.contextual)
    text = text.replace(matcher.contextual, (_match, prefix: string) => prefix + REDACTION_MASK);
  return text;
}

/** Replaces the whole base64 run around a core: the characters at its edges carry bits of the secret too. */
function maskBase64Runs(text: string, cores: RegExp): string {
  cores.lastIndex = 0;
  if (!cores.test(text)) return text;
  cores.lastIndex = 0;
  let result = '';
  let copiedUpTo = 0;
  for (const match of text.matchAll(cores)) {
    let start = match.index;
    let end = start + match[0].length;
    if (start < copiedUpTo) continue;
    while (start > copiedUpTo && isBase64Char(text.charCodeAt(start - 1))) start--;
    while (end < text.length && isBase64Char(text.charCodeAt(end))) end++;
    for (let padding = 0; padding < 2 && text.charCodeAt(end) === 0x3d; padding++) end++;
    result += text.slice(copiedUpTo, start) + REDACTION_MASK;
    copiedUpTo = end;
  }
  return result + text.slice(copiedUpTo);
}

/**
 * A Basic-auth header that carries a secret of any length: one too short for a base64 core, and
 * one as short as a PIN, which free text never matches.
 */
function maskBasicAuth(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || !/basic/i.test(text)) return text;
  return text.replace(/\bBasic\s+([A-Za-z0-9+/]+={0,2})/gi, (match, encoded: string) => {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const password = colon >= 0 ? decoded.slice(colon + 1) : decoded;
    const carriesSecret = secrets.some(
      (secret) =>
        password === secret || (secret.length >= MIN_FREE_TEXT_SECRET_LENGTH && decoded.includes(secret)),
    );
    return carriesSecret ? match.slice(0, match.length - encoded.length) + REDACTION_MASK : match;
  });
}

/** The forms a secret takes on the wire and in files. */
function encodedForms(secret: string): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    encodeURI(secret),
    new URLSearchParams({ v: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
    createHash('md5').update(secret).digest('hex'),
    createHash('sha256').update(secret).digest('hex'),
  ];
  // Percent-encoding is case-insensitive in its hex digits; some clients write %2f.
  for (const form of forms.slice(1, 4))
    forms.push(form.replace(/%[0-9A-F]{2}/g, (percentEscape) => percentEscape.toLowerCase()));
  for (const digest of forms.slice(5, 7)) forms.push(digest.toUpperCase());
  return forms;
}

/**
 * The part of base64 text that is fixed by the secret alone, for each of the three alignments the
 * secret can have inside a longer encoded string (`user:secret`, a JSON blob, …). Characters at
 * the edges also depend on neighbouring bytes, so they are left out here and swallowed by the
 * run extension in `maskBase64Runs`.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const encoded = padded.toString('base64').replace(/=+$/, '');
    // Characters wholly inside the secret: skip those touching the zero prefix, and the last
    // character unless the secret ends on a 3-byte boundary.
    const firstClean = Math.ceil((shift * 8) / 6);
    const lastClean = Math.floor((padded.length * 8) / 6);
    const core = encoded.slice(firstClean, lastClean);
    if (core.length >= MIN_BASE64_CORE_LENGTH) {
      cores.push(core);
      cores.push(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return cores;
}
