import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../fixtures/random/index.ts';
import {
  type HostileAnswer,
  hostileAnswer,
  keepOnLoopback,
  staysOnLoopback,
  urlStaysOnLoopback,
} from './hostile-answers.ts';

const ORIGIN = 'http://127.0.0.1:40000';
const valid = {
  statusLine: 'HTTP/1.1 200 OK',
  headers: [
    ['Content-Type', 'application/octet-stream'],
    ['Content-Length', '16'],
  ] as const,
  body: new Uint8Array(16).fill(0xe9),
};

function locationOf(answer: HostileAnswer): string | undefined {
  const end = answer.bytes.indexOf('\r\n\r\n');
  const head = answer.bytes.subarray(0, end < 0 ? answer.bytes.length : end).toString('latin1');
  return /^\s*location\s*:([^\r\n]*)/im.exec(head)?.[1]?.trim();
}

describe('the loopback-only rule of the fuzzing update server', () => {
  it('lets loopback, relative and unparseable locations through and stops every other host', () => {
    for (const location of [
      '/firmware.bin',
      'x.bin',
      'http://127.0.0.1:1/',
      'https://[::1]:5/',
      'http://[',
      '::::',
    ])
      expect(staysOnLoopback(location, ORIGIN), location).toBe(true);
    for (const location of [
      'http://10.0.0.1/',
      'https://example.com/',
      '//example.com/x',
      'http://0x7f000101.example/',
      // WHATWG cannot parse these; a device's own parser may still take the address out of them.
      'http://10.0.0.1 x/',
      'http://[fe80::1]x/',
      'http://127.0.0.1:1@10.1.2.3 /',
    ])
      expect(staysOnLoopback(location, ORIGIN), location).toBe(false);
  });

  it('checks a URL sent to a device as the device parses it: `http:host` names a host there', () => {
    // Against the origin this is a path; parsed alone, as the device does, it is the host mota.bin.
    expect(staysOnLoopback('http:mota.bin', ORIGIN)).toBe(true);
    expect(urlStaysOnLoopback('http:mota.bin', ORIGIN)).toBe(false);
    expect(urlStaysOnLoopback('http:/2100/tasmota.bin', ORIGIN)).toBe(false);
    expect(urlStaysOnLoopback(`${ORIGIN}/tasmota.bin`, ORIGIN)).toBe(true);
    expect(urlStaysOnLoopback('not a url', ORIGIN)).toBe(true);
  });

  it('blanks a Location that leaves loopback and keeps one that does not', () => {
    const answer = (location: string): HostileAnswer => ({
      kind: 'status',
      bytes: Buffer.from(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\nbody`),
      ending: 'close',
      stallMs: 0,
    });
    const blanked = keepOnLoopback(answer('http://example.com/x'), ORIGIN);
    expect(locationOf(blanked)).toBe('/');
    expect(blanked.bytes.toString('latin1').endsWith('\r\nContent-Length: 0\r\n\r\nbody')).toBe(true);
    expect(locationOf(keepOnLoopback(answer('/firmware.bin'), ORIGIN))).toBe('/firmware.bin');
  });

  it('no answer of 3000 drawn leads a device off loopback', () => {
    let redirects = 0;
    for (let index = 0; index < 3000; index++) {
      const drawn = hostileAnswer(new SeededRandom(index), valid, { origin: ORIGIN, stallMs: 0 });
      const location = locationOf(keepOnLoopback(drawn, ORIGIN));
      if (location === undefined) continue;
      redirects++;
      expect(staysOnLoopback(location, ORIGIN), `answer ${index}: ${location}`).toBe(true);
    }
    expect(redirects).toBeGreaterThan(20);
  });
});
