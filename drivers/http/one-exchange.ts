import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

/*
 * One HTTP request and its whole answer under one deadline, on Node's own client: what a device's
 * routes (HttpTarget), a power switch (drivers/power) and the preflight of a server under test
 * each need, with only their limits and their words for what went wrong differing.
 */

/** What a request's deadline ends it with (a symbol: no stack to build). */
export const DEADLINE_PASSED = Symbol('deadline passed');

/** The answer's body went past the caller's limit; nothing past it was kept. */
export class AnswerOverLimit extends Error {
  constructor(
    readonly received: number,
    readonly limit: number,
  ) {
    super(`the answer is longer than ${limit} bytes`);
  }
}

/** The connection closed inside the answer's body, without an error of its own. */
export class AnswerCutShort extends Error {
  constructor() {
    super('the connection closed before the answer was complete');
  }
}

export interface OneExchange {
  /** https: or http:. */
  secure: boolean;
  /** Where, when the request goes to a URL (merged with `options`, as node:http does). */
  url?: URL;
  options: RequestOptions;
  body?: Uint8Array | string;
  /** The whole exchange: connecting, the answer's head and its body. */
  timeoutMs: number;
  maxBodyBytes: number;
  /** Whether the body of an answer with this status is read; otherwise it is drained and empty. */
  keepBody?: (status: number) => boolean;
  /** Told as the exchange goes: the connect (of a new connection), then the status and headers. */
  progress?: ExchangeProgress;
}

export interface ExchangeProgress {
  connected: boolean;
  status: number | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** A new connection was established (a kept-alive one is not counted). */
  onConnect?: () => void;
}

export interface Answered {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Exchanging {
  answered: Promise<Answered>;
  /** Ends the exchange now with `error` (a no-op once it has ended). */
  cancel: (error: Error) => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Sends the request and reads its answer; rejects with DEADLINE_PASSED, AnswerOverLimit,
 * AnswerCutShort or Node's own error (a refused connect, a parse error with its HPE_ code).
 */
export function oneExchange(spec: OneExchange): Exchanging {
  const progress = spec.progress ?? { connected: false, status: undefined, headers: {} };
  const send = spec.secure ? httpsRequest : httpRequest;
  const outgoing = spec.url ? send(spec.url, spec.options) : send(spec.options);
  let cancel: (error: Error) => void = () => {};
  const answered = new Promise<Answered>((resolve, reject) => {
    let settled = false;
    const finish = (error: unknown, body?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (body !== undefined) resolve({ status: progress.status!, headers: progress.headers, body });
      else {
        outgoing.destroy();
        reject(error);
      }
    };
    cancel = (error) => finish(error);
    const deadline = setTimeout(() => finish(DEADLINE_PASSED), spec.timeoutMs);
    outgoing.on('socket', (socket) => {
      if (outgoing.reusedSocket) progress.connected = true;
      else
        socket.once(spec.secure ? 'secureConnect' : 'connect', () => {
          progress.connected = true;
          progress.onConnect?.();
        });
    });
    outgoing.on('error', (error) => finish(error));
    outgoing.on('response', (incoming: IncomingMessage) => {
      const status = incoming.statusCode ?? 0;
      progress.status = status;
      progress.headers = headersOf(incoming);
      incoming.on('error', (error) => finish(error));
      incoming.on('close', () => {
        if (!incoming.complete) finish(new AnswerCutShort());
      });
      if (spec.keepBody !== undefined && !spec.keepBody(status)) {
        incoming.on('end', () => finish(undefined, EMPTY));
        incoming.resume();
        return;
      }
      const pieces: Buffer[] = [];
      let length = 0;
      incoming.on('data', (piece: Buffer) => {
        length += piece.length;
        if (length <= spec.maxBodyBytes) pieces.push(piece);
        else finish(new AnswerOverLimit(length, spec.maxBodyBytes));
      });
      incoming.on('end', () =>
        finish(undefined, pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length)),
      );
    });
    outgoing.end(spec.body);
  });
  return { answered, cancel };
}

/** The answer's headers by lower-case name: a header sent once as its value, a repeated one as the list. */
function headersOf(incoming: IncomingMessage): Answered['headers'] {
  const headers: Answered['headers'] = {};
  for (const [name, values] of Object.entries(incoming.headersDistinct))
    if (values !== undefined) headers[name] = values.length === 1 ? values[0] : values;
  return headers;
}
