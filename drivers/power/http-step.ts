import { DEADLINE_PASSED, oneExchange } from '../http/one-exchange.ts';
import { PowerRequestError, PowerTimeoutError } from './errors.ts';
import { describeUrl, redactSecrets } from './redact.ts';

export interface HttpStep {
  targetName: string;
  step: string;
  method: 'GET' | 'POST';
  url: URL;
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Every secret the request carries, kept out of any message. */
  secrets: readonly (string | undefined)[];
}

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** A switch's answer larger than this is not a switch's answer (a flash trace is tens of KB). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * One request to a power switch with one deadline for connecting, answering and reading the
 * body, so a plug that accepts and then says nothing fails at the deadline instead of hanging.
 * The connection is not kept alive: power steps are rare, and an idle socket must not keep the
 * harness process running. Node's own HTTP client (its native parser reads every framing a plug
 * may answer with: Content-Length, chunked, or close): undici cost 2.5 ms of CPU per request here,
 * node:http 1.2 ms, and a run makes about 800 of these (every requirement restores its device).
 */
export async function httpStep(step: HttpStep): Promise<HttpAnswer> {
  const { targetName, url, timeoutMs, secrets } = step;
  const where = describeUrl(url);
  let status: number;
  let text: string;
  try {
    const answer = await oneExchange({
      secure: url.protocol === 'https:',
      url,
      options: { method: step.method, headers: { ...step.headers, connection: 'close' }, agent: false },
      timeoutMs,
      maxBodyBytes: MAX_ANSWER_BYTES,
    }).answered;
    status = answer.status;
    text = answer.body.toString('utf8');
  } catch (error) {
    if (error === DEADLINE_PASSED) {
      throw new PowerTimeoutError(
        `target '${targetName}': step '${step.step}' got no answer from ${where} within ${timeoutMs} ms`,
        targetName,
        step.step,
        timeoutMs,
      );
    }
    throw new PowerRequestError(
      redactSecrets(
        `target '${targetName}': step '${step.step}' could not reach ${where}: ${describeError(error)}`,
        secrets,
      ),
      targetName,
      step.step,
    );
  }
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status < 200 || status > 299) {
    const hint = status === 401 || status === 403 ? ' (check the rig’s credentials for this switch)' : '';
    throw new PowerRequestError(
      redactSecrets(
        `target '${targetName}': step '${step.step}': ${where} answered HTTP ${status}${hint}: ${text.slice(0, 200)}`,
        secrets,
      ),
      targetName,
      step.step,
      status,
    );
  }
  return { status, body, text };
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${code === undefined ? '' : `${code} `}${error.message}${cause}`;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
