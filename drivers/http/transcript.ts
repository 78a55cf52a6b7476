/** One request and its outcome, as the report's wire log shows it. Already redacted. */
export interface TranscriptEvent {
  /** When the request started (ms since the epoch). */
  at: number;
  step: string;
  method: string;
  /** Path with query string as sent (redacted). */
  path: string;
  /** Undefined when no response arrived (timeout, dropped connection). */
  status: number | undefined;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
  /** Body bytes sent and received (the response body is 0 when it was discarded unread). */
  bytes: { sent: number; received: number };
  durationMs: number;
  /** What went wrong when there is no status: the HttpStepError message. */
  error?: string;
  /** How the request travelled: through the pooled keep-alive client or a raw socket. */
  via: 'client' | 'raw-socket';
}

export type TranscriptHook = (event: TranscriptEvent) => void;

export const SECRET_MASK = '***';

/**
 * Everything a client writes into messages and transcripts goes through this: the caller's
 * `redact` (a rig-wide Redactor) and then this client's own secrets, so a client used without a
 * Redactor still never leaks its token or password.
 */
export function secretScrubber(
  secrets: readonly (string | undefined)[],
  redact: ((text: string) => string) | undefined,
): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined || secret === '') continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret, 'utf8').toString('base64'));
  }
  // Longest first, so a secret inside another is not half-replaced.
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let result = redact ? redact(text) : text;
    for (const form of ordered) if (result.includes(form)) result = result.split(form).join(SECRET_MASK);
    return result;
  };
}

/** Header names whose whole value is a credential. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-ota-token']);

export function redactHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  scrub: (text: string) => string,
  extraCredentialHeaders: ReadonlySet<string> = new Set(),
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    const lower = name.toLowerCase();
    if (CREDENTIAL_HEADERS.has(lower) || extraCredentialHeaders.has(lower)) {
      // Keep the scheme (Basic, Digest, Bearer): a wire log must show which one was used.
      const scheme = /^(Basic|Digest|Bearer)\b/i.exec(text)?.[1];
      result[name] = scheme ? `${scheme} ${SECRET_MASK}` : SECRET_MASK;
    } else {
      result[name] = scrub(text);
    }
  }
  return result;
}
