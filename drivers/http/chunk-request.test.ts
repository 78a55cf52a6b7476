import { describe, expect, it } from 'vitest';
import { ChunkRequest, type ChunkRoute } from './chunk-request.ts';

const route = (overrides: Partial<ChunkRoute> = {}): ChunkRoute => ({
  path: '/ota/chunk',
  withOffset: true,
  tokenQueryPair: '',
  hostLine: 'Host: 127.0.0.1:8080\r\n',
  headerLines: 'content-type: application/octet-stream\r\nx-ota-token: tok\r\n',
  headers: { 'content-type': 'application/octet-stream', 'x-ota-token': 'tok' },
  timeoutMs: 1000,
  ...overrides,
});

/** What the string-built head of the client before this encoder put on the wire. */
function stringHead(path: string, lines: string, length: number): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n${lines}content-length: ${length}\r\n\r\n`;
}

describe('ChunkRequest', () => {
  it('encodes head and body byte for byte as the string head did, at offsets of 1 to 8 digits', () => {
    const request = new ChunkRequest(route());
    for (const [offset, length] of [
      [0, 1],
      [3840, 3840],
      [1_044_480, 4096],
      [12_345_678, 9],
    ] as const) {
      const body = Buffer.alloc(length, 0xa5);
      request.prepare(body, offset, false);
      const expected = Buffer.concat([
        Buffer.from(stringHead(`/ota/chunk?offset=${offset}`, route().headerLines, length), 'latin1'),
        body,
      ]);
      expect(request.packet).toEqual(expected);
      expect(request.step).toBe(`chunk @ offset ${offset}`);
      expect(request.path).toBe(`/ota/chunk?offset=${offset}`);
      expect(request.head).toBe(stringHead(`/ota/chunk?offset=${offset}`, route().headerLines, length));
    }
  });

  it('puts a query token after the offset, or alone on a route without one; a re-send says so in its step', () => {
    const lines = 'content-type: application/octet-stream\r\n';
    const query = new ChunkRequest(route({ tokenQueryPair: 'token=t%20k', headerLines: lines }));
    query.prepare(Buffer.from('ab'), 7680, true);
    expect(query.packet?.toString('latin1')).toBe(
      `${stringHead('/ota/chunk?offset=7680&token=t%20k', lines, 2)}ab`,
    );
    expect(query.step).toBe('chunk @ offset 7680 (re-sent)');
    query.prepare(Buffer.from('c'), undefined, false);
    expect(query.packet?.toString('latin1')).toBe(`${stringHead('/ota/chunk?token=t%20k', lines, 1)}c`);
    expect(query.step).toBe('chunk');

    const doc = new ChunkRequest(route({ path: '/ota/write', withOffset: false }));
    doc.prepare(Buffer.from('xyz'), 4096, false);
    expect(doc.packet?.toString('latin1')).toBe(`${stringHead('/ota/write', route().headerLines, 3)}xyz`);
    expect(doc.path).toBe('/ota/write');
    expect(doc.step).toBe('chunk @ offset 4096');
  });
});
