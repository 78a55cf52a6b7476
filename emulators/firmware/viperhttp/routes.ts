import { timingSafeEqual } from 'node:crypto';
import type { HttpHandler, HttpReply, HttpRequest } from './http-server.ts';
import { OtaError, parseBool, pythonText, RESET_REQUESTED, type ViperOtaCore } from './ota-core.ts';

/** How `install_ota_routes` was called (reference §1.1–1.3) plus the demo app's extras. */
export interface ViperRouteSettings {
  prefix: string;
  /** `ota_token`; null installs the routes without authentication. */
  token: string | null;
  tokenHeader: string;
  tokenQuery: string;
  /** `viperhttp_app.py`'s `/debug/ota-status` and `/debug/reboot` (no auth). */
  demoRoutes: boolean;
  /** The `accepts-any-token` defect: any token value passes. */
  acceptsAnyToken: boolean;
  /** The `status-without-token` defect: GET status answers without authorisation. */
  statusWithoutToken: boolean;
  /** The `accepts-bearer` defect: `Authorization: Bearer <token>` is taken as the token. */
  acceptsBearer: boolean;
  /** The `accepts-empty-chunk` defect: an empty chunk reaches the core instead of the 400. */
  acceptsEmptyChunk: boolean;
}

export interface ViperRouteHooks {
  /** `machine.reset()`: the chip resets now; the request in flight gets no answer. */
  reset(): void;
  /** The demo app's `/debug/reboot`: reset after `delayMs`. */
  scheduleReset(delayMs: number): void;
  /** FirmwareContext.imageBytesArrived: a chunk's or an upload's image bytes (false: power gone). */
  imageBytesArrived(length: number): boolean;
}

/** Prefix normalisation of `install_ota_routes` (lines 596–602). */
export function normalisePrefix(prefix: string): string {
  let text = prefix.trim();
  if (text === '') text = '/ota';
  if (!text.startsWith('/')) text = `/${text}`;
  if (text.length > 1 && text.endsWith('/')) text = text.slice(0, -1);
  return text;
}

const NOT_FOUND: HttpReply = { kind: 'text', status: 404 };

function json(body: unknown, status = 200): HttpReply {
  return { kind: 'json', status, body };
}

function errorReply(error: unknown): HttpReply {
  if (error instanceof OtaError) return json({ detail: error.detail }, error.status);
  return json({ detail: error instanceof Error ? error.message : String(error) }, 500);
}

/**
 * `_request_payload`: a JSON object body, else a form body, as a dict. A binary chunk is only
 * offered to the JSON parser when it starts like an object, because only a dict is ever used:
 * same outcome as the chip, without decoding every chunk as text.
 */
export function requestPayload(request: HttpRequest): Record<string, unknown> {
  const body = request.body;
  let start = 0;
  while (
    start < body.length &&
    (body[start] === 0x20 || body[start] === 0x0a || body[start] === 0x0d || body[start] === 0x09)
  )
    start++;
  if (start < body.length && body[start] === 0x7b) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const payload = parsed as Record<string, unknown>;
        if (Object.keys(payload).length > 0) return payload;
      }
    } catch {
      // Not JSON: the form parser gets its turn, as in the Python code.
    }
  }
  // ViperHTTP's form() reads url-encoded bodies; we only offer it those (its other inputs are untested).
  const contentType = request.headers.get('content-type')?.toLowerCase() ?? '';
  if (contentType.startsWith('application/x-www-form-urlencoded') && body.length > 0) {
    const form = new URLSearchParams(body.toString('latin1'));
    const payload: Record<string, unknown> = {};
    for (const [key, value] of form) if (!(key in payload)) payload[key] = value;
    if (Object.keys(payload).length > 0) return payload;
  }
  return {};
}

/** A key from the payload, else from the query string (the routes' fill-in of missing keys). */
function param(payload: Readonly<Record<string, unknown>>, request: HttpRequest, key: string): unknown {
  return key in payload ? payload[key] : request.query.get(key);
}

/** `_parse_chunk_payload`: raw body, or `data_base64` / `data_hex` from the payload. */
function chunkData(payload: Readonly<Record<string, unknown>>, request: HttpRequest): Uint8Array {
  if ('data_base64' in payload) {
    const decoded = decodeBase64Like(pythonText(payload.data_base64));
    if (decoded === undefined)
      throw new OtaError(400, "invalid data_base64: ValueError('incorrect padding',)");
    return decoded;
  }
  if ('data_hex' in payload) {
    const text = pythonText(payload.data_hex).trim();
    if (text.length % 2 !== 0) throw new OtaError(400, "invalid data_hex: ValueError('odd-length string',)");
    if (!/^[0-9a-fA-F]*$/.test(text)) {
      throw new OtaError(400, "invalid data_hex: ValueError('non-hex digit found',)");
    }
    return Buffer.from(text, 'hex');
  }
  return request.body;
}

/** MicroPython's a2b_base64: characters outside the alphabet are skipped; bad padding is an error. */
function decodeBase64Like(text: string): Uint8Array | undefined {
  const cleaned = text.replace(/[^A-Za-z0-9+/=]/g, '');
  const unpadded = cleaned.replace(/=+$/, '');
  if (unpadded.includes('=') || cleaned.length % 4 !== 0) return undefined;
  return Buffer.from(unpadded, 'base64');
}

/** The OTA routes of `install_ota_routes`, plus the demo app's debug routes, as one HTTP handler. */
export function viperRoutes(
  core: ViperOtaCore,
  settings: ViperRouteSettings,
  hooks: ViperRouteHooks,
): HttpHandler {
  const prefix = normalisePrefix(settings.prefix);
  const tokenBytes = settings.token === null ? undefined : Buffer.from(settings.token, 'utf8');
  const tokenHeader = settings.tokenHeader.toLowerCase();

  const authorised = (request: HttpRequest): boolean => {
    if (tokenBytes === undefined) return true;
    if (settings.statusWithoutToken && request.method === 'GET' && request.path === `${prefix}/status`)
      return true;
    const bearer = settings.acceptsBearer
      ? /^Bearer (.*)$/.exec(request.headers.get('authorization') ?? '')?.[1]
      : undefined;
    const provided = request.headers.get(tokenHeader) ?? request.query.get(settings.tokenQuery) ?? bearer;
    if (provided === undefined) return false;
    if (settings.acceptsAnyToken) return true;
    const bytes = Buffer.from(provided, 'utf8');
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  const routes = new Map<string, (request: HttpRequest) => HttpReply | Promise<HttpReply>>([
    [`GET ${prefix}/status`, () => json(core.status())],
    [
      `POST ${prefix}/begin`,
      (request) => {
        const payload = requestPayload(request);
        return json(
          core.begin(
            param(payload, request, 'expected_size'),
            param(payload, request, 'expected_sha256'),
            parseBool(param(payload, request, 'force'), false),
          ),
        );
      },
    ],
    [
      `POST ${prefix}/chunk`,
      async (request) => {
        const payload = requestPayload(request);
        const data = chunkData(payload, request);
        const offset = param(payload, request, 'offset');
        if (data.length === 0 && !settings.acceptsEmptyChunk) throw new OtaError(400, 'empty chunk');
        if (!hooks.imageBytesArrived(data.length)) return { kind: 'drop' };
        return json(await core.write(data, offset));
      },
    ],
    [
      `POST ${prefix}/finalize`,
      (request) => {
        const payload = requestPayload(request);
        const result = core.finalize(
          parseBool(param(payload, request, 'set_boot'), true),
          parseBool(param(payload, request, 'reboot'), false),
          parseBool(param(payload, request, 'strict_size'), true),
        );
        return finishOrReset(result, hooks);
      },
    ],
    [`POST ${prefix}/abort`, () => json(core.abort())],
    [
      `POST ${prefix}/upload`,
      async (request) => {
        const payload = requestPayload(request);
        const data = chunkData(payload, request);
        const expectedSha = param(payload, request, 'expected_sha256');
        const setBoot = parseBool(param(payload, request, 'set_boot'), true);
        const reboot = parseBool(param(payload, request, 'reboot'), false);
        if (data.length === 0) throw new OtaError(400, 'empty upload body');
        if (!hooks.imageBytesArrived(data.length)) return { kind: 'drop' };
        return finishOrReset(await core.apply(data, expectedSha, setBoot, reboot), hooks);
      },
    ],
    [`POST ${prefix}/mark-valid`, () => json(core.markAppValid())],
  ]);

  const demoRoutes = new Map<string, (request: HttpRequest) => HttpReply>([
    ['GET /debug/ota-status', () => json(core.status())],
    [
      'POST /debug/reboot',
      (request) => {
        const payload = requestPayload(request);
        const delay = Number(param(payload, request, 'delay_ms') ?? 150);
        const delayMs = Number.isFinite(delay) && delay >= 0 ? delay : 150;
        hooks.scheduleReset(delayMs);
        // The demo app's answer is not quoted by the reference; this shape is ours.
        return json({ ok: true, delay_ms: delayMs });
      },
    ],
  ]);

  return (request) => {
    const key = `${request.method} ${request.path}`;
    const route = routes.get(key);
    if (!route) {
      const demo = settings.demoRoutes ? demoRoutes.get(key) : undefined;
      return demo ? demo(request) : NOT_FOUND;
    }
    if (!authorised(request)) return json({ detail: 'invalid ota token' }, 401);
    try {
      const reply = route(request);
      return reply instanceof Promise ? reply.catch(errorReply) : reply;
    } catch (error) {
      return errorReply(error);
    }
  };
}

function finishOrReset(result: ReturnType<ViperOtaCore['finalize']>, hooks: ViperRouteHooks): HttpReply {
  if (result === RESET_REQUESTED) {
    hooks.reset();
    return { kind: 'drop' };
  }
  return json(result);
}
