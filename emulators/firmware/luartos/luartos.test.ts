import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';

/**
 * net.ota() against a raw TLS server written from reference/viperhttp-luartos-mqtt.md §2: it
 * accepts TLS 1.1, records the request bytes and SNI, and answers with scripted raw bytes.
 */
interface RawTlsServer {
  port: number;
  requests: { bytes: string; servername: string | false | null; protocol: string | null }[];
  close(): Promise<void>;
}

type Reply = (socket: TLSSocket, index: number) => void;

let tlsIdentity: { key: string; cert: string };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'luartos-pki-'));
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
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '2',
        '-subj',
        '/CN=ota.test',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    tlsIdentity = {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rawTlsServer(
  reply: Reply,
  versions: { min: 'TLSv1.1' | 'TLSv1.2'; max: 'TLSv1.1' | 'TLSv1.3' } = { min: 'TLSv1.1', max: 'TLSv1.1' },
): Promise<RawTlsServer> {
  const requests: RawTlsServer['requests'] = [];
  const server: Server = createServer(
    { ...tlsIdentity, minVersion: versions.min, maxVersion: versions.max, ciphers: 'DEFAULT@SECLEVEL=0' },
    (socket) => {
      let received = '';
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (!received.includes('\r\n\r\n')) return;
        const index = requests.length;
        requests.push({ bytes: received, servername: socket.servername, protocol: socket.getProtocol() });
        received = '';
        reply(socket, index);
      });
    },
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const started = {
    port: (server.address() as AddressInfo).port,
    requests,
    close: async () => {
      server.close();
    },
  };
  cleanups.push(started.close);
  return started;
}

async function luartos(
  port: number,
  options: Record<string, unknown> = {},
  defects: string[] = [],
): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'luartos',
    defects,
    options: { server: '127.0.0.1', port, firmware: 'ESP32-CORE-BOARD-OTA', commit: COMMIT, ...options },
  });
  cleanups.push(() => emulator.stop());
  return emulator;
}

const COMMIT = 'a3c1f09e5b7d2468ace013579bdf2468ace01357';
const image = buildEsp32Image({ version: '2.0.0', projectName: 'lua-rtos', size: 40 * 1024, seed: 5 });

function octetStream(
  socket: TLSSocket,
  body: Uint8Array,
  headers = 'Content-Type: application/octet-stream\r\n',
): void {
  socket.end(
    Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\n${headers}Content-Length: ${body.length}\r\n\r\n`, 'latin1'),
      body,
    ]),
  );
}

function lines(emulator: StartedEmulator): string[] {
  return emulator.device.console.lines().map((line) => line.text);
}

async function waitForLine(emulator: StartedEmulator, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines(emulator).find((line) => pattern.test(line));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline)
      throw new Error(`no line matched ${pattern}; console:\n${lines(emulator).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SOFTWARE_RESET = /rst:0xc \(SW_CPU_RESET\)/;
const bootVersion = (version: string) =>
  new RegExp(`app_init: App version:\\s+${version.replace(/\./g, '\\.')}$`);

describe('luartos net.ota(): the request', () => {
  it('sends exactly the GET of net_http.c over TLS 1.1 without SNI', async () => {
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'));
    const device = await luartos(server.port);
    await waitForLine(device, /^No new firmware available$/);
    expect(server.requests[0]!.bytes).toBe(
      `GET /?firmware=ESP32-CORE-BOARD-OTA&commit=${COMMIT} HTTP/1.1\r\nHost: 127.0.0.1:${server.port} \r\n\r\n`,
    );
    expect(server.requests[0]!.protocol).toBe('TLSv1.1');
    expect(server.requests[0]!.servername).toBe(false);
    expect(lines(device)).toContain('Connecting to https://127.0.0.1 ...');
    expect(lines(device)).toContain(`Current firmware commit is ${COMMIT}`);
  });

  it('sends no SNI even when the server is named, and does not check the self-signed certificate', async () => {
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'));
    const device = await luartos(server.port, { server: 'localhost' });
    await waitForLine(device, /^No new firmware available$/);
    expect(server.requests[0]!.servername).toBe(false);
    expect(server.requests[0]!.bytes).toContain(`Host: localhost:${server.port} \r\n`);
  });

  it('cannot connect to a server that refuses TLS 1.1, and connects to one that allows it', async () => {
    const modern = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'), {
      min: 'TLSv1.2',
      max: 'TLSv1.3',
    });
    const refused = await luartos(modern.port);
    await waitForLine(refused, /^net\.ota: CannotConnectSSL: cannot connect SSL$/);
    expect(modern.requests).toHaveLength(0);

    const mixed = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'), {
      min: 'TLSv1.1',
      max: 'TLSv1.3',
    });
    const accepted = await luartos(mixed.port);
    await waitForLine(accepted, /^No new firmware available$/);
    expect(mixed.requests[0]!.protocol).toBe('TLSv1.1');
  });
});

describe('luartos boot banner (sys_init.c 208–222)', () => {
  it('names the build commit and the partition it runs from, before net.ota() runs, and again after an update', async () => {
    const server = await rawTlsServer((socket, index) =>
      index === 0 ? octetStream(socket, image) : socket.end('HTTP/1.1 471 unknown\r\n\r\n'),
    );
    const device = await luartos(server.port, { buildTime: 1_700_000_000 });
    await waitForLine(device, bootVersion('2.0.0'));
    await waitForLine(device, /^Running from ota_0 partition$/);
    const log = lines(device);
    const first = log.indexOf('Booting Lua RTOS...');
    expect(log.slice(first, first + 7)).toEqual([
      'Booting Lua RTOS...',
      'Lua RTOS beta 0.1. Copyright (C) 2015 - 2020 whitecatboard.org',
      '',
      'build 1700000000',
      `commit ${COMMIT}`,
      'Running from factory partition',
      'board type ESP32-CORE-BOARD-OTA',
    ]);
    expect(log.indexOf('Running from factory partition')).toBeLessThan(
      log.indexOf('Connecting to https://127.0.0.1 ...'),
    );
  });
});

describe('luartos net.ota(): a body that stalls', () => {
  it('raises the receive timeout to the REPL, and the next net.ota() begins again and updates', async () => {
    const stalled: TLSSocket[] = [];
    const server = await rawTlsServer((socket, index) => {
      if (index > 0) return octetStream(socket, image);
      // Half the image, then silence with the connection open: SO_RCVTIMEO runs out.
      socket.write(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${image.length}\r\n\r\n`,
            'latin1',
          ),
          image.subarray(0, image.length / 2),
        ]),
      );
      stalled.push(socket);
    });
    cleanups.push(async () => {
      for (const socket of stalled) socket.destroy();
    });
    const device = await startEmulator({
      profile: 'luartos',
      console: 'tcp',
      options: { server: '127.0.0.1', port: server.port, commit: COMMIT, receiveTimeoutMs: 300 },
    });
    cleanups.push(() => device.stop());
    await waitForLine(device, /^net\.ota: CannotConnect: .*receive timeout/);
    const url = new URL(device.endpoints().console!);
    const typing = tcpConnect({ host: url.hostname, port: Number(url.port) });
    typing.on('error', () => {});
    cleanups.push(async () => void typing.destroy());
    await once(typing, 'connect');
    typing.write('net.ota()\n');
    await waitForLine(device, bootVersion('2.0.0'));
    expect(lines(device).filter((line) => /^Failed/.test(line))).toEqual([]);
  });
});

describe('luartos net.ota(): the answers (reference §2.3–2.4)', () => {
  it('200 with an image: writes the next slot, verifies, sets boot, restarts into the new firmware', async () => {
    const server = await rawTlsServer((socket, index) =>
      index === 0 ? octetStream(socket, image) : socket.end('HTTP/1.1 471 unknown\r\n\r\n'),
    );
    const device = await luartos(server.port);
    await waitForLine(device, bootVersion('2.0.0'));
    const log = lines(device);
    const start = log.indexOf('Running partition is factory, at offset 0x00010000');
    expect(start).toBeGreaterThan(-1);
    expect(log.slice(start, start + 3)).toEqual([
      'Running partition is factory, at offset 0x00010000',
      'Writing partition is ota_0, at offset 0x00110000',
      'Begin OTA update ...',
    ]);
    const progress = log[start + 3]!;
    // One message per SSL_read of at most 1024 bytes: 40 or more for a 40 KiB body (TLS records may split reads).
    const chunks = progress.split('\r').slice(1);
    expect(chunks.length).toBeGreaterThanOrEqual(40);
    expect(
      chunks.every((chunk) =>
        /^Chunk written successfully in partition at offset 0x001[01][0-9a-f]{4}$/.test(chunk),
      ),
    ).toBe(true);
    expect(chunks[0]).toBe('Chunk written successfully in partition at offset 0x00110000');
    expect(log.slice(start + 4, start + 8)).toEqual([
      'Ending OTA update ...',
      'Changing boot partition ...',
      'Updated',
      'Restarting ...',
    ]);
    await waitForLine(device, /^No new firmware available$/);
    expect(lines(device).some((line) => SOFTWARE_RESET.test(line))).toBe(true);
  });

  it('200 with Content-Length 0: restarts without updating', async () => {
    const server = await rawTlsServer((socket, index) =>
      index === 0 ? octetStream(socket, new Uint8Array(0)) : socket.end('HTTP/1.1 471 unknown\r\n\r\n'),
    );
    const device = await luartos(server.port);
    await waitForLine(device, SOFTWARE_RESET);
    await waitForLine(device, /^No new firmware available$/);
    expect(lines(device)).not.toContain('Begin OTA update ...');
    expect(lines(device).filter((line) => bootVersion('1.0.0').test(line))).toHaveLength(2);
  });

  it('470: Missing or bad arguments, no restart', async () => {
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 470 unknown\r\n\r\n'));
    const device = await luartos(server.port);
    await waitForLine(device, /^Missing or bad arguments$/);
    await sleep(100);
    expect(lines(device).some((line) => SOFTWARE_RESET.test(line))).toBe(false);
  });

  it('any other status: silent, no restart', async () => {
    const server = await rawTlsServer((socket) =>
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'),
    );
    const device = await luartos(server.port);
    await sleep(200);
    expect(server.requests).toHaveLength(1);
    const after = lines(device).slice(lines(device).indexOf(`Current firmware commit is ${COMMIT}`) + 1);
    expect(after).toEqual([]);
  });

  it('a wrong Content-Type raises InvalidContent; a ;charset suffix is accepted', async () => {
    const wrong = await rawTlsServer((socket) => octetStream(socket, image, 'Content-Type: text/html\r\n'));
    const refused = await luartos(wrong.port);
    await waitForLine(
      refused,
      /^net\.ota: InvalidContent: Content-Type is 'text\/html', expected 'application\/octet-stream'$/,
    );

    const suffixed = await rawTlsServer((socket, index) =>
      index === 0
        ? octetStream(socket, image, 'Content-Type: application/octet-stream;charset=binary\r\n')
        : socket.end('HTTP/1.1 471 unknown\r\n\r\n'),
    );
    const accepted = await luartos(suffixed.port);
    await waitForLine(accepted, bootVersion('2.0.0'));
  });

  it('an image that fails verification prints Failed and does not restart', async () => {
    const corrupt = Uint8Array.from(image);
    corrupt[5000] = corrupt[5000]! ^ 0xff;
    const server = await rawTlsServer((socket) => octetStream(socket, corrupt));
    const device = await luartos(server.port);
    await waitForLine(device, /^Failed$/);
    await sleep(100);
    expect(lines(device).some((line) => SOFTWARE_RESET.test(line))).toBe(false);
  });
});

describe('luartos defects, each next to the conforming device', () => {
  const reply471WithImage: Reply = (socket, index) => {
    if (index > 0) {
      socket.end('HTTP/1.1 470 unknown\r\n\r\n');
      return;
    }
    socket.end(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 471 unknown\r\nContent-Type: application/octet-stream\r\nContent-Length: ${image.length}\r\n\r\n`,
        ),
        image,
      ]),
    );
  };

  it('flashes-on-471: the conforming device only prints the message; the defective one flashes and restarts', async () => {
    const server = await rawTlsServer(reply471WithImage);
    const conforming = await luartos(server.port);
    await waitForLine(conforming, /^No new firmware available$/);
    await sleep(100);
    expect(lines(conforming).some((line) => SOFTWARE_RESET.test(line))).toBe(false);

    const defectiveServer = await rawTlsServer(reply471WithImage);
    const defective = await luartos(defectiveServer.port, {}, ['flashes-on-471']);
    await waitForLine(defective, bootVersion('2.0.0'));
    expect(lines(defective)).not.toContain('No new firmware available');
  });

  it('accepts-lowercase-headers: lower-case content-length is not understood (restart, no update) unless the defect is on', async () => {
    const rawLowercase: Reply = (socket, index) => {
      if (index > 0) {
        socket.end('HTTP/1.1 471 unknown\r\n\r\n');
        return;
      }
      socket.end(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${image.length}\r\n\r\n`,
          ),
          image,
        ]),
      );
    };
    const server = await rawTlsServer(rawLowercase);
    const conforming = await luartos(server.port);
    await waitForLine(conforming, SOFTWARE_RESET);
    await waitForLine(conforming, /^No new firmware available$/);
    expect(lines(conforming)).not.toContain('Begin OTA update ...');
    expect(lines(conforming).filter((line) => bootVersion('1.0.0').test(line))).toHaveLength(2);

    const defectiveServer = await rawTlsServer(rawLowercase);
    const defective = await luartos(defectiveServer.port, {}, ['accepts-lowercase-headers']);
    await waitForLine(defective, bootVersion('2.0.0'));
    expect(lines(defective)).toContain('Begin OTA update ...');
  });

  it('restarts-after-failed-download: a failed verification restarts the defective device only', async () => {
    const corrupt = Uint8Array.from(image);
    corrupt[5000] = corrupt[5000]! ^ 0xff;
    const replyCorrupt: Reply = (socket, index) =>
      index === 0 ? octetStream(socket, corrupt) : socket.end('HTTP/1.1 471 unknown\r\n\r\n');
    const server = await rawTlsServer(replyCorrupt);
    const conforming = await luartos(server.port);
    await waitForLine(conforming, /^Failed$/);
    await sleep(150);
    expect(lines(conforming).some((line) => SOFTWARE_RESET.test(line))).toBe(false);

    const defectiveServer = await rawTlsServer(replyCorrupt);
    const defective = await luartos(defectiveServer.port, {}, ['restarts-after-failed-download']);
    await waitForLine(defective, /^Failed$/);
    await waitForLine(defective, SOFTWARE_RESET);
    await waitForLine(defective, /^No new firmware available$/);
    expect(lines(defective).filter((line) => bootVersion('1.0.0').test(line))).toHaveLength(2);
  });
});

describe('luartos defects of the request and of an empty 200', () => {
  it('tidy-host-header: the conforming request has "Host: <server>:<port> ", the defective one "Host: <server>"', async () => {
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'));
    const conforming = await luartos(server.port);
    await waitForLine(conforming, /^No new firmware available$/);
    expect(server.requests[0]!.bytes).toContain(`\r\nHost: 127.0.0.1:${server.port} \r\n\r\n`);

    const defectiveServer = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'));
    const defective = await luartos(defectiveServer.port, {}, ['tidy-host-header']);
    await waitForLine(defective, /^No new firmware available$/);
    expect(defectiveServer.requests[0]!.bytes).toBe(
      `GET /?firmware=ESP32-CORE-BOARD-OTA&commit=${COMMIT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
  });

  it('silent-on-470: the conforming device reports the 470, the defective one prints nothing', async () => {
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 470 unknown\r\n\r\n'));
    const conforming = await luartos(server.port);
    await waitForLine(conforming, /^Missing or bad arguments$/);

    const defectiveServer = await rawTlsServer((socket) => socket.end('HTTP/1.1 470 unknown\r\n\r\n'));
    const defective = await luartos(defectiveServer.port, {}, ['silent-on-470']);
    await new Promise<void>((resolve) => {
      const poll = () => (defectiveServer.requests.length > 0 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    await sleep(150);
    const after = lines(defective).slice(
      lines(defective).indexOf(`Current firmware commit is ${COMMIT}`) + 1,
    );
    expect(after).toEqual([]);
  });

  it('no-restart-on-empty-200: the conforming device restarts after an empty 200, the defective one does not', async () => {
    const emptyThen471: Reply = (socket, index) =>
      index === 0 ? octetStream(socket, new Uint8Array(0)) : socket.end('HTTP/1.1 471 unknown\r\n\r\n');
    const server = await rawTlsServer(emptyThen471);
    const conforming = await luartos(server.port);
    await waitForLine(conforming, SOFTWARE_RESET);
    expect(lines(conforming)).toContain('Restarting ...');

    const defectiveServer = await rawTlsServer(emptyThen471);
    const defective = await luartos(defectiveServer.port, {}, ['no-restart-on-empty-200']);
    // The exchange is over once the device closed it: then a restart would already be under way.
    await new Promise<void>((resolve) => {
      const poll = () => (defectiveServer.requests.length > 0 ? resolve() : setTimeout(poll, 10));
      poll();
    });
    await sleep(150);
    expect(lines(defective)).not.toContain('Restarting ...');
    expect(lines(defective).some((line) => SOFTWARE_RESET.test(line))).toBe(false);
  });
});

describe('luartos console through a real pseudo-terminal', () => {
  it('prints the net.ota() lines on the PTY (skipped when socat not installed)', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const server = await rawTlsServer((socket) => socket.end('HTTP/1.1 471 unknown\r\n\r\n'));
    const emulator = await startEmulator({
      profile: 'luartos',
      console: 'pty',
      options: {
        server: '127.0.0.1',
        port: server.port,
        commit: COMMIT,
        checkOnBoot: false,
        checkIntervalMs: 300,
      },
    });
    cleanups.push(() => emulator.stop());
    const path = emulator.endpoints().console!;
    const stream = createReadStream(path);
    let text = '';
    stream.on('data', (chunk) => {
      text += chunk.toString();
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!text.includes('No new firmware available\r\n') && Date.now() < deadline) await sleep(20);
      expect(text).toContain('Connecting to https://127.0.0.1 ...\r\n');
      expect(text).toContain(`Current firmware commit is ${COMMIT}\r\n`);
      expect(text).toContain('No new firmware available\r\n');
    } finally {
      stream.destroy();
      await once(stream, 'close');
    }
  });
});
