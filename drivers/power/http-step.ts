import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
    ({ status, text } = await exchange(step));
  } catch (error) {
    if (error === TIMED_OUT) {
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

/** What the deadline ends the request with (a symbol: no stack to build). */
const TIMED_OUT = Symbol('timed out');

/** The request, its answer's status and body as text, within one deadline. */
function exchange(step: HttpStep): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const send = step.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(step.url, {
      method: step.method,
      headers: { ...step.headers, connection: 'close' },
      agent: false,
    });
    let settled = false;
    const finish = (error: unknown, answer?: { status: number; text: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (answer === undefined) {
        outgoing.destroy();
        reject(error);
      } else resolve(answer);
    };
    const deadline = setTimeout(() => finish(TIMED_OUT), step.timeoutMs);
    outgoing.on('error', (error) => finish(error));
    outgoing.on('response', (incoming: IncomingMessage) => {
      const pieces: Buffer[] = [];
      let length = 0;
      incoming.on('data', (piece: Buffer) => {
        length += piece.length;
        if (length > MAX_ANSWER_BYTES)
          finish(new Error(`the answer is longer than ${MAX_ANSWER_BYTES} bytes`));
        else pieces.push(piece);
      });
      incoming.on('error', (error) => finish(error));
      incoming.on('close', () => {
        if (!incoming.complete) finish(new Error('the connection closed before the answer was complete'));
      });
      incoming.on('end', () =>
        finish(undefined, {
          status: incoming.statusCode ?? 0,
          text: Buffer.concat(pieces).toString('utf8'),
        }),
      );
    });
    outgoing.end();
  });
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
