import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedEmulator } from '../../start-emulator.ts';

/**
 * Test-only helpers for the esp-https-ota tests: a CA and server certificates made with the
 * openssl CLI at test time, an HTTPS update server written from reference/esp-idf.md §5–6 (it
 * records each request), and console waits. Nothing here imports the firmware.
 */
export interface TestPki {
  caPem: string;
  /** Key and certificate for `127.0.0.1` / `localhost`, signed by the CA. */
  server: { key: string; cert: string };
  /** Same CA, but issued for `other.example` only: a common-name mismatch on loopback. */
  otherName: { key: string; cert: string };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'esp-https-ota-pki-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '2',
        '-subj',
        '/CN=ota-test-ca',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    return {
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      server: issue(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost'),
      otherName: issue(dir, 'other', 'other.example', 'subjectAltName=DNS:other.example'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function issue(dir: string, name: string, commonName: string, san: string): { key: string; cert: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${commonName}`,
  );
  writeFileSync(join(dir, `${name}.ext`), `${san}\n`);
  run(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
  return {
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  range: string | undefined;
  userAgent: string | undefined;
}

export type Handler = (
  request: IncomingMessage,
  response: ServerResponse,
  count: number,
) => void | Promise<void>;

export interface TestServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Body bytes the server wrote, per request (in order). */
  readonly bytesSent: number[];
  close(): Promise<void>;
}

export async function startHttpsServer(
  tls: { key: string; cert: string },
  handler: Handler,
): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const bytesSent: number[] = [];
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
    const index = requests.length;
    requests.push({
      method: request.method ?? '',
      url: request.url ?? '',
      range: request.headers.range,
      userAgent: request.headers['user-agent'],
    });
    bytesSent.push(0);
    const write = response.write.bind(response);
    response.write = ((chunk: Buffer, ...rest: never[]) => {
      bytesSent[index]! += chunk.length;
      return write(chunk, ...rest);
    }) as typeof response.write;
    void handler(request, response, index);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    bytesSent,
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Serves `image` the way RangeHTTPServer does: 200 with Content-Length, 206 for `bytes=a-b` / `bytes=a-`. */
export function serveImage(
  request: IncomingMessage,
  response: ServerResponse,
  image: Uint8Array,
  { ranges = true }: { ranges?: boolean } = {},
): void {
  const range = ranges ? /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '') : null;
  if (range) {
    const start = Number(range[1]);
    const end = range[2] === '' ? image.length - 1 : Math.min(Number(range[2]), image.length - 1);
    if (start >= image.length) {
      response.writeHead(416, { 'Content-Range': `bytes */${image.length}` }).end();
      return;
    }
    response.writeHead(206, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      'Content-Range': `bytes ${start}-${end}/${image.length}`,
    });
    if (request.method === 'HEAD') response.end();
    else {
      response.write(Buffer.from(image.subarray(start, end + 1)));
      response.end();
    }
    return;
  }
  response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': image.length });
  if (request.method === 'HEAD') response.end();
  else {
    response.write(Buffer.from(image));
    response.end();
  }
}

export function consoleText(emulator: StartedEmulator): string[] {
  return emulator.device.console.lines().map((line) => line.text);
}

/** Waits until a console line matches; returns it. */
export async function waitForLine(
  emulator: StartedEmulator,
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = consoleText(emulator).find((line) => pattern.test(line));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) {
      throw new Error(
        `no console line matched ${pattern} in ${timeoutMs} ms; console:\n${consoleText(emulator).join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function countLines(emulator: StartedEmulator, pattern: RegExp): number {
  return consoleText(emulator).filter((line) => pattern.test(line)).length;
}

export async function waitUntil(
  condition: () => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
