import { createHash } from 'node:crypto';
import net from 'node:net';
import { Agent, interceptors, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../fixtures/random/index.ts';
import {
  firmware,
  forbidden,
  headerValue,
  luaBadArgs,
  luaNoUpdate,
  notFound,
  notModified,
  type Routes,
  redirectChain,
  type StartedUpdateServer,
  startUpdateServer,
} from './index.ts';
import { rawExchange, requestText } from './raw-exchange.ts';

const image = new SeededRandom(0x0da7a).bytes(40_000);
image[0] = 0xe9;
const md5 = createHash('md5').update(image).digest('hex');

let server: StartedUpdateServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serve(routes: Routes, images?: Record<string, Uint8Array>): Promise<StartedUpdateServer> {
  server = await startUpdateServer({ routes, ...(images ? { images } : {}) });
  return server;
}

/** How ESP8266httpUpdate asks (reference/arduino-ota.md §3.1), trimmed to the headers that matter here. */
function espGet(path: string, ...extra: string[]): string {
  return requestText(
    `GET ${path} HTTP/1.0`,
    'Host: 127.0.0.1',
    'User-Agent: ESP8266-http-Update',
    'Connection: close',
    ...extra,
    'Content-Length: 0',
  );
}

describe('status codes', () => {
  it.each([
    [notModified(), 'HTTP/1.1 304 Not Modified'],
    [forbidden(), 'HTTP/1.1 403 Forbidden'],
    [notFound(), 'HTTP/1.1 404 Not Found'],
    [luaBadArgs(), 'HTTP/1.1 470 Missing or Bad Arguments'],
    [luaNoUpdate(), 'HTTP/1.1 471 No New Firmware Available'],
    [{ status: 500 }, 'HTTP/1.1 500 Internal Server Error'],
    [{ status: 503, reason: 'Try Later' }, 'HTTP/1.1 503 Try Later'],
    [firmware(image), 'HTTP/1.1 200 OK'],
  ])('answers %o with %s', async (scripted, statusLine) => {
    const { port } = await serve({ '/fw.bin': scripted });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.statusLine).toBe(statusLine);
  });

  it('sends no body and no Content-Length with 304, and Content-Length: 0 with 403/470/471', async () => {
    const { port } = await serve({ '/304': notModified(), '/403': forbidden(), '/471': luaNoUpdate() });
    const notModifiedResponse = await rawExchange({ port, request: espGet('/304') });
    expect(notModifiedResponse.headerLines).toEqual([]);
    expect(notModifiedResponse.body.length).toBe(0);
    for (const path of ['/403', '/471']) {
      const response = await rawExchange({ port, request: espGet(path) });
      expect(response.headerLines).toEqual(['Content-Length: 0']);
    }
  });

  it('answers 404 on a path without a route, and the `*` route catches every other path', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image) });
    expect((await rawExchange({ port, request: espGet('/other.bin') })).statusLine).toBe(
      'HTTP/1.1 404 Not Found',
    );
    server!.setScript('*', luaNoUpdate());
    expect((await rawExchange({ port, request: espGet('/other.bin') })).statusLine).toMatch(
      /^HTTP\/1.1 471 /,
    );
    expect((await rawExchange({ port, request: espGet('/fw.bin') })).statusLine).toBe('HTTP/1.1 200 OK');
  });
});

describe('headers on the wire', () => {
  it('firmware() sends Content-Type, Content-Length and x-MD5 in that order and case, then the image', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image) });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.headerLines).toEqual([
      'Content-Type: application/octet-stream',
      `Content-Length: ${image.length}`,
      `x-MD5: ${md5}`,
    ]);
    expect(Buffer.compare(response.body, image)).toBe(0);
  });

  it('onBodySent: the same bytes, handed over in pieces of at most one segment, each counted; without it one write and no count', async () => {
    const pieces: [number, number][] = [];
    const { port } = await serve({
      '/counted.bin': { ...firmware(image), onBodySent: (piece, sent) => pieces.push([piece, sent]) },
      '/plain.bin': firmware(image),
    });
    const counted = await rawExchange({ port, request: espGet('/counted.bin') });
    expect(Buffer.compare(counted.body, image)).toBe(0);
    expect(pieces.length).toBe(Math.ceil(image.length / 1460));
    expect(pieces.every(([piece]) => piece > 0 && piece <= 1460)).toBe(true);
    expect(pieces.at(-1)![1]).toBe(image.length);
    expect(pieces.map(([, sent]) => sent)).toEqual(
      pieces.map((_, index) => pieces.slice(0, index + 1).reduce((sum, [piece]) => sum + piece, 0)),
    );
    const counts = pieces.length;
    const plain = await rawExchange({ port, request: espGet('/plain.bin') });
    expect(Buffer.compare(plain.body, image)).toBe(0);
    expect(pieces.length).toBe(counts);
  });

  it('md5Header wrong sends a well-formed MD5 that is not the body’s; omit sends none', async () => {
    const { port } = await serve({
      '/wrong': firmware(image, { md5Header: 'wrong' }),
      '/omit': firmware(image, { md5: false }),
    });
    const wrong = await rawExchange({ port, request: espGet('/wrong') });
    const sent = wrong.headerLines.find((line) => line.startsWith('x-MD5: '))!.slice('x-MD5: '.length);
    expect(sent).toMatch(/^[0-9a-f]{32}$/);
    expect(sent).not.toBe(md5);
    const omitted = await rawExchange({ port, request: espGet('/omit') });
    expect(omitted.headerLines.some((line) => line.toLowerCase().startsWith('x-md5'))).toBe(false);
  });

  it('sends scripted headers in their exact case and order, and they replace the automatic ones', async () => {
    const body = new Uint8Array([1, 2, 3, 4, 5]);
    const { port } = await serve({
      '/lower': {
        status: 200,
        headers: [
          ['content-type', 'application/octet-stream'],
          ['content-length', '5'],
        ],
        body,
      },
      '/canonical': { status: 200, headers: [['Content-Type', 'application/octet-stream']], body },
    });
    const lower = await rawExchange({ port, request: espGet('/lower') });
    expect(lower.headerLines).toEqual(['content-type: application/octet-stream', 'content-length: 5']);
    const canonical = await rawExchange({ port, request: espGet('/canonical') });
    expect(canonical.headerLines).toEqual(['Content-Type: application/octet-stream', 'Content-Length: 5']);
    expect([...canonical.body]).toEqual([...body]);
  });

  it('a Lua RTOS "no update" 200 carries Content-Length: 0', async () => {
    const { port } = await serve({
      '/': { status: 200, headers: [['Content-Type', 'application/octet-stream']], body: new Uint8Array(0) },
    });
    const response = await rawExchange({ port, request: espGet('/?firmware=GENERIC-OTA&commit=abc') });
    expect(response.headerLines).toEqual(['Content-Type: application/octet-stream', 'Content-Length: 0']);
    expect(response.body.length).toBe(0);
  });
});

describe('Content-Length modes', () => {
  it('wrong:+N declares N more bytes than it sends, then closes', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { contentLength: 'wrong:+100' }) });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.headerLines).toContain(`Content-Length: ${image.length + 100}`);
    expect(response.body.length).toBe(image.length);
    expect(response.ending).toBe('end');
  });

  it('wrong:-N declares N fewer bytes than it sends', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { contentLength: 'wrong:-100' }) });
    const response = await rawExchange({ port, request: espGet('/fw.bin'), readToEnd: true });
    expect(response.headerLines).toContain(`Content-Length: ${image.length - 100}`);
    expect(response.body.length).toBe(image.length);
  });

  it('a number is sent as given; the right length keeps the connection reusable, a wrong one closes it', async () => {
    const { url } = await serve({
      '/right': firmware(image, { contentLength: image.length }),
      '/wrong': firmware(image, { contentLength: 7 }),
    });
    const right = await request(`${url}/right`);
    expect(right.headers['content-length']).toBe(String(image.length));
    expect(right.headers['connection']).toBeUndefined();
    await right.body.arrayBuffer();
    const { port } = server!;
    const wrong = await rawExchange({
      port,
      request: requestText('GET /wrong HTTP/1.1', 'Host: x'),
      readToEnd: true,
    });
    expect(wrong.headerLines).toEqual([
      'Content-Type: application/octet-stream',
      'Content-Length: 7',
      `x-MD5: ${md5}`,
      'Connection: close',
    ]);
  });

  it('omit sends no Content-Length and delimits the body by closing', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { contentLength: 'omit' }) });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.headerLines.some((line) => /^content-length:/i.test(line))).toBe(false);
    expect(response.ending).toBe('end');
    expect(Buffer.compare(response.body, image)).toBe(0);
  });
});

describe('body faults', () => {
  it('truncateAt sends the first N bytes under the full Content-Length, then closes cleanly', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { truncateAt: 1000 }) });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.headerLines).toContain(`Content-Length: ${image.length}`);
    expect(response.ending).toBe('end');
    expect(Buffer.compare(response.body, image.subarray(0, 1000))).toBe(0);
    const [recorded] = server!.requests();
    expect(recorded).toMatchObject({ outcome: 'truncated', bodyBytesSent: 1000 });
  });

  it('corruptAt flips exactly one byte in flight and leaves the stored image intact', async () => {
    const { port } = await serve({
      '/fw.bin': [firmware(image, { corruptAt: { offset: 4097, xor: 0x5a } }), firmware(image)],
    });
    const corrupted = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(corrupted.body.length).toBe(image.length);
    const differing = [...corrupted.body].flatMap((byte, index) => (byte === image[index] ? [] : [index]));
    expect(differing).toEqual([4097]);
    expect(corrupted.body[4097]).toBe(image[4097]! ^ 0x5a);
    const clean = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(Buffer.compare(clean.body, image)).toBe(0);
  });

  it('stallAfter holds the socket after N bytes, and stop() cuts it promptly', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { stallAfter: 1500 }) });
    let reached: () => void = () => {};
    const received1500 = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const exchange = rawExchange({
      port,
      request: espGet('/fw.bin'),
      onBody: (bytes) => bytes >= 1500 && reached(),
    });
    await received1500;
    const stalled = await server!.waitForRequest((r) => r.outcome === 'stalled', { step: 'stall begins' });
    expect(stalled.endedAt).toBeUndefined();
    const before = performance.now();
    await server!.stop();
    expect(performance.now() - before).toBeLessThan(1000);
    const response = await exchange;
    expect(response.body.length).toBe(1500);
    const [recorded] = server!.requests();
    expect(recorded).toMatchObject({ outcome: 'stalled', bodyBytesSent: 1500 });
    expect(recorded!.endedAt).toBeGreaterThanOrEqual(recorded!.responseStartedAt!);
  });

  it('dropAfter sends N bytes and then ends the connection', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image, { dropAfter: 4096 }) });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.ending).not.toBe('length');
    expect(Buffer.compare(response.body, image.subarray(0, 4096))).toBe(0);
    expect(server!.requests()[0]).toMatchObject({ outcome: 'dropped', bodyBytesSent: 4096 });
  });

  // libuv shows a reset after read data as an end, so probe the connection's state instead: after a
  // reset the client's socket is gone and a write fails; after a clean close it is half-open and succeeds.
  it.each([
    [{ dropAfter: 4096 }, 'ECONNRESET'],
    [{ truncateAt: 4096 }, undefined],
  ])('%o: a write from the client afterwards fails with %s', async (fault, expectedCode) => {
    const { port } = await serve({ '/fw.bin': firmware(image, fault) });
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(espGet('/fw.bin')));
    socket.pause();
    socket.on('error', () => {});
    await server!.waitForRequest((r) => r.endedAt !== undefined, { until: 'ended', step: 'fault applied' });
    const writeError = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) =>
      socket.write('probe', (error) => resolve(error)),
    );
    socket.destroy();
    expect(writeError?.code).toBe(expectedCode);
  });

  it('delayMs holds the status line back by at least the delay', async () => {
    const { port } = await serve({ '/fw.bin': [forbidden(), { ...forbidden(), delayMs: 150 }] });
    await rawExchange({ port, request: espGet('/fw.bin') });
    await rawExchange({ port, request: espGet('/fw.bin') });
    const [quick, delayed] = server!.requests();
    expect(quick!.responseStartedAt! - quick!.headersReceivedAt).toBeLessThan(100);
    expect(delayed!.responseStartedAt! - delayed!.headersReceivedAt).toBeGreaterThanOrEqual(149);
  });
});

describe('redirects', () => {
  it('undici follows a 2-hop chain to the image; with one redirect allowed it stops on the second 301', async () => {
    const { url } = await serve(redirectChain(2, firmware(image), { from: '/fw.bin' }));
    const following = new Agent().compose(interceptors.redirect({ maxRedirections: 2 }));
    const tooFew = new Agent().compose(interceptors.redirect({ maxRedirections: 1 }));
    try {
      const followed = await request(`${url}/fw.bin`, { dispatcher: following });
      expect(followed.statusCode).toBe(200);
      expect(Buffer.compare(Buffer.from(await followed.body.arrayBuffer()), image)).toBe(0);
      expect(server!.requests().map((r) => [r.path, r.status])).toEqual([
        ['/fw.bin', 301],
        ['/fw.bin/hop-1', 301],
        ['/fw.bin/hop-2', 200],
      ]);
      const stopped = await request(`${url}/fw.bin`, { dispatcher: tooFew });
      await stopped.body.dump();
      expect(stopped.statusCode).toBe(301);
      expect(stopped.headers['location']).toBe(`${url}/fw.bin/hop-2`);
    } finally {
      await following.close();
      await tooFew.close();
    }
  });

  it('sends an absolute Location built from this server, or the target as given when absolute', async () => {
    const { port, url } = await serve({
      '/a': { status: 302, redirect: { to: '/b', status: 307 } },
      '/ext': { status: 301, redirect: { to: 'https://example.invalid/fw.bin', status: 308 } },
    });
    const relative = await rawExchange({ port, request: espGet('/a') });
    expect(relative.statusLine).toBe('HTTP/1.1 307 Temporary Redirect');
    expect(relative.headerLines).toEqual([`Location: ${url}/b`, 'Content-Length: 0']);
    const absolute = await rawExchange({ port, request: espGet('/ext') });
    expect(absolute.statusLine).toBe('HTTP/1.1 308 Permanent Redirect');
    expect(absolute.headerLines[0]).toBe('Location: https://example.invalid/fw.bin');
  });
});

describe('Range', () => {
  it('honours bytes=a-b with 206, Content-Range and exactly those bytes', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image) });
    const response = await request(`${url}/fw.bin`, { headers: { range: 'bytes=100-1123' } });
    expect(response.statusCode).toBe(206);
    expect(response.headers['content-range']).toBe(`bytes 100-1123/${image.length}`);
    expect(response.headers['content-length']).toBe('1024');
    expect(Buffer.compare(Buffer.from(await response.body.arrayBuffer()), image.subarray(100, 1124))).toBe(0);
  });

  it('clamps esp_https_ota’s one-past-the-end request and serves open and suffix ranges', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image) });
    const cases: [string, number, number][] = [
      [`bytes=30000-${image.length}`, 30000, image.length],
      ['bytes=39000-', 39000, image.length],
      ['bytes=-10', image.length - 10, image.length],
    ];
    for (const [range, start, end] of cases) {
      const response = await request(`${url}/fw.bin`, { headers: { range } });
      expect(response.statusCode).toBe(206);
      expect(response.headers['content-range']).toBe(`bytes ${start}-${end - 1}/${image.length}`);
      expect(Buffer.compare(Buffer.from(await response.body.arrayBuffer()), image.subarray(start, end))).toBe(
        0,
      );
    }
  });

  it('answers 416 with Content-Range bytes */size for a range past the end', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image) });
    const response = await request(`${url}/fw.bin`, { headers: { range: `bytes=${image.length}-` } });
    expect(response.statusCode).toBe(416);
    expect(response.headers['content-range']).toBe(`bytes */${image.length}`);
    await response.body.dump();
  });

  it('range: ignore answers 200 with the full image', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image, { range: 'ignore' }) });
    const response = await request(`${url}/fw.bin`, { headers: { range: 'bytes=100-199' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-range']).toBeUndefined();
    expect(Buffer.compare(Buffer.from(await response.body.arrayBuffer()), image)).toBe(0);
  });

  it('corrupts the same image byte whichever range is asked for', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image, { corruptAt: { offset: 20_000, xor: 0xff } }) });
    const response = await request(`${url}/fw.bin`, { headers: { range: 'bytes=19990-20009' } });
    const body = Buffer.from(await response.body.arrayBuffer());
    expect(body[10]).toBe(image[20_000]! ^ 0xff);
    expect(Buffer.compare(body.subarray(0, 10), image.subarray(19_990, 20_000))).toBe(0);
  });
});

describe('HEAD', () => {
  it('answers the GET headers, with the full Content-Length, and no body', async () => {
    const { port } = await serve({ '/fw.bin': firmware(image) });
    const response = await rawExchange({
      port,
      request: requestText('HEAD /fw.bin HTTP/1.1', 'Host: x', 'Connection: close'),
      readToEnd: true,
    });
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.headerLines).toEqual([
      'Content-Type: application/octet-stream',
      `Content-Length: ${image.length}`,
      `x-MD5: ${md5}`,
    ]);
    expect(response.body.length).toBe(0);
  });
});

describe('scripts', () => {
  it('consumes a list one entry per request and repeats the last; setScript starts over', async () => {
    const { port } = await serve({ '/fw.bin': [forbidden(), notFound(), notModified()] });
    const statuses = async (count: number) => {
      const lines: string[] = [];
      for (let i = 0; i < count; i++)
        lines.push((await rawExchange({ port, request: espGet('/fw.bin') })).statusLine);
      return lines.map((line) => Number(line.split(' ')[1]));
    };
    expect(await statuses(4)).toEqual([403, 404, 304, 304]);
    server!.setScript('/fw.bin', [luaBadArgs(), luaNoUpdate()]);
    expect(await statuses(3)).toEqual([470, 471, 471]);
  });

  it('a decision function plays the update server: 304 when x-ESP8266-version is current', async () => {
    const { port } = await serve({
      '/update': (req) =>
        headerValue(req, 'x-esp8266-version') === '1.1.0' ? notModified() : firmware(image),
    });
    const current = await rawExchange({ port, request: espGet('/update', 'x-ESP8266-version: 1.1.0') });
    expect(current.statusLine).toBe('HTTP/1.1 304 Not Modified');
    const outdated = await rawExchange({ port, request: espGet('/update', 'x-ESP8266-version: 1.0.0') });
    expect(outdated.statusLine).toBe('HTTP/1.1 200 OK');
    expect(Buffer.compare(outdated.body, image)).toBe(0);
  });

  it('serves a named image and answers 500, recorded as script-error, while the name is unknown', async () => {
    const { port } = await serve({ '/fw.bin': firmware({ image: 'next' }) });
    const missing = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(missing.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(server!.requests()[0]).toMatchObject({ outcome: 'script-error', error: 'no image named "next"' });
    server!.setImage('next', image);
    const served = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(served.statusLine).toBe('HTTP/1.1 200 OK');
    expect(Buffer.compare(served.body, image)).toBe(0);
  });

  it('a decision function that throws yields a 500 with its message recorded', async () => {
    const { port } = await serve({
      '/fw.bin': () => {
        throw new Error('no such board');
      },
    });
    const response = await rawExchange({ port, request: espGet('/fw.bin') });
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(server!.requests()[0]).toMatchObject({ outcome: 'script-error', error: 'no such board' });
  });

  it('rejects an empty script list at once', async () => {
    await serve({});
    expect(() => server!.setScript('/fw.bin', [])).toThrow(
      expect.objectContaining({ code: 'UPDATE_SERVER_BAD_SCRIPT' }),
    );
  });

  it('keeps an HTTP/1.1 connection open between complete responses', async () => {
    const { url } = await serve({ '/fw.bin': firmware(image) });
    const agent = new Agent({ connections: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const response = await request(`${url}/fw.bin`, { dispatcher: agent });
        await response.body.arrayBuffer();
      }
    } finally {
      await agent.close();
    }
    const recorded = server!.requests();
    expect(new Set(recorded.map((r) => r.connectionId)).size).toBe(1);
    expect(recorded.map((r) => r.indexOnConnection)).toEqual([0, 1, 2]);
  });
});
