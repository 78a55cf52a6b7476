export type HttpStepErrorCode =
  | 'HTTP_STEP_TIMEOUT'
  | 'HTTP_CONNECTION'
  | 'HTTP_STATUS'
  /** The target sent more than the harness keeps (head or body); the message names the limit. */
  | 'HTTP_RESPONSE_TOO_LARGE'
  /** The target answered bytes that are not an HTTP/1.x response. */
  | 'HTTP_MALFORMED_RESPONSE';

export interface HttpStepErrorDetails {
  targetName: string;
  /** The protocol step: `begin`, `chunk @ offset 7680`, `finalize`, `upload (firmware)`. */
  step: string;
  /** The HTTP status, for HTTP_STATUS. */
  status?: number;
  /** The response body as text (redacted, shortened), for HTTP_STATUS. */
  responseText?: string;
  /** The step's timeout, for HTTP_STEP_TIMEOUT. */
  timeoutMs?: number;
}

/**
 * One protocol step against one target failed. The message names the target, the step and the
 * cause, and has already passed through the client's redaction, so it can go into any report.
 */
export class HttpStepError extends Error {
  override readonly name = 'HttpStepError';
  readonly code: HttpStepErrorCode;
  readonly targetName: string;
  readonly step: string;
  readonly status: number | undefined;
  readonly responseText: string | undefined;
  readonly timeoutMs: number | undefined;

  constructor(code: HttpStepErrorCode, message: string, details: HttpStepErrorDetails) {
    super(message);
    this.code = code;
    this.targetName = details.targetName;
    this.step = details.step;
    this.status = details.status;
    this.responseText = details.responseText;
    this.timeoutMs = details.timeoutMs;
  }
}

/** Longest response excerpt quoted in an error message. */
export const RESPONSE_EXCERPT_LENGTH = 300;

export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > RESPONSE_EXCERPT_LENGTH ? `${flat.slice(0, RESPONSE_EXCERPT_LENGTH)}…` : flat;
}
