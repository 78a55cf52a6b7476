import type { RecordedRequest } from './recorded-request.ts';

/** A header as it goes on the wire: name in its exact case, value verbatim. */
export type RawHeader = readonly [name: string, value: string];

export type ContentLengthMode = number | 'omit' | `wrong:${'+' | '-'}${number}`;

/**
 * One scripted answer. Offsets: `truncateAt`, `stallAfter` and `dropAfter` count body bytes of
 * *this* response (after any Range slicing); `corruptAt.offset` is an offset in the full body, so
 * the same image byte is damaged whichever range a client asks for.
 */
export interface ScriptedResponse {
  status: number;
  /** Reason phrase; clients such as Lua RTOS ignore it, so tests may send anything. */
  reason?: string;
  /**
   * Sent first, in this exact case and order. A header named here (case-insensitively) suppresses
   * the one the server would add itself (Content-Length, Content-Range, Location, x-MD5, Connection).
   */
  headers?: readonly RawHeader[];
  /** The full body, or the name of an image registered with `images` / `setImage`. */
  body?: Uint8Array | { readonly image: string };
  contentLength?: ContentLengthMode;
  /** What to do with a request's `Range: bytes=…` header on a 200; default `honour`. */
  range?: 'honour' | 'ignore';
  /** Send this many body bytes, then close the connection cleanly (FIN). */
  truncateAt?: number;
  /** XOR the body byte at `offset` with `xor` while sending (the stored body is untouched). */
  corruptAt?: { readonly offset: number; readonly xor: number };
  /** Send this many body bytes, then hold the socket open until the client leaves or `stop()`. */
  stallAfter?: number;
  /** Send this many body bytes, then reset the connection (RST where the socket allows). */
  dropAfter?: number;
  redirect?: { readonly to: string; readonly status: 301 | 302 | 303 | 307 | 308 };
  /** Wait this long before the status line (cut short by `stop()`). */
  delayMs?: number;
  /** `x-MD5` of the full, uncorrupted body; `wrong` sends a well-formed MD5 of other bytes. */
  md5Header?: 'true' | 'wrong' | 'omit';
  /**
   * Hands the body to the socket one SENT_STEP piece at a time, each once the last has drained,
   * and calls this with each piece's size and the request's body bytes handed over so far: the
   * harness' own count of bytes sent (a power-cut campaign cuts a board at N bytes sent). Without
   * it the body goes in one write.
   */
  onBodySent?: (piece: number, sentInRequest: number) => void;
}

/** Plays the server's logic: sees the recorded request, picks the answer. */
export type DecideResponse = (request: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>;

/** A list is consumed one entry per request, the last entry repeating; a function decides each time. */
export type Script = ScriptedResponse | readonly ScriptedResponse[] | DecideResponse;

/** Route table: exact path (no query) to script; `*` answers any path with no route of its own. */
export type Routes = Readonly<Record<string, Script>>;

const OCTET_STREAM: RawHeader = ['Content-Type', 'application/octet-stream'];

/** 200 with `Content-Type: application/octet-stream`, `Content-Length` and (by default) `x-MD5`. */
export function firmware(
  image: Uint8Array | { readonly image: string },
  options: { md5?: boolean } & Omit<ScriptedResponse, 'status' | 'body'> = {},
): ScriptedResponse {
  const { md5 = true, headers, ...rest } = options;
  return {
    status: 200,
    headers: [OCTET_STREAM, ...(headers ?? [])],
    body: image,
    md5Header: md5 ? 'true' : 'omit',
    ...rest,
  };
}

/** 304: the HTTPUpdate clients' "no update", esp_https_ota's ESP_ERR_HTTP_NOT_MODIFIED. */
export function notModified(): ScriptedResponse {
  return { status: 304 };
}

export function forbidden(): ScriptedResponse {
  return { status: 403 };
}

export function notFound(): ScriptedResponse {
  return { status: 404 };
}

/** Lua RTOS `net.ota()`: 471 prints "No new firmware available". */
export function luaNoUpdate(): ScriptedResponse {
  return { status: 471 };
}

/** Lua RTOS `net.ota()`: 470 prints "Missing or bad arguments". */
export function luaBadArgs(): ScriptedResponse {
  return { status: 470 };
}

/**
 * Routes for `from` → `from/hop-1` → … → `from/hop-n` (n redirects), the last path answering
 * `final`. Relative targets are sent as absolute URLs on this server (see `redirect.to`).
 */
export function redirectChain(
  hops: number,
  final: Script,
  options: { from?: string; status?: 301 | 302 | 303 | 307 | 308 } = {},
): Record<string, Script> {
  if (!Number.isInteger(hops) || hops < 1) {
    throw new RangeError(`redirectChain needs at least one hop, got ${hops}`);
  }
  const { from = '/firmware.bin', status = 301 } = options;
  const paths = [from, ...Array.from({ length: hops }, (_, i) => `${from}/hop-${i + 1}`)];
  const routes: Record<string, Script> = {};
  for (let i = 0; i < hops; i++) {
    routes[paths[i]!] = { status, redirect: { to: paths[i + 1]!, status } };
  }
  routes[paths[hops]!] = final;
  return routes;
}
