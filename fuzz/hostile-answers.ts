import { isIP } from 'node:net';
import type { SeededRandom } from '../fixtures/random/index.ts';
import { mutate } from './engine.ts';

/** A well-formed answer to a device's download request: the template every fault starts from. */
export interface ValidAnswer {
  /** Without its CRLF, e.g. `HTTP/1.1 200 OK`. */
  statusLine: string;
  headers: readonly (readonly [name: string, value: string])[];
  body: Uint8Array;
}

export type HostileKind =
  | 'random'
  | 'mutated-head'
  | 'status'
  | 'content-length'
  | 'chunked'
  | 'x-md5'
  | 'header-flood'
  | 'early-close'
  | 'reset'
  | 'corrupt-body'
  | 'stall'
  | 'trickle'
  | 'valid';

/** What the fuzzing update server puts on the wire for one request, and how the connection ends. */
export interface HostileAnswer {
  kind: HostileKind;
  bytes: Buffer;
  /** `close`: FIN after the bytes; `reset`: RST; `stall`: silence for `stallMs`, then FIN. */
  ending: 'close' | 'reset' | 'stall';
  stallMs: number;
  /** Sizes of the first writes, each its own TCP segment a moment apart; the rest goes in one. */
  pieces?: readonly number[];
}

/** Kinds with their weights: faults of the head, of the framing and of the body about evenly; a valid answer now and then. */
const KINDS: readonly (readonly [HostileKind, number])[] = [
  ['random', 3],
  ['mutated-head', 4],
  ['status', 3],
  ['content-length', 3],
  ['chunked', 3],
  ['x-md5', 2],
  ['header-flood', 1],
  ['early-close', 2],
  ['reset', 2],
  ['corrupt-body', 2],
  ['stall', 1],
  ['trickle', 1],
  ['valid', 1],
];
const TOTAL_WEIGHT = KINDS.reduce((sum, [, weight]) => sum + weight, 0);

/**
 * Status lines a server should never send, or sends rarely: informational and bodiless codes, a
 * 304 with a body, Lua RTOS's private 470/471, redirects (see LOCATIONS), and lines that are not
 * quite HTTP.
 */
const STATUS_LINES = [
  'HTTP/1.1 100 Continue',
  'HTTP/1.1 101 Switching Protocols',
  'HTTP/1.1 204 No Content',
  'HTTP/1.1 206 Partial Content',
  'HTTP/1.0 304 Not Modified',
  'HTTP/1.1 401 Unauthorized',
  'HTTP/1.1 403 Forbidden',
  'HTTP/1.1 404 Not Found',
  'HTTP/1.1 416 Range Not Satisfiable',
  'HTTP/1.1 470 Missing or Bad Arguments',
  'HTTP/1.1 471 No New Firmware Available',
  'HTTP/1.1 500 Internal Server Error',
  'HTTP/1.1 999 Whatever',
  'HTTP/1.1 2OO OK',
  'HTTP/1.1 -200 OK',
  'HTTP/1.1 0200 OK',
  'HTTP/1.1 200',
  'HTTP/1.1  200  OK',
  'HTTP/2 200 OK',
  'HTTP/9.9 200 OK',
  'HTTP/1.1 20',
  'HTTP/1.1',
  'HTTP/',
  'ICY 200 OK',
  'http/1.1 200 ok',
  '',
];
const REDIRECTS = [301, 302, 303, 307, 308];

/**
 * Location values for a redirect. Each one stays on loopback or does not parse, so a device that
 * follows it never leaves the machine: relative paths, this server again, a closed loopback port,
 * a scheme switch, and URLs the WHATWG parser refuses.
 */
function locations(origin: string): string[] {
  return [
    '',
    '/firmware.bin',
    'firmware.bin?again=1',
    `${origin}/redirected.bin`,
    `${origin.replace(/^https?/, (scheme) => (scheme === 'https' ? 'http' : 'https'))}/other-scheme.bin`,
    'http://127.0.0.1:1/closed-port.bin',
    'https://127.0.0.1:1/closed-port.bin',
    'ftp://127.0.0.1/firmware.bin',
    'http://[',
    'http://127.0.0.1:99999/',
    'https://',
    '::::',
    `/${'a'.repeat(3000)}`,
    '\u0000',
  ];
}

const CONTENT_LENGTHS = (real: number): string[] => [
  String(real + 1),
  String(real - 1),
  String(real * 2),
  String(Math.floor(real / 2)),
  '0',
  '1',
  '-1',
  '',
  ' ',
  '4294967295',
  '4294967296',
  '18446744073709551616',
  '99999999999999999999999',
  'NaN',
  '0x10',
  '1e3',
  `+${real}`,
  `${real}, ${real}`,
  `${real} ${real}`,
  `${real}abc`,
];

const TRANSFER_ENCODINGS = [
  'chunked',
  'Chunked',
  'chunked, chunked',
  'gzip, chunked',
  'identity',
  'gzip',
  'chunk',
];

function pick<T>(random: SeededRandom, values: readonly T[]): T {
  return values[random.int(0, values.length - 1)]!;
}

function head(statusLine: string, headers: readonly (readonly [string, string])[]): Buffer {
  return Buffer.from(
    `${statusLine}\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`,
    'latin1',
  );
}

function withHeader(
  headers: readonly (readonly [string, string])[],
  name: string,
  value: string | undefined,
): (readonly [string, string])[] {
  const kept = headers.filter(([existing]) => existing.toLowerCase() !== name.toLowerCase());
  return value === undefined ? kept : [...kept, [name, value]];
}

/** `name` set to `value` in place of the valid one, or one time in four sent beside it (twice). */
function replaceOrRepeat(
  random: SeededRandom,
  headers: readonly (readonly [string, string])[],
  name: string,
  value: string,
): (readonly [string, string])[] {
  return random.int(0, 3) === 0 ? [...headers, [name, value] as const] : withHeader(headers, name, value);
}

/** The body in chunked framing with one fault (or none): sizes, separators or the end are wrong. */
function chunkedBody(random: SeededRandom, body: Uint8Array): Buffer {
  const pieces: Buffer[] = [];
  let offset = 0;
  while (offset < body.length) {
    const size = Math.min(body.length - offset, random.int(1, 8192));
    pieces.push(
      Buffer.from(`${size.toString(16)}\r\n`, 'latin1'),
      Buffer.from(body.subarray(offset, offset + size)),
    );
    pieces.push(Buffer.from('\r\n'));
    offset += size;
  }
  pieces.push(Buffer.from('0\r\n\r\n'));
  const fault = random.int(0, 7);
  const at = random.int(0, Math.max(0, pieces.length - 2));
  switch (fault) {
    case 0:
      break; // well-formed: a device that does not take chunked must still refuse it cleanly
    case 1:
      pieces[at - (at % 3)] = Buffer.from(
        pick(random, ['zz\r\n', '-1\r\n', '\r\n', ' 10\r\n', '10;\u0000\r\n']),
      );
      break;
    case 2:
      pieces[at - (at % 3)] = Buffer.from(
        pick(random, ['ffffffff\r\n', 'ffffffffffffffffff\r\n', '7fffffff\r\n']),
      );
      break;
    case 3:
      // A chunk that announces more than it carries, then the connection ends.
      pieces.splice(at - (at % 3) + 2);
      break;
    case 4:
      if (pieces.length > 2) pieces[2] = Buffer.from('XX');
      break;
    case 5:
      pieces.pop(); // no last chunk
      break;
    case 6:
      pieces[pieces.length - 1] = Buffer.from(`0\r\n${'X-Trailer: y\r\n'.repeat(200)}garbage`);
      break;
    default:
      pieces.splice(at, 0, Buffer.from(random.bytes(random.int(1, 40))));
  }
  return Buffer.concat(pieces);
}

function md5Value(random: SeededRandom, valid: ValidAnswer): string {
  const present = valid.headers.find(([name]) => name.toLowerCase() === 'x-md5')?.[1] ?? '0'.repeat(32);
  return pick(random, [
    '',
    present.toUpperCase(),
    `${present.slice(0, 31)}${present[31] === '0' ? '1' : '0'}`,
    present.slice(0, 31),
    `${present}0`,
    'z'.repeat(32),
    'g'.repeat(31),
    '0'.repeat(2000),
    ` ${present} `,
    '\u00ff'.repeat(32),
  ]);
}

/**
 * One hostile answer, drawn from `random`: random bytes, or the valid answer with one fault — a
 * mutated head, a strange status line, a Content-Length that lies, broken chunked framing, a
 * garbage x-MD5, a flood of headers, a corrupted body; or the valid answer closed, reset or
 * stalled at any byte, or trickled in small segments. A fault of the content mostly ends with a
 * FIN, sometimes with an RST or a stall.
 */
export function hostileAnswer(
  random: SeededRandom,
  valid: ValidAnswer,
  options: { origin: string; stallMs: number },
): HostileAnswer {
  let draw = random.int(0, TOTAL_WEIGHT - 1);
  let kind: HostileKind = 'random';
  for (const [candidate, weight] of KINDS) {
    if (draw < weight) {
      kind = candidate;
      break;
    }
    draw -= weight;
  }
  const answer = (bytes: Buffer, ending: HostileAnswer['ending'] = 'close'): HostileAnswer => ({
    kind,
    bytes,
    ending,
    stallMs: ending === 'stall' ? options.stallMs : 0,
  });
  const body = Buffer.from(valid.body.buffer, valid.body.byteOffset, valid.body.byteLength);
  const validHead = head(valid.statusLine, valid.headers);
  const whole = Buffer.concat([validHead, body]);
  const cut = () => whole.subarray(0, random.int(0, whole.length - 1));
  const anyEnding = (): HostileAnswer['ending'] => {
    const draw = random.int(0, 19);
    return draw < 16 ? 'close' : draw < 19 ? 'reset' : 'stall';
  };
  switch (kind) {
    case 'random':
      return answer(
        Buffer.from(random.bytes(random.int(1, 700))),
        random.int(0, 1) === 0 ? 'close' : 'reset',
      );
    case 'mutated-head':
      return answer(Buffer.concat([mutate(random, validHead), body]), anyEnding());
    case 'status': {
      if (random.int(0, 2) === 0) {
        const status = pick(random, REDIRECTS);
        const location = pick(random, locations(options.origin));
        const headers = withHeader(valid.headers, 'Location', random.int(0, 5) === 0 ? undefined : location);
        return answer(Buffer.concat([head(`HTTP/1.1 ${status} Moved`, headers), body]), anyEnding());
      }
      return answer(Buffer.concat([head(pick(random, STATUS_LINES), valid.headers), body]), anyEnding());
    }
    case 'content-length': {
      const headers = replaceOrRepeat(
        random,
        valid.headers,
        'Content-Length',
        pick(random, CONTENT_LENGTHS(body.length)),
      );
      return answer(Buffer.concat([head(valid.statusLine, headers), body]), anyEnding());
    }
    case 'chunked': {
      const headers = withHeader(
        withHeader(valid.headers, 'Content-Length', random.int(0, 3) === 0 ? String(body.length) : undefined),
        'Transfer-Encoding',
        pick(random, TRANSFER_ENCODINGS),
      );
      return answer(Buffer.concat([head(valid.statusLine, headers), chunkedBody(random, body)]), anyEnding());
    }
    case 'x-md5': {
      const headers = replaceOrRepeat(random, valid.headers, 'x-MD5', md5Value(random, valid));
      return answer(Buffer.concat([head(valid.statusLine, headers), body]), anyEnding());
    }
    case 'header-flood': {
      const flood: [string, string][] =
        random.int(0, 1) === 0
          ? Array.from({ length: random.int(50, 400) }, (_, index) => [`X-Flood-${index}`, 'y'.repeat(40)])
          : [['X-Long', 'z'.repeat(random.int(2000, 20_000))]];
      return answer(Buffer.concat([head(valid.statusLine, [...flood, ...valid.headers]), body]), anyEnding());
    }
    case 'early-close':
      return answer(cut());
    case 'reset':
      return answer(cut(), 'reset');
    case 'corrupt-body': {
      const corrupted = Buffer.from(body);
      for (let flips = random.int(1, 4); flips > 0 && corrupted.length > 0; flips--) {
        const at = random.int(0, corrupted.length - 1);
        corrupted[at] = corrupted[at]! ^ (1 << random.int(0, 7));
      }
      return answer(Buffer.concat([validHead, corrupted]), anyEnding());
    }
    case 'stall':
      return answer(cut(), 'stall');
    case 'trickle': {
      // The head and the start of the body in segments of 1-64 bytes: every parser state between reads.
      const pieces: number[] = [];
      for (let sent = 0; sent < Math.min(whole.length, validHead.length + 512); ) {
        const size = random.int(1, 64);
        pieces.push(size);
        sent += size;
      }
      return { ...answer(whole), pieces };
    }
    case 'valid':
      return answer(whole);
  }
}

/**
 * True when `location` (resolved against `base`, if given) names a loopback address, or does not
 * parse and holds no IP address off loopback that a laxer parser than WHATWG's (a device's) could
 * still pick out of it. A name such a parser finds goes nowhere: the fuzzing process resolves none
 * (loopback-only.ts).
 */
export function staysOnLoopback(location: string, base?: string): boolean {
  let url: URL;
  try {
    url = new URL(location, base);
  } catch {
    return !holdsOffLoopbackAddress(location);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function holdsOffLoopbackAddress(text: string): boolean {
  for (const [quad] of text.matchAll(/\d+\.\d+\.\d+\.\d+/g)) if (!quad.startsWith('127.')) return true;
  for (const [, inside] of text.matchAll(/\[([^\]]*)\]/g))
    if (isIP(inside!) === 6 && inside !== '::1') return true;
  return false;
}

/**
 * True when a URL a device is sent (an MQTT trigger's, an OtaUrl) cannot lead it off loopback: the
 * device parses it on its own (`new URL(url)`, where `http:host` names a host), and it is checked
 * against the origin as base too.
 */
export function urlStaysOnLoopback(url: string, origin: string): boolean {
  return staysOnLoopback(url) && staysOnLoopback(url, origin);
}

/**
 * Guards the loopback-only rule against what mutation may have made: any Location header in the
 * answer that would lead off the machine is blanked.
 */
export function keepOnLoopback(answer: HostileAnswer, origin: string): HostileAnswer {
  const end = answer.bytes.indexOf('\r\n\r\n');
  const headText = answer.bytes
    .subarray(0, end < 0 ? Math.min(answer.bytes.length, 64 * 1024) : end)
    .toString('latin1');
  const unsafe = headText
    .split(/\r?\n/)
    .some(
      (line) =>
        /^\s*location\s*:/i.test(line) && !staysOnLoopback(line.slice(line.indexOf(':') + 1).trim(), origin),
    );
  if (!unsafe) return answer;
  const safe = headText.replace(/^(\s*location\s*:)[^\r\n]*/gim, '$1 /');
  return {
    ...answer,
    bytes: Buffer.concat([Buffer.from(safe, 'latin1'), answer.bytes.subarray(headText.length)]),
  };
}
