import { createHash } from 'node:crypto';
import { UpdateServerError } from './errors.ts';
import { headerValue, type RecordedRequest } from './recorded-request.ts';
import type { RawHeader, ScriptedResponse } from './script.ts';

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  // Lua RTOS wiki wording for its two private codes.
  470: 'Missing or Bad Arguments',
  471: 'No New Firmware Available',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function defaultReason(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** What happens once `sendLimit` body bytes are out. */
export type AfterLimit = 'truncate' | 'stall' | 'drop';

/** Everything the connection needs to put one response on the wire; computed without I/O. */
export interface ResponsePlan {
  status: number;
  head: Buffer;
  /** The body slice to send (already Range-sliced); empty for HEAD and bodiless statuses. */
  payload: Uint8Array;
  /** Offset of `payload[0]` in the full body, to place `corruptAt`. */
  payloadOffset: number;
  corruptAt?: { offset: number; xor: number };
  sendLimit?: { bytes: number; action: AfterLimit };
  /** Close after this response: the client asked, or the framing is deliberately unreliable. */
  closeAfter: boolean;
  delayMs: number;
  /** ScriptedResponse.onBodySent. */
  onBodySent?: (piece: number, sentInRequest: number) => void;
}

export interface PlanContext {
  /** `http://127.0.0.1:port`, to make relative redirect targets absolute. */
  origin: string;
  resolveImage(name: string): Uint8Array | undefined;
}

const md5Cache = new WeakMap<Uint8Array, string>();

function md5Hex(body: Uint8Array): string {
  let digest = md5Cache.get(body);
  if (digest === undefined) {
    digest = createHash('md5').update(body).digest('hex');
    md5Cache.set(body, digest);
  }
  return digest;
}

/** A well-formed MD5 that is certainly not the body's: the right one with its first digit changed. */
function wrongMd5Hex(body: Uint8Array): string {
  const right = md5Hex(body);
  return (right[0] === '0' ? '1' : '0') + right.slice(1);
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * One `bytes=` range, RFC 9110 style: the end is clamped to the last byte (esp_https_ota asks for
 * `bytes=<start>-<length>`, one past the end). Multiple ranges and malformed values are ignored,
 * which RFC 9110 allows, and which answers 200 with the full body.
 */
export function parseByteRange(value: string, size: number): ByteRange {
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Number(last);
  return { start, end: Math.min(end, size - 1) };
}

function bodilessStatus(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

function checkHeader(name: string, value: string): void {
  if (/[\r\n]/.test(name) || /[\r\n]/.test(value) || name.length === 0 || name.includes(':')) {
    throw new UpdateServerError(
      'UPDATE_SERVER_BAD_SCRIPT',
      `header ${JSON.stringify([name, value])} cannot go on the wire: no CR, LF or colon in a name, no CR or LF in a value`,
    );
  }
}

function checkCount(field: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new UpdateServerError(
      'UPDATE_SERVER_BAD_SCRIPT',
      `${field} must be a whole number >= 0, got ${value}`,
    );
  }
}

function declaredLength(mode: ScriptedResponse['contentLength'], actual: number): number | undefined {
  if (mode === undefined) return actual;
  if (mode === 'omit') return undefined;
  if (typeof mode === 'number') return mode;
  const delta = Number(mode.slice('wrong:'.length));
  if (!Number.isInteger(delta)) {
    throw new UpdateServerError(
      'UPDATE_SERVER_BAD_SCRIPT',
      `contentLength ${JSON.stringify(mode)} is not wrong:+N / wrong:-N`,
    );
  }
  return actual + delta;
}

/** Whether the client asked to keep the connection open after this exchange. */
function clientKeepsAlive(request: Pick<RecordedRequest, 'httpVersion' | 'headers'>): boolean {
  const connection = headerValue(request, 'connection')?.toLowerCase() ?? '';
  const tokens = connection.split(',').map((token) => token.trim());
  if (tokens.includes('close')) return false;
  return request.httpVersion === '1.1' || tokens.includes('keep-alive');
}

export function planResponse(
  scripted: ScriptedResponse,
  request: Pick<RecordedRequest, 'method' | 'httpVersion' | 'headers'>,
  context: PlanContext,
): ResponsePlan {
  checkCount('truncateAt', scripted.truncateAt);
  checkCount('stallAfter', scripted.stallAfter);
  checkCount('dropAfter', scripted.dropAfter);
  checkCount('delayMs', scripted.delayMs);
  const limits = [scripted.truncateAt, scripted.stallAfter, scripted.dropAfter].filter(
    (v) => v !== undefined,
  );
  if (limits.length > 1) {
    throw new UpdateServerError(
      'UPDATE_SERVER_BAD_SCRIPT',
      'use at most one of truncateAt, stallAfter, dropAfter',
    );
  }

  let status = scripted.redirect?.status ?? scripted.status;
  let reason = scripted.reason;
  let fullBody: Uint8Array;
  if (scripted.body === undefined) fullBody = new Uint8Array(0);
  else if (scripted.body instanceof Uint8Array) fullBody = scripted.body;
  else {
    const image = context.resolveImage(scripted.body.image);
    if (!image) {
      throw new UpdateServerError(
        'UPDATE_SERVER_BAD_SCRIPT',
        `no image named ${JSON.stringify(scripted.body.image)}`,
      );
    }
    fullBody = image;
  }

  const userHeaders = scripted.headers ?? [];
  for (const [name, value] of userHeaders) checkHeader(name, value);
  const userNames = new Set(userHeaders.map(([name]) => name.toLowerCase()));
  const automatic: RawHeader[] = [];
  const addAutomatic = (name: string, value: string) => {
    if (!userNames.has(name.toLowerCase())) automatic.push([name, value]);
  };

  let payload = fullBody;
  let payloadOffset = 0;
  if (scripted.redirect) {
    const to = scripted.redirect.to;
    addAutomatic('Location', to.startsWith('/') ? context.origin + to : to);
  }
  const rangeHeader = headerValue(request, 'range');
  if (status === 200 && rangeHeader !== undefined && (scripted.range ?? 'honour') === 'honour') {
    const range = parseByteRange(rangeHeader, fullBody.length);
    if (range === 'unsatisfiable') {
      status = 416;
      reason = undefined;
      payload = new Uint8Array(0);
      addAutomatic('Content-Range', `bytes */${fullBody.length}`);
    } else if (range) {
      status = 206;
      reason = undefined;
      payload = fullBody.subarray(range.start, range.end + 1);
      payloadOffset = range.start;
      addAutomatic('Content-Range', `bytes ${range.start}-${range.end}/${fullBody.length}`);
    }
  }
  const bodiless = bodilessStatus(status);
  if (bodiless) payload = new Uint8Array(0);

  const declared = bodiless ? undefined : declaredLength(scripted.contentLength, payload.length);
  if (declared !== undefined) addAutomatic('Content-Length', String(declared));
  const md5Mode = scripted.md5Header ?? 'omit';
  if (md5Mode === 'true') addAutomatic('x-MD5', md5Hex(fullBody));
  else if (md5Mode === 'wrong') addAutomatic('x-MD5', wrongMd5Hex(fullBody));

  const isHead = request.method === 'HEAD';
  const sendsBody = !isHead && !bodiless;
  const userLength = userHeaders.find(([name]) => name.toLowerCase() === 'content-length')?.[1];
  const framedLength = userLength !== undefined ? Number(userLength.trim()) : declared;
  const framingHolds = !sendsBody || framedLength === payload.length;
  const userConnection = userHeaders.find(([name]) => name.toLowerCase() === 'connection')?.[1];
  const closeAfter =
    !clientKeepsAlive(request) ||
    !framingHolds ||
    limits.length > 0 ||
    userConnection?.toLowerCase().includes('close') === true;
  // Tell a keep-alive client we are about to close, unless the script spoke for itself.
  if (closeAfter && clientKeepsAlive(request)) addAutomatic('Connection', 'close');

  let text = `HTTP/1.1 ${status} ${reason ?? defaultReason(status)}\r\n`;
  for (const [name, value] of [...userHeaders, ...automatic]) text += `${name}: ${value}\r\n`;
  text += '\r\n';

  const plan: ResponsePlan = {
    status,
    head: Buffer.from(text, 'latin1'),
    payload: sendsBody ? payload : new Uint8Array(0),
    payloadOffset,
    closeAfter,
    delayMs: scripted.delayMs ?? 0,
    ...(scripted.onBodySent ? { onBodySent: scripted.onBodySent } : {}),
  };
  if (scripted.corruptAt) {
    const { offset, xor } = scripted.corruptAt;
    checkCount('corruptAt.offset', offset);
    if (!Number.isInteger(xor) || xor < 1 || xor > 0xff) {
      throw new UpdateServerError('UPDATE_SERVER_BAD_SCRIPT', `corruptAt.xor must be 1..255, got ${xor}`);
    }
    plan.corruptAt = { offset, xor };
  }
  if (sendsBody) {
    if (scripted.truncateAt !== undefined)
      plan.sendLimit = { bytes: scripted.truncateAt, action: 'truncate' };
    if (scripted.stallAfter !== undefined) plan.sendLimit = { bytes: scripted.stallAfter, action: 'stall' };
    if (scripted.dropAfter !== undefined) plan.sendLimit = { bytes: scripted.dropAfter, action: 'drop' };
  }
  return plan;
}

/**
 * The pieces of the body to write, with the corrupt byte spliced in as its own 1-byte piece so
 * the stored body is never copied or modified.
 */
export function bodyPieces(plan: ResponsePlan): Uint8Array[] {
  const limit = Math.min(plan.payload.length, plan.sendLimit?.bytes ?? Number.POSITIVE_INFINITY);
  const body = plan.payload.subarray(0, limit);
  const corruptIndex = plan.corruptAt ? plan.corruptAt.offset - plan.payloadOffset : -1;
  if (!plan.corruptAt || corruptIndex < 0 || corruptIndex >= body.length) {
    return body.length > 0 ? [body] : [];
  }
  const damaged = Uint8Array.of((body[corruptIndex] ?? 0) ^ plan.corruptAt.xor);
  return [body.subarray(0, corruptIndex), damaged, body.subarray(corruptIndex + 1)].filter(
    (p) => p.length > 0,
  );
}
